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
import {
  fitLogistic,
  gramMatrix,
  predictLogistic,
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

/** Fit on standardised rows; the dual solver reuses a precomputed Gram matrix when p >= n. */
function fitRows(Z: Design, y: number[], C: number, K: Float64Array | undefined): LogisticFit {
  return fitLogistic(Z, y, K === undefined ? { C } : { C, gram: K });
}

/**
 * Choose C by stratified k-fold cross-validation (held-out log loss; ties to the smaller C, the
 * stronger penalty) and refit on all rows. Standardisation is refitted inside every fold.
 * @example
 * const m = fitLogisticCV(X, labels, { seed: 1 });
 * const p = predictLogisticCV(m, Xtest);
 */
export function fitLogisticCV(X: Design, y: readonly number[], o: LogisticCvOptions): LogisticCvFit {
  const Cs = o.Cs ?? DEFAULT_CS;
  if (Cs.length === 0) throw new RangeError('Cs: no candidate');
  const counts = [0, 0];
  for (const v of y) counts[v === 1 ? 1 : 0]++;
  const folds = Math.min(o.folds ?? 5, counts[0], counts[1]);
  if (folds < 2)
    throw new RangeError(
      `cross-validation needs at least 2 patients of each class, got ${counts[0]} / ${counts[1]}`,
    );
  const ids = y.map((_, i) => String(i).padStart(6, '0'));
  const splits = stratifiedKFold(
    ids.map((id, i) => ({ id, label: y[i] === 1 ? 1 : 0 })),
    { k: folds, seed: o.seed },
  );
  const oof = Cs.map(() => new Float64Array(X.n));
  for (const s of splits) {
    const tr = s.train.map(Number);
    const te = s.test.map(Number);
    const st = fitStandardiser(takeRows(X, tr));
    const Ztr = standardise(takeRows(X, tr), st);
    const Zte = standardise(takeRows(X, te), st);
    const K = Ztr.p >= Ztr.n ? gramMatrix(Ztr) : undefined;
    const ytr = tr.map((i) => y[i]);
    Cs.forEach((C, c) => {
      const p = predictLogistic(fitRows(Ztr, ytr, C, K), Zte);
      te.forEach((i, k) => (oof[c][i] = p[k]));
    });
  }
  const cvLogLoss = oof.map((p) => meanLogLoss(y, p));
  let best = 0;
  for (let c = 1; c < Cs.length; c++) if (cvLogLoss[c] < cvLogLoss[best] - 1e-12) best = c;
  const standardiser = fitStandardiser(X);
  const Z = standardise(X, standardiser);
  const fit = fitRows(Z, [...y], Cs[best], Z.p >= Z.n ? gramMatrix(Z) : undefined);
  return { standardiser, fit, C: Cs[best], folds, cvLogLoss, Cs: [...Cs], outOfFold: oof[best] };
}

/** P(CAD) of each row under a {@link fitLogisticCV} model. */
export function predictLogisticCV(
  m: { standardiser: Standardiser; fit: Pick<LogisticFit, 'weights' | 'intercept'> },
  X: Design,
): Float64Array {
  return predictLogistic(m.fit, standardise(X, m.standardiser));
}
