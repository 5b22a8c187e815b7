/**
 * The fused wasm Adam update (src/engine/kernels/adam_simd.ts, used by src/train/adam.ts): bit
 * for bit equal to the op-by-op tfjs update and to a float32 emulation in JS (Math.fround after
 * every operation), moments updated in place, weights never written in place (aliases keep their
 * values, XNNPACK's packed-weight cache stays coherent), no tensor or buffer leaked.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { adamSimd } from '../../src/engine/kernels/adam_simd.js';
import { Adam } from '../../src/train/adam.js';
import { Rng } from '../../src/util/rng.js';

before(async () => {
  await initBackend('wasm');
});

const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-7;

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal() * scale);
}

/** Keras' Adam in float32, one rounding per operation (the op order of src/train/adam.ts). */
function emulate(
  w: Float32Array,
  grads: Float32Array[],
  lr: number,
): { w: Float32Array; m: Float32Array; v: Float32Array } {
  const f = Math.fround;
  const out = w.slice();
  const m = new Float32Array(w.length);
  const v = new Float32Array(w.length);
  grads.forEach((g, k) => {
    const t = k + 1;
    const step = f(lr * (Math.sqrt(1 - B2 ** t) / (1 - B1 ** t)));
    for (let i = 0; i < w.length; i++) {
      m[i] = f(f(m[i] * f(B1)) + f(g[i] * f(1 - B1)));
      v[i] = f(f(v[i] * f(B2)) + f(f(g[i] * g[i]) * f(1 - B2)));
      out[i] = f(out[i] - f(f(m[i] * step) / f(f(Math.sqrt(v[i])) + f(EPS))));
    }
  });
  return { w: out, m, v };
}

/** The op-by-op tfjs update (the path Adam takes on other backends), restated. */
function opByOp(w0: Float32Array, grads: Float32Array[], lr: number): Float32Array {
  return tf.tidy(() => {
    let w: tf.Tensor = tf.tensor1d(w0);
    let m: tf.Tensor = tf.zerosLike(w);
    let v: tf.Tensor = tf.zerosLike(w);
    grads.forEach((ga, k) => {
      const t = k + 1;
      const g = tf.tensor1d(ga);
      m = tf.add(tf.mul(m, B1), tf.mul(g, 1 - B1));
      v = tf.add(tf.mul(v, B2), tf.mul(tf.square(g), 1 - B2));
      const step = lr * (Math.sqrt(1 - B2 ** t) / (1 - B1 ** t));
      w = tf.sub(w, tf.div(tf.mul(m, step), tf.add(tf.sqrt(v), EPS)));
    });
    return w.dataSync().slice() as Float32Array;
  });
}

describe('fused wasm Adam', () => {
  test('initBackend loads the kernel over the tfjs heap', () => {
    assert.equal(tf.getBackend(), 'wasm');
    assert.notEqual(adamSimd(tf.backend()), null);
  });

  test('bit for bit equal to the tfjs ops and to a float32 emulation (SIMD body and scalar tail)', () => {
    for (const n of [1, 3, 4, 1027]) {
      const w0 = randomArray(n, n);
      const grads = [0, 1, 2, 3, 4].map((k) => randomArray(n, 100 * n + k, 0.1 * (k + 1)));
      const w = tf.variable(tf.tensor1d(w0));
      const adam = new Adam([{ key: 'w', variable: w, lr: 3e-3 }]);
      for (const g of grads) {
        const gt = tf.tensor1d(g);
        adam.applyGradients({ [w.name]: gt });
        gt.dispose();
      }
      const got = w.dataSync();
      const ref = emulate(w0, grads, 3e-3);
      assert.deepEqual(Array.from(got), Array.from(opByOp(w0, grads, 3e-3)), `n=${n}: fused vs tf ops`);
      assert.deepEqual(Array.from(got), Array.from(ref.w), `n=${n}: fused vs emulation`);
      // the moments updated in place are the emulation's too (the state saved for resume)
      const st = adam.getState();
      assert.deepEqual(Array.from(st.m.w), Array.from(ref.m), `n=${n}: m`);
      assert.deepEqual(Array.from(st.v.w), Array.from(ref.v), `n=${n}: v`);
      adam.dispose();
      w.dispose();
    }
  });

  test('the weights get a new buffer: an alias keeps the old values, a cached fused matMul sees the new ones', () => {
    const x = tf.tensor2d(randomArray(4 * 8, 1), [4, 8]);
    const init = tf.tensor2d(randomArray(8 * 3, 2), [8, 3]);
    const w = tf.variable(init); // shares init's buffer (tfjs does not copy)
    const before = init.dataSync().slice();
    // a fused product (XNNPACK, packed weights cached by dataId) before the step
    tf.fused.matMul({ a: x, b: w }).dispose();
    const adam = new Adam([{ key: 'w', variable: w, lr: 0.1 }]);
    const g = tf.onesLike(w);
    adam.applyGradients({ [w.name]: g });
    assert.deepEqual(Array.from(init.dataSync()), Array.from(before), 'the alias changed');
    const now = w.dataSync().slice();
    assert.ok(
      now.every((a, i) => Math.abs(a - (before[i] - 0.1)) < 1e-5),
      'first step moves every weight by -lr',
    );
    const fused = tf.fused.matMul({ a: x, b: w });
    const fresh = tf.tensor2d(now, [8, 3]);
    const plain = tf.matMul(x, fresh);
    assert.deepEqual(Array.from(fused.dataSync()), Array.from(plain.dataSync()), 'stale packed weights');
    tf.dispose([x, init, w, g, fused, fresh, plain]);
    adam.dispose();
  });

  test('no tensor or backend buffer leaks across steps and dispose', () => {
    // tf.variable shares its initial tensor's buffer: release the initial tensors so that the
    // variables' first buffers are freed when the optimiser replaces them
    const w0 = tf.tensor2d(randomArray(64 * 16, 5), [64, 16]);
    const b0 = tf.tensor1d(randomArray(16, 6));
    const w = tf.variable(w0);
    const b = tf.variable(b0);
    tf.dispose([w0, b0]);
    const tensors0 = tf.memory().numTensors;
    const ids0 = tf.engine().backend.numDataIds();
    const adam = new Adam([
      { key: 'w', variable: w, lr: 1e-3 },
      { key: 'b', variable: b, lr: 1e-2 },
    ]);
    for (let k = 0; k < 5; k++) {
      const gw = tf.tensor2d(randomArray(64 * 16, 10 + k), [64, 16]);
      const gb = tf.tensor1d(randomArray(16, 20 + k));
      adam.applyGradients({ [w.name]: gw, [b.name]: gb });
      tf.dispose([gw, gb]);
    }
    adam.setState(adam.getState());
    adam.dispose();
    assert.equal(tf.memory().numTensors, tensors0);
    assert.equal(tf.engine().backend.numDataIds(), ids0);
    tf.dispose([w, b]);
  });
});
