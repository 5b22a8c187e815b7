/**
 * Statistical tests for comparing classifiers on the same patients:
 * - DeLong's test for two correlated AUCs (DeLong, DeLong & Clarke-Pearson 1988, Biometrics
 *   44:837), with the structural components computed from mid-ranks in O(n log n) as in the
 *   "fast DeLong" algorithm (Sun & Xu 2014, IEEE Signal Processing Letters 21:1389);
 * - the DeLong variance and normal confidence interval of one AUC;
 * - McNemar's test for paired accuracy (McNemar 1947, Psychometrika 12:153).
 */
import type { Label } from '../domain/views.js';
import { InputError } from '../util/errors.js';
import { binomCdf, twoSidedNormalP, zForLevel } from './distributions.js';
import { checkScores, midranks } from './metrics.js';

/** DeLong structural components of one score vector. */
interface Components {
  readonly auc: number;
  /** V10_i for each positive i: the share of negatives it beats (ties 1/2). */
  readonly v10: Float64Array;
  /** V01_j for each negative j: the share of positives that beat it (ties 1/2). */
  readonly v01: Float64Array;
}

/**
 * Structural components (DeLong et al. 1988, eq. for V10 and V01) from mid-ranks (Sun & Xu 2014):
 * V10_i = (R_i - R^pos_i) / n0 and V01_j = 1 - (R_j - R^neg_j) / n1, where R are mid-ranks in
 * the pooled sample and R^pos, R^neg mid-ranks within the positives or negatives.
 */
function components(labels: readonly Label[], scores: readonly number[]): Components {
  const pos: number[] = [];
  const neg: number[] = [];
  labels.forEach((l, i) => (l === 1 ? pos : neg).push(scores[i]));
  const n1 = pos.length;
  const n0 = neg.length;
  const all = midranks([...pos, ...neg]);
  const rPos = midranks(pos);
  const rNeg = midranks(neg);
  const v10 = new Float64Array(n1);
  const v01 = new Float64Array(n0);
  let s = 0;
  for (let i = 0; i < n1; i++) {
    v10[i] = (all[i] - rPos[i]) / n0;
    s += v10[i];
  }
  for (let j = 0; j < n0; j++) v01[j] = 1 - (all[n1 + j] - rNeg[j]) / n1;
  return { auc: s / n1, v10, v01 };
}

/** Sample covariance (denominator m - 1) of two equally long vectors. */
function cov(a: Float64Array, b: Float64Array): number {
  const m = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < m; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= m;
  mb /= m;
  let s = 0;
  for (let i = 0; i < m; i++) s += (a[i] - ma) * (b[i] - mb);
  return s / (m - 1);
}

function classCounts(labels: readonly Label[], what: string): void {
  let n1 = 0;
  for (const l of labels) n1 += l;
  const n0 = labels.length - n1;
  if (n1 < 2 || n0 < 2) {
    throw new InputError(
      `${what}: needs at least 2 positive and 2 negative patients, got ${n1} positive and ${n0} negative`,
    );
  }
}

/** AUC of one model with its DeLong standard error and a normal confidence interval. */
export interface AucWithVariance {
  readonly auc: number;
  readonly variance: number;
  readonly se: number;
  /** auc -+ z se, clipped to [0, 1]. */
  readonly ci: readonly [number, number];
  readonly level: number;
}

/**
 * The AUC with its DeLong (1988) variance S10/n1 + S01/n0 (S10, S01 the sample variances of the
 * structural components) and the normal interval auc -+ z se clipped to [0, 1] (as pROC does).
 * Needs at least 2 patients of each class (else `InputError`).
 */
export function delongSingle(
  labels: readonly Label[],
  scores: readonly number[],
  opts: { level?: number } = {},
): AucWithVariance {
  checkScores(labels, scores, 'DeLong');
  classCounts(labels, 'DeLong');
  const level = opts.level ?? 0.95;
  const z = zForLevel(level);
  const c = components(labels, scores);
  const variance = cov(c.v10, c.v10) / c.v10.length + cov(c.v01, c.v01) / c.v01.length;
  const se = Math.sqrt(variance);
  return { auc: c.auc, variance, se, ci: [Math.max(0, c.auc - z * se), Math.min(1, c.auc + z * se)], level };
}

/** Result of DeLong's paired test of AUC_A = AUC_B. */
export interface DelongResult {
  readonly aucA: number;
  readonly aucB: number;
  /** aucA - aucB. */
  readonly diff: number;
  /** DeLong standard error of the difference. */
  readonly se: number;
  readonly z: number;
  /** Two-sided p-value, 2 Phi(-|z|). */
  readonly p: number;
  /** diff -+ z_level se. */
  readonly ciDiff: readonly [number, number];
  /** The 2x2 DeLong covariance matrix of (aucA, aucB): [varA, covAB, varB]. */
  readonly varA: number;
  readonly varB: number;
  readonly covAB: number;
  readonly level: number;
}

/**
 * DeLong's nonparametric test for two correlated AUCs (two models scored on the same patients;
 * DeLong et al. 1988): S = S10/n1 + S01/n0 with S10, S01 the 2x2 sample covariance matrices of
 * the structural components; var(diff) = S_AA + S_BB - 2 S_AB; z = diff / se, two-sided
 * p = 2 Phi(-|z|); interval diff -+ z_level se. When se = 0 (for example identical scores),
 * z = 0 and p = 1 if diff = 0, else z = +-Infinity and p = 0.
 * Needs at least 2 patients of each class (else `InputError`).
 */
