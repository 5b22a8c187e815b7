/**
 * Standardised ridge logistic regression with its regularisation chosen by stratified k-fold
 * cross-validation on the training patients only (as scikit-learn's
 * `make_pipeline(StandardScaler(), LogisticRegressionCV(Cs, cv=StratifiedKFold(k), scoring='neg_log_loss'))`):
 * the linear models behind polarcad's baselines and linear heads.
 *
 * The held-out log loss picks C; the final model is refitted on every training patient. The
 * out-of-fold probabilities at the chosen C are kept: they are honest predictions for every
 * training patient (each from a model that did not see it), used for calibration and stacking.
 */
import { stratifiedKFold } from '../../ingest/splits.js';
import { Rng } from '../../util/rng.js';
import {
  fitLogistic,
  gramMatrix,
  predictLogistic,
  smoothLabels,
  softplus,
  type Design,
  type LogisticFit,
} from './logistic.js';

/** Per-feature centring and scaling fitted on training rows. */
export interface Standardiser {
  readonly mean: Float64Array;
  /** standard deviations; 1 where a feature is constant */
  readonly scale: Float64Array;
}

/** Fit a {@link Standardiser} (population standard deviation, as scikit-learn's StandardScaler). */
export function fitStandardiser(X: Design): Standardiser {
  const mean = new Float64Array(X.p);
  const scale = new Float64Array(X.p);
  for (let i = 0; i < X.n; i++) for (let j = 0; j < X.p; j++) mean[j] += X.data[i * X.p + j];
  for (let j = 0; j < X.p; j++) mean[j] /= X.n;
  for (let i = 0; i < X.n; i++)
    for (let j = 0; j < X.p; j++) scale[j] += (X.data[i * X.p + j] - mean[j]) ** 2;
  for (let j = 0; j < X.p; j++) {
    const sd = Math.sqrt(scale[j] / X.n);
    scale[j] = sd > 1e-12 ? sd : 1;
  }
  return { mean, scale };
}

/** Apply a {@link Standardiser} to a design (a new design; the input is unchanged). */
export function standardise(X: Design, s: Standardiser): Design {
  if (s.mean.length !== X.p)
    throw new RangeError(`standardiser has ${s.mean.length} features, design ${X.p}`);
  const data = new Float64Array(X.data.length);
  for (let i = 0; i < X.n; i++)
    for (let j = 0; j < X.p; j++) data[i * X.p + j] = (X.data[i * X.p + j] - s.mean[j]) / s.scale[j];
  return { n: X.n, p: X.p, data };
}

/** The rows `idx` of a design. */
export function takeRows(X: Design, idx: readonly number[]): Design {
  const data = new Float64Array(idx.length * X.p);
  idx.forEach((i, k) => data.set(X.data.subarray(i * X.p, (i + 1) * X.p), k * X.p));
  return { n: idx.length, p: X.p, data };
}

/** The default grid of C: 10^-4 .. 10^2 in 13 steps (half decades). */
export const DEFAULT_CS: readonly number[] = Array.from({ length: 13 }, (_, k) => 10 ** (-4 + k / 2));

/** Options of {@link fitLogisticCV}. */
export interface LogisticCvOptions {
  /** candidate C values (default {@link DEFAULT_CS}) */
  readonly Cs?: readonly number[];
  /** folds (default 5; fewer when a class has fewer patients) */
  readonly folds?: number;
  readonly seed: number | string;
  /**
   * augmented copies (e.g. rotated maps): the design's last `copies.length` rows are copies of
   * earlier rows, `copies[k]` being the original row of copy k; `y` then labels the originals only.
   * A copy is trained on with its original's label and always sits in its original's fold (never
   * in training while its original is held out); only originals are held out and scored.
   */
  readonly copies?: readonly number[];
  /** label smoothing eps in [0, 1): the fits use targets eps/2 and 1 - eps/2 (selection scores hard labels) */
  readonly labelSmoothing?: number;
  /** mixup (Zhang et al. 2018) on the standardised training rows of every fit: see {@link mixupRows} */
  readonly mixup?: MixupOptions;
}

/** Options of {@link mixupRows}. */
export interface MixupOptions {
  /** Beta(alpha, alpha) mixing weights (0.2 in Zhang et al. 2018) */
  readonly alpha: number;
  readonly seed: number | string;
}

