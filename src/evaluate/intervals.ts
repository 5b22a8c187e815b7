/**
 * Confidence intervals for the evaluation figures: Wilson score intervals for proportions
 * (Wilson 1927) and a seeded, class-stratified percentile bootstrap (Efron & Tibshirani 1993)
 * for the AUC and F1, whose sampling distributions have no simple closed form.
 */
import type { Label } from '../domain/views.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { zForLevel } from './distributions.js';
import {
  auc,
  binaryMetrics,
  checkScores,
  confusion,
  ratesFromConfusion,
  type BinaryMetrics,
} from './metrics.js';

/** A point estimate with a two-sided confidence interval. NaN everywhere when undefined (n = 0). */
export interface Interval {
  readonly estimate: number;
  readonly lo: number;
  readonly hi: number;
  readonly level: number;
}

/** A bootstrap interval, with how many resamples gave an undefined (NaN) statistic. */
export interface BootstrapInterval extends Interval {
  readonly resamples: number;
  /** Resamples whose statistic was NaN (for example F1 with no positive call and no positive): left out of the percentiles. */
  readonly degenerate: number;
}

/**
 * Wilson score interval for a binomial proportion k/n (Wilson 1927):
 * centre (k + z^2/2) / (n + z^2), half-width z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4),
 * with z the two-sided normal quantile of `level`. Unlike the Wald interval it stays inside
 * [0, 1] and has near-nominal coverage for small n. n = 0 gives NaNs.
 */
export function wilson(k: number, n: number, level = 0.95): Interval {
  const z = zForLevel(level);
  if (!Number.isInteger(n) || n < 0)
    throw new InputError(`wilson: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new InputError(`wilson: k must be an integer in [0, n=${n}], got ${k}`);
  if (n === 0) return { estimate: NaN, lo: NaN, hi: NaN, level };
  const z2 = z * z;
  const centre = (k + z2 / 2) / (n + z2);
  const half = (z / (n + z2)) * Math.sqrt((k * (n - k)) / n + z2 / 4);
  return { estimate: k / n, lo: Math.max(0, centre - half), hi: Math.min(1, centre + half), level };
}

/**
 * Quantile of sorted values by linear interpolation between order statistics (Hyndman & Fan
 * type 7, numpy's default): position q (n - 1).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/** A statistic of (labels, probabilities), e.g. `auc`. */
export type Statistic = (labels: readonly Label[], probs: readonly number[]) => number;

export interface BootstrapOptions {
  /** Number of resamples (default 2,000). */
  readonly resamples?: number;
  /** Seed of the resampling (required: the same seed gives the same interval). */
  readonly seed: number | string;
  /** Confidence level (default 0.95). */
  readonly level?: number;
}

/**
 * Stratified percentile bootstrap: each resample draws n1 patients with replacement from the
 * n1 positives and n0 from the n0 negatives (so every resample keeps the class counts and the
 * AUC is always defined), evaluates `statistic`, and the interval is the (1-level)/2 and
 * 1-(1-level)/2 quantiles (type 7) of the resampled values. Resamples giving NaN are counted
 * as `degenerate` and left out. The estimate is the statistic on the original data.
 */
export function stratifiedBootstrap(
  labels: readonly Label[],
  probs: readonly number[],
  statistic: Statistic,
  opts: BootstrapOptions,
): BootstrapInterval {
  checkScores(labels, probs, 'bootstrap');
  const resamples = opts.resamples ?? 2000;
  const level = opts.level ?? 0.95;
  zForLevel(level);
  if (!Number.isInteger(resamples) || resamples < 1)
    throw new InputError(`bootstrap: resamples must be a positive integer, got ${resamples}`);
  const pos: number[] = [];
  const neg: number[] = [];
  labels.forEach((l, i) => (l === 1 ? pos : neg).push(i));
  const estimate = statistic(labels, probs);
  const rng = new Rng(opts.seed).fork('stratified-bootstrap');
  const n = labels.length;
  const bLabels: Label[] = new Array<Label>(n);
  const bProbs: number[] = new Array<number>(n);
  for (let i = 0; i < pos.length; i++) bLabels[i] = 1;
  for (let i = pos.length; i < n; i++) bLabels[i] = 0;
  const values: number[] = [];
  let degenerate = 0;
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < pos.length; i++) bProbs[i] = probs[pos[Math.floor(rng.next() * pos.length)]];
    for (let i = 0; i < neg.length; i++)
      bProbs[pos.length + i] = probs[neg[Math.floor(rng.next() * neg.length)]];
    const v = statistic(bLabels, bProbs);
    if (Number.isNaN(v)) degenerate++;
    else values.push(v);
  }
  values.sort((a, b) => a - b);
  const alpha = 1 - level;
  return {
    estimate,
    lo: quantileSorted(values, alpha / 2),
    hi: quantileSorted(values, 1 - alpha / 2),
    level,
    resamples,
    degenerate,
  };
}

/** Metrics with their intervals: Wilson for the proportions, stratified bootstrap for AUC and F1. */
export interface MetricsWithIntervals {
  readonly metrics: BinaryMetrics;
  readonly accuracy: Interval;
  readonly sensitivity: Interval;
  readonly specificity: Interval;
  readonly precision: Interval;
  readonly f1: BootstrapInterval;
  readonly auc: BootstrapInterval;
}

/**
 * `binaryMetrics` at `threshold` (default 0.5) plus 95% (or `level`) intervals: Wilson for
 * accuracy (k = TP+TN of n), sensitivity (TP of TP+FN), specificity (TN of TN+FP) and precision
 * (TP of TP+FP); stratified bootstrap (`resamples`, default 2,000, seeded) for AUC and F1 at
 * the same threshold.
 */
export function metricsWithIntervals(
  labels: readonly Label[],
  probs: readonly number[],
  opts: { threshold?: number; level?: number; resamples?: number; seed: number | string },
): MetricsWithIntervals {
  const level = opts.level ?? 0.95;
  const threshold = opts.threshold ?? 0.5;
  const m = binaryMetrics(labels, probs, { threshold });
  const boot = { resamples: opts.resamples, seed: opts.seed, level };
  const f1At: Statistic = (l, p) => ratesFromConfusion(confusion(l, p, threshold)).f1;
  return {
    metrics: m,
    accuracy: wilson(m.tp + m.tn, m.n, level),
    sensitivity: wilson(m.tp, m.tp + m.fn, level),
    specificity: wilson(m.tn, m.tn + m.fp, level),
    precision: wilson(m.tp, m.tp + m.fp, level),
    auc: stratifiedBootstrap(labels, probs, auc, { ...boot, seed: `${String(opts.seed)}/auc` }),
    f1: stratifiedBootstrap(labels, probs, f1At, { ...boot, seed: `${String(opts.seed)}/f1` }),
  };
}
