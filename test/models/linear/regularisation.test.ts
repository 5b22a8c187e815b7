/**
 * Regularisation options of the closed-form models (issue 11 item 7): soft targets and label
 * smoothing in the logistic fit, rotated copies kept patient-level in cross-validation, mixup,
 * and their record in a saved model.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { RgbImage } from '../../../src/domain/image.js';
import { rotateMap } from '../../../src/ingest/augment.js';
import {
  betaSample,
  cvFolds,
  fitLogisticCV,
  fitStandardiser,
  mixupRows,
  standardise,
} from '../../../src/models/linear/cv.js';
import {
  fitLogistic,
  gramMatrix,
  sigmoid,
  smoothLabels,
  type Design,
} from '../../../src/models/linear/logistic.js';
import {
  fitPolarModel,
  polarModelSchema,
  withRotatedCopies,
  type LabelledCrops,
} from '../../../src/models/linear/polar-model.js';
import { getColormap } from '../../../src/polarmap/colormaps.js';
import { Rng } from '../../../src/util/rng.js';

function randomDesign(n: number, p: number, seed: number): { X: Design; y: number[] } {
  const rng = new Rng(seed);
  const data = new Float64Array(n * p);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = rng.bool() ? 1 : 0;
    for (let j = 0; j < p; j++) data[i * p + j] = rng.normal() + (j === 0 ? label : 0);
    y.push(label);
  }
  return { X: { n, p, data }, y };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

test('label smoothing: intercept-only fit gives sigmoid(b) = mean smoothed target (closed form)', () => {
  // no feature information (all zeros): w = 0 and sum_i (sigmoid(b) - q_i) = 0
  const X: Design = { n: 4, p: 1, data: new Float64Array(4) };
  const y = [0, 0, 0, 1];
  const q = smoothLabels(y, 0.1);
  assert.deepEqual([...q], [0.05, 0.05, 0.05, 0.95]);
  const fit = fitLogistic(X, y, { C: 1, targets: q });
  const expected = Math.log(0.275 / 0.725); // mean q = (3 * 0.05 + 0.95) / 4
  assert.ok(Math.abs(fit.intercept - expected) < 1e-8, `${fit.intercept} vs ${expected}`);
  assert.equal(fit.weights[0], 0);
});

test('soft targets: the optimum is the stationary point C X^T (p - q) + w = 0, sum (p - q) = 0, in both solvers', () => {
  const { X, y } = randomDesign(30, 3, 5);
  const q = smoothLabels(y, 0.2);
  const C = 0.7;
  const fit = fitLogistic(X, y, { C, targets: q, tol: 1e-12 });
  const r = Array.from({ length: X.n }, (_, i) => {
    let z = fit.intercept;
    for (let j = 0; j < X.p; j++) z += X.data[i * X.p + j] * fit.weights[j];
    return sigmoid(z) - q[i];
  });
  for (let j = 0; j < X.p; j++) {
    const g = C * r.reduce((s, ri, i) => s + ri * X.data[i * X.p + j], 0) + fit.weights[j];
    assert.ok(Math.abs(g) < 1e-8, `gradient ${j}: ${g}`);
  }
  assert.ok(Math.abs(r.reduce((a, b) => a + b, 0)) < 1e-8);
  // the dual (kernel) solver reaches the same optimum
  const dual = fitLogistic(X, y, { C, targets: q, gram: gramMatrix(X), tol: 1e-12 });
  assert.ok(maxDiff(dual.weights, fit.weights) < 1e-6);
  assert.ok(Math.abs(dual.intercept - fit.intercept) < 1e-6);
});

test('soft targets equal the weighted fit of each row twice (label 1 weight q, label 0 weight 1 - q)', () => {
  // an independent route through the sample-weight path, which is checked against scikit-learn
  const { X, y } = randomDesign(25, 4, 9);
  const q = smoothLabels(y, 0.1);
  const X2: Design = { n: 2 * X.n, p: X.p, data: new Float64Array(2 * X.data.length) };
  X2.data.set(X.data);
  X2.data.set(X.data, X.data.length);
  const y2 = [...y.map(() => 1), ...y.map(() => 0)];
  const w2 = [...q, ...q.map((v) => 1 - v)];
  const soft = fitLogistic(X, y, { C: 2, targets: q, tol: 1e-12 });
  const dup = fitLogistic(X2, y2, { C: 2, sampleWeight: w2, tol: 1e-12 });
  assert.ok(maxDiff(soft.weights, dup.weights) < 1e-8);
  assert.ok(Math.abs(soft.intercept - dup.intercept) < 1e-8);
  assert.ok(Math.abs(soft.objective - dup.objective) < 1e-8);
  // smoothing shrinks the fit toward 0.5 compared with hard labels
  const hard = fitLogistic(X, y, { C: 2 });
  assert.ok(Math.abs(soft.weights[0]) < Math.abs(hard.weights[0]));
});

test('soft targets and smoothing refuse values outside their range, naming them', () => {
  const { X, y } = randomDesign(6, 2, 1);
  assert.throws(() => fitLogistic(X, y, { C: 1, targets: [0, 0.2, 1.2, 0, 1, 1] }), /targets: sample 2/);
  assert.throws(() => fitLogistic(X, y, { C: 1, targets: [0, 1] }), /targets: 2 for 6/);
  assert.throws(() => smoothLabels(y, 1), /label smoothing/);
});

test('cvFolds: copies train only with their original, are never held out, and every original is held out once', () => {
  const y = Array.from({ length: 20 }, (_, i) => i % 2);
  const copies = [...y.map((_, i) => i), ...y.map((_, i) => i)]; // two copies of every row
  const folds = cvFolds(y, copies, 5, 3);
  const heldOut = folds.flatMap((f) => f.test).sort((a, b) => a - b);
  assert.deepEqual(heldOut, y.map((_, i) => i));
  for (const f of folds) {
    const test = new Set(f.test);
    assert.ok(f.test.every((i) => i < y.length), 'only originals are held out');
    for (const row of f.train) {
      const original = row < y.length ? row : copies[row - y.length];
      assert.ok(!test.has(original), `row ${row} (a copy of held-out ${original}) is in training`);
    }
    // every copy of a training original trains
    const train = new Set(f.train);
    copies.forEach((orig, k) => assert.equal(train.has(y.length + k), !test.has(orig)));
  }
});

test('fitLogisticCV with copies: out-of-fold for originals only, and no leak through a copy', () => {
  // each patient has a private feature (one-hot id) and a random label: nothing generalises, so a
  // held-out patient's prediction can only beat chance if a copy of it was trained on
  const n = 40;
  const rng = new Rng(11);
  const y = Array.from({ length: n }, () => (rng.bool() ? 1 : 0));
  const rows = 3 * n;
  const data = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) data[r * n + (r % n)] = 1;
  const X: Design = { n: rows, p: n, data };
  const copies = [...y.map((_, i) => i), ...y.map((_, i) => i)];
  const m = fitLogisticCV(X, y, { seed: 1, copies });
  assert.equal(m.outOfFold.length, n);
  const logLoss = (p: ArrayLike<number>, labels: readonly number[]): number =>
    labels.reduce((s, l, i) => s - Math.log(l === 1 ? p[i] : 1 - p[i]), 0) / labels.length;
  assert.ok(logLoss(m.outOfFold, y) > 0.6, `patient-level: ${logLoss(m.outOfFold, y)}`);
  // the same rows treated as independent patients leak: copies of held-out rows memorised
  const leaky = fitLogisticCV(X, [...y, ...y, ...y], { seed: 1 });
  assert.ok(logLoss(leaky.outOfFold, [...y, ...y, ...y]) < 0.5);
  // the refit uses every row, copies included
  const direct = fitLogistic(standardise(X, fitStandardiser(X)), [...y, ...y, ...y], { C: m.C });
  assert.ok(maxDiff(direct.weights, m.fit.weights) < 1e-8);
  assert.throws(() => fitLogisticCV(X, y, { seed: 1, copies: [...copies.slice(1), n] }), /copies: copy 79/);
});

test('fitLogisticCV with label smoothing: the refit is the smoothed fit at the chosen C', () => {
  const { X, y } = randomDesign(60, 3, 4);
  const m = fitLogisticCV(X, y, { seed: 2, labelSmoothing: 0.1 });
  const Z = standardise(X, m.standardiser);
  const direct = fitLogistic(Z, y, { C: m.C, targets: smoothLabels(y, 0.1) });
  assert.ok(maxDiff(direct.weights, m.fit.weights) < 1e-8);
  const plain = fitLogisticCV(X, y, { seed: 2 });
  assert.notDeepEqual(m.cvLogLoss, plain.cvLogLoss);
});

test('mixup: the rows plus as many convex combinations with the same combination of targets, seeded', () => {
  // column 0 holds the target itself, so a mixed row's column 0 must equal its mixed target
  const n = 12;
  const q = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : i % 3 === 1 ? 0 : 0.3));
  const data = new Float64Array(n * 2);
  q.forEach((v, i) => {
    data[i * 2] = v;
    data[i * 2 + 1] = i;
  });
  const Z: Design = { n, p: 2, data };
  const a = mixupRows(Z, q, { alpha: 0.2, seed: 7 });
  assert.equal(a.rows.n, 2 * n);
  assert.deepEqual([...a.rows.data.subarray(0, 2 * n)], [...data]);
  for (let k = n; k < 2 * n; k++) {
    assert.ok(Math.abs(a.rows.data[k * 2] - a.targets[k]) < 1e-12);
    assert.ok(a.targets[k] >= 0 && a.targets[k] <= 1);
  }
  assert.deepEqual([...mixupRows(Z, q, { alpha: 0.2, seed: 7 }).targets], [...a.targets]);
  assert.notDeepEqual([...mixupRows(Z, q, { alpha: 0.2, seed: 8 }).targets], [...a.targets]);
  assert.throws(() => mixupRows(Z, q, { alpha: 0, seed: 1 }), /alpha/);
});

test('betaSample: Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)); a = 0.2 is U-shaped', () => {
  for (const a of [0.2, 2]) {
    const rng = new Rng(`beta${a}`);
    const xs = Array.from({ length: 20000 }, () => betaSample(rng, a));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.01, `a=${a}: mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / (4 * (2 * a + 1))) < 0.006, `a=${a}: variance ${variance}`);
    if (a === 0.2) assert.ok(xs.filter((x) => x < 0.1 || x > 0.9).length / xs.length > 0.55);
  }
});

/** Square test maps whose top-right quadrant is darker for CAD patients. */
function patients(n: number, seed: number): LabelledCrops[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const label = (i % 2) as 0 | 1;
    const side = 32;
    const data = new Uint8Array(side * side * 3);
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) {
        const dark = label === 1 && x > side / 2 && y < side / 2 ? 80 : 0;
        const v = Math.max(0, Math.min(255, 180 - dark + rng.normal(0, 30)));
        data.set([v, v / 2, 255 - v], (y * side + x) * 3);
      }
    const img: RgbImage = { width: side, height: side, data };
    return { id: `P${i}`, label, crops: { stress_ac: img } };
  });
}

