import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Label } from '../../src/domain/views.js';
import {
  callAt,
  DECISION_THRESHOLD,
  auc,
  binaryMetrics,
  confusion,
  midranks,
  rocCurve,
  thresholdForSensitivity,
} from '../../src/evaluate/metrics.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { A, B, Y, close } from './fixtures.js';

// Reference values: test/evaluate/reference/reference_values.py with scikit-learn 1.2.1
// (roc_auc_score, roc_curve(drop_intermediate=False), confusion_matrix, accuracy_score,
// recall_score, precision_score, f1_score), predictions called positive when prob >= threshold.
const SK = {
  A: {
    auc: 0.98125,
    at05: {
      tp: 20,
      fp: 7,
      tn: 21,
      fn: 0,
      accuracy: 0.8541666666666666,
      sensitivity: 1.0,
      specificity: 0.75,
      precision: 0.7407407407407407,
      f1: 0.851063829787234,
    },
    at035: {
      tp: 20,
      fp: 9,
      tn: 19,
      fn: 0,
      accuracy: 0.8125,
      sensitivity: 1.0,
      specificity: 0.6785714285714286,
      precision: 0.6896551724137931,
      f1: 0.8163265306122449,
    },
    roc: {
      fpr: [
        0.0, 0.0, 0.0, 0.0, 0.03571428571428571, 0.10714285714285714, 0.25, 0.32142857142857145,
        0.5357142857142857, 0.7857142857142857, 0.8214285714285714, 1.0,
      ],
      tpr: [0.0, 0.3, 0.35, 0.7, 0.85, 0.95, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      thr: [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0],
    },
  },
  B: {
    auc: 0.8839285714285714,
    at05: {
      tp: 17,
      fp: 5,
      tn: 23,
      fn: 3,
      accuracy: 0.8333333333333334,
      sensitivity: 0.85,
      specificity: 0.8214285714285714,
      precision: 0.7727272727272727,
      f1: 0.8095238095238095,
    },
    at035: {
      tp: 19,
      fp: 16,
      tn: 12,
      fn: 1,
      accuracy: 0.6458333333333334,
      sensitivity: 0.95,
      specificity: 0.42857142857142855,
      precision: 0.5428571428571428,
      f1: 0.6909090909090908,
    },
    roc: {
      fpr: [
        0.0, 0.0, 0.03571428571428571, 0.03571428571428571, 0.03571428571428571, 0.03571428571428571,
        0.03571428571428571, 0.03571428571428571, 0.03571428571428571, 0.03571428571428571,
        0.03571428571428571, 0.03571428571428571, 0.07142857142857142, 0.10714285714285714,
        0.14285714285714285, 0.14285714285714285, 0.17857142857142858, 0.21428571428571427, 0.25,
        0.2857142857142857, 0.39285714285714285, 0.42857142857142855, 0.4642857142857143, 0.5, 0.5,
        0.5714285714285714, 0.6071428571428571, 0.6428571428571429, 0.6428571428571429, 0.6785714285714286,
        0.7142857142857143, 0.75, 0.8214285714285714, 0.8571428571428571, 0.8928571428571429,
        0.9285714285714286, 1.0,
      ],
      tpr: [
        0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.45, 0.55, 0.65, 0.7, 0.75, 0.8, 0.8, 0.8, 0.85, 0.85, 0.85,
        0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.9, 0.95, 0.95, 0.95, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0,
      ],
      thr: [
        0.83, 0.8, 0.74, 0.73, 0.71, 0.7, 0.68, 0.66, 0.64, 0.63, 0.61, 0.58, 0.56, 0.54, 0.53, 0.52, 0.49,
        0.47, 0.45, 0.42, 0.4, 0.39, 0.37, 0.36, 0.35, 0.33, 0.31, 0.3, 0.23, 0.18, 0.17, 0.14, 0.13, 0.12,
        0.09, 0.0,
      ],
    },
  },
} as const;

const MODELS = { A, B } as const;

/** O(n1 n0) Mann-Whitney count straight from the definition (ties 1/2): an independent AUC. */
function bruteAuc(labels: readonly Label[], s: readonly number[]): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < s.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < s.length; j++) {
      if (labels[j] !== 0) continue;
      sum += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
      pairs++;
    }
  }
  return sum / pairs;
}