/** A fitted standardised logistic model with its selection record. */
export interface LogisticCvFit {
  readonly standardiser: Standardiser;
  readonly fit: LogisticFit;
  readonly C: number;
  readonly folds: number;
  /** mean held-out log loss per candidate C, in `Cs` order */
  readonly cvLogLoss: readonly number[];
  readonly Cs: readonly number[];
  /** out-of-fold P(CAD) of every training row at the chosen C */
  readonly outOfFold: Float64Array;
}

function meanLogLoss(y: ArrayLike<number>, p: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    const z = Math.log(Math.max(p[i], 1e-15) / Math.max(1 - p[i], 1e-15));
    s += softplus(y[i] === 1 ? -z : z);
  }
  return s / y.length;
}

/** A Beta(a, a) draw by Joehnk's method (exact for any a > 0; fast for the small a of mixup). */
export function betaSample(rng: Rng, a: number): number {
  for (;;) {
    const lx = Math.log(rng.next() || Number.MIN_VALUE) / a;
    const ly = Math.log(rng.next() || Number.MIN_VALUE) / a;
    const m = Math.max(lx, ly);
    const sum = Math.exp(lx - m) + Math.exp(ly - m);
    if (m + Math.log(sum) <= 0) return Math.exp(lx - m) / sum;
  }
}

/**
 * Mixup (Zhang et al., ICLR 2018) for a closed-form fit: the rows plus as many mixed rows, each
 * lambda * x_i + (1 - lambda) * x_j with target lambda * q_i + (1 - lambda) * q_j, i and j drawn
 * uniformly and lambda ~ Beta(alpha, alpha); seeded.
 * @example mixupRows(Z, targets, { alpha: 0.2, seed: 1 }) // 2n rows and their soft targets
 */
export function mixupRows(
  Z: Design,
  q: ArrayLike<number>,
  o: MixupOptions,
): { rows: Design; targets: Float64Array } {
  if (!(o.alpha > 0)) throw new RangeError(`mixup alpha must be positive, got ${o.alpha}`);
  const rng = new Rng(`${o.seed}/mixup`);
  const data = new Float64Array(2 * Z.n * Z.p);
  const targets = new Float64Array(2 * Z.n);
  data.set(Z.data);
  for (let i = 0; i < Z.n; i++) targets[i] = q[i];
  for (let k = 0; k < Z.n; k++) {
    const i = rng.int(0, Z.n - 1);
    const j = rng.int(0, Z.n - 1);
    const lam = betaSample(rng, o.alpha);
    const out = (Z.n + k) * Z.p;
    for (let c = 0; c < Z.p; c++) data[out + c] = lam * Z.data[i * Z.p + c] + (1 - lam) * Z.data[j * Z.p + c];
    targets[Z.n + k] = lam * q[i] + (1 - lam) * q[j];
  }
  return { rows: { n: 2 * Z.n, p: Z.p, data }, targets };
}

/** The rows and targets a fit sees: smoothed labels, then mixup (each optional). */
function trainingRows(
  Z: Design,
  y: readonly number[],
  o: LogisticCvOptions,
  fold: string,
): { rows: Design; targets: Float64Array | undefined } {
  const q = o.labelSmoothing ? smoothLabels(y, o.labelSmoothing) : undefined;
  if (o.mixup === undefined) return { rows: Z, targets: q };
  return mixupRows(Z, q ?? Float64Array.from(y), { alpha: o.mixup.alpha, seed: `${o.mixup.seed}/${fold}` });
}

/** Fit on standardised rows; the dual solver reuses a precomputed Gram matrix when p >= n. */
function fitRows(
  Z: Design,
  y: readonly number[],
  C: number,
  K: Float64Array | undefined,
  targets: Float64Array | undefined,
): LogisticFit {
  const labels = targets === undefined ? y : Array.from(targets, (t) => (t >= 0.5 ? 1 : 0));
  return fitLogistic(Z, labels, {
    C,
    ...(K !== undefined ? { gram: K } : {}),
    ...(targets !== undefined ? { targets } : {}),
  });
}

/** A fit's rows (standardised) with the Gram matrix when the dual solver will be used. */
function prepareFit(
  Z: Design,
  y: readonly number[],
  o: LogisticCvOptions,
  fold: string,
): { rows: Design; targets: Float64Array | undefined; K: Float64Array | undefined; y: readonly number[] } {
  const t = trainingRows(Z, y, o, fold);
  const yy = t.rows.n === y.length ? y : Array.from(t.targets ?? [], (v) => (v >= 0.5 ? 1 : 0));
  return { ...t, y: yy, K: t.rows.p >= t.rows.n ? gramMatrix(t.rows) : undefined };
}