test('withRotatedCopies: the patients, then each angle rotated, with the original of every copy', () => {
  const ps = patients(3, 1).map((p) => p.crops);
  const { crops, copies } = withRotatedCopies(ps, [-10, 10]);
  assert.equal(crops.length, 9);
  assert.deepEqual(copies, [0, 1, 2, 0, 1, 2]);
  const img = ps[1].stress_ac as RgbImage;
  assert.deepEqual(crops[7].stress_ac, rotateMap(img, 10));
  assert.deepEqual(crops[4].stress_ac, rotateMap(img, -10));
});

test('fitPolarModel records its regularisation in the saved model; default none; bad angle refused', async () => {
  const ps = patients(40, 2);
  const base = { recipe: 'pixel-logistic' as const, views: ['stress_ac' as const], colormap: getColormap('rainbow'), seed: 1 };
  const plain = await fitPolarModel(ps, base);
  assert.deepEqual(plain.model.regularisation, { rotations: [], labelSmoothing: 0, mixupAlpha: null });
  const reg = await fitPolarModel(ps, { ...base, rotations: [-10, 10], labelSmoothing: 0.1, mixupAlpha: 0.2 });
  assert.deepEqual(reg.model.regularisation, { rotations: [-10, 10], labelSmoothing: 0.1, mixupAlpha: 0.2 });
  assert.equal(reg.outOfFold.length, ps.length, 'out-of-fold for the patients, not their copies');
  const saved = polarModelSchema.parse(JSON.parse(JSON.stringify(reg.model)));
  assert.deepEqual(saved.regularisation, reg.model.regularisation);
  assert.notDeepEqual(reg.model.members[0].weights, plain.model.members[0].weights);
  // a model saved before the record existed still loads (no regularisation)
  const { regularisation: _dropped, ...legacy } = plain.model;
  assert.equal(polarModelSchema.parse(legacy).regularisation, undefined);
  await assert.rejects(fitPolarModel(ps, { ...base, rotations: [0] }), /rotations: 0/);
  await assert.rejects(fitPolarModel(ps, { ...base, labelSmoothing: 1 }), /labelSmoothing|smoothing/);
});
