import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Label } from '../../src/domain/views.js';
import {
  applyTemperature,
  brier,
  ece,
  fitTemperature,
  logit,
  reliabilityCurve,
  sigmoid,
  temperatureNll,
} from '../../src/evaluate/calibration.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { A, B, Y, close } from './fixtures.js';

// scikit-learn 1.2.1 sklearn.calibration.calibration_curve (non-empty bins only; 10 uniform bins,
// 5 quantile bins) and brier_score_loss; counts, ECE and MCE with the same binning in NumPy
// 1.24.2 (np.searchsorted on the inner edges), from test/evaluate/reference/reference_values.py.
const SK = {
  A: {
    brier: 0.09354166666666668,
    uniform: {
      frac: [0.0, 0.0, 0.0, 0.0, 0.2, 0.5, 0.75, 1.0, 1.0, 1.0],
      mean: [
        0.016666666666666666, 0.19999999999999998, 0.3, 0.4, 0.5, 0.6, 0.7, 0.7999999999999999, 0.9, 1.0,
      ],
      counts: [6, 7, 6, 2, 5, 4, 4, 7, 1, 6],
      ece: 0.16041666666666668,
      mce: 0.4,
    },
    quantile: {
      frac: [0.0, 0.0, 0.2727272727272727, 0.9090909090909091, 1.0],
      mean: [0.11538461538461536, 0.3, 0.5181818181818181, 0.7636363636363637, 0.9857142857142858],
      counts: [13, 6, 11, 11, 7],
      ece: 0.16041666666666662,
      mce: 0.3,
    },
  },
  B: {
    brier: 0.15109375,
    uniform: {
      frac: [0.0, 0.0, 0.5, 0.2222222222222222, 0.0, 0.3333333333333333, 1.0, 0.8, 1.0],
      mean: [
        0.03, 0.1466666666666667, 0.265, 0.3566666666666667, 0.445, 0.5516666666666666, 0.6555555555555554,
        0.756, 0.83,
      ],
      counts: [3, 6, 2, 9, 6, 6, 9, 5, 2],
      ece: 0.214375,
      mce: 0.445,
    },
    quantile: {
      frac: [0.0, 0.3333333333333333, 0.1, 0.7777777777777778, 0.9],
      mean: [0.12000000000000002, 0.34555555555555556, 0.466, 0.6177777777777779, 0.7499999999999999],
      counts: [10, 9, 10, 9, 10],
      ece: 0.1647916666666667,
      mce: 0.366,
    },
  },
} as const;

describe('reliability curve, Brier, ECE against scikit-learn', () => {
  for (const name of ['A', 'B'] as const) {
    const probs = name === 'A' ? A : B;
    it(`model ${name}: Brier equals brier_score_loss`, () =>
      close(brier(Y, probs), SK[name].brier, 1e-14, 'brier'));
    for (const strategy of ['uniform', 'quantile'] as const) {
      const bins = strategy === 'uniform' ? 10 : 5;
      it(`model ${name}: ${bins} ${strategy} bins equal calibration_curve`, () => {
        const ref = SK[name][strategy];
        const curve = reliabilityCurve(Y, probs, { bins, strategy });
        assert.equal(curve.length, bins);
        assert.equal(
          curve.reduce((s, b) => s + b.count, 0),
          48,
        );
        const nonEmpty = curve.filter((b) => b.count > 0);
        assert.deepEqual(
          nonEmpty.map((b) => b.count),
          [...ref.counts],
        );
        nonEmpty.forEach((b, i) => {
          close(b.fractionPositive, ref.frac[i], 1e-12, `frac ${i}`);
          close(b.meanPredicted, ref.mean[i], 1e-12, `mean ${i}`);
        });
        const e = ece(Y, probs, { bins, strategy });
        close(e.ece, ref.ece, 1e-12, 'ece');
        close(e.mce, ref.mce, 1e-12, 'mce');
      });
    }
  }

  it('empty bins are kept with count 0 and NaN means; edges cover [0, 1]', () => {
    const c = reliabilityCurve([0, 1], [0.05, 0.95]);
    assert.equal(c.length, 10);
    assert.equal(c[0].lo, 0);
    assert.equal(c[9].hi, 1);
    assert.equal(c[4].count, 0);
    assert.ok(Number.isNaN(c[4].meanPredicted));
    assert.deepEqual(ece([0, 1], [0, 1]), { ece: 0, mce: 0, bins: reliabilityCurve([0, 1], [0, 1]) });
  });

  it('rejects bad options and data', () => {
    assert.throws(() => reliabilityCurve(Y, B, { bins: 0 }), /number of bins/);
    assert.throws(() => reliabilityCurve(Y, B, { strategy: 'log' as 'uniform' }), /strategy/);
    assert.throws(() => brier([], []), /no predictions/);
    assert.throws(() => brier([1], [1.2]), InputError);
  });
});

describe('temperature scaling', () => {
  // SciPy 1.10.1 optimize.minimize_scalar(method='bounded', bounds=(0.01, 100), xatol=1e-10) of the
  // mean NLL of sigmoid(logit(B)/T), logits clipped at 1e-6 (reference_values.py).
  it('fits the SciPy optimum on model B', () => {
    const fit = fitTemperature(Y, B, { from: 'probs' });
    close(fit.temperature, 0.4666060577095609, 1e-6, 'T');
    close(fit.nllAfter, 0.4216105231303337, 1e-10, 'nll at T');
    close(fit.nllBefore, 0.47031706817518754, 1e-12, 'nll at 1');
  });

  for (const trueT of [0.5, 2.5]) {
    it(`recovers a known temperature T=${trueT} on synthetic logits`, () => {
      const rng = new Rng(`temperature/${trueT}`);
      const n = 20000;
      const logits: number[] = [];
      const labels: Label[] = [];
      for (let i = 0; i < n; i++) {
        const z = rng.normal(0, 3);
        logits.push(z);
        labels.push(rng.bool(sigmoid(z / trueT)) ? 1 : 0);
      }
      const fit = fitTemperature(labels, logits);
      assert.ok(Math.abs(fit.temperature / trueT - 1) < 0.06, `fitted ${fit.temperature}`);
      assert.ok(fit.nllAfter <= fit.nllBefore);
      const before = ece(labels, applyTemperature(logits, 1)).ece;
      const after = ece(labels, applyTemperature(logits, fit.temperature)).ece;
      assert.ok(after < 0.02 && after < before, `ECE ${before} -> ${after}`);
    });
  }

  it('is the minimum of the NLL (neighbours are worse) and T=1 leaves probabilities unchanged', () => {
    const z = B.map((p) => logit(p));
    const t = fitTemperature(Y, z).temperature;
    assert.ok(temperatureNll(Y, z, t) < temperatureNll(Y, z, t * 1.01));
    assert.ok(temperatureNll(Y, z, t) < temperatureNll(Y, z, t / 1.01));
    applyTemperature(B, 1, { from: 'probs' }).forEach((p, i) =>
      close(p, Math.min(1 - 1e-6, Math.max(1e-6, B[i])), 1e-12, `p ${i}`),
    );
  });

  it('rejects bad temperatures and probabilities', () => {
    assert.throws(() => applyTemperature([0], 0), /temperature/);
    assert.throws(() => fitTemperature([1], [2], { from: 'probs' }), InputError);
    assert.throws(() => fitTemperature([], []), /no validation/);
  });
});
