/**
 * `polarcad cv`: stratified k-fold cross-validation of a training configuration end to end
 * (Apostolopoulos et al. 2020 used 10 folds). `crossValidate` (protocols.ts) deals the folds; for
 * each, the fold's training and test patients are written as two manifests and trained with the
 * full `polarcad train` protocol (`runTraining` with `testManifest`): warm-up and fine-tuning, the
 * kept epoch of each stage chosen on a validation part carved from the fold's TRAINING patients
 * only (nested selection: no reported figure has seen its test fold), then one prediction of the
 * fold's test patients. The feature cache is shared, so the frozen backbone sees each image once
 * across folds. Outputs: OUT/predictions.csv (out-of-fold, with the fold), OUT/metrics.json (the
 * pooled row with 95% CIs), OUT/cv.json (per-fold figures, mean ± SD) and OUT/folds/fold-NN/.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import type { Label } from '../domain/views.js';
import { loadManifest, manifestToCsv, type Manifest, type StudyRow } from '../ingest/manifest.js';
import { stratifiedKFold } from '../ingest/splits.js';
import { runTraining, type TrainRunOptions, type TrainRunHooks } from './train.js';
import { InputError } from '../util/errors.js';
import { metricsWithIntervals } from '../evaluate/intervals.js';
import { metricsFile, metricsRowFromIntervals, type MetricsRow } from '../evaluate/metrics-row.js';
import { crossValidate, type CrossValidationResult, type Prediction } from '../evaluate/protocols.js';
import { callAt } from '../evaluate/metrics.js';

/** The training options of every fold (result-deciding; all plain values, as `polarcad train` takes them). */
export type CvTrainOptions = Omit<
  TrainRunOptions,
  'manifest' | 'out' | 'testManifest' | 'selectOn' | 'resume' | 'testFraction' | 'seed' | 'cacheDir'
>;

/**
 * One fold of a cross-validation: plain data (a queued job carries it as it is): the fold's
 * training and test patients of `manifest`, trained with `train` into `dir`.
 */
export interface CvFoldUnit {
  /** Absolute path of the whole cohort's manifest. */
  readonly manifest: string;
  /** The fold's folder (absolute): train.csv, test.csv and run/ are written there. */
  readonly dir: string;
  /** 0-based fold index; k folds in all. */
  readonly fold: number;
  readonly k: number;
  readonly trainIds: readonly string[];
  readonly testIds: readonly string[];
  readonly seed: number;
  readonly train: CvTrainOptions;
}

/** What one fold gives back: its test patients' probabilities, the kept epochs, the weights used. */
export interface CvFoldResult {
  readonly predictions: readonly Prediction[];
  /** e.g. "warmup 12/100, finetune 3/30" */
  readonly epochs: string;
  /** The run's resolved weights (config.json). */
  readonly weights: unknown;
}

/** Runs the folds of a cross-validation and gives their results back in the folds' order. */
export type FoldRunner = (
  folds: readonly CvFoldUnit[],
  o: { readonly cacheDir: string; readonly hooks: TrainRunHooks },
) => Promise<CvFoldResult[]>;

/** Options of {@link runCrossValidation}: a training configuration plus the folds. */
export interface CvOptions extends CvTrainOptions {
  readonly manifest: string;
  readonly out: string;
  readonly seed?: number;
  /** Feature cache folder (default OUT/.cache). */
  readonly cacheDir?: string;
  /** folds (default 10) */
  readonly k?: number;
  readonly resamples?: number;
  readonly onFold?: (fold: number, k: number) => void;
  /** Who runs the folds (default: one after another in this process; `--queue`: a job queue). */
  readonly runner?: FoldRunner;
}

/** Result of {@link runCrossValidation}. */
export interface CvResult {
  readonly out: string;
  readonly cv: CrossValidationResult;
  readonly pooled: MetricsRow;
}

