/**
 * Calibration of predicted CAD probabilities: the reliability curve, the Brier score
 * (Brier 1950), the expected and maximum calibration errors (Naeini et al. 2015; Guo et al.
 * 2017), and temperature scaling (Guo et al. 2017, "On calibration of modern neural networks",
 * ICML), a one-parameter recalibration fitted on validation data.
 */
import type { Label } from '../domain/views.js';
import { InputError } from '../util/errors.js';
import { quantileSorted } from './intervals.js';
import { checkProbabilities, checkScores } from './metrics.js';

export type BinStrategy = 'uniform' | 'quantile';

/** One bin of a reliability curve. Empty bins have count 0 and NaN means. */
export interface ReliabilityBin {
  /** Bin edges: the bin holds probabilities in (lo, hi] (the first bin also holds lo). */
  readonly lo: number;
  readonly hi: number;
  readonly count: number;
  /** Mean predicted probability of class 1 in the bin. */
  readonly meanPredicted: number;
  /** Observed share of class 1 (CAD) in the bin. */
  readonly fractionPositive: number;
}

export interface BinOptions {
  /** Number of bins (default 10). */
  readonly bins?: number;
  /** 'uniform': equal-width bins on [0, 1] (default); 'quantile': edges at quantiles of the probabilities. */
  readonly strategy?: BinStrategy;
}

function binEdges(probs: readonly number[], bins: number, strategy: BinStrategy): number[] {
  if (strategy === 'uniform') return Array.from({ length: bins + 1 }, (_, i) => i / bins);
  const sorted = probs.slice().sort((a, b) => a - b);
  return Array.from({ length: bins + 1 }, (_, i) => quantileSorted(sorted, i / bins));
}

/**
 * Reliability curve of class-1 probabilities: probabilities are binned (`bins`, default 10;
 * `strategy` 'uniform' or 'quantile'), and each bin reports its mean prediction and observed
 * CAD rate. Bins are right-closed like scikit-learn's `calibration_curve` (a probability goes
 * to the bin whose index is the number of inner edges strictly below it), which drops empty
 * bins where this returns them with count 0. Quantile edges are type-7 quantiles
 * (numpy.percentile); tied probabilities can leave quantile bins empty.
 */
export function reliabilityCurve(
  labels: readonly Label[],
  probs: readonly number[],
  opts: BinOptions = {},
): ReliabilityBin[] {
  checkScores(labels, probs, 'reliability curve');
  checkProbabilities(probs, 'reliability curve');
  const bins = opts.bins ?? 10;
  const strategy = opts.strategy ?? 'uniform';
  if (!Number.isInteger(bins) || bins < 1)
    throw new InputError(`calibration: number of bins must be a positive integer, got ${bins}`);
  if (strategy !== 'uniform' && strategy !== 'quantile')
    throw new InputError(
      `calibration: bin strategy must be 'uniform' or 'quantile', got ${String(strategy)}`,
    );
  if (probs.length === 0) throw new InputError('calibration: no predictions');
  const edges = binEdges(probs, bins, strategy);
  const count = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  for (let i = 0; i < probs.length; i++) {
    // Number of inner edges edges[1..bins-1] strictly below p (binary search).
    let lo = 1;
    let hi = bins; // search in edges[1..bins-1]; result index in [0, bins-1]
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (edges[mid] < probs[i]) lo = mid + 1;
      else hi = mid;
    }
    const b = lo - 1;
    count[b]++;
    sumP[b] += probs[i];
    sumY[b] += labels[i];
  }
  return count.map((c, b) => ({
    lo: edges[b],
    hi: edges[b + 1],
    count: c,
    meanPredicted: c === 0 ? NaN : sumP[b] / c,
    fractionPositive: c === 0 ? NaN : sumY[b] / c,
  }));
}

/** Brier score (Brier 1950): mean squared difference between probability and outcome; lower is better. */
export function brier(labels: readonly Label[], probs: readonly number[]): number {
  checkScores(labels, probs, 'Brier score');
  checkProbabilities(probs, 'Brier score');
  if (probs.length === 0) throw new InputError('Brier score: no predictions');
  let s = 0;
  for (let i = 0; i < probs.length; i++) s += (probs[i] - labels[i]) ** 2;
  return s / probs.length;
}

/** Expected and maximum calibration error. */
export interface CalibrationError {
  /** ECE = sum over bins of (n_b / n) |fractionPositive_b - meanPredicted_b|. */
  readonly ece: number;
  /** MCE = max over non-empty bins of |fractionPositive_b - meanPredicted_b|. */
  readonly mce: number;
  readonly bins: ReliabilityBin[];
}

