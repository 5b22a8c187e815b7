/**
 * ONNX export, layer by layer: tiny tfjs models with seeded random weights, run in tfjs (cpu
 * backend, float32) and in ONNX Runtime from the exported bytes. Acceptance: max |ort - tfjs| /
 * max |tfjs| < 1e-4 for every output (issue "The compute engine").
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { exportToOnnx } from '../../src/engine/onnx/export.js';
import { registerOnnxConverter, scalarF32, tfPadding } from '../../src/engine/onnx/layers.js';
import { summariseOnnx } from '../../src/engine/onnx/schema.js';
import { OnnxModel } from '../../src/engine/onnx/session.js';
import { CustomScaleLayer, Normalization, Rescaling } from '../../src/models/layers/keras-layers.js';
import { InputError } from '../../src/util/errors.js';
import { parity, randomInput, randomizeWeights } from './onnx-helpers.js';

const TOL = 1e-4;
type ST = tf.SymbolicTensor;
const L = tf.layers;

function ap(layer: tf.layers.Layer, x: ST | ST[]): ST {
  return layer.apply(x) as ST;
}

/** Build a model from a function of its input, randomise its weights, check parity at batch 2. */
async function check(name: string, inShape: number[], body: (x: ST) => ST | ST[], seed: number): Promise<number[]> {
  const x = tf.input({ shape: inShape, name: 'x' });
  const y = body(x);
  const model = tf.model({ inputs: x, outputs: y, name });
  randomizeWeights(model, seed);
  const shape = [2, ...inShape];
  const r = await parity(model, randomInput(shape, seed + 1), shape);
  for (const [i, e] of r.errors.entries()) {
    assert.ok(e < TOL, `${name}: output ${i} relative error ${e.toExponential(2)} >= ${TOL}`);
    assert.deepEqual(r.dims[i], r.tfjsShapes[i], `${name}: output ${i} dims`);
  }
  model.dispose();
  return r.errors;
}

before(async () => {
  await initBackend('cpu');
});

describe('TF same padding', () => {
  test('matches the TensorFlow rule (hand-computed)', () => {
    // in=7, k=3, s=2: out=4, total=max((4-1)*2+3-7,0)=2 -> [1,1]
    assert.deepEqual(tfPadding('same', 7, 3, 2), [1, 1]);
    // in=8, k=3, s=2: out=4, total=(3*2+3-8)=1 -> [0,1] (the odd pixel goes after)
    assert.deepEqual(tfPadding('same', 8, 3, 2), [0, 1]);
    // in=224, k=7, s=2: out=112, total=111*2+7-224=5 -> [2,3]
    assert.deepEqual(tfPadding('same', 224, 7, 2), [2, 3]);
    // dilation 2, k=3 -> effective 5; in=9, s=1: total=4 -> [2,2]
    assert.deepEqual(tfPadding('same', 9, 3, 1, 2), [2, 2]);
    assert.deepEqual(tfPadding('valid', 9, 3, 1), [0, 0]);
    assert.equal(tfPadding('same', null, 3, 1), null);
  });
});

