/**
 * The training options shared by `polarcad train` and `polarcad cv` (argument parsing only): one
 * definition of each flag, its default and its check, so both commands accept the same words.
 */
import type { Command } from 'commander';
import { INPUT_MODES, type InputMode } from '../../domain/input-mode.js';
import { InputError } from '../../util/errors.js';

import { addOptions, wholeOption } from './parse.js';

export { numberOption, wholeOption } from './parse.js';

/** Raw values of the shared training options (commander's camelCase names). */
export interface TrainingCli {
  weights: string;
  input: string;
  head: string;
  warmupEpochs: string;
  finetuneEpochs: string;
  batchSize: string;
  unfreeze?: string;
  augment: string;
  seed: string;
  patience?: string;
  inputSize?: string;
  cacheDir?: string;
}

/** The shared training options, parsed (the fields `TrainRunOptions` and `CvRunOptions` share). */
export interface TrainingOptions {
  readonly weights: string;
  readonly input: InputMode;
  readonly head: 'hai' | 'apostolopoulos';
  readonly warmupEpochs?: number;
  readonly finetuneEpochs?: number;
  readonly batchSize?: number;
  readonly unfreeze?: number;
  readonly augment?: number;
  readonly seed?: number;
  readonly patience?: number;
  readonly inputSize?: number;
  readonly cacheDir?: string;
}

/** Command-specific help texts of the options whose meaning depends on the command. */
export interface TrainingHelp {
  readonly augment: string;
  readonly seed: string;
  readonly inputSize: string;
  readonly cacheDir: string;
}

/** Add the shared training options to `cmd` (defaults: Hai et al. 2022). */
export function addTrainingOptions(cmd: Command, help: TrainingHelp): Command {
  return addOptions(cmd, [
    ['--weights <w>', 'imagenet | none | PATH (Keras .h5 or tfjs folder)', 'imagenet'],
    ['--input <mode>', `model input: ${INPUT_MODES.join(' | ')}`, 'stress_ac'],
    ['--head <head>', 'hai | apostolopoulos', 'hai'],
    ['--warmup-epochs <n>', 'head-only epochs (lr 10^-a)', '100'],
    ['--finetune-epochs <n>', 'fine-tuning epochs (lr 10^-(a+2))', '30'],
    ['--batch-size <n>', 'batch size', '16'],
    ['--unfreeze <n>', 'top backbone layers trainable when fine-tuning (default: Hai et al. Table 2 depth)'],
    ['--augment <n>', help.augment, '0'],
    ['--seed <n>', help.seed, '1'],
    ['--patience <n>', 'early stopping: epochs without a better validation score'],
    ['--input-size <px>', help.inputSize],
    ['--cache-dir <dir>', help.cacheDir],
  ]);
}

/** Parse the shared training options. @throws InputError naming the first bad option */
export function parseTrainingOptions(c: TrainingCli): TrainingOptions {
  if (c.head !== 'hai' && c.head !== 'apostolopoulos')
    throw new InputError(`--head must be hai or apostolopoulos, got "${c.head}"`);
  return {
    weights: c.weights,
    input: c.input as InputMode,
    head: c.head,
    warmupEpochs: wholeOption('--warmup-epochs', c.warmupEpochs),
    finetuneEpochs: wholeOption('--finetune-epochs', c.finetuneEpochs),
    batchSize: wholeOption('--batch-size', c.batchSize),
    unfreeze: wholeOption('--unfreeze', c.unfreeze),
    augment: wholeOption('--augment', c.augment),
    seed: wholeOption('--seed', c.seed),
    patience: wholeOption('--patience', c.patience),
    inputSize: wholeOption('--input-size', c.inputSize),
    ...(c.cacheDir !== undefined ? { cacheDir: c.cacheDir } : {}),
  };
}
