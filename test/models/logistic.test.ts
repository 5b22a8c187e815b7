import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fitLogistic, gramMatrix, predictLogistic, type Design } from '../../src/models/linear/logistic.js';
import {
  fitLogisticCV,
  fitStandardiser,
  predictLogisticCV,
  standardise,
} from '../../src/models/linear/cv.js';

interface RefCase {
  n: number;
  p: number;
  C: number;
  X: number[];
  y: number[];
  sampleWeight: number[] | null;
  coef: number[];
  intercept: number;
  proba: number[];
}
const ref = JSON.parse(readFileSync(new URL('./reference/logistic.json', import.meta.url), 'utf8')) as {
  cases: RefCase[];
};

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const c of ref.cases) {
  const solver = c.p < c.n ? 'primal' : 'dual';
  test(`fitLogistic matches scikit-learn (n=${c.n}, p=${c.p}, C=${c.C}, ${solver}${c.sampleWeight ? ', weighted' : ''})`, () => {
    const X: Design = { n: c.n, p: c.p, data: Float64Array.from(c.X) };
    const fit = fitLogistic(X, c.y, { C: c.C, ...(c.sampleWeight ? { sampleWeight: c.sampleWeight } : {}) });
    assert.ok(fit.converged, 'converged');
    assert.ok(maxDiff(fit.weights, c.coef) < 1e-5, `coef diff ${maxDiff(fit.weights, c.coef)}`);
    assert.ok(Math.abs(fit.intercept - c.intercept) < 1e-5, `intercept ${fit.intercept} vs ${c.intercept}`);
    assert.ok(maxDiff(predictLogistic(fit, X), c.proba) < 1e-6);
  });
}

test('the dual solver (given a Gram matrix) and the primal solver reach the same optimum', () => {
  const c = ref.cases[0];
  const X: Design = { n: c.n, p: c.p, data: Float64Array.from(c.X) };
  const primal = fitLogistic(X, c.y, { C: c.C });
  const dual = fitLogistic(X, c.y, { C: c.C, gram: gramMatrix(X) });
  assert.ok(maxDiff(primal.weights, dual.weights) < 1e-6);
  assert.ok(Math.abs(primal.intercept - dual.intercept) < 1e-6);
});

test('fitLogistic refuses bad input with a message naming the problem', () => {
  const X: Design = { n: 2, p: 1, data: Float64Array.from([0, 1]) };
  assert.throws(() => fitLogistic(X, [0, 2], { C: 1 }), /sample 1 has 2/);
  assert.throws(() => fitLogistic(X, [0, 1], { C: 0 }), /C must be/);
  assert.throws(
    () => fitLogistic({ n: 2, p: 1, data: Float64Array.from([0, NaN]) }, [0, 1], { C: 1 }),
    /not finite/,
  );
});

test('standardiser: population mean and standard deviation; constant columns scaled by 1', () => {
  const X: Design = { n: 4, p: 2, data: Float64Array.from([1, 5, 2, 5, 3, 5, 4, 5]) };
  const s = fitStandardiser(X);
  assert.deepEqual([...s.mean], [2.5, 5]);
  assert.ok(Math.abs(s.scale[0] - Math.sqrt(1.25)) < 1e-12);
  assert.equal(s.scale[1], 1);
  assert.deepEqual([...standardise(X, s).data.filter((_, i) => i % 2 === 1)], [0, 0, 0, 0]);
});

test('fitLogisticCV: picks a C from the grid on held-out log loss, out-of-fold predictions from models that never saw the row', () => {
  const c = ref.cases[0];
  const X: Design = { n: c.n, p: c.p, data: Float64Array.from(c.X) };
  const m = fitLogisticCV(X, c.y, { seed: 3, folds: 5 });
  assert.equal(m.folds, 5);
  assert.ok(m.Cs.includes(m.C));
  const best = Math.min(...m.cvLogLoss);
  assert.equal(m.cvLogLoss[m.Cs.indexOf(m.C)], best);
  // the refit equals a direct fit on standardised data at the chosen C
  const direct = fitLogistic(standardise(X, m.standardiser), c.y, { C: m.C });
  assert.ok(maxDiff(direct.weights, m.fit.weights) < 1e-8);
  // out-of-fold predictions differ from in-sample ones (the rows were held out)
  const inSample = predictLogisticCV(m, X);
  assert.ok(maxDiff(inSample, m.outOfFold) > 1e-3);
  // same seed, same choice
  assert.deepEqual(fitLogisticCV(X, c.y, { seed: 3, folds: 5 }).cvLogLoss, m.cvLogLoss);
});
