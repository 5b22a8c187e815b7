/**
 * Evaluation protocols, independent of any model: a driver splits the patients (patient level,
 * stratified, seeded, via src/ingest/splits.ts), calls a `fitPredict` callback that trains on
 * the training ids and predicts the test ids, and computes the metrics.
 * - hold-out: one stratified 80/20 split by class (as in Hai et al. 2022);
 * - k-fold cross-validation: stratified, 10 folds by default (as in Apostolopoulos et al. 2020),
 *   with per-fold metrics, their mean and SD, and pooled metrics on the concatenated
 *   out-of-fold predictions;
 * - nested cross-validation (Varma & Simon 2006): hyper-parameters or epochs are chosen by
 *   `select` from inner folds of each outer training part only, so no reported figure has seen
 *   its test fold.
 */
import type { Label } from '../domain/views.js';
import { stratifiedHoldout, stratifiedKFold, type Split, type SplitItem } from '../ingest/splits.js';
import { binaryMetrics, confusion, ratesFromConfusion, auc, type BinaryMetrics } from './metrics.js';

/** One out-of-sample prediction: the probability of CAD for a patient. */
export interface Prediction {
  readonly id: string;
  readonly prob: number;
}

/**
 * What `fitPredict` returns: predictions for exactly the test ids, optionally with the
 * operating threshold of this fold (for example `thresholdForSensitivity` on a validation part
 * carved from the training ids); otherwise the protocol's `threshold` (default 0.5) is used.
 */
export type FoldOutput =
  readonly Prediction[] | { readonly predictions: readonly Prediction[]; readonly threshold?: number };

/** Train on `trainIds`, predict `testIds`. Must not look at the test patients' labels. */
export type FitPredict = (
  trainIds: readonly string[],
  testIds: readonly string[],
  foldIndex: number,
) => Promise<FoldOutput>;

export interface FoldResult {
  readonly fold: number;
  readonly trainIds: readonly string[];
  readonly testIds: readonly string[];
  readonly predictions: readonly Prediction[];
  readonly threshold: number;
  readonly metrics: BinaryMetrics;
}

/** Mean and sample SD (n - 1) over the folds where a metric is defined (not NaN). */
export interface MeanSd {
  readonly mean: number;
  readonly sd: number;
  /** Folds where the metric was defined. */
  readonly folds: number;
}

export const SUMMARY_KEYS = ['accuracy', 'sensitivity', 'specificity', 'precision', 'f1', 'auc'] as const;
export type SummaryKey = (typeof SUMMARY_KEYS)[number];

export interface CrossValidationResult {
  readonly folds: readonly FoldResult[];
  /** Metrics of all out-of-fold predictions together (each scored at its own fold's threshold). */
  readonly pooled: BinaryMetrics;
  /** Mean +- SD of the per-fold metrics. */
  readonly summary: Readonly<Record<SummaryKey, MeanSd>>;
  /** All out-of-fold predictions with their labels and fold, in fold order. */
  readonly predictions: readonly (Prediction & { readonly label: Label; readonly fold: number })[];
}

export interface HoldoutResult {
  readonly split: Split;
  readonly fold: FoldResult;
}

/** Check that `out` predicts exactly `testIds`, once each, with probabilities in [0, 1]. */
function checkFoldOutput(
  out: FoldOutput,
  testIds: readonly string[],
  fold: number,
): { predictions: readonly Prediction[]; threshold?: number } {
  const norm = Array.isArray(out)
    ? { predictions: out as readonly Prediction[] }
    : (out as { predictions: readonly Prediction[]; threshold?: number });
  const where = `fold ${fold}`;
  if (!norm || !Array.isArray(norm.predictions))
    throw new Error(`${where}: fitPredict must return predictions`);
  const expected = new Set(testIds);
  const seen = new Set<string>();
  for (const p of norm.predictions) {
    if (!expected.has(p.id))
      throw new Error(`${where}: prediction for patient ${p.id}, who is not in this fold's test part`);
    if (seen.has(p.id)) throw new Error(`${where}: patient ${p.id} predicted more than once`);
    if (!(p.prob >= 0 && p.prob <= 1))
      throw new Error(`${where}: probability ${String(p.prob)} for patient ${p.id} is not in [0, 1]`);
    seen.add(p.id);
  }
  const missing = testIds.filter((id) => !seen.has(id));
  if (missing.length > 0)
    throw new Error(`${where}: no prediction for patient(s) ${missing.slice(0, 10).join(', ')}`);
  if (norm.threshold !== undefined && Number.isNaN(norm.threshold))
    throw new Error(`${where}: threshold is NaN`);
  return norm;
}

async function runFold(
  fold: number,
  split: Split,
  labelOf: ReadonlyMap<string, Label>,
  defaultThreshold: number,
  fitPredict: FitPredict,
): Promise<FoldResult> {
  const out = checkFoldOutput(await fitPredict(split.train, split.test, fold), split.test, fold);
  const order = new Map(split.test.map((id, i) => [id, i]));
  const predictions = out.predictions.slice().sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  const threshold = out.threshold ?? defaultThreshold;
  const metrics = binaryMetrics(
    predictions.map((p) => labelOf.get(p.id) as Label),
    predictions.map((p) => p.prob),
    { threshold },
  );
  return { fold, trainIds: split.train, testIds: split.test, predictions, threshold, metrics };
}

function labelMap(items: readonly SplitItem[]): Map<string, Label> {
  return new Map(items.map((it) => [it.id, it.label]));
}

