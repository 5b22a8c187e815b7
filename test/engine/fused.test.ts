/**
 * The activation and BatchNormalization kernels of src/engine/kernels/fused.ts (issue 14) against
 * the cpu backend, which keeps tfjs-core's own kernels and gradient formulas:
 * - Relu and ClipByValue gradients (ReLU6 = relu then clip [0, 6], as tf.layers.reLU({maxValue})),
 *   bit for bit, including x exactly at the bounds, NaN and sizes that are not multiples of 4;
 * - FusedBatchNorm forward and its gradients with respect to x, scale and offset (inference mode,
 *   rank-1 per-channel parameters, NHWC) over channel counts 1..37 and spatial sizes that cross the
 *   1024-pixel accumulation block, with and without scale / offset; training mode (mean and variance
 *   computed from x, so their gradients reach x through tfjs-core's formulas);
 * - conv -> BatchNorm -> ReLU6 chains over strides {1,2} x padding {same, valid} x kernel {1,3,5,7}
 *   (the MobileNetV2 pattern), gradients of input, filter, gamma and beta;
 * - Identity shares its buffer (no copy) and every case leaks no tensor and no wasm buffer.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { BN_BLOCK } from '../../src/engine/kernels/fused.js';
import { Rng } from '../../src/util/rng.js';
import { randn, relError } from '../helpers/numeric.js';

before(async () => {
  await initBackend('wasm');
});

/** Run `f` on `name`: its arrays and the tensors and backend buffers it left behind. */
async function on(
  name: 'cpu' | 'wasm',
  f: () => tf.Tensor[],
): Promise<{ values: Float32Array[]; tensors: number; buffers: number }> {
  await tf.setBackend(name);
  const backend = tf.backend();
  const ids = backend.numDataIds();
  const tensors = tf.memory().numTensors;
  const outs = f();
  const values = outs.map((t) => (t.dataSync() as Float32Array).slice());
  tf.dispose(outs);
  return { values, tensors: tf.memory().numTensors - tensors, buffers: backend.numDataIds() - ids };
}

/**
 * `f` on cpu then wasm. Nothing may be left behind on wasm, or (`sameLeaks`) no more than on cpu
 * (tfjs-layers keeps a tensor of its own on both).
 */
async function both(
  f: () => tf.Tensor[],
  sameLeaks = false,
): Promise<{ cpu: Float32Array[]; wasm: Float32Array[] }> {
  const cpu = await on('cpu', f);
  const wasm = await on('wasm', f);
  await tf.setBackend('wasm');
  const allowed = sameLeaks ? cpu.tensors : 0;
  assert.equal(wasm.tensors, allowed, 'wasm: tensors leaked');
  assert.equal(wasm.buffers, allowed, 'wasm: backend buffers leaked');
  return { cpu: cpu.values, wasm: wasm.values };
}

function sameBits(a: Float32Array, b: Float32Array, label: string): void {
  assert.equal(a.length, b.length, `${label}: length`);
  for (let i = 0; i < a.length; i++) {
    if (Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i]))) continue;
    assert.fail(`${label}: element ${i}: ${a[i]} != ${b[i]}`);
  }
}

/** Values around the clip bounds: exact 0 and 6, tiny, negative, large, NaN, infinities. */
function activations(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const special = [0, 6, -0, 1e-30, -1e-30, 6.000001, 5.999999, NaN, Infinity, -Infinity, 3, -3];
  return Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? special[(i / 5) % special.length] : rng.normal() * 5));
}

describe('Relu and ClipByValue gradients', () => {
  for (const n of [1, 3, 4, 17, 64, 1001]) {
    test(`relu6 chain, ${n} values: bit for bit the cpu gradients`, async () => {
      const xv = activations(n, n);
      const dyv = Float32Array.from(randn(new Rng(n + 1), n));
      const { cpu, wasm } = await both(() => {
        const x = tf.tensor1d(xv);
        const dy = tf.tensor1d(dyv);
        const gRelu = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), dy)))(x);
        const gClip = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(t, 0, 6), dy)))(x);
        const gBoth = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(tf.relu(t), 0, 6), dy)))(x);
        tf.dispose([x, dy]);
        return [gRelu, gClip, gBoth];
      });
      sameBits(wasm[0], cpu[0], 'relu');
      sameBits(wasm[1], cpu[1], 'clipByValue');
      sameBits(wasm[2], cpu[2], 'relu6');
    });
  }

  test('reLU({maxValue: 6}) layer on a 4-D activation', async () => {
    const shape = [2, 5, 7, 6];
    const n = 2 * 5 * 7 * 6;
    const xv = activations(n, 9).map((v) => (Number.isFinite(v) ? v : 1));
    const dyv = Float32Array.from(randn(new Rng(10), n));
    const { cpu, wasm } = await both(() => {
      const layer = tf.layers.reLU({ maxValue: 6 });
      const x = tf.tensor(xv, shape);
      const dy = tf.tensor(dyv, shape);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, dy)))(x);
      tf.dispose([x, dy]);
      return [g];
    });
    sameBits(wasm[0], cpu[0], 'relu6 layer');
  });
});

