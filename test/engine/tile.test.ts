/**
 * polarcad's wasm Tile kernel (src/engine/kernels/tile.ts) against the tfjs 'cpu' backend's Tile
 * (tfjs-backend-cpu tileImpl, an independent index-by-index implementation): exact equality over
 * ranks 1-5, reps of 1 and more on every axis, float32 / int32 / bool, plus the BatchNormalization
 * gradient (which tiles) on wasm vs cpu, and tensor / backend-data leaks.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { tileConfig, tileValues } from '../../src/engine/kernels/tile.js';
import { Rng } from '../../src/util/rng.js';

before(async () => {
  await initBackend('wasm');
  assert.equal(
    tf.getKernel('Tile', 'wasm')?.kernelFunc,
    tileConfig.kernelFunc,
    'initBackend registers polarcad Tile',
  );
});

const CASES: { shape: number[]; reps: number[] }[] = [
  { shape: [5], reps: [3] },
  { shape: [1], reps: [7] },
  { shape: [2, 3], reps: [1, 1] },
  { shape: [2, 3], reps: [2, 3] },
  { shape: [3, 1], reps: [1, 5] },
  { shape: [1, 1, 1, 6], reps: [4, 3, 2, 1] }, // the BatchNorm gradient's pattern
  { shape: [2, 1, 3, 2], reps: [1, 4, 1, 3] },
  { shape: [2, 2, 1, 2, 3], reps: [2, 1, 3, 2, 1] },
  { shape: [0, 3], reps: [2, 2] },
];

async function onBackend(
  name: 'cpu' | 'wasm',
  values: number[],
  shape: number[],
  reps: number[],
  dtype: 'float32' | 'int32' | 'bool',
): Promise<{ data: number[]; shape: number[] }> {
  await tf.setBackend(name);
  const x = tf.tensor(values, shape, dtype);
  const y = tf.tile(x, reps);
  const out = { data: Array.from(await y.data()), shape: y.shape };
  tf.dispose([x, y]);
  return out;
}

test('tileValues: a [2,3] by [2,2] matches the hand-written result', () => {
  // rows [1,2,3],[4,5,6] repeated twice along each axis (row-major)
  const y = tileValues(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], [2, 2]);
  assert.deepEqual(Array.from(y), [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
  const same = new Int32Array([7, 8]);
  const copy = tileValues(same, [2], [1]);
  assert.notEqual(copy, same, 'reps of 1 return a copy, not the input');
  assert.deepEqual(Array.from(copy), [7, 8]);
  assert.throws(() => tileValues(same, [2], [1, 2]), /reps has 2 entries for a rank-1 tensor/);
});

test('wasm Tile equals the cpu backend exactly (float32, int32, bool)', async () => {
  const rng = new Rng(41);
  for (const { shape, reps } of CASES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = Array.from({ length: n }, () => rng.normal());
    const i = Array.from({ length: n }, () => rng.int(-50, 50));
    const b = Array.from({ length: n }, () => (rng.next() < 0.5 ? 1 : 0));
    for (const [vals, dtype] of [
      [f, 'float32'],
      [i, 'int32'],
      [b, 'bool'],
    ] as const) {
      const want = await onBackend('cpu', vals, shape, reps, dtype);
      const got = await onBackend('wasm', vals, shape, reps, dtype);
      assert.deepEqual(got.shape, want.shape, `${dtype} [${shape}] x [${reps}] shape`);
      assert.deepEqual(got.data, want.data, `${dtype} [${shape}] x [${reps}] values`);
    }
  }
});

test('BatchNormalization gradient (uses Tile) on wasm matches cpu within 1e-5 and leaks nothing', async () => {
  const rng = new Rng(5);
  const shape = [3, 4, 5, 6];
  const n = 3 * 4 * 5 * 6;
  const x = Array.from({ length: n }, () => rng.normal());
  const dy = Array.from({ length: n }, () => rng.normal());
  const c = (lo: number, hi: number): number[] => Array.from({ length: 6 }, () => rng.uniform(lo, hi));
  const mean = c(-0.5, 0.5);
  const variance = c(0.5, 2);
  const gamma = c(0.5, 1.5);
  const beta = c(-0.2, 0.2);
  const grads = async (backend: 'cpu' | 'wasm'): Promise<number[][]> => {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const ts = [tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta)];
    const m = tf.tensor1d(mean);
    const v = tf.tensor1d(variance);
    const up = tf.tensor(dy, shape);
    const g = tf.grads((xx: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.batchNorm(xx, m, v, o, s, 1e-3))(
      ts,
      up,
    );
    const out = await Promise.all(g.map(async (t) => Array.from(await t.data())));
    tf.dispose([...ts, m, v, up, ...g]);
    assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
    return out;
  };
  const want = await grads('cpu');
  const got = await grads('wasm');
  for (let k = 0; k < want.length; k++) {
    const scale = Math.max(...want[k].map(Math.abs));
    const err = Math.max(...want[k].map((w, j) => Math.abs(w - got[k][j])));
    assert.ok(err / scale < 1e-5, `gradient ${k}: relative error ${err / scale}`);
  }
});

test('wasm Tile frees its backend data', async () => {
  await tf.setBackend('wasm');
  const backend = tf.backend();
  const x = tf.tensor([1, 2, 3, 4, 5, 6], [1, 1, 1, 6]);
  tf.dispose(tf.tile(x, [2, 2, 2, 1]));
  const ids0 = backend.numDataIds();
  for (let i = 0; i < 5; i++) tf.dispose(tf.tile(x, [2, 2, 2, 1]));
  assert.equal(backend.numDataIds(), ids0);
  x.dispose();
});