describe('metrics against scikit-learn 1.2.1', () => {
  for (const name of ['A', 'B'] as const) {
    const probs = MODELS[name];
    const ref = SK[name];
    it(`model ${name}: AUC equals roc_auc_score`, () => {
      close(auc(Y, probs), ref.auc, 1e-14, 'auc');
    });
    for (const [key, t] of [
      ['at05', 0.5],
      ['at035', 0.35],
    ] as const) {
      it(`model ${name}: confusion and rates at threshold ${t}`, () => {
        const m = binaryMetrics(Y, probs, { threshold: t });
        const r = ref[key];
        assert.deepEqual(
          { tp: m.tp, fp: m.fp, tn: m.tn, fn: m.fn },
          { tp: r.tp, fp: r.fp, tn: r.tn, fn: r.fn },
        );
        assert.equal(m.n, 48);
        assert.equal(m.threshold, t);
        for (const k of ['accuracy', 'sensitivity', 'specificity', 'precision', 'f1'] as const)
          close(m[k], r[k], 1e-14, k);
        close(m.auc, ref.auc, 1e-14, 'auc');
      });
    }
    it(`model ${name}: ROC curve equals roc_curve(drop_intermediate=False)`, () => {
      const roc = rocCurve(Y, probs);
      assert.equal(roc.length, ref.roc.fpr.length);
      assert.equal(roc[0].threshold, Infinity); // sklearn 1.2 writes max+1 there; we write +Infinity
      roc.forEach((p, i) => {
        close(p.fpr, ref.roc.fpr[i], 1e-14, `fpr ${i}`);
        close(p.tpr, ref.roc.tpr[i], 1e-14, `tpr ${i}`);
        if (i > 0) assert.equal(p.threshold, ref.roc.thr[i - 1]);
      });
      assert.deepEqual([roc.at(-1)?.fpr, roc.at(-1)?.tpr], [1, 1]);
    });
  }

  it('the default threshold is 0.5 and a score equal to the threshold is called positive', () => {
    assert.deepEqual(binaryMetrics(Y, B).threshold, 0.5);
    assert.deepEqual(confusion([1, 0], [0.5, 0.5]), { tp: 1, fp: 1, tn: 0, fn: 0 });
    assert.deepEqual(confusion([1, 0], [0.5, 0.5], 0.5000001), { tp: 0, fp: 0, tn: 1, fn: 1 });
  });
});

describe('auc', () => {
  it('agrees with the O(n^2) pair count on random data with many ties', () => {
    const rng = new Rng('auc-brute');
    for (let rep = 0; rep < 20; rep++) {
      const n = rng.int(5, 120);
      const labels: Label[] = Array.from({ length: n }, (_, i) =>
        i < 2 ? (i as Label) : rng.bool(0.4) ? 1 : 0,
      );
      const s = labels.map((l) => Math.round((l * 0.3 + rng.uniform(0, 0.7)) * 8) / 8);
      close(auc(labels, s), bruteAuc(labels, s), 1e-12, `rep ${rep}`);
    }
  });

  it('is 1 for perfect separation, 0 for reversed, 0.5 for all-equal scores', () => {
    assert.equal(auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]), 1);
    assert.equal(auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]), 0);
    assert.equal(auc([0, 1, 0, 1], [0.7, 0.7, 0.7, 0.7]), 0.5);
  });

  it('works on logits and is invariant under a monotone transform', () => {
    const logits = B.map((p) => Math.log((p + 0.01) / (1.01 - p)));
    close(auc(Y, logits), SK.B.auc, 1e-14, 'auc of logits');
  });

  it('is NaN when a class is missing', () => {
    assert.ok(Number.isNaN(auc([1, 1, 1], [0.2, 0.5, 0.9])));
    assert.ok(Number.isNaN(auc([], [])));
  });

  it('midranks average the ranks of ties', () => {
    assert.deepEqual([...midranks([3, 1, 3, 2, 3])], [4, 1, 4, 2, 4]);
  });
});

