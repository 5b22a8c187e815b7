import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Label } from '../../src/domain/views.js';
import {
  metricsWithIntervals,
  quantileSorted,
  stratifiedBootstrap,
  wilson,
} from '../../src/evaluate/intervals.js';
import { auc } from '../../src/evaluate/metrics.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { B, Y, close } from './fixtures.js';

// statsmodels 0.13.5 statsmodels.stats.proportion.proportion_confint(k, n, alpha=1-level, method='wilson'),
// from test/evaluate/reference/reference_values.py.
const WILSON: [number, number, number, number, number][] = [
  [0, 10, 0.95, 0.0, 0.2775327998628892],
  [10, 10, 0.95, 0.7224672001371107, 0.9999999999999999],
  [7, 20, 0.95, 0.18119182410108206, 0.5671457233147638],
  [37, 48, 0.95, 0.6346073590999655, 0.8669217373308877],
  [37, 48, 0.9, 0.6582268472425125, 0.8545376007618412],
  [1, 3, 0.99, 0.04042662929608465, 0.855783984952333],
];

describe('wilson', () => {
  for (const [k, n, level, lo, hi] of WILSON) {
    it(`${k}/${n} at ${level} equals statsmodels proportion_confint`, () => {
      const w = wilson(k, n, level);
      close(w.lo, lo, 1e-12, 'lo');
      close(w.hi, hi, 1e-12, 'hi');
      assert.equal(w.estimate, k / n);
    });
  }
  it('n = 0 gives NaN; bad counts are InputErrors', () => {
    assert.ok(Number.isNaN(wilson(0, 0).lo));
    assert.throws(() => wilson(5, 3), InputError);
    assert.throws(() => wilson(1.5, 3), /k must be an integer/);
    assert.throws(() => wilson(1, 3, 0), /confidence level/);
  });
});

describe('quantileSorted', () => {
  it('is numpy type-7 interpolation (numpy.percentile([1,2,3,4,10], [2.5, 50, 97.5]) = 1.1, 3, 9.4)', () => {
    const s = [1, 2, 3, 4, 10];
    close(quantileSorted(s, 0.025), 1.1, 1e-14, 'q2.5');
    assert.equal(quantileSorted(s, 0.5), 3);
    close(quantileSorted(s, 0.975), 9.4, 1e-14, 'q97.5');
  });
});

/** Binormal scores: positives N(d, 1), negatives N(0, 1); true AUC = Phi(d / sqrt 2). */
function binormal(rng: Rng, n1: number, n0: number, d: number): { labels: Label[]; scores: number[] } {
  const labels: Label[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n1; i++) {
    labels.push(1);
    scores.push(rng.normal(d, 1));
  }
  for (let i = 0; i < n0; i++) {
    labels.push(0);
    scores.push(rng.normal(0, 1));
  }
  return { labels, scores };
}