interface BnCase {
  shape: number[];
  scale: boolean;
  offset: boolean;
}

function bnInputs(c: BnCase, seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed);
  const ch = c.shape[c.shape.length - 1];
  const n = c.shape.reduce((a, b) => a * b, 1);
  return {
    x: Float32Array.from(randn(rng, n)).map((v) => v * 2 + 0.5),
    dy: Float32Array.from(randn(rng, n)),
    mean: Float32Array.from(randn(rng, ch)).map((v) => v * 0.3),
    variance: Float32Array.from({ length: ch }, () => 0.2 + rng.next() * 2),
    scale: Float32Array.from(randn(rng, ch)),
    offset: Float32Array.from(randn(rng, ch)),
  };
}

describe('FusedBatchNorm (inference mode)', () => {
  const cases: BnCase[] = [
    { shape: [2, 3, 5, 4], scale: true, offset: true },
    { shape: [2, 3, 5, 1], scale: true, offset: true },
    { shape: [3, 4, 4, 7], scale: true, offset: true },
    { shape: [2, 9, 11, 37], scale: true, offset: true },
    { shape: [2, 9, 11, 37], scale: true, offset: false },
    { shape: [2, 9, 11, 20], scale: false, offset: true },
    { shape: [2, 9, 11, 20], scale: false, offset: false },
    { shape: [3, 24, 30, 12], scale: true, offset: true }, // 2160 pixels: three 1024-pixel blocks
    { shape: [5, 6], scale: true, offset: true }, // rank 2 (Dense)
  ];
  for (const c of cases) {
    test(`forward${c.scale && c.offset ? ' and gradients (x, scale, offset)' : ''} ${JSON.stringify(c)}`, async () => {
      const v = bnInputs(c, c.shape.reduce((a, b) => a + b, 0));
      const ch = c.shape[c.shape.length - 1];
      const { cpu, wasm } = await both(() => {
        const x = tf.tensor(v.x, c.shape);
        const dy = tf.tensor(v.dy, c.shape);
        const mean = tf.tensor1d(v.mean);
        const variance = tf.tensor1d(v.variance);
        const scale = tf.tensor1d(v.scale);
        const offset = tf.tensor1d(v.offset);
        const y = tf.batchNorm(x, mean, variance, c.offset ? offset : undefined, c.scale ? scale : undefined, 1e-3);
        // tfjs' tape cannot differentiate batchNorm with an absent scale or offset on any backend
        // (getFilteredNodesXToY reads the missing input): gradients only when both are given
        const gs =
          c.scale && c.offset
            ? tf.grads((xx: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
                tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, o, s, 1e-3), dy)),
              )([x, scale, offset])
            : [];
        tf.dispose([x, dy, mean, variance, scale, offset]);
        return [y, ...gs];
      });
      const label = JSON.stringify(c);
      assert.ok(relError(wasm[0], cpu[0]) < 1e-6, `${label}: forward ${relError(wasm[0], cpu[0])}`);
      assert.equal(cpu.length, c.scale && c.offset ? 4 : 1);
      if (cpu.length === 1) return;
      assert.ok(relError(wasm[1], cpu[1]) < 1e-6, `${label}: dx ${relError(wasm[1], cpu[1])}`);
      for (let i = 2; i < 4; i++) {
        assert.equal(wasm[i].length, ch);
        assert.ok(relError(wasm[i], cpu[i]) < 1e-5, `${label}: gradient ${i} ${relError(wasm[i], cpu[i])}`);
      }
    });
  }

  test('training mode: mean and variance from x (their gradients reach x)', async () => {
    const c: BnCase = { shape: [4, 6, 5, 8], scale: true, offset: true };
    const v = bnInputs(c, 77);
    const { cpu, wasm } = await both(() => {
      const x = tf.tensor(v.x, c.shape);
      const dy = tf.tensor(v.dy, c.shape);
      const scale = tf.tensor1d(v.scale);
      const offset = tf.tensor1d(v.offset);
      const gs = tf.grads((xx: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
        const { mean, variance } = tf.moments(xx, [0, 1, 2]);
        return tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, o, s, 1e-3), dy));
      })([x, scale, offset]);
      tf.dispose([x, dy, scale, offset]);
      return gs;
    });
    for (let i = 0; i < 3; i++) assert.ok(relError(wasm[i], cpu[i]) < 1e-4, `gradient ${i}: ${relError(wasm[i], cpu[i])}`);
  });

  test('batchNormalization layer (Keras, inference) in a model: gamma, beta and input gradients', async () => {
    const shape = [2, 6, 6, 24];
    const v = bnInputs({ shape, scale: true, offset: true }, 5);
    const { cpu, wasm } = await both(() => {
      const layer = tf.layers.batchNormalization({
        epsilon: 1e-3,
        gammaInitializer: tf.initializers.constant({ value: 1.5 }),
        betaInitializer: tf.initializers.constant({ value: -0.2 }),
        movingMeanInitializer: tf.initializers.constant({ value: 0.1 }),
        movingVarianceInitializer: tf.initializers.constant({ value: 0.7 }),
      });
      const x = tf.tensor(v.x, shape);
      const dy = tf.tensor(v.dy, shape);
      layer.build(shape);
      const loss = (): tf.Scalar => tf.sum(tf.mul(layer.apply(x, { training: false }) as tf.Tensor, dy));
      const { grads } = tf.variableGrads(loss, layer.trainableWeights.map((w) => w.read() as tf.Variable));
      const gx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t, { training: false }) as tf.Tensor, dy)))(x);
      const out = [gx, ...Object.values(grads)];
      tf.dispose([x, dy]);
      for (const w of layer.weights) w.dispose();
      return out;
    }, true);
    for (let i = 0; i < cpu.length; i++) assert.ok(relError(wasm[i], cpu[i]) < 1e-5, `gradient ${i}: ${relError(wasm[i], cpu[i])}`);
  });

  test(`accumulation block is ${BN_BLOCK} pixels`, () => {
    assert.equal(BN_BLOCK, 1024);
  });
});

