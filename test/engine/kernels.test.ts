/**
 * The wasm gradient kernels against the cpu backend's own gradients (tf.grads of conv2d /
 * depthwiseConv2d on 'cpu', whose kernels are the tfjs reference loops), over strides {1,2} x
 * padding {same, valid} x kernel {1,3,5,7}, plus explicit padding, channel multiplier 2, leak checks
 * and clear errors for what the kernels do not implement.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import {
  registerWasmGradientKernels,
  stockConv2DBackpropInputKernel,
} from '../../src/engine/kernels/index.js';
import { Rng } from '../../src/util/rng.js';
import { randn, relError as relErr } from '../helpers/numeric.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number; // multiplier for depthwise
  k: number;
  stride: number;
  pad: Pad;
}

/**
 * Gradients of sum(op(x, f) * r) with respect to x and f on the current backend, for fixed random
 * x, f, r (r makes dy a non-trivial random tensor).
 */
function grads(
  c: Case,
  depthwise: boolean,
  seed: number,
): { dx: Float32Array; df: Float32Array; numTensorsLeaked: number } {
  const rng = new Rng(seed);
  const fShape: [number, number, number, number] = [c.k, c.k, c.cin, c.cout];
  const xs = tf.tensor4d(randn(rng, c.n * c.h * c.w * c.cin), [c.n, c.h, c.w, c.cin]);
  const fs = tf.tensor4d(randn(rng, c.k * c.k * c.cin * c.cout), fShape);
  const op = (x: tf.Tensor4D, f: tf.Tensor4D): tf.Tensor4D =>
    depthwise ? tf.depthwiseConv2d(x, f, c.stride, c.pad) : tf.conv2d(x, f, c.stride, c.pad);
  const yShape = tf.tidy(() => op(xs, fs).shape);
  const rs = tf.tensor(
    randn(
      rng,
      yShape.reduce((p, q) => p * q, 1),
    ),
    yShape,
  );
  const before = tf.memory().numTensors;
  const [gx, gf] = tf.grads((x: tf.Tensor, f: tf.Tensor) =>
    tf.sum(tf.mul(op(x as tf.Tensor4D, f as tf.Tensor4D), rs)),
  )([xs, fs]);
  const dx = gx.dataSync() as Float32Array;
  const df = gf.dataSync() as Float32Array;
  gx.dispose();
  gf.dispose();
  const numTensorsLeaked = tf.memory().numTensors - before;
  tf.dispose([xs, fs, rs]);
  return { dx: dx.slice(), df: df.slice(), numTensorsLeaked };
}

async function onBackend<T>(name: 'cpu' | 'wasm', f: () => T): Promise<T> {
  await tf.setBackend(name);
  return f();
}

async function compare(c: Case, depthwise: boolean, seed: number): Promise<void> {
  const ref = await onBackend('cpu', () => grads(c, depthwise, seed));
  const wasmBackend = tf.findBackend('wasm');
  assert.ok(wasmBackend);
  const dataIdsBefore = wasmBackend.numDataIds();
  const got = await onBackend('wasm', () => grads(c, depthwise, seed));
  const label = `${depthwise ? 'depthwise' : 'conv2d'} ${JSON.stringify(c)}`;
  const ex = relErr(got.dx, ref.dx);
  const ef = relErr(got.df, ref.df);
  assert.ok(ex < 1e-4, `${label}: input gradient relative error ${ex}`);
  assert.ok(ef < 1e-4, `${label}: filter gradient relative error ${ef}`);
  assert.equal(got.numTensorsLeaked, 0, `${label}: leaked tensors`);
  assert.equal(wasmBackend.numDataIds(), dataIdsBefore, `${label}: leaked wasm buffers`);
}

before(async () => {
  await initBackend('wasm');
  registerWasmGradientKernels();
  registerWasmGradientKernels(); // idempotent
});

const GRID: Array<{ k: number; stride: number; pad: Pad }> = [];
for (const k of [1, 3, 5, 7])
  for (const stride of [1, 2]) for (const pad of ['same', 'valid'] as const) GRID.push({ k, stride, pad });

test('conv2d gradients match cpu: strides {1,2} x {same,valid} x k {1,3,5,7}', async () => {
  let seed = 1;
  for (const g of GRID) {
    // Odd and even sizes, Cin != Cout; H != W to catch axis mix-ups.
    await compare({ n: 2, h: 11, w: 9, cin: 5, cout: 7, ...g }, false, seed++);
    await compare({ n: 2, h: 12, w: 14, cin: 3, cout: 4, ...g }, false, seed++);
  }
});

test('depthwise gradients match cpu: strides {1,2} x {same,valid} x k {1,3,5,7}', async () => {
  let seed = 100;
  for (const g of GRID) {
    await compare({ n: 2, h: 11, w: 9, cin: 6, cout: 1, ...g }, true, seed++);
    await compare({ n: 2, h: 12, w: 14, cin: 8, cout: 1, ...g }, true, seed++);
  }
});

test('explicit padding and channel multiplier 2 match cpu', async () => {
  const pad: Pad = [
    [0, 0],
    [2, 0],
    [1, 3],
    [0, 0],
  ];
  await compare({ n: 2, h: 10, w: 13, cin: 4, cout: 6, k: 3, stride: 2, pad }, false, 500);
  await compare({ n: 2, h: 10, w: 13, cin: 4, cout: 6, k: 3, stride: 1, pad }, false, 501);
  await compare({ n: 2, h: 10, w: 13, cin: 4, cout: 2, k: 3, stride: 2, pad }, true, 502);
  for (const stride of [1, 2]) {
    await compare({ n: 2, h: 9, w: 11, cin: 3, cout: 2, k: 3, stride, pad: 'same' }, true, 503 + stride);
    await compare({ n: 2, h: 9, w: 11, cin: 3, cout: 2, k: 5, stride, pad: 'valid' }, true, 505 + stride);
  }
});

test('registration replaces the stock Conv2DBackpropInput and is idempotent', () => {
  const stock = stockConv2DBackpropInputKernel();
  assert.ok(stock, 'the stock wasm Conv2DBackpropInput was saved');
  const names = registerWasmGradientKernels();
  assert.deepEqual(names.sort(), [
    'BatchMatMul',
    'Conv2DBackpropFilter',
    'Conv2DBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
    'FusedBatchNorm',
    'Identity',
    'PolarcadBatchNormGrad',
    'PolarcadClipByValueGrad',
    'PolarcadReluGrad',
    'Tile',
    'Transpose',
  ]);
  const current = tf.getKernel('Conv2DBackpropInput', 'wasm');
  assert.ok(current && current.kernelFunc !== stock.kernelFunc);
  for (const n of names) assert.ok(tf.getKernel(n, 'wasm'), `${n} registered`);
});

test('unsupported dilation and data format fail with a clear error', async () => {
  await tf.setBackend('wasm');
  const x = tf.zeros([1, 6, 6, 2]);
  const dy = tf.zeros([1, 6, 6, 2]);
  assert.throws(
    () =>
      tf
        .engine()
        .runKernel(
          'DepthwiseConv2dNativeBackpropFilter',
          { x, dy },
          { strides: 1, pad: 'same', dilations: 2, filterShape: [3, 3, 2, 1] },
        ),
    /dilations other than 1 are not supported/,
  );
  assert.throws(
    () =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x, dy },
          { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2] },
        ),
    /only dataFormat 'NHWC'/,
  );
  tf.dispose([x, dy]);
});
