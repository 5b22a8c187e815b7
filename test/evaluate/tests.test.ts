import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delong, delongSingle, mcnemar, mcnemarFromCounts } from '../../src/evaluate/tests.js';
import { InputError } from '../../src/util/errors.js';
import { A, B, Y, close } from './fixtures.js';

// DeLong reference: test/evaluate/reference/reference_values.py, two independent NumPy/SciPy
// implementations (direct O(n1 n0) DeLong et al. 1988 components, and Sun & Xu 2014 fast DeLong
// with scipy.stats.rankdata), which agree to 1e-14; z quantile and p from scipy.stats.norm (SciPy 1.10.1).
const DELONG = {
  aucA: 0.98125,
  aucB: 0.8839285714285714,
  varA: 0.00017848751342642314,
  varB: 0.0028996101364522427,
  covAB: -1.6248458447706505e-5,
  se: 0.0557727044957843,
  z: 1.7449652020870676,
  p: 0.08099092638323731,
  ciDiff: [-0.011991063560703827, 0.20663392070356096],
  seA: 0.0133599219094433,
  ciA: [0.9550650342212235, 1.0074349657787764],
};

// McNemar reference: statsmodels 0.13.5 statsmodels.stats.contingency_tables.mcnemar on the table
// [[10, b], [c, 20]] with exact=True and with exact=False, correction=True; mid-p from
// scipy.stats.binom as 2 cdf(min(b, c)) - pmf(min(b, c)).
const MCNEMAR = [
  {
    b: 3,
    c: 11,
    exactStat: 3,
    exactP: 0.057373046875,
    midP: 0.035156249999999965,
    chi2Stat: 3.5,
    chi2P: 0.0613688291394023,
  },
  {
    b: 30,
    c: 15,
    exactStat: 15,
    exactP: 0.035697803555194696,
    midP: 0.02589608179323478,
    chi2Stat: 4.355555555555555,
    chi2P: 0.036888425707049914,
  },
  { b: 20, c: 20, exactStat: 20, exactP: 1.0, midP: 1.0, chi2Stat: 0.025, chi2P: 0.8743670611628918 },
  {
    b: 9,
    c: 1,
    exactStat: 1,
    exactP: 0.021484375,
    midP: 0.011718749999999998,
    chi2Stat: 4.9,
    chi2P: 0.02685669550752441,
  },
];

describe('DeLong test', () => {
  it('paired test of models A and B equals the Python reference', () => {
    const r = delong(Y, A, B);
    close(r.aucA, DELONG.aucA, 1e-14, 'aucA');
    close(r.aucB, DELONG.aucB, 1e-14, 'aucB');
    close(r.diff, DELONG.aucA - DELONG.aucB, 1e-14, 'diff');
    close(r.varA, DELONG.varA, 1e-12, 'varA');
    close(r.varB, DELONG.varB, 1e-12, 'varB');
    close(r.covAB, DELONG.covAB, 1e-12, 'covAB');
    close(r.se, DELONG.se, 1e-12, 'se');
    close(r.z, DELONG.z, 1e-10, 'z');
    close(r.p, DELONG.p, 1e-10, 'p');
    close(r.ciDiff[0], DELONG.ciDiff[0], 1e-10, 'ci lo');
    close(r.ciDiff[1], DELONG.ciDiff[1], 1e-10, 'ci hi');
  });

  it('swapping the models flips the sign and keeps p', () => {
    const ab = delong(Y, A, B);
    const ba = delong(Y, B, A);
    close(ba.diff, -ab.diff, 1e-15, 'diff');
    close(ba.p, ab.p, 1e-14, 'p');
    close(ba.se, ab.se, 1e-15, 'se');
  });

  it('identical models: se 0, z 0, p 1', () => {
    const r = delong(Y, B, B);
    assert.equal(r.se, 0);
    assert.equal(r.z, 0);
    assert.equal(r.p, 1);
  });

  it('single-model variance and interval (clipped at 1) equal the reference', () => {
    const r = delongSingle(Y, A);
    close(r.auc, DELONG.aucA, 1e-14, 'auc');
    close(r.variance, DELONG.varA, 1e-12, 'var');
    close(r.se, DELONG.seA, 1e-12, 'se');
    close(r.ci[0], DELONG.ciA[0], 1e-10, 'ci lo');
    assert.equal(r.ci[1], 1); // reference upper bound 1.0074 is clipped to 1
    const b = delongSingle(Y, B);
    close(b.variance, DELONG.varB, 1e-12, 'varB');
    assert.ok(delongSingle(Y, B, { level: 0.9 }).ci[1] - b.ci[1] < 0, '90% interval is narrower');
  });

  it('needs two patients of each class and parallel vectors', () => {
    assert.throws(
      () => delong([1, 0, 0], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]),
      /at least 2 positive and 2 negative/,
    );
    assert.throws(() => delong(Y, A, B.slice(1)), InputError);
    assert.throws(() => delongSingle(Y, B, { level: 1.5 }), /confidence level/);
  });
});

describe('McNemar test', () => {
  for (const ref of MCNEMAR) {
    it(`b=${ref.b}, c=${ref.c}: exact and corrected chi-square equal statsmodels`, () => {
      const ex = mcnemarFromCounts(ref.b, ref.c, { exact: true });
      assert.equal(ex.method, 'exact');
      assert.equal(ex.statistic, ref.exactStat);
      close(ex.p, ref.exactP, 1e-12, 'exact p');
      close(ex.midP, ref.midP, 1e-12, 'mid-p');
      const chi = mcnemarFromCounts(ref.b, ref.c, { exact: false });
      assert.equal(chi.method, 'chi2-corrected');
      close(chi.statistic, ref.chi2Stat, 1e-14, 'chi2');
      close(chi.p, ref.chi2P, 1e-12, 'chi2 p');
    });
  }

  it('defaults to exact below 25 discordant pairs, chi-square from 25', () => {
    assert.equal(mcnemarFromCounts(3, 11).method, 'exact');
    assert.equal(mcnemarFromCounts(13, 12).method, 'chi2-corrected');
    assert.equal(mcnemarFromCounts(30, 15).method, 'chi2-corrected');
  });

  it('counts discordant pairs of models A and B at 0.5 (statsmodels: b=6, c=5, exact p=1, chi2 0, p=1)', () => {
    const ca = Y.map((y, i) => (A[i] >= 0.5 ? 1 : 0) === y);
    const cb = Y.map((y, i) => (B[i] >= 0.5 ? 1 : 0) === y);
    const r = mcnemar(ca, cb);
    assert.deepEqual([r.b, r.c, r.method, r.statistic, r.p], [6, 5, 'exact', 5, 1]);
    const chi = mcnemar(ca, cb, { exact: false });
    assert.equal(chi.statistic, 0);
    assert.equal(chi.p, 1);
  });

  it('no discordant pair gives p = 1; bad input is an InputError', () => {
    assert.equal(mcnemar([true, false], [true, false]).p, 1);
    assert.throws(() => mcnemar([true], [true, false]), /1 results but model B has 2/);
    assert.throws(() => mcnemarFromCounts(-1, 3), InputError);
  });
});
