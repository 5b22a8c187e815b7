/**
 * polarcad's wasm BatchMatMul (src/engine/kernels/matmul.ts: transposeA products as (A^T) B, the
 * rest delegated to the stock kernel) against the tfjs 'cpu' backend's matMul (an independent
 * implementation) for every flag combination, ranks 2 and 3, batch 1 and 2; the Dense-layer
 * gradient through it; and leaks.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { gemmSimd } from '../../src/engine/kernels/gemm_simd.js';
import { batchMatMulConfig, stockBatchMatMulKernel, transpose2d } from '../../src/engine/kernels/matmul.js';
import { Rng } from '../../src/util/rng.js';
import { relError as relErr } from '../helpers/numeric.js';

before(async () => {
  await initBackend('wasm');
  assert.equal(
    tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc,
    batchMatMulConfig.kernelFunc,
    'initBackend registers polarcad BatchMatMul',
  );
  assert.ok(stockBatchMatMulKernel(), 'the stock kernel was saved');
});

function randn(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.normal());
}

async function product(
  backend: 'cpu' | 'wasm',
  a: number[],
  as: number[],
  b: number[],
  bs: number[],
  ta: boolean,
  tb: boolean,
): Promise<{ data: Float32Array; shape: number[] }> {
  await tf.setBackend(backend);
  const x = tf.tensor(a, as);
  const y = tf.tensor(b, bs);
  const z = tf.matMul(x, y, ta, tb);
  const out = { data: (await z.data()) as Float32Array, shape: z.shape };
  tf.dispose([x, y, z]);
  return out;
}

test('transpose2d: [2,3] by hand', () => {
  assert.deepEqual(Array.from(transpose2d(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3)), [1, 4, 2, 5, 3, 6]);
  const r = 37;
  const c = 21; // crosses 16-blocks unevenly
  const a = Float32Array.from({ length: r * c }, (_, i) => i);
  const t = transpose2d(a, r, c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) assert.equal(t[j * r + i], a[i * c + j]);
});

test('wasm BatchMatMul equals cpu within 1e-5 for every flag combination, ranks 2 and 3', async () => {
  const rng = new Rng(17);
  // N 33: the stock paths; N 32 with M or K <= 64: the SIMD product
  for (const [M, K, N] of [
    [19, 16, 33],
    [19, 16, 32],
    [70, 80, 32],
  ]) {
    for (const batch of [0, 1, 2]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const lead = batch === 0 ? [] : [batch];
          const as = [...lead, ...(ta ? [K, M] : [M, K])];
          const bs = [...lead, ...(tb ? [N, K] : [K, N])];
          const a = randn(
            rng,
            as.reduce((p, q) => p * q, 1),
          );
          const b = randn(
            rng,
            bs.reduce((p, q) => p * q, 1),
          );
          const want = await product('cpu', a, as, b, bs, ta, tb);
          const got = await product('wasm', a, as, b, bs, ta, tb);
          const what = `[${M},${K},${N}] batch ${batch} transposeA ${ta} transposeB ${tb}`;
          assert.deepEqual(got.shape, want.shape, what);
          assert.ok(
            relErr(got.data, want.data) < 1e-5,
            `${what}: relative error ${relErr(got.data, want.data)}`,
          );
        }
      }
    }
  }
});

test('Dense kernel gradient x^T dy (the warm-up shape [16,2048] x [16,256]) matches cpu; no leaks', async () => {
  const rng = new Rng(3);
  const x = randn(rng, 16 * 2048);
  const w = randn(rng, 2048 * 256).map((v) => v * 0.02);
  const grad = async (backend: 'cpu' | 'wasm'): Promise<Float32Array> => {
    await tf.setBackend(backend);
    const n0 = tf.memory().numTensors;
    const ids0 = tf.backend().numDataIds();
    const xt = tf.tensor(x, [16, 2048]);
    const w0 = tf.tensor(w, [2048, 256]);
    const wv = tf.variable(w0);
    w0.dispose();
    const { grads, value } = tf.variableGrads(
      () => tf.sum(tf.square(tf.relu(tf.matMul(xt, wv)))) as tf.Scalar,
      [wv],
    );
    const g = (await grads[wv.name].data()) as Float32Array;
    tf.dispose([xt, wv, value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, n0, `${backend}: tensors leaked`);
    assert.equal(tf.backend().numDataIds(), ids0, `${backend}: backend data leaked`);
    return g;
  };
  const want = await grad('cpu');
  const got = await grad('wasm');
  assert.ok(relErr(got, want) < 1e-5, `relative error ${relErr(got, want)}`);
});

test('mismatched inner dimensions still fail with the stock message', async () => {
  await tf.setBackend('wasm');
  const a = tf.zeros([4, 3]);
  const b = tf.zeros([5, 2]);
  assert.throws(() => tf.matMul(a, b, true, false), /inner shapes/);
  tf.dispose([a, b]);
});

test('SIMD product (gemm_simd.ts) equals a float64 reference, plain and transposed A, with zeros skipped', () => {
  const rng = new Rng(23);
  const [M, K, N] = [5, 130, 12]; // K crosses the 64-row blocks
  const a = Float32Array.from({ length: M * K }, () => (rng.next() < 0.3 ? 0 : rng.normal()));
  const b = Float32Array.from({ length: K * N }, () => rng.normal());
  const want = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) want[i * N + j] += a[i * K + k] * b[k * N + j];
  assert.ok(relErr(gemmSimd.multiply(a, b, M, K, N, false), want) < 1e-5);
  const at = transpose2d(a, M, K); // [K, M]: A^T stored
  assert.ok(relErr(gemmSimd.multiply(at, b, M, K, N, true), want) < 1e-5);
  assert.throws(() => gemmSimd.multiply(a, b.subarray(0, K * 3), M, K, 3, false), /multiple of 4/);
});