describe('stratifiedBootstrap', () => {
  it('is reproducible with the same seed and changes with another', () => {
    const a = stratifiedBootstrap(Y, B, auc, { seed: 1, resamples: 300 });
    const b = stratifiedBootstrap(Y, B, auc, { seed: 1, resamples: 300 });
    const c = stratifiedBootstrap(Y, B, auc, { seed: 2, resamples: 300 });
    assert.deepEqual(a, b);
    assert.notEqual(a.lo, c.lo);
  });

  it('contains the estimate, stays in [0, 1], default 2,000 resamples', () => {
    const r = stratifiedBootstrap(Y, B, auc, { seed: 'x' });
    assert.equal(r.resamples, 2000);
    assert.equal(r.degenerate, 0); // stratified: both classes in every resample
    close(r.estimate, 0.8839285714285714, 1e-14, 'estimate (sklearn AUC)');
    assert.ok(r.lo < r.estimate && r.estimate < r.hi && r.lo >= 0 && r.hi <= 1, JSON.stringify(r));
    // DeLong se of this AUC is 0.0538 (sqrt of varB in tests.test.ts): the bootstrap width should be near 2 * 1.96 * 0.054 = 0.21.
    assert.ok(r.hi - r.lo > 0.12 && r.hi - r.lo < 0.3, `width ${r.hi - r.lo}`);
  });

  it('narrows as the sample grows (width roughly 1/sqrt(n))', () => {
    const rng = new Rng('width');
    const small = binormal(rng, 20, 30, 1);
    const big = binormal(rng, 320, 480, 1);
    const ws = stratifiedBootstrap(small.labels, small.scores, auc, { seed: 3, resamples: 400 });
    const wb = stratifiedBootstrap(big.labels, big.scores, auc, { seed: 3, resamples: 400 });
    const ratio = (ws.hi - ws.lo) / (wb.hi - wb.lo);
    assert.ok(ratio > 2.5 && ratio < 6.5, `width ratio ${ratio} (expected about 4 for 16x the patients)`);
  });

  it('covers the true AUC about 95% of the time (binormal, 120 replications)', () => {
    const rng = new Rng('coverage');
    const d = 1;
    const trueAuc = 0.7602499389065233; // Phi(1 / sqrt 2), scipy.stats.norm.cdf(1/2**0.5)
    let covered = 0;
    const reps = 120;
    for (let r = 0; r < reps; r++) {
      const { labels, scores } = binormal(rng, 30, 40, d);
      const ci = stratifiedBootstrap(labels, scores, auc, { seed: r, resamples: 300 });
      if (ci.lo <= trueAuc && trueAuc <= ci.hi) covered++;
    }
    // Binomial(120, 0.95) lies in [104, 120] with probability > 0.999; percentile intervals of small samples undercover a little.
    assert.ok(covered >= 102, `coverage ${covered}/${reps}`);
  });

  it('counts resamples whose statistic is undefined', () => {
    let calls = 0;
    const r = stratifiedBootstrap(Y, B, () => (calls++ % 4 === 1 ? NaN : 0.5), { seed: 0, resamples: 100 });
    assert.equal(r.degenerate, 25);
    assert.equal(r.lo, 0.5);
    assert.throws(() => stratifiedBootstrap(Y, B, auc, { seed: 0, resamples: 0 }), /resamples/);
  });
});

describe('metricsWithIntervals', () => {
  it('uses Wilson for proportions and the bootstrap for AUC and F1', () => {
    const r = metricsWithIntervals(Y, B, { seed: 5, resamples: 500 });
    // scikit-learn at 0.5: tp 17, fp 5, tn 23, fn 3 (metrics.test.ts)
    assert.deepEqual([r.metrics.tp, r.metrics.fp, r.metrics.tn, r.metrics.fn], [17, 5, 23, 3]);
    assert.deepEqual(r.accuracy, wilson(40, 48));
    assert.deepEqual(r.sensitivity, wilson(17, 20));
    assert.deepEqual(r.specificity, wilson(23, 28));
    assert.deepEqual(r.precision, wilson(17, 22));
    close(r.f1.estimate, 0.8095238095238095, 1e-14, 'f1 (sklearn f1_score)');
    assert.ok(r.f1.lo < r.f1.estimate && r.f1.estimate < r.f1.hi);
    assert.ok(r.auc.lo < r.auc.estimate && r.auc.estimate < r.auc.hi);
    assert.equal(r.auc.resamples, 500);
    const r90 = metricsWithIntervals(Y, B, { seed: 5, resamples: 500, level: 0.9, threshold: 0.35 });
    assert.equal(r90.metrics.tp, 19);
    assert.deepEqual(r90.accuracy, wilson(31, 48, 0.9)); // sklearn at 0.35: accuracy 0.6458 = 31/48
    assert.ok(r90.accuracy.hi - r90.accuracy.lo < wilson(31, 48).hi - wilson(31, 48).lo);
    assert.ok(r90.auc.hi - r90.auc.lo < r.auc.hi - r.auc.lo, '90% AUC interval narrower than 95%');
  });
});
