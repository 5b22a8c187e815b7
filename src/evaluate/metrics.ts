/**
 * Threshold metrics, the confusion matrix, the exact AUC and the ROC curve of a binary
 * classifier (label 1 = CAD), computed from per-patient probabilities of class 1.
 *
 * Conventions (also in docs/evaluation.md):
 * - a patient is called positive when `prob >= threshold` (the `>=` of scikit-learn's roc_curve);
 * - a ratio whose denominator is 0 is `NaN` (never silently 0 or 1): sensitivity without
 *   positives, specificity without negatives, precision without positive calls, F1 when
 *   2TP + FP + FN = 0, the AUC when a class is missing;
 * - F1 = 2TP / (2TP + FP + FN), which equals the harmonic mean of precision and recall whenever
 *   both are defined and is 0 (not NaN) when there are positives but no positive call
 *   (scikit-learn's f1_score gives 0 there too).
 */
import type { Label } from '../domain/views.js';
import { InputError } from '../util/errors.js';

/** Counts of the 2x2 confusion matrix at one threshold. */
export interface Confusion {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

/** Threshold metrics plus the (threshold-free) AUC. */
export interface BinaryMetrics extends Confusion {
  readonly n: number;
  readonly accuracy: number;
  readonly sensitivity: number;
  readonly specificity: number;
  readonly precision: number;
  readonly f1: number;
  readonly auc: number;
  readonly threshold: number;
}

/** One ROC point: the rates when calling positive every score `>= threshold`. */
export interface RocPoint {
  readonly threshold: number;
  readonly fpr: number;
  readonly tpr: number;
}

/**
 * Check that `labels` and `probs` are parallel, labels are 0/1 and scores finite; throws an
 * `InputError` naming `what` and the first bad index otherwise. Scores need not lie in [0, 1]
 * (logits work for the AUC and ROC), callers that need probabilities check that themselves.
 */
export function checkScores(labels: readonly number[], scores: readonly number[], what = 'scores'): void {
  if (labels.length !== scores.length) {
    throw new InputError(`${what}: ${labels.length} labels but ${scores.length} scores`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1)
      throw new InputError(`${what}: label ${i} is ${String(labels[i])}, expected 0 or 1`);
    if (typeof scores[i] !== 'number' || !Number.isFinite(scores[i])) {
      throw new InputError(`${what}: score ${i} is ${String(scores[i])}, expected a finite number`);
    }
  }
}

function checkThreshold(threshold: number): void {
  if (typeof threshold !== 'number' || Number.isNaN(threshold))
    throw new InputError(`threshold must be a number, got ${String(threshold)}`);
}

/** `a / b`, or `NaN` when `b` is 0. */
export function ratio(a: number, b: number): number {
  return b === 0 ? NaN : a / b;
}

/** The default decision threshold: a probability of CAD at or above it is called CAD. */
export const DECISION_THRESHOLD = 0.5;

/**
 * The call of a probability at `threshold` (default {@link DECISION_THRESHOLD}): 1 CAD, 0 normal.
 * @example callAt(0.73) // 1
 */
export function callAt(prob: number, threshold = DECISION_THRESHOLD): Label {
  return prob >= threshold ? 1 : 0;
}

/** Confusion counts when every score `>= threshold` is called positive (default 0.5). */
export function confusion(
  labels: readonly Label[],
  probs: readonly number[],
  threshold = DECISION_THRESHOLD,
): Confusion {
  checkScores(labels, probs, 'confusion');
  checkThreshold(threshold);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const called = probs[i] >= threshold;
    if (labels[i] === 1) {
      if (called) tp++;
      else fn++;
    } else if (called) fp++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

/** Accuracy, sensitivity, specificity, precision and F1 from confusion counts (0/0 gives NaN). */
export function ratesFromConfusion(
  c: Confusion,
): Pick<BinaryMetrics, 'n' | 'accuracy' | 'sensitivity' | 'specificity' | 'precision' | 'f1'> {
  const n = c.tp + c.fp + c.tn + c.fn;
  return {
    n,
    accuracy: ratio(c.tp + c.tn, n),
    sensitivity: ratio(c.tp, c.tp + c.fn),
    specificity: ratio(c.tn, c.tn + c.fp),
    precision: ratio(c.tp, c.tp + c.fp),
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
  };
}

/**
 * Mid-ranks (1-based) of `values`: tied values share the mean of the ranks they span.
 * O(n log n). Used by the Mann-Whitney AUC and by DeLong's structural components.
 */
export function midranks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) ranks[order[t]] = r;
    i = j + 1;
  }
  return ranks;
}

