/**
 * The names of a run directory's files: the one place that knows them (docs/training.md describes
 * each). A run of `polarcad train` (and of the experiments, `cv`, `evaluate`) holds:
 *
 *   config.json        options, resolved configuration, status ('running' | 'complete')
 *   history.csv        one row per epoch (stage, epoch, loss, acc, val_loss, val_acc, lr, seconds)
 *   predictions.csv    patient_id, label, prob, predicted, split[, prob_calibrated][, fold]
 *   metrics.json       test metrics with 95% intervals; `threshold` = the operating threshold
 *   calibration.json   temperature scaling fitted on validation patients (optional; a fold
 *                      ensemble's on its out-of-fold predictions)
 *   out-of-fold.csv    a fold ensemble's training patients, each predicted by the member that did
 *                      not train on it (patient_id, label, prob, predicted, split, fold)
 *   summary.txt        the human summary
 *   model/             THE weights of the run: model.json + weights.bin + polarcad.json (schema
 *                      version, preprocessing, SHA-256 of each model file, self-check outputs);
 *                      a fold ensemble: polarcad.json + members/1..K, each such a folder
 *   model.onnx         an ONNX export of model/ for other tools (checksummed in polarcad.json;
 *                      polarcad itself always loads model/)
 *   checkpoints/       per-stage checkpoints of an unfinished run (`--resume`)
 *   baselines/NAME/    a closed-form run's baselines (and its images-only model), each a model
 *                      folder like model/, so that `evaluate` shows them beside the model on new patients
 */
import { join } from 'node:path';

/** Files at the top of a run directory. */
export const RUN_FILES = {
  config: 'config.json',
  history: 'history.csv',
  predictions: 'predictions.csv',
  /** a fold ensemble's out-of-fold predictions of its training patients (src/workflows/train-ensemble.ts) */
  outOfFold: 'out-of-fold.csv',
  metrics: 'metrics.json',
  calibration: 'calibration.json',
  summary: 'summary.txt',
  evaluate: 'evaluate.json',
  model: 'model',
  onnx: 'model.onnx',
  checkpoints: 'checkpoints',
  curves: 'training-curves',
  heatmaps: 'heatmaps',
  members: 'members',
  baselines: 'baselines',
  /** an evaluation's results by subgroup (`evaluate --by`) */
  subgroups: 'subgroups.csv',
} as const;
export type RunFile = keyof typeof RUN_FILES;

/** Files of a saved model folder (`RUN/model/`). */
export const MODEL_FILES = {
  info: 'polarcad.json',
  topology: 'model.json',
  weights: 'weights.bin',
  /** a closed-form model (`polarcad train --model hybrid|...-logistic`): src/rundir/linear.ts */
  linear: 'linear-model.json',
} as const;

/**
 * Path of one file of the run in `runDir`.
 * @example runFile('runs/mnv2', 'metrics') // 'runs/mnv2/metrics.json'
 */
export function runFile(runDir: string, file: RunFile): string {
  return join(runDir, RUN_FILES[file]);
}

/**
 * Folder of one baseline model of a closed-form run.
 * @example baselineDir('runs/h', 'segment-logistic') // 'runs/h/baselines/segment-logistic'
 */
export function baselineDir(runDir: string, name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new RangeError(`baseline name "${name}"`);
  return join(runDir, RUN_FILES.baselines, name);
}

/** Path of one file of a saved model folder. */
export function modelFile(modelDir: string, file: keyof typeof MODEL_FILES): string {
  return join(modelDir, MODEL_FILES[file]);
}
