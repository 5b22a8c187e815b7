/**
 * `--train-workers N`: the gradient step of `--model cnn` training on N worker threads (data
 * parallel, src/train/parallel/); absent = the main thread, as before.
 */
import { MAX_TRAIN_WORKERS } from '../../train/parallel/pool.js';
import type { OptionSpec } from './parse.js';
import { wholeOption } from './parse.js';

/** The option's flags and help text. */
export const TRAIN_WORKERS_OPTION: OptionSpec = [
  '--train-workers <n>',
  'gradient steps on N worker threads, each batch split between them (same result up to float rounding; ' +
    'with --train-bn each shard has its own BN statistics; default: this thread)',
];

/**
 * The number of training worker threads, or undefined when the option is absent.
 * @throws InputError naming the option
 * @example parseTrainWorkers('2') // 2
 */
export function parseTrainWorkers(s: string | undefined): number | undefined {
  return wholeOption('--train-workers', s, { min: 1, max: MAX_TRAIN_WORKERS });
}