/** Mean and sample SD of the defined values. */
export function meanSd(values: readonly number[]): MeanSd {
  const v = values.filter((x) => !Number.isNaN(x));
  const n = v.length;
  if (n === 0) return { mean: NaN, sd: NaN, folds: 0 };
  const mean = v.reduce((s, x) => s + x, 0) / n;
  const sd = n < 2 ? NaN : Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  return { mean, sd, folds: n };
}

/** Pooled metrics and the per-fold summary of a set of folds. */
function pool(
  folds: readonly FoldResult[],
  labelOf: ReadonlyMap<string, Label>,
): Omit<CrossValidationResult, 'folds'> {
  const predictions = folds.flatMap((f) =>
    f.predictions.map((p) => ({ ...p, label: labelOf.get(p.id) as Label, fold: f.fold })),
  );
  const counts = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (const f of folds) {
    const c = confusion(
      f.predictions.map((p) => labelOf.get(p.id) as Label),
      f.predictions.map((p) => p.prob),
      f.threshold,
    );
    counts.tp += c.tp;
    counts.fp += c.fp;
    counts.tn += c.tn;
    counts.fn += c.fn;
  }
  const thresholds = new Set(folds.map((f) => f.threshold));
  const pooled: BinaryMetrics = {
    ...counts,
    ...ratesFromConfusion(counts),
    auc: auc(
      predictions.map((p) => p.label),
      predictions.map((p) => p.prob),
    ),
    threshold: thresholds.size === 1 ? folds[0].threshold : NaN,
  };
  const summary = Object.fromEntries(
    SUMMARY_KEYS.map((k) => [k, meanSd(folds.map((f) => f.metrics[k]))]),
  ) as Record<SummaryKey, MeanSd>;
  return { pooled, summary, predictions };
}

/**
 * Stratified hold-out evaluation: one patient-level split (`testFraction` of each class, default
 * 0.2, as in Hai et al. 2022), `fitPredict(train, test, 0)`, metrics on the test part.
 */
export async function holdout(
  items: readonly SplitItem[],
  opts: { testFraction?: number; seed: number | string; threshold?: number },
  fitPredict: FitPredict,
): Promise<HoldoutResult> {
  const split = stratifiedHoldout(items, { testFraction: opts.testFraction ?? 0.2, seed: opts.seed });
  const fold = await runFold(0, split, labelMap(items), opts.threshold ?? 0.5, fitPredict);
  return { split, fold };
}

/**
 * Stratified k-fold cross-validation (default k = 10, as in Apostolopoulos et al. 2020): every
 * patient is tested exactly once, by a model that never saw them. Folds run one after another.
 * Returns per-fold metrics, their mean +- SD, and pooled metrics on all out-of-fold predictions
 * (confusion counts summed over folds at each fold's threshold; AUC of the concatenated
 * probabilities, which assumes the folds' probabilities are on a common scale).
 */
export async function crossValidate(
  items: readonly SplitItem[],
  opts: { k?: number; seed: number | string; threshold?: number },
  fitPredict: FitPredict,
): Promise<CrossValidationResult> {
  const splits = stratifiedKFold(items, { k: opts.k ?? 10, seed: opts.seed });
  const labelOf = labelMap(items);
  const folds: FoldResult[] = [];
  for (let f = 0; f < splits.length; f++)
    folds.push(await runFold(f, splits[f], labelOf, opts.threshold ?? 0.5, fitPredict));
  return { folds, ...pool(folds, labelOf) };
}

/** Chooses a configuration (hyper-parameters, number of epochs, ...) from an outer training part and its inner folds only. */
export type Select<C> = (
  trainIds: readonly string[],
  innerFolds: readonly Split[],
  outerFold: number,
) => Promise<C>;

/** Train on `trainIds` with the chosen configuration, predict `testIds`. */
export type FitPredictWith<C> = (
  trainIds: readonly string[],
  testIds: readonly string[],
  foldIndex: number,
  config: C,
) => Promise<FoldOutput>;

export interface NestedResult<C> extends CrossValidationResult {
  /** The configuration chosen for each outer fold. */
  readonly configs: readonly C[];
}

/**
 * Nested cross-validation (Varma & Simon 2006): a {@link crossValidate} over `outerK` stratified
 * outer folds (default 10) whose fold fitting first chooses its configuration: the outer training
 * part is split again into `innerK` stratified inner folds (default 5, seeded per outer fold);
 * `select(outerTrain, innerFolds, f)` picks a configuration using those only, then
 * `fitPredict(outerTrain, outerTest, f, config)` gives the out-of-fold predictions. The reported
 * (pooled and per-fold) figures therefore never saw their test fold.
 */
export async function nestedCrossValidate<C>(
  items: readonly SplitItem[],
  opts: { outerK?: number; innerK?: number; seed: number | string; threshold?: number },
  select: Select<C>,
  fitPredict: FitPredictWith<C>,
): Promise<NestedResult<C>> {
  const labelOf = labelMap(items);
  const configs: C[] = [];
  const cv = await crossValidate(
    items,
    { k: opts.outerK ?? 10, seed: opts.seed, threshold: opts.threshold },
    async (train, test, f) => {
      const trainItems = train.map((id) => ({ id, label: labelOf.get(id) as Label }));
      const inner = stratifiedKFold(trainItems, {
        k: opts.innerK ?? 5,
        seed: `${String(opts.seed)}/inner/${f}`,
      });
      const config = await select(train, inner, f);
      configs.push(config);
      return fitPredict(train, test, f, config);
    },
  );
  return { ...cv, configs };
}
