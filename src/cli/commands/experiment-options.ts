/**
 * Options shared by `polarcad tune` and `polarcad experiment ...` (argument parsing only).
 */
import type { Command } from 'commander';
import { INPUT_KINDS, type InputKind } from '../../train/experiment-data.js';
import type { ExperimentCommon } from '../../workflows/experiment.js';
import { addOptions, isWhole } from '../options/parse.js';
import { InputError, InputErrors } from '../../util/errors.js';
import { createProgress, type Progress } from '../progress.js';
import { withForce } from '../options/out.js';
import { parseTrainWorkers, TRAIN_WORKERS_OPTION } from '../options/train-workers.js';

/** Raw values of the shared options. */
export interface CommonCli {
  out: string;
  input: string;
  augment?: string;
  seed: string;
  epochsScale: string;
  batchSize: string;
  microBatch: string;
  inputSize?: string;
  cacheDir?: string;
  trainWorkers?: string;
  quiet?: boolean;
  force?: boolean;
}

/** Add the shared options to `cmd`. */
export function commonExperimentOptions(cmd: Command, defaultInput = 'stress_ac'): Command {
  withForce(cmd).requiredOption('--out <dir>', 'output folder (written as a whole when the run succeeds)');
  return addOptions(cmd, [
    [
      '--input <kind>',
      'stress_ac (Hai et al.) | tile2x2 (AC+NAC 2x2) | ac | nac (Apostolopoulos et al.)',
      defaultInput,
    ],
    ['--augment <n>', 'rotation augmentation with class balancing to N training images'],
    ['--seed <seed>', 'random seed (split, initialisation, shuffling)', '1'],
    ['--epochs-scale <f>', 'multiply every epoch count (e.g. 0.1 for a quick look)', '1'],
    ['--batch-size <n>', 'batch size', '16'],
    ['--micro-batch <n>', 'micro-batch of stages that train backbone layers (gradient accumulation)', '8'],
    ['--input-size <px>', "input side (default: the backbone table's)"],
    ['--cache-dir <dir>', 'on-disk feature cache (default: features kept in memory only)'],
    TRAIN_WORKERS_OPTION,
    ['--quiet', 'no progress bars or log lines'],
  ]);
}

/** Parse `--input` of the experiments (InputError on anything else). */
export function parseInputKind(text: string): InputKind {
  if ((INPUT_KINDS as readonly string[]).includes(text)) return text as InputKind;
  throw new InputError(`--input: must be one of ${INPUT_KINDS.join(', ')}, got "${text}"`);
}

/** Parse the shared options; every problem at once. */
export function parseCommon(manifest: string, o: CommonCli): ExperimentCommon {
  const problems: string[] = [];
  let input: ExperimentCommon['input'] = 'stress_ac';
  try {
    input = parseInputKind(o.input);
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (o.augment !== undefined && (!isWhole(o.augment) || Number(o.augment) < 2))
    problems.push(`--augment: must be a whole number >= 2, got "${o.augment}"`);
  const scale = Number(o.epochsScale);
  if (o.epochsScale.trim() === '' || !(scale > 0 && Number.isFinite(scale)))
    problems.push(`--epochs-scale: must be a positive number, got "${o.epochsScale}"`);
  if (!isWhole(o.batchSize) || Number(o.batchSize) < 1)
    problems.push(`--batch-size: must be a whole number >= 1, got "${o.batchSize}"`);
  if (!isWhole(o.microBatch) || Number(o.microBatch) < 1)
    problems.push(`--micro-batch: must be a whole number >= 1, got "${o.microBatch}"`);
  if (o.inputSize !== undefined && (!isWhole(o.inputSize) || Number(o.inputSize) < 32))
    problems.push(`--input-size: must be a whole number >= 32, got "${o.inputSize}"`);
  if (o.seed.trim() === '') problems.push('--seed: must not be empty');
  let trainWorkers: number | undefined;
  try {
    trainWorkers = parseTrainWorkers(o.trainWorkers);
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (problems.length === 1) throw new InputError(problems[0]);
  if (problems.length > 1) throw new InputErrors('invalid options', problems);
  const quiet = o.quiet === true;
  return {
    manifest,
    out: o.out,
    input,
    ...(o.augment !== undefined ? { augment: Number(o.augment) } : {}),
    seed: /^-?\d+$/.test(o.seed.trim()) ? Number(o.seed) : o.seed,
    epochsScale: scale,
    batchSize: Number(o.batchSize),
    microBatch: Number(o.microBatch),
    ...(o.inputSize !== undefined ? { inputSize: Number(o.inputSize) } : {}),
    ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
    ...(trainWorkers !== undefined ? { trainWorkers } : {}),
    ...(quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
  };
}

/**
 * One progress bar per label (configuration/stage), with ETA; off a terminal nothing, or with
 * `plainEveryMs` a plain line at most that often (see `createProgress`).
 */
export function progressHook(plainEveryMs?: number): {
  update: (label: string, done: number, total: number, detail?: string) => void;
  stop: () => void;
} {
  let label = '';
  let bar: Progress | null = null;
  return {
    update(l, done, total, detail) {
      if (l !== label || bar === null) {
        bar?.stop();
        label = l;
        bar = createProgress(l, process.stderr, plainEveryMs === undefined ? {} : { plainEveryMs });
      }
      bar.update(done, total, detail);
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