export function delong(
  labels: readonly Label[],
  probsA: readonly number[],
  probsB: readonly number[],
  opts: { level?: number } = {},
): DelongResult {
  checkScores(labels, probsA, 'DeLong model A');
  checkScores(labels, probsB, 'DeLong model B');
  classCounts(labels, 'DeLong');
  const level = opts.level ?? 0.95;
  const zq = zForLevel(level);
  const a = components(labels, probsA);
  const b = components(labels, probsB);
  const n1 = a.v10.length;
  const n0 = a.v01.length;
  const varA = cov(a.v10, a.v10) / n1 + cov(a.v01, a.v01) / n0;
  const varB = cov(b.v10, b.v10) / n1 + cov(b.v01, b.v01) / n0;
  const covAB = cov(a.v10, b.v10) / n1 + cov(a.v01, b.v01) / n0;
  const diff = a.auc - b.auc;
  // Rounding can make a zero variance slightly negative.
  const se = Math.sqrt(Math.max(0, varA + varB - 2 * covAB));
  let z: number;
  let p: number;
  if (se > 0) {
    z = diff / se;
    p = twoSidedNormalP(z);
  } else if (diff === 0) {
    z = 0;
    p = 1;
  } else {
    z = diff > 0 ? Infinity : -Infinity;
    p = 0;
  }
  return {
    aucA: a.auc,
    aucB: b.auc,
    diff,
    se,
    z,
    p,
    ciDiff: [diff - zq * se, diff + zq * se],
    varA,
    varB,
    covAB,
    level,
  };
}

/** Result of McNemar's test. */
export interface McNemarResult {
  /** Patients model A got right and model B wrong. */
  readonly b: number;
  /** Patients model A got wrong and model B right. */
  readonly c: number;
  readonly method: 'exact' | 'chi2-corrected';
  /** Exact: min(b, c). Chi-square: (|b - c| - 1)^2 / (b + c). */
  readonly statistic: number;
  readonly p: number;
  /** Exact only: the mid-p-value (p minus the probability of the observed table), else NaN. */
  readonly midP: number;
}

/**
 * McNemar's test (McNemar 1947) that two models have the same accuracy on the same patients,
 * from the discordant pairs b (A right, B wrong) and c (A wrong, B right).
 * `exact` defaults to b + c < 25. Exact: two-sided binomial p = min(1, 2 P(X <= min(b, c))),
 * X ~ Bin(b + c, 1/2), with the mid-p-value alongside. Otherwise chi-square with Edwards'
 * continuity correction, (|b - c| - 1)^2 / (b + c) on 1 degree of freedom (as statsmodels'
 * `mcnemar(exact=False, correction=True)`). b + c = 0 gives p = 1.
 */
export function mcnemar(
  correctA: readonly boolean[],
  correctB: readonly boolean[],
  opts: { exact?: boolean } = {},
): McNemarResult {
  if (correctA.length !== correctB.length) {
    throw new InputError(
      `McNemar: model A has ${correctA.length} results but model B has ${correctB.length}`,
    );
  }
  let b = 0;
  let c = 0;
  for (let i = 0; i < correctA.length; i++) {
    if (typeof correctA[i] !== 'boolean' || typeof correctB[i] !== 'boolean') {
      throw new InputError(`McNemar: result ${i} is not a boolean (right/wrong)`);
    }
    if (correctA[i] && !correctB[i]) b++;
    else if (!correctA[i] && correctB[i]) c++;
  }
  return mcnemarFromCounts(b, c, opts);
}

/** McNemar's test from the discordant counts b and c (see `mcnemar`). */
export function mcnemarFromCounts(b: number, c: number, opts: { exact?: boolean } = {}): McNemarResult {
  for (const [name, v] of [
    ['b', b],
    ['c', c],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new InputError(`McNemar: ${name} must be a non-negative integer, got ${v}`);
  }
  const m = b + c;
  const exact = opts.exact ?? m < 25;
  if (exact) {
    const k = Math.min(b, c);
    if (m === 0) return { b, c, method: 'exact', statistic: 0, p: 1, midP: 1 };
    const p = Math.min(1, 2 * binomCdf(k, m, 0.5));
    // Probability of the observed table: P(X = k), counted once on each side of the two-sided p.
    const pk = binomCdf(k, m, 0.5) - (k > 0 ? binomCdf(k - 1, m, 0.5) : 0);
    const midP = Math.min(1, 2 * binomCdf(k, m, 0.5) - pk);
    return { b, c, method: 'exact', statistic: k, p, midP };
  }
  if (m === 0) return { b, c, method: 'chi2-corrected', statistic: 0, p: 1, midP: NaN };
  // Not clamped at 0 when b = c (giving 1 / (b + c)), exactly as R's mcnemar.test and statsmodels.
  const d = Math.abs(b - c) - 1;
  const statistic = (d * d) / m;
  // Chi-square(1) survival function: P(chi2 > s) = 2 Phi(-sqrt(s)).
  return { b, c, method: 'chi2-corrected', statistic, p: twoSidedNormalP(Math.sqrt(statistic)), midP: NaN };
}