/**
 * Area under the ROC curve, exactly, as the Mann-Whitney statistic
 * U / (n1 n0) = P(score of a random positive > score of a random negative) + 1/2 P(tie)
 * (Hanley & McNeil 1982), computed from mid-ranks in O(n log n). `NaN` if a class is absent.
 */
export function auc(labels: readonly Label[], scores: readonly number[]): number {
  checkScores(labels, scores, 'auc');
  const ranks = midranks(scores);
  let n1 = 0;
  let rankSum = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) {
      n1++;
      rankSum += ranks[i];
    }
  }
  const n0 = labels.length - n1;
  if (n1 === 0 || n0 === 0) return NaN;
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}

/**
 * The empirical ROC curve: one point per distinct score (calling positive every score `>=` it,
 * in decreasing order of threshold), preceded by (0, 0) at threshold `+Infinity` and ending at
 * (1, 1) at the lowest score. Like scikit-learn's `roc_curve(..., drop_intermediate=False)`.
 * Rates are `NaN` when the class they divide by is absent.
 */
export function rocCurve(labels: readonly Label[], scores: readonly number[]): RocPoint[] {
  checkScores(labels, scores, 'roc curve');
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let n1 = 0;
  for (const l of labels) n1 += l;
  const n0 = labels.length - n1;
  const points: RocPoint[] = [{ threshold: Infinity, fpr: ratio(0, n0), tpr: ratio(0, n1) }];
  let tp = 0;
  let fp = 0;
  let i = 0;
  while (i < order.length) {
    const s = scores[order[i]];
    while (i < order.length && scores[order[i]] === s) {
      if (labels[order[i]] === 1) tp++;
      else fp++;
      i++;
    }
    points.push({ threshold: s, fpr: ratio(fp, n0), tpr: ratio(tp, n1) });
  }
  return points;
}

/**
 * The largest threshold whose sensitivity (share of positives with score `>=` it) reaches
 * `target`: the ceil(target n1)-th largest positive score. Choose it on validation data and
 * then apply it unchanged to the test data. `target` must be in (0, 1]; the data need at least
 * one positive (else `InputError`).
 */
export function thresholdForSensitivity(
  labels: readonly Label[],
  scores: readonly number[],
  target: number,
): number {
  checkScores(labels, scores, 'threshold for sensitivity');
  if (!(target > 0 && target <= 1))
    throw new InputError(`target sensitivity must be in (0, 1], got ${target}`);
  const pos = scores.filter((_, i) => labels[i] === 1).sort((a, b) => b - a);
  if (pos.length === 0)
    throw new InputError('threshold for sensitivity: the data have no positive (CAD) patient');
  // A small tolerance so that e.g. target 0.9 with 10 positives needs 9, not 10 (0.9 * 10 = 9.000000000000002).
  const k = Math.max(1, Math.ceil(target * pos.length - 1e-9));
  return pos[k - 1];
}

/**
 * Confusion counts, accuracy, sensitivity, specificity, precision, F1 at `threshold`
 * (default 0.5) and the AUC. Probabilities must lie in [0, 1] (else `InputError`).
 */
export function binaryMetrics(
  labels: readonly Label[],
  probs: readonly number[],
  opts: { threshold?: number } = {},
): BinaryMetrics {
  const threshold = opts.threshold ?? 0.5;
  checkScores(labels, probs, 'metrics');
  checkProbabilities(probs, 'metrics');
  const c = confusion(labels, probs, threshold);
  return { ...c, ...ratesFromConfusion(c), auc: auc(labels, probs), threshold };
}

/** Throw an `InputError` naming the first score outside [0, 1]. */
export function checkProbabilities(probs: readonly number[], what = 'probabilities'): void {
  for (let i = 0; i < probs.length; i++) {
    if (!(probs[i] >= 0 && probs[i] <= 1))
      throw new InputError(`${what}: probability ${i} is ${String(probs[i])}, expected a number in [0, 1]`);
  }
}