describe('undefined ratios are NaN', () => {
  it('no positives: sensitivity and AUC NaN, F1 0 if there are false positives', () => {
    const m = binaryMetrics([0, 0, 0], [0.9, 0.1, 0.2]);
    assert.deepEqual([m.tp, m.fp, m.tn, m.fn], [0, 1, 2, 0]);
    assert.ok(Number.isNaN(m.sensitivity) && Number.isNaN(m.auc));
    assert.equal(m.precision, 0);
    assert.equal(m.f1, 0);
    assert.equal(m.specificity, 2 / 3);
  });
  it('no positive call: precision NaN, F1 0 (as sklearn f1_score gives)', () => {
    const m = binaryMetrics([1, 0, 1], [0.1, 0.2, 0.3]);
    assert.ok(Number.isNaN(m.precision));
    assert.equal(m.f1, 0);
    assert.equal(m.sensitivity, 0);
  });
  it('only negatives, all called negative: precision and F1 NaN, specificity 1', () => {
    const m = binaryMetrics([0, 0], [0.1, 0.2]);
    assert.ok(Number.isNaN(m.precision) && Number.isNaN(m.f1) && Number.isNaN(m.sensitivity));
    assert.equal(m.specificity, 1);
    assert.equal(m.accuracy, 1);
  });
});

describe('thresholdForSensitivity', () => {
  // From the scikit-learn ROC of model B above: the largest threshold whose TPR reaches the target.
  it('picks the largest threshold reaching the target (sklearn roc_curve of model B)', () => {
    // (ROC point i + 1 belongs to threshold thr[i]: B reaches TPR 0.9 at 0.36, 0.85 at 0.53, 1 at 0.3.)
    assert.equal(thresholdForSensitivity(Y, B, 0.9), 0.36);
    assert.equal(thresholdForSensitivity(Y, B, 0.85), 0.53);
    assert.equal(thresholdForSensitivity(Y, B, 0.86), 0.36);
    assert.equal(thresholdForSensitivity(Y, B, 1), 0.3);
    assert.equal(thresholdForSensitivity(Y, A, 1), 0.5);
    assert.equal(thresholdForSensitivity(Y, A, 0.3), 1.0);
  });
  it('reaches the target and a higher threshold would not', () => {
    for (const target of [0.5, 0.75, 0.8, 0.9, 0.95]) {
      const t = thresholdForSensitivity(Y, B, target);
      assert.ok(binaryMetrics(Y, B, { threshold: t }).sensitivity >= target);
      const next = Math.min(...B.filter((p) => p > t));
      assert.ok(binaryMetrics(Y, B, { threshold: next }).sensitivity < target, `target ${target}`);
    }
  });
  it('rejects a target outside (0, 1] and data without positives', () => {
    assert.throws(() => thresholdForSensitivity(Y, B, 0), InputError);
    assert.throws(() => thresholdForSensitivity(Y, B, 1.2), /target sensitivity/);
    assert.throws(() => thresholdForSensitivity([0, 0], [0.1, 0.2], 0.9), /no positive/);
  });
});

describe('input errors', () => {
  it('name the problem and the index', () => {
    assert.throws(() => binaryMetrics([0, 1], [0.5]), /2 labels but 1 scores/);
    assert.throws(() => binaryMetrics([0, 2 as Label], [0.5, 0.5]), /label 1 is 2/);
    assert.throws(() => auc([0, 1], [0.5, NaN]), /score 1 is NaN/);
    assert.throws(() => binaryMetrics([0, 1], [0.5, 1.5]), /probability 1 is 1.5/);
    assert.throws(() => confusion([0, 1], [0.5, 0.5], NaN), InputError);
  });
});

describe('callAt', () => {
  it('calls CAD at or above the threshold (0.5 by default), normal below', () => {
    assert.equal(DECISION_THRESHOLD, 0.5);
    assert.equal(callAt(0.5), 1);
    assert.equal(callAt(0.4999), 0);
    assert.equal(callAt(0.3, 0.25), 1);
    assert.equal(callAt(0.2, 0.25), 0);
  });
});