const nul = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The folder of fold `f` (0-based) under OUT. */
export function foldDir(out: string, f: number): string {
  return join(resolve(out), 'folds', `fold-${String(f + 1).padStart(2, '0')}`);
}

/**
 * Train and test one fold (Apostolopoulos et al. 2020: one of the 10 folds): write the fold's
 * train.csv and test.csv, run the full `polarcad train` protocol into DIR/run with nested
 * selection on a validation part of the fold's training patients, and read back its test
 * predictions. The unit of work of the in-process run and of a queue worker alike.
 * @throws InputError when a patient id is not in the manifest, or for bad training options
 * @example const r = await runCvFold(await loadManifest(unit.manifest), unit, { cacheDir: 'out/.cache', hooks: {} })
 */
export async function runCvFold(
  manifest: Manifest,
  unit: CvFoldUnit,
  o: { readonly cacheDir: string; readonly hooks: TrainRunHooks },
): Promise<CvFoldResult> {
  const rowsById = new Map(manifest.rows.map((r) => [r.patientId, r]));
  const dir = unit.dir;
  await mkdir(dir, { recursive: true });
  const pick = (ids: readonly string[]): StudyRow[] =>
    ids.map((id) => {
      const r = rowsById.get(id);
      if (r === undefined)
        throw new InputError(`cv: patient ${id} of fold ${unit.fold + 1} is not in ${manifest.path}`);
      return r;
    });
  await writeFile(join(dir, 'train.csv'), manifestToCsv(pick(unit.trainIds), dir, manifest.clinicalColumns));
  await writeFile(join(dir, 'test.csv'), manifestToCsv(pick(unit.testIds), dir, manifest.clinicalColumns));
  const r = await runTraining(
    {
      ...unit.train,
      manifest: join(dir, 'train.csv'),
      testManifest: join(dir, 'test.csv'),
      out: join(dir, 'run'),
      seed: unit.seed,
      cacheDir: o.cacheDir,
      selectOn: 'validation',
    },
    o.hooks,
  );
  if (r.interrupted) throw new InputError(`cv: fold ${unit.fold + 1} was interrupted`, { exitCode: 130 });
  const cfg = JSON.parse(await readFile(join(dir, 'run', 'config.json'), 'utf8')) as {
    resolved: { weights: unknown };
  };
  const text = await readFile(join(dir, 'run', 'predictions.csv'), 'utf8');
  return {
    predictions: text
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','))
      .map((c) => ({ id: c[0], prob: Number(c[2]) })),
    epochs: r.stages.map((s) => `${s.name} ${s.bestEpoch}/${s.epochsRun}`).join(', '),
    weights: cfg.resolved.weights,
  };
}

/** The embedded runner: every fold in this process, one after another. */
function inProcessFolds(manifest: Manifest, onFold: CvOptions['onFold']): FoldRunner {
  return async (folds, o) => {
    const results: CvFoldResult[] = [];
    for (const unit of folds) {
      onFold?.(unit.fold + 1, unit.k);
      results.push(await runCvFold(manifest, unit, o));
    }
    return results;
  };
}

/**
 * Run the cross-validation (see the module comment). OUT is cleared first, except its feature
 * cache; with a queue runner, only folds that are no longer part of the run are removed (finished
 * folds' run directories stay for a rerun that collects them).
 * @throws InputError for a bad manifest, too few patients per class for k folds, or bad training options
 * @example await runCrossValidation({ manifest: 'prep/manifest.csv', out: 'cv', backbone: 'MobileNetV2', k: 10 })
 */