describe('ONNX export parity per layer type (tfjs cpu vs ONNX Runtime)', () => {
  test('Conv2D: same/valid, stride 1/2 on odd and even sizes, dilation, no bias, fused relu', async () => {
    await check('conv_odd', [9, 9, 3], (x) => ap(L.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same' }), x), 10);
    await check('conv_even', [8, 8, 3], (x) => ap(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false }), x), 11);
    await check('conv_valid', [8, 7, 2], (x) => ap(L.conv2d({ filters: 4, kernelSize: [3, 2], padding: 'valid', activation: 'relu' }), x), 12);
    await check('conv_dil', [9, 9, 2], (x) => ap(L.conv2d({ filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same' }), x), 13);
    await check('conv_7s2', [16, 16, 3], (x) => ap(L.conv2d({ filters: 8, kernelSize: 7, strides: 2, padding: 'same' }), x), 14);
  });

  test('DepthwiseConv2D (multiplier 2, stride 2 same) and SeparableConv2D', async () => {
    await check('dw', [9, 8, 3], (x) => ap(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same' }), x), 20);
    await check('dw_valid', [7, 7, 4], (x) => ap(L.depthwiseConv2d({ kernelSize: 3, useBias: false }), x), 21);
    await check('sep', [9, 9, 4], (x) => ap(L.separableConv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'relu' }), x), 22);
    await check('sep_nobias', [8, 8, 3], (x) => ap(L.separableConv2d({ filters: 5, kernelSize: 3, padding: 'same', useBias: false }), x), 23);
  });

  test('BatchNormalization on 4-D and 2-D, with and without scale / center', async () => {
    await check('bn4', [5, 5, 4], (x) => ap(L.batchNormalization({ epsilon: 1.001e-5 }), x), 30);
    await check('bn4_noscale', [5, 5, 4], (x) => ap(L.batchNormalization({ scale: false }), ap(L.conv2d({ filters: 3, kernelSize: 1 }), x)), 31);
    await check('bn2', [6], (x) => ap(L.batchNormalization({ center: false }), x), 32);
  });

  test('activations: relu relu6 swish sigmoid tanh softmax elu selu softplus softsign hardSigmoid linear; ReLU layer', async () => {
    for (const [i, act] of (['relu', 'relu6', 'swish', 'sigmoid', 'tanh', 'softmax', 'elu', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'linear'] as const).entries()) {
      await check(`act_${act}`, [4, 4, 3], (x) => ap(L.activation({ activation: act }), ap(L.conv2d({ filters: 5, kernelSize: 1 }), x)), 40 + i);
    }
    await check('softmax2d', [7], (x) => ap(L.dense({ units: 4, activation: 'softmax' }), x), 60);
    await check('relu_layer', [4, 4, 2], (x) => ap(L.reLU({ maxValue: 6 }), ap(L.conv2d({ filters: 3, kernelSize: 1 }), x)), 61);
    await check('relu_plain', [4, 4, 2], (x) => ap(L.reLU({}), x), 62);
    await check('softmax_layer', [3, 3, 4], (x) => ap(L.softmax({ axis: -1 }), ap(L.conv2d({ filters: 4, kernelSize: 1 }), x)), 63);
    await check('leaky', [3, 3, 4], (x) => ap(L.leakyReLU({ alpha: 0.1 }), x), 64);
  });

  test('merges: Add, Multiply (SE broadcast), Concatenate, Average, Maximum', async () => {
    await check('merge', [6, 6, 4], (x) => {
      const a = ap(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), x);
      const b = ap(L.conv2d({ filters: 4, kernelSize: 1 }), x);
      const add = ap(L.add(), [a, b, x]);
      const avg = ap(L.average(), [add, a]);
      const mx = ap(L.maximum(), [avg, b]);
      const cat = ap(L.concatenate(), [mx, a, x]);
      // squeeze-and-excitation: GAP -> Reshape [1,1,C] -> 1x1 convs -> multiply
      const se = ap(L.globalAveragePooling2d({}), cat);
      const seR = ap(L.reshape({ targetShape: [1, 1, 12] }), se);
      const seC = ap(L.conv2d({ filters: 3, kernelSize: 1, activation: 'swish' }), seR);
      const seE = ap(L.conv2d({ filters: 12, kernelSize: 1, activation: 'sigmoid' }), seC);
      return ap(L.multiply(), [cat, seE]);
    }, 70);
  });

  test('ZeroPadding2D (asymmetric), MaxPooling2D / AveragePooling2D same+valid, global poolings', async () => {
    await check('pad', [5, 6, 2], (x) => ap(L.zeroPadding2d({ padding: [[1, 0], [2, 3]] }), x), 80);
    await check('pad_sym', [5, 6, 2], (x) => ap(L.zeroPadding2d({ padding: 3 }), x), 81);
    await check('maxpool_same', [9, 8, 3], (x) => ap(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x), 82);
    await check('avgpool_same', [9, 8, 3], (x) => ap(L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x), 83);
    await check('avgpool_s1', [7, 7, 3], (x) => ap(L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), x), 84);
    await check('pools_valid', [8, 8, 3], (x) => ap(L.averagePooling2d({ poolSize: 2 }), ap(L.maxPooling2d({ poolSize: 3, strides: 1 }), x)), 85);
    // ZeroPadding2D feeding a pool on signed values (ResNet's pool1_pad -> pool1_pool): the zeros
    // take part in the max and in the average (ONNX Runtime's PadFusion must not fold them away).
    const conv = (x: ST): ST => ap(L.conv2d({ filters: 4, kernelSize: 3, strides: 2 }), x);
    await check('pad_maxpool', [16, 16, 3], (x) => ap(L.maxPooling2d({ poolSize: 3, strides: 2 }), ap(L.zeroPadding2d({ padding: 1 }), conv(x))), 87);
    await check('pad_avgpool', [16, 16, 3], (x) => ap(L.averagePooling2d({ poolSize: 3, strides: 2 }), ap(L.zeroPadding2d({ padding: 1 }), conv(x))), 88);
    await check('pad_maxpool_same', [16, 16, 3], (x) => ap(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), ap(L.zeroPadding2d({ padding: [[1, 0], [0, 1]] }), conv(x))), 89);
    await check('gap_gmp', [5, 5, 3], (x) => [ap(L.globalAveragePooling2d({}), x), ap(L.globalMaxPooling2d({}), x)], 86);
  });

  test('Reshape, Flatten, Dense on 2-D and 4-D, Dropout as identity', async () => {
    await check('reshape', [4, 3, 2], (x) => ap(L.reshape({ targetShape: [12, 2] }), ap(L.conv2d({ filters: 2, kernelSize: 1 }), x)), 90);
    await check('reshape_4d', [4, 3, 2], (x) => ap(L.conv2d({ filters: 2, kernelSize: 1 }), ap(L.reshape({ targetShape: [2, 6, 2] }), x)), 91);
    await check('head', [5, 5, 3], (x) => {
      const f = ap(L.flatten(), ap(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same' }), x));
      const d = ap(L.dropout({ rate: 0.5 }), ap(L.dense({ units: 8, activation: 'relu' }), f));
      return ap(L.dense({ units: 2, activation: 'softmax' }), d);
    }, 92);
    await check('dense4d', [3, 3, 4], (x) => ap(L.dense({ units: 5, activation: 'tanh' }), ap(L.conv2d({ filters: 4, kernelSize: 1 }), x)), 93);
  });

  test('custom Keras layers: per-channel Rescaling, Normalization, CustomScaleLayer; tfjs Rescaling', async () => {
    await check('rescale_norm', [5, 5, 3], (x) => {
      const r = ap(new Rescaling({ scale: 1 / 255 }), x);
      const n = ap(new Normalization({ mean: [0.485, 0.456, 0.406], variance: [0.229 ** 2, 0.224 ** 2, 0.225 ** 2] }), r);
      const s = ap(new Rescaling({ scale: [1 / 0.229, 1 / 0.224, 1 / 0.225], offset: [0.1, -0.2, 0.3] }), n);
      const c = ap(L.conv2d({ filters: 3, kernelSize: 1 }), s);
      return ap(new CustomScaleLayer({ scale: 0.17 }), [s, c]);
    }, 100);
  });

  test('nested sub-model, cut at a named inner layer with two outputs', async () => {
    const bin = tf.input({ shape: [8, 8, 3] });
    const c1 = ap(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'feat_conv' }), bin);
    const a1 = ap(L.activation({ activation: 'relu', name: 'feat_relu' }), c1);
    const backbone = tf.model({ inputs: bin, outputs: a1, name: 'backbone' });
    const x = tf.input({ shape: [8, 8, 3], name: 'image' });
    const f = backbone.apply(x) as ST;
    const g = ap(L.globalAveragePooling2d({ name: 'gap' }), f);
    const p = ap(L.dense({ units: 2, activation: 'softmax', name: 'probs' }), g);
    const model = tf.model({ inputs: x, outputs: p, name: 'classifier' });
    randomizeWeights(model, 110);
    const shape = [2, 8, 8, 3];
    const xs = randomInput(shape, 111);
    // Default outputs: the probabilities.
    const r0 = await parity(model, xs, shape);
    assert.ok(r0.errors[0] < TOL);
    // Feature map (inside the nested model) and probabilities together, feature map in NHWC.
    const bytes = exportToOnnx(model, { outputs: ['feat_relu', 'probs'], inputName: 'pixels' });
    const s = summariseOnnx(bytes);
    assert.deepEqual(s.inputs, [{ name: 'pixels', dims: ['batch', 8, 8, 3] }]);
    assert.deepEqual(s.outputs, [
      { name: 'feat_relu', dims: ['batch', 8, 8, 4] },
      { name: 'probs', dims: ['batch', 2] },
    ]);
    const session = await OnnxModel.create(bytes, { threads: 1 });
    const res = await session.run(xs, shape);
    await session.dispose();
    const [featRef, probRef] = tf.tidy(() => {
      const xt = tf.tensor(xs, shape);
      const feat = backbone.predict(xt) as tf.Tensor;
      return [feat.dataSync() as Float32Array, (model.predict(xt) as tf.Tensor).dataSync() as Float32Array];
    });
    const { relError } = await import('./onnx-helpers.js');
    assert.ok(relError(res.feat_relu.data, featRef) < TOL);
    assert.ok(relError(res.probs.data, probRef) < TOL);
    // Cut at a top-level layer only.
    const cut = exportToOnnx(model, { outputs: ['gap'] });
    assert.deepEqual(summariseOnnx(cut).outputs, [{ name: 'gap', dims: ['batch', 4] }]);
  });
  test('Sequential models, also nested as a layer (Teachable Machine style [backbone, head])', async () => {
    const seq = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu6' }),
        L.globalAveragePooling2d({}),
        L.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    randomizeWeights(seq, 130);
    const shape = [2, 6, 6, 2];
    const r = await parity(seq, randomInput(shape, 131), shape);
    assert.ok(r.errors[0] < TOL, `sequential: ${r.errors[0]}`);
    const outer = tf.sequential({ layers: [seq, L.dense({ units: 3, activation: 'tanh' })] });
    randomizeWeights(outer, 132);
    const r2 = await parity(outer, randomInput(shape, 133), shape);
    assert.ok(r2.errors[0] < TOL, `nested sequential: ${r2.errors[0]}`);
  });
});

describe('ONNX export errors, metadata and session', () => {
  test('an unsupported layer is named with its class', () => {
    const x = tf.input({ shape: [4, 4, 2] });
    const y = ap(L.upSampling2d({ size: [2, 2], name: 'up' }), x);
    const model = tf.model({ inputs: x, outputs: y });
    assert.throws(
      () => exportToOnnx(model),
      (e: unknown) => e instanceof InputError && /layer "up" \(class UpSampling2D\) is not supported/.test(e.message),
    );
  });

  test('registerOnnxConverter adds a custom layer class', async () => {
    class TimesThree extends tf.layers.Layer {
      static className = 'TimesThree';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, 3);
      }
    }
    const x = tf.input({ shape: [4, 4, 2] });
    const model = tf.model({ inputs: x, outputs: ap(new TimesThree({ name: 'x3' }), ap(L.conv2d({ filters: 2, kernelSize: 1 }), x)) });
    assert.throws(() => exportToOnnx(model), /layer "x3" \(class TimesThree\) is not supported/);
    registerOnnxConverter('TimesThree', (ctx) => {
      const v = ctx.inputs[0];
      return [ctx.g.op('Mul', [v.name, scalarF32(ctx.g, 3)], {}, ctx.hint, v.shape, v.nchw)];
    });
    assert.throws(() => registerOnnxConverter('Conv2D', (ctx) => [...ctx.inputs]), /built in/);
    randomizeWeights(model, 140);
    const r = await parity(model, randomInput([1, 4, 4, 2], 141), [1, 4, 4, 2]);
    assert.ok(r.errors[0] < TOL);
  });

  test('unknown output layer and bad opset are InputErrors', () => {
    const x = tf.input({ shape: [3] });
    const model = tf.model({ inputs: x, outputs: ap(L.dense({ units: 2 }), x) });
    assert.throws(() => exportToOnnx(model, { outputs: ['nope'] }), /has no layer named "nope"/);
    assert.throws(() => exportToOnnx(model, { opset: 12 }), /opset 12 is not supported/);
  });

  test('metadata_props, opset and IR version round-trip through the ONNX schema', () => {
    const x = tf.input({ shape: [3] });
    const model = tf.model({ inputs: x, outputs: ap(L.dense({ units: 2 }), x) });
    const s = summariseOnnx(exportToOnnx(model, { opset: 13, metadata: { 'polarcad.scaling': 'tf', note: 'héllo' } }));
    assert.deepEqual(s.metadata, { 'polarcad.scaling': 'tf', note: 'héllo' });
    assert.deepEqual(s.opsets, [{ domain: '', version: 13 }]);
    assert.equal(s.irVersion, 8);
    assert.equal(s.producer, 'polarcad');
    assert.deepEqual(s.opTypes, { Gemm: 1, Identity: 1 });
    // 3x2 kernel + 2 bias floats
    assert.equal(s.initializerBytes, (6 + 2) * 4);
  });

  test('a batch larger than maxBatch is split and concatenated exactly', async () => {
    const x = tf.input({ shape: [4, 4, 2] });
    const model = tf.model({ inputs: x, outputs: ap(L.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }), x) });
    randomizeWeights(model, 120);
    const bytes = exportToOnnx(model);
    const shape = [5, 4, 4, 2];
    const xs = randomInput(shape, 121);
    const whole = await OnnxModel.create(bytes, { threads: 1, maxBatch: 16 });
    const split = await OnnxModel.create(bytes, { threads: 1, maxBatch: 2 });
    const [a, b] = await Promise.all([whole.run(xs, shape), split.run(xs, shape)]);
    assert.deepEqual(b[split.outputNames[0]].dims, [5, 4, 4, 3]);
    assert.deepEqual(Array.from(b[split.outputNames[0]].data), Array.from(a[whole.outputNames[0]].data));
    await assert.rejects(split.run(xs, [5, 4, 4, 3]), /does not match shape/);
    await whole.dispose();
    await split.dispose();
    await assert.rejects(OnnxModel.create(new Uint8Array([1, 2, 3])), (e: unknown) => e instanceof InputError);
  });
});
