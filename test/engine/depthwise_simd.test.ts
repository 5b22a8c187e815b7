/**
 * Every implementation of the depthwise gradients ('simd' WebAssembly kernels, 'js' loops,
 * 'forward' convolution at stride 1) against the cpu backend's own gradients (tf.grads of
 * depthwiseConv2d on 'cpu', the tfjs reference loops): strides {1,2,3} x padding {same, valid} x
 * kernel {1,3,5,7} x channel multiplier {1,2}, with channel counts that exercise the 16-channel SIMD
 * blocks, the 4-channel remainder and the zero padding to a multiple of 4; plus leak checks and
 * the module's own memory growing and being reused.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs';
import { initBackend, tf } from '../../src/engine/backend.js';
import {
  depthwiseConv2dBackpropFilter,
  depthwiseConv2dBackpropInput,
  depthwiseSimd,
} from '../../src/engine/kernels/index.js';
import { Rng } from '../../src/util/rng.js';
import { randn, relError as relErr } from '../helpers/numeric.js';

type Pad = 'same' | 'valid';

interface Case {
  h: number;
  w: number;
  c: number;
  mult: number;
  k: number;
  stride: number;
  pad: Pad;
}

const N = 2;

interface Operands {
  x: Float32Array;
  f: Float32Array;
  dy: Float32Array;
  yShape: number[];
}

function operands(c: Case, seed: number): Operands {
  const rng = new Rng(seed);
  const x = randn(rng, N * c.h * c.w * c.c);
  const f = randn(rng, c.k * c.k * c.c * c.mult);
  const yShape = tf.tidy(
    () =>
      tf.depthwiseConv2d(
        tf.zeros<tf.Rank.R4>([N, c.h, c.w, c.c]),
        tf.zeros<tf.Rank.R4>([c.k, c.k, c.c, c.mult]),
        c.stride,
        c.pad,
      ).shape,
  );
  const dy = randn(
    rng,
    yShape.reduce((p, q) => p * q, 1),
  );
  return { x, f, dy, yShape };
}

/** The cpu backend's gradients of sum(depthwiseConv2d(x, f) * dy): dx and df. */
async function cpuReference(c: Case, o: Operands): Promise<{ dx: Float32Array; df: Float32Array }> {
  await tf.setBackend('cpu');
  const xs = tf.tensor4d(o.x, [N, c.h, c.w, c.c]);
  const fs = tf.tensor4d(o.f, [c.k, c.k, c.c, c.mult]);
  const r = tf.tensor(o.dy, o.yShape);
  const [gx, gf] = tf.grads((x: tf.Tensor, f: tf.Tensor) =>
    tf.sum(tf.mul(tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.stride, c.pad), r)),
  )([xs, fs]);
  const out = { dx: (gx.dataSync() as Float32Array).slice(), df: (gf.dataSync() as Float32Array).slice() };
  tf.dispose([xs, fs, r, gx, gf]);
  return out;
}

/** Read and dispose a kernel output. */
function take(backend: KernelBackend, t: TensorInfo): Float32Array {
  const v = (backend.readSync(t.dataId) as Float32Array).slice();
  backend.disposeData(t.dataId);
  return v;
}

before(async () => {
  await initBackend('wasm');
});

test('initBackend loads the WebAssembly SIMD kernels (compiled from WAT with wabt)', () => {
  assert.ok(depthwiseSimd(), 'depthwiseSimd() is available after initBackend("wasm")');
});