/**
 * Expected calibration error (Naeini et al. 2015; Guo et al. 2017) and maximum calibration
 * error, on the reliability curve of the class-1 probability (for a binary task this is the
 * reliability diagram of P(CAD), not the top-label confidence variant).
 */
export function ece(
  labels: readonly Label[],
  probs: readonly number[],
  opts: BinOptions = {},
): CalibrationError {
  const bins = reliabilityCurve(labels, probs, opts);
  let e = 0;
  let m = 0;
  for (const b of bins) {
    if (b.count === 0) continue;
    const gap = Math.abs(b.fractionPositive - b.meanPredicted);
    e += (b.count / probs.length) * gap;
    m = Math.max(m, gap);
  }
  return { ece: e, mce: m, bins };
}

/** Logit log(p / (1 - p)) with p clipped to [eps, 1 - eps] (default eps 1e-6) so 0 and 1 stay finite. */
export function logit(p: number, eps = 1e-6): number {
  const q = Math.min(1 - eps, Math.max(eps, p));
  return Math.log(q / (1 - q));
}

/** Logistic sigmoid 1 / (1 + exp(-z)). */
export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Mean binary negative log-likelihood of logits z scaled by 1/T: mean(softplus(z/T) - y z/T). */
export function temperatureNll(
  labels: readonly Label[],
  logits: readonly number[],
  temperature: number,
): number {
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const a = logits[i] / temperature;
    const softplus = a > 0 ? a + Math.log1p(Math.exp(-a)) : Math.log1p(Math.exp(a));
    s += softplus - labels[i] * a;
  }
  return s / logits.length;
}

export interface TemperatureFit {
  /** The fitted temperature T (> 0): calibrated probability = sigmoid(logit / T). */
  readonly temperature: number;
  /** Mean NLL on the fitting data at T = 1 and at the fitted T. */
  readonly nllBefore: number;
  readonly nllAfter: number;
}

/**
 * Temperature scaling (Guo et al. 2017): the T > 0 minimising the mean negative log-likelihood of
 * sigmoid(z / T) on validation data, found by golden-section search on log T over
 * [log minT, log maxT] (defaults 0.01 and 100; the NLL is convex in 1/T, so unimodal in log T)
 * to a tolerance of 1e-10 in log T. `scores` are logits, or probabilities of class 1 with
 * `{ from: 'probs' }` (turned into logits by `logit`, clipped at 1e-6). Fit it on validation
 * data only, then apply the same T to the test data with `applyTemperature`.
 */
export function fitTemperature(
  labels: readonly Label[],
  scores: readonly number[],
  opts: { from?: 'logits' | 'probs'; minT?: number; maxT?: number } = {},
): TemperatureFit {
  checkScores(labels, scores, 'temperature scaling');
  if (scores.length === 0) throw new InputError('temperature scaling: no validation predictions');
  const from = opts.from ?? 'logits';
  if (from === 'probs') checkProbabilities(scores, 'temperature scaling');
  const z = from === 'probs' ? scores.map((p) => logit(p)) : scores.slice();
  const minT = opts.minT ?? 0.01;
  const maxT = opts.maxT ?? 100;
  if (!(minT > 0 && maxT > minT))
    throw new InputError(`temperature scaling: need 0 < minT < maxT, got ${minT}, ${maxT}`);
  const f = (u: number): number => temperatureNll(labels, z, Math.exp(u));
  const g = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(minT);
  let b = Math.log(maxT);
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-10) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const temperature = Math.exp((a + b) / 2);
  return {
    temperature,
    nllBefore: temperatureNll(labels, z, 1),
    nllAfter: temperatureNll(labels, z, temperature),
  };
}

/**
 * Calibrated probabilities sigmoid(z / T). `scores` are logits, or probabilities with
 * `{ from: 'probs' }` (clipped logits as in `fitTemperature`).
 */
export function applyTemperature(
  scores: readonly number[],
  temperature: number,
  opts: { from?: 'logits' | 'probs' } = {},
): number[] {
  if (!(temperature > 0) || !Number.isFinite(temperature))
    throw new InputError(`temperature must be a finite positive number, got ${temperature}`);
  const from = opts.from ?? 'logits';
  if (from === 'probs') checkProbabilities(scores, 'temperature scaling');
  return scores.map((s) => sigmoid((from === 'probs' ? logit(s) : s) / temperature));
}