/** One cross-validation fold: the rows it trains on and the original rows it holds out. */
export interface CvFold {
  readonly train: number[];
  readonly test: number[];
}

/**
 * Stratified k-fold over the original rows (labels `y`), seeded; every copy (row y.length + k, a
 * copy of row `copies[k]`) trains in exactly the folds where its original trains, so no copy of a
 * held-out row is ever trained on (patient-level folds). Copies are never held out.
 * @example cvFolds([0, 1, 0, 1], [0, 3], 2, 1) // rows 4 and 5 follow rows 0 and 3
 */
export function cvFolds(
  y: readonly number[],
  copies: readonly number[],
  folds: number,
  seed: number | string,
): CvFold[] {
  const n0 = y.length;
  const ids = y.map((_, i) => String(i).padStart(6, '0'));
  return stratifiedKFold(
    ids.map((id, i) => ({ id, label: y[i] === 1 ? 1 : 0 })),
    { k: folds, seed },
  ).map((s) => {
    const train = s.train.map(Number);
    const inTrain = new Set(train);
    copies.forEach((orig, k) => {
      if (inTrain.has(orig)) train.push(n0 + k);
    });
    return { train, test: s.test.map(Number) };
  });
}

/**
 * Choose C by stratified k-fold cross-validation (held-out log loss; ties to the smaller C, the
 * stronger penalty) and refit on all rows. Standardisation is refitted inside every fold. With
 * `copies` the folds are drawn over the original rows and each copy follows its original
 * (patient-level); `outOfFold` then covers the originals only. Label smoothing and mixup change
 * what each fit is trained on, never what it is scored on (held-out log loss on hard labels).
 * @example
 * const m = fitLogisticCV(X, labels, { seed: 1 });
 * const p = predictLogisticCV(m, Xtest);
 */
export function fitLogisticCV(X: Design, y: readonly number[], o: LogisticCvOptions): LogisticCvFit {
  const Cs = o.Cs ?? DEFAULT_CS;
  if (Cs.length === 0) throw new RangeError('Cs: no candidate');
  const copies = o.copies ?? [];
  const n0 = X.n - copies.length;
  if (y.length !== n0)
    throw new RangeError(
      `labels: ${y.length} for ${n0} original rows (${X.n} rows, ${copies.length} copies)`,
    );
  copies.forEach((c, k) => {
    if (!Number.isInteger(c) || c < 0 || c >= n0)
      throw new RangeError(`copies: copy ${k} names row ${c}, not an original row (0..${n0 - 1})`);
  });
  const yAll = [...y, ...copies.map((c) => y[c])];
  const counts = [0, 0];
  for (const v of y) counts[v === 1 ? 1 : 0]++;
  const folds = Math.min(o.folds ?? 5, counts[0], counts[1]);
  if (folds < 2)
    throw new RangeError(
      `cross-validation needs at least 2 patients of each class, got ${counts[0]} / ${counts[1]}`,
    );
  const oof = Cs.map(() => new Float64Array(n0));
  cvFolds(y, copies, folds, o.seed).forEach(({ train: tr, test: te }, f) => {
    const st = fitStandardiser(takeRows(X, tr));
    const fit = prepareFit(
      standardise(takeRows(X, tr), st),
      tr.map((i) => yAll[i]),
      o,
      `fold${f}`,
    );
    const Zte = standardise(takeRows(X, te), st);
    Cs.forEach((C, c) => {
      const p = predictLogistic(fitRows(fit.rows, fit.y, C, fit.K, fit.targets), Zte);
      te.forEach((i, k) => (oof[c][i] = p[k]));
    });
  });
  const cvLogLoss = oof.map((p) => meanLogLoss(y, p));
  let best = 0;
  for (let c = 1; c < Cs.length; c++) if (cvLogLoss[c] < cvLogLoss[best] - 1e-12) best = c;
  const standardiser = fitStandardiser(X);
  const all = prepareFit(standardise(X, standardiser), yAll, o, 'all');
  const fit = fitRows(all.rows, all.y, Cs[best], all.K, all.targets);
  return { standardiser, fit, C: Cs[best], folds, cvLogLoss, Cs: [...Cs], outOfFold: oof[best] };
}

/** P(CAD) of each row under a {@link fitLogisticCV} model. */
export function predictLogisticCV(
  m: { standardiser: Standardiser; fit: Pick<LogisticFit, 'weights' | 'intercept'> },
  X: Design,
): Float64Array {
  return predictLogistic(m.fit, standardise(X, m.standardiser));
}