describe('conv -> BatchNorm -> ReLU6 (the MobileNetV2 pattern) against cpu gradients', () => {
  for (const stride of [1, 2])
    for (const pad of ['same', 'valid'] as const)
      for (const k of [1, 3, 5, 7]) {
        test(`stride ${stride}, ${pad}, kernel ${k}`, async () => {
          const rng = new Rng(100 * stride + 10 * k + (pad === 'same' ? 1 : 0));
          const [n, h, w, cin, cout] = [2, 11, 9, 5, 8];
          const xv = Float32Array.from(randn(rng, n * h * w * cin));
          const fv = Float32Array.from(randn(rng, k * k * cin * cout)).map((v) => v * 0.5);
          const gv = Float32Array.from(randn(rng, cout));
          const bv = Float32Array.from(randn(rng, cout));
          const mv = Float32Array.from(randn(rng, cout)).map((v) => v * 0.2);
          const vv = Float32Array.from({ length: cout }, () => 0.5 + rng.next());
          const run = (): tf.Tensor[] => {
            const x = tf.tensor4d(xv, [n, h, w, cin]);
            const f = tf.tensor4d(fv, [k, k, cin, cout]);
            const gamma = tf.tensor1d(gv);
            const beta = tf.tensor1d(bv);
            const mean = tf.tensor1d(mv);
            const variance = tf.tensor1d(vv);
            const outShape = tf.tidy(() => tf.conv2d(x, f, stride, pad).shape);
            const r = tf.tensor(randn(new Rng(7), outShape.reduce((a, b) => a * b, 1)), outShape);
            const gs = tf.grads((xx: tf.Tensor, ff: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
              const y = tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, stride, pad);
              const z = tf.batchNorm(y, mean, variance, b, g, 1e-3);
              return tf.sum(tf.mul(tf.clipByValue(tf.relu(z), 0, 6), r));
            })([x, f, gamma, beta]);
            tf.dispose([x, f, gamma, beta, mean, variance, r]);
            return gs;
          };
          const { cpu, wasm } = await both(run);
          ['x', 'filter', 'gamma', 'beta'].forEach((name, i) => {
            const e = relError(wasm[i], cpu[i]);
            assert.ok(e < 1e-4, `${name}: relative error ${e}`);
          });
        });
      }
});

describe('Identity on wasm', () => {
  test('shares the buffer, keeps it alive after the original is disposed', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const ids = backend.numDataIds();
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    assert.equal(backend.numDataIds(), ids + 1, 'clone made no new buffer');
    a.dispose();
    assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
    b.dispose();
    assert.equal(backend.numDataIds(), ids);
  });
});