export async function runCrossValidation(o: CvOptions, hooks: TrainRunHooks = {}): Promise<CvResult> {
  const k = o.k ?? 10;
  if (!Number.isInteger(k) || k < 2) throw new InputError(`--k must be a whole number >= 2, got ${k}`);
  const manifest = await loadManifest(o.manifest, { requireLabels: true, requireBothClasses: true });
  const out = resolve(o.out);
  const seed = o.seed ?? 1;
  const items = manifest.rows.map((r) => ({ id: r.patientId, label: r.label as Label }));
  const splits = stratifiedKFold(items, { k, seed });
  await clearFolds(out, o.runner === undefined ? 0 : k);
  const cacheDir = o.cacheDir ?? join(out, '.cache');
  const { k: _k, resamples: _r, onFold, manifest: _m, out: _o, seed: _s, cacheDir: _c, runner, ...train } = o;
  const units: CvFoldUnit[] = splits.map((sp, f) => ({
    manifest: manifest.path,
    dir: foldDir(out, f),
    fold: f,
    k,
    trainIds: sp.train,
    testIds: sp.test,
    seed,
    train,
  }));
  const results = await (runner ?? inProcessFolds(manifest, onFold))(units, { cacheDir, hooks });
  // the same folds again (same seed), now with each fold's predictions at hand
  const cv = await crossValidate(items, { k, seed }, (_train, _test, f) =>
    Promise.resolve([...results[f].predictions]),
  );
  const epochs = results.map((r) => r.epochs);
  const weights = results[0]?.weights ?? null;
  const labels = cv.predictions.map((p) => p.label);
  const probs = cv.predictions.map((p) => p.prob);
  const protocol = `stratified ${k}-fold cross-validation, seed ${String(seed)}`;
  const mw = metricsWithIntervals(labels, probs, { seed: `${String(seed)}/cv`, resamples: o.resamples });
  const name = `${o.backbone.toLowerCase()}_cv`;
  const description = `${o.backbone}, ${k}-fold CV, pooled out-of-fold predictions`;
  const pooled = metricsRowFromIntervals(
    {
      name,
      description,
      kind: 'model',
      evaluatedOn: `all ${labels.length} patients, out of fold (${protocol})`,
    },
    mw,
  );
  await writeFile(
    join(out, 'predictions.csv'),
    stringify(
      cv.predictions.map((p) => [p.id, p.label, p.prob, callAt(p.prob), p.fold + 1]),
      { header: true, columns: ['patient_id', 'label', 'prob', 'predicted', 'fold'] },
    ),
  );
  await writeFile(
    join(out, 'metrics.json'),
    `${JSON.stringify(metricsFile({ command: 'cv', manifest: { path: manifest.path, sha256: manifest.sha256 }, protocol: 'cv', seed, rows: [pooled] }), null, 2)}\n`,
  );
  const folds = cv.folds.map((f) => ({
    fold: f.fold,
    n: f.metrics.n,
    threshold: f.threshold,
    accuracy: nul(f.metrics.accuracy),
    sensitivity: nul(f.metrics.sensitivity),
    specificity: nul(f.metrics.specificity),
    auc: nul(f.metrics.auc),
    epochs: epochs[f.fold] ?? '',
  }));
  const mean = Object.fromEntries(
    Object.entries(cv.summary).map(([key, v]) => [key, { mean: nul(v.mean), sd: nul(v.sd), folds: v.folds }]),
  );
  await writeFile(
    join(out, 'cv.json'),
    `${JSON.stringify({ polarcad: 'cv', name, description, backbone: o.backbone, k, seed, threshold: 0.5, protocol, manifest: { path: manifest.path, sha256: manifest.sha256 }, weights, folds, mean, pooled: { ...cv.pooled } }, (_k2, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
  return { out, cv, pooled };
}

/** Remove OUT/folds/fold-NN for NN > keep (all of them with keep 0), then make sure OUT/folds exists. */
async function clearFolds(out: string, keep: number): Promise<void> {
  const folds = join(out, 'folds');
  if (keep === 0) await rm(folds, { recursive: true, force: true });
  else {
    const names = await readdir(folds).catch(() => [] as string[]);
    for (const name of names) {
      const m = /^fold-(\d+)$/.exec(name);
      if (m === null || Number(m[1]) > keep) await rm(join(folds, name), { recursive: true, force: true });
    }
  }
  await mkdir(folds, { recursive: true });
}
