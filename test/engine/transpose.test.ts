/**
 * The wasm Transpose of src/engine/kernels/transpose.ts against the cpu backend, exactly: swap
 * forms ([A,B] -> [B,A], [O,A,B] -> [O,B,A], also reached through merged and size-1 axes) with
 * sizes that are and are not multiples of 4 (the SIMD corner and the JS edges), float32 / int32 /
 * bool, permutations that go to the stock kernel, and no leaked tensor or wasm buffer.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { stockTransposeKernel } from '../../src/engine/kernels/index.js';
import { swapForm } from '../../src/engine/kernels/transpose.js';

before(async () => {
  await initBackend('wasm');
});

async function transposeOn(
  name: 'cpu' | 'wasm',
  shape: number[],
  perm: number[],
  dtype: 'float32' | 'int32' | 'bool',
): Promise<ArrayLike<number>> {
  await tf.setBackend(name);
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? (i * 7) % 3 === 0 : (i * 37) % 1001 - 500.25));
  const x = tf.tensor(values as number[], shape, dtype);
  const ids = tf.backend().numDataIds();
  const y = tf.transpose(x, perm);
  const out = y.dataSync() as ArrayLike<number>;
  assert.deepEqual(y.shape, perm.map((a) => shape[a]));
  y.dispose();
  assert.equal(tf.backend().numDataIds(), ids, `${name}: buffer leaked`);
  x.dispose();
  return Array.from(out);
}

describe('Transpose on wasm', () => {
  const cases: [number[], number[]][] = [
    [[4, 8], [1, 0]],
    [[5, 7], [1, 0]],
    [[3, 2], [1, 0]],
    [[1, 9], [1, 0]],
    [[37, 61], [1, 0]],
    [[100, 96], [1, 0]],
    [[3, 9, 13], [0, 2, 1]],
    [[2, 8, 12], [0, 2, 1]],
    [[2, 3, 5, 7], [2, 3, 0, 1]], // [6, 35] -> [35, 6]
    [[2, 3, 5, 7], [0, 3, 1, 2]], // [2, 15, 7] -> [2, 7, 15]
    [[2, 1, 5, 6], [0, 3, 2, 1]], // size-1 axis moves: [2, 5, 6] -> [2, 6, 5]
    [[2, 3, 5, 7], [0, 1, 2, 3]], // identity
    [[2, 3, 5, 7], [3, 2, 1, 0]], // full reversal: stock kernel
    [[2, 3, 5, 7], [1, 0, 3, 2]], // two swaps: stock kernel
  ];
  for (const [shape, perm] of cases)
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      test(`${JSON.stringify(shape)} perm ${JSON.stringify(perm)} ${dtype}`, async () => {
        const ref = await transposeOn('cpu', shape, perm, dtype);
        const got = await transposeOn('wasm', shape, perm, dtype);
        assert.deepEqual(got, ref);
      });
    }

  test('swap forms', () => {
    assert.deepEqual(swapForm([4, 8], [1, 0]), [1, 4, 8]);
    assert.deepEqual(swapForm([3, 9, 13], [0, 2, 1]), [3, 9, 13]);
    assert.deepEqual(swapForm([2, 3, 5, 7], [2, 3, 0, 1]), [1, 6, 35]);
    assert.deepEqual(swapForm([2, 3, 5, 7], [0, 1, 2, 3]), [1, 1, 210]);
    assert.equal(swapForm([2, 3, 5, 7], [3, 2, 1, 0]), null);
    assert.ok(stockTransposeKernel() !== undefined, 'the stock kernel is kept for the other permutations');
  });
});