test('simd, js and forward depthwise gradients match cpu: strides {1,2,3} x {same,valid} x k {1,3,5,7} x m {1,2}', async () => {
  let seed = 1000;
  let cases = 0;
  let worst = 0;
  for (const k of [1, 3, 5, 7]) {
    for (const stride of [1, 2, 3]) {
      for (const pad of ['same', 'valid'] as const) {
        for (const mult of [1, 2]) {
          // c*mult = 20/40 (16-channel blocks + a 4-channel block) and 37/74 (padded to 40/76);
          // H != W and odd/even sizes to catch axis mix-ups.
          const c = seed % 2 === 0 ? 20 : 37;
          const cs: Case = { h: 11 + (seed % 3), w: 9 + ((seed >> 1) % 4), c, mult, k, stride, pad };
          const o = operands(cs, seed++);
          const ref = await cpuReference(cs, o);
          await tf.setBackend('wasm');
          const backend = tf.backend() as KernelBackend;
          const x = tf.tensor4d(o.x, [N, cs.h, cs.w, cs.c]);
          const f = tf.tensor4d(o.f, [k, k, c, mult]);
          const dy = tf.tensor(o.dy, o.yShape);
          const attrs = { strides: stride, pad, dilations: 1, dimRoundingMode: undefined };
          const idsBefore = backend.numDataIds();
          const label = JSON.stringify(cs);
          for (const impl of ['simd', 'js'] as const) {
            const df = take(
              backend,
              depthwiseConv2dBackpropFilter(
                x,
                dy,
                { ...attrs, filterShape: [k, k, c, mult] },
                backend,
                'wasm',
                impl,
              ),
            );
            const e = relErr(df, ref.df);
            worst = Math.max(worst, e);
            assert.ok(e < 1e-4, `${label} filter gradient (${impl}): relative error ${e}`);
          }
          for (const impl of stride === 1
            ? (['simd', 'js', 'forward'] as const)
            : (['simd', 'js'] as const)) {
            const dx = take(
              backend,
              depthwiseConv2dBackpropInput(
                dy,
                f,
                { ...attrs, inputShape: [N, cs.h, cs.w, c] },
                backend,
                'wasm',
                impl,
              ),
            );
            const e = relErr(dx, ref.dx);
            worst = Math.max(worst, e);
            assert.ok(e < 1e-4, `${label} input gradient (${impl}): relative error ${e}`);
          }
          assert.equal(backend.numDataIds(), idsBefore, `${label}: leaked wasm buffers`);
          tf.dispose([x, f, dy]);
          cases++;
        }
      }
    }
  }
  assert.equal(cases, 48);
  assert.ok(worst < 1e-5, `worst relative error ${worst}`);
});

test('the SIMD memory grows for a large call and is reused by a smaller one', async () => {
  // 4 x 64 x 64 x 96 floats = 6 MiB per operand, beyond the module's initial 64 KiB page.
  const big: Case = { h: 64, w: 64, c: 96, mult: 1, k: 3, stride: 2, pad: 'same' };
  const small: Case = { h: 7, w: 7, c: 16, mult: 1, k: 3, stride: 1, pad: 'same' };
  for (const [cs, seed] of [
    [big, 7],
    [small, 8],
  ] as const) {
    const o = operands(cs, seed);
    const ref = await cpuReference(cs, o);
    await tf.setBackend('wasm');
    const backend = tf.backend() as KernelBackend;
    const x = tf.tensor4d(o.x, [N, cs.h, cs.w, cs.c]);
    const dy = tf.tensor(o.dy, o.yShape);
    const f = tf.tensor4d(o.f, [cs.k, cs.k, cs.c, 1]);
    const attrs = { strides: cs.stride, pad: cs.pad, dilations: 1, dimRoundingMode: undefined };
    const df = take(
      backend,
      depthwiseConv2dBackpropFilter(
        x,
        dy,
        { ...attrs, filterShape: [cs.k, cs.k, cs.c, 1] },
        backend,
        'wasm',
        'simd',
      ),
    );
    const dx = take(
      backend,
      depthwiseConv2dBackpropInput(
        dy,
        f,
        { ...attrs, inputShape: [N, cs.h, cs.w, cs.c] },
        backend,
        'wasm',
        'simd',
      ),
    );
    assert.ok(relErr(df, ref.df) < 1e-4, `${JSON.stringify(cs)} filter gradient`);
    assert.ok(relErr(dx, ref.dx) < 1e-4, `${JSON.stringify(cs)} input gradient`);
    tf.dispose([x, dy, f]);
  }
});

test("the 'forward' input-gradient method refuses strides > 1 with a clear error", async () => {
  await tf.setBackend('wasm');
  const backend = tf.backend() as KernelBackend;
  const dy = tf.zeros([1, 3, 3, 4]);
  const f = tf.zeros([3, 3, 4, 1]);
  assert.throws(
    () =>
      depthwiseConv2dBackpropInput(
        dy,
        f,
        { strides: 2, pad: 'same', dilations: 1, dimRoundingMode: undefined, inputShape: [1, 6, 6, 4] },
        backend,
        'wasm',
        'forward',
      ),
    /'forward' method needs stride 1/,
  );
  tf.dispose([dy, f]);
});
