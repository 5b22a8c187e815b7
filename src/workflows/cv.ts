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
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import type { Label } from '../domain/views.js';
import { loadManifest, manifestToCsv } from '../ingest/manifest.js';
import { runTraining, type TrainRunOptions, type TrainRunHooks } from './train.js';
import { InputError } from '../util/errors.js';
import { metricsWithIntervals } from '../evaluate/intervals.js';
import { metricsFile, metricsRowFromIntervals, type MetricsRow } from '../evaluate/metrics-row.js';
import { crossValidate, type CrossValidationResult, type Prediction } from '../evaluate/protocols.js';

/** Options of {@link runCrossValidation}: a training configuration plus the folds. */
export interface CvOptions extends Omit<
  TrainRunOptions,
  'manifest' | 'out' | 'testManifest' | 'selectOn' | 'resume' | 'testFraction'
> {
  readonly manifest: string;
  readonly out: string;
  /** folds (default 10) */
  readonly k?: number;
  readonly resamples?: number;
  readonly onFold?: (fold: number, k: number) => void;
}

/** Result of {@link runCrossValidation}. */
export interface CvResult {
  readonly out: string;
  readonly cv: CrossValidationResult;
  readonly pooled: MetricsRow;
}

const nul = (x: number): number | null => (Number.isFinite(x) ? x : null);

/**
 * Run the cross-validation (see the module comment). OUT is cleared first, except its feature cache.
 * @throws InputError for a bad manifest, too few patients per class for k folds, or bad training options
 */
export async function runCrossValidation(o: CvOptions, hooks: TrainRunHooks = {}): Promise<CvResult> {
  const k = o.k ?? 10;
  if (!Number.isInteger(k) || k < 2) throw new InputError(`--k must be a whole number >= 2, got ${k}`);
  const manifest = await loadManifest(o.manifest, { requireLabels: true, requireBothClasses: true });
  const out = resolve(o.out);
  const seed = o.seed ?? 1;
  const rowsById = new Map(manifest.rows.map((r) => [r.patientId, r]));
  const items = manifest.rows.map((r) => ({ id: r.patientId, label: r.label as Label }));
  await rm(join(out, 'folds'), { recursive: true, force: true });
  await mkdir(join(out, 'folds'), { recursive: true });
  const cacheDir = o.cacheDir ?? join(out, '.cache');
  const epochs: string[] = [];
  let weights: unknown = null;
  const { k: _k, resamples: _r, onFold, manifest: _m, out: _o, ...train } = o;
  const cv = await crossValidate(items, { k, seed }, async (trainIds, testIds, f): Promise<Prediction[]> => {
    onFold?.(f + 1, k);
    const dir = join(out, 'folds', `fold-${String(f + 1).padStart(2, '0')}`);
    await mkdir(dir, { recursive: true });
    const pick = (ids: readonly string[]) => ids.map((id) => rowsById.get(id)).filter((r) => r !== undefined);
    await writeFile(join(dir, 'train.csv'), manifestToCsv(pick(trainIds), dir, manifest.clinicalColumns));
    await writeFile(join(dir, 'test.csv'), manifestToCsv(pick(testIds), dir, manifest.clinicalColumns));
    const r = await runTraining(
      {
        ...train,
        manifest: join(dir, 'train.csv'),
        testManifest: join(dir, 'test.csv'),
        out: join(dir, 'run'),
        seed,
        cacheDir,
        selectOn: 'validation',
      },
      hooks,
    );
    if (r.interrupted) throw new InputError(`cv: fold ${f + 1} was interrupted`, { exitCode: 130 });
    epochs[f] = r.stages.map((s) => `${s.name} ${s.bestEpoch}/${s.epochsRun}`).join(', ');
    const cfg = JSON.parse(await readFile(join(dir, 'run', 'config.json'), 'utf8')) as {
      resolved: { weights: unknown };
    };
    weights ??= cfg.resolved.weights;
    const text = await readFile(join(dir, 'run', 'predictions.csv'), 'utf8');
    return text
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','))
      .map((c) => ({ id: c[0], prob: Number(c[2]) }));
  });
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
      cv.predictions.map((p) => [p.id, p.label, p.prob, p.prob >= 0.5 ? 1 : 0, p.fold + 1]),
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
