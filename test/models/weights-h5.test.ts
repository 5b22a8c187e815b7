import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { initBackend } from '../../src/engine/backend.js';
import { buildMobileNetV1 } from '../../src/models/backbones/mobilenet-v1.js';
import { buildMobileNetV2 } from '../../src/models/backbones/mobilenet-v2.js';
import { readKerasH5, loadKerasH5Into } from '../../src/models/weights/h5.js';
import { assignWeights, keyedLayers, toSnakeCase, variableName } from '../../src/models/weights/assign.js';
import { loadTfjsFolder, cutAt } from '../../src/models/weights/tfjs-folder.js';
import { InputError, InputErrors } from '../../src/util/errors.js';
import { maxAbsDiff, photoTensor, skipWithoutWeights, weightsPath, writeFlatH5 } from './weights-helpers.js';

const V1_H5 = 'keras_h5/mobilenet_2_5_224_tf_no_top.h5';
const TM_H5 = 'keras_h5/tm_keras_model.h5';
const TM = 'mobilenet_v2_0.35_224_imagenet_tm';

let tmp: string;
before(async () => {
  await initBackend('wasm');
  await h5wasm.ready;
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-h5-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A photo resized to 224 and scaled to [-1, 1] (Keras 'tf' preprocess_input). */
async function photo224(name: string): Promise<tf.Tensor4D> {
  const img = await photoTensor(weightsPath('sample_photos', name));
  const x = tf.tidy(() => tf.image.resizeBilinear(img, [224, 224]).div(127.5).sub(1) as tf.Tensor4D);
  img.dispose();
  return x;
}

describe(
  'Keras .h5, flat layout: MobileNet v1 alpha 0.25 into the TypeScript architecture',
  { skip: skipWithoutWeights(V1_H5, 'sample_photos') },
  () => {
    it('reads the official file with its exact layer names and shapes', async () => {
      const set = await readKerasH5(weightsPath(V1_H5));
      assert.equal(set.format, 'keras2-flat');
      // 1 conv + 13 x (dw, pw) = 27 convolutions, each followed by a BatchNormalization: 54 weighted layers.
      assert.equal(set.layers.size, 54);
      assert.deepEqual(
        set.layers.get('conv1')?.map((w) => [w.name, w.shape]),
        [['kernel', [3, 3, 3, 8]]],
      );
      assert.deepEqual(
        set.layers.get('conv_dw_1')?.map((w) => [w.name, w.shape]),
        [['depthwise_kernel', [3, 3, 8, 1]]],
      );
      assert.deepEqual(
        set.layers.get('conv_pw_13_bn')?.map((w) => w.name),
        ['gamma', 'beta', 'moving_mean', 'moving_variance'],
      );
      assert.deepEqual(set.layers.get('conv_pw_13')?.[0].shape, [1, 1, 256, 256]);
    });

    it('loads every tensor (218,544 parameters) by name; features finite and equal on wasm and cpu', async (t) => {
      const model = buildMobileNetV1({ alpha: 0.25 });
      // Architecture check against the file: every weighted layer of ours is in the file and vice versa.
      const ours = keyedLayers(model, 'name')
        .map(([k]) => k)
        .sort();
      const theirs = [...(await readKerasH5(weightsPath(V1_H5))).layers.keys()].sort();
      assert.deepEqual(ours, theirs);
      assert.equal(model.countParams(), 218_544); // README of ../shared/weights

      const report = await loadKerasH5Into(model, weightsPath(V1_H5));
      assert.equal(report.layersLoaded, 54);
      assert.equal(report.tensorsLoaded, 27 + 27 * 4);
      assert.equal(report.paramsLoaded, 218_544);
      assert.deepEqual(report.ignored, []);

      const x = await photo224('eagle.jpg');
      const onWasm = model.predict(x) as tf.Tensor;
      assert.deepEqual(onWasm.shape, [1, 7, 7, 256]);
      const v = onWasm.dataSync() as Float32Array;
      assert.ok(v.every(Number.isFinite));
      const mean = v.reduce((s, a) => s + a, 0) / v.length;
      // ReLU6 features of a real photo: non-negative, capped at 6, not all zero.
      assert.ok(mean > 0.01 && Math.max(...v) <= 6 && Math.min(...v) >= 0, `mean ${mean}`);
      await initBackend('cpu');
      const onCpu = model.predict(x) as tf.Tensor;
      const d = maxAbsDiff(onWasm, onCpu);
      await initBackend('wasm');
      t.diagnostic(
        `MobileNet v1 0.25 conv_pw_13_relu on eagle.jpg: mean ${mean.toFixed(4)}, wasm vs cpu max |diff| = ${d.toExponential(2)}`,
      );
      assert.ok(d < 1e-4, `wasm vs cpu max |diff| = ${d}`);
      tf.dispose([x, onWasm, onCpu]);
      model.dispose();
    });
  },
);

describe(
  'Keras .h5, nested layout: MobileNetV2 0.35 equals the tfjs folder',
  { skip: skipWithoutWeights(TM_H5, TM, 'sample_photos') },
  () => {
    it('loads tm_keras_model.h5 into buildMobileNetV2({alpha: 0.35}); out_relu features match (< 1e-4)', async (t) => {
      const set = await readKerasH5(weightsPath(TM_H5));
      assert.equal(set.format, 'keras2-nested');
      const model = buildMobileNetV2({ alpha: 0.35 });
      // The file also holds the Teachable Machine head: without allowExtra it is refused ...
      assert.throws(
        () => assignWeights(model, set),
        (e: unknown) =>
          e instanceof InputErrors &&
          /3 extra/.test(e.message) &&
          /dense_Dense5\/kernel \[1280,100\]/.test(e.message),
      );
      // ... with allowExtra the head is ignored and reported.
      const report = assignWeights(model, set, { allowExtra: true });
      assert.deepEqual([...report.ignored].sort(), [
        'dense_Dense5/bias [100]',
        'dense_Dense5/kernel [1280,100]',
        'dense_Dense6/kernel [100,3]',
      ]);
      assert.equal(report.paramsLoaded, 410_208);
      assert.equal(report.paramsLoaded, model.countParams());

      const folder = await loadTfjsFolder(weightsPath(TM));
      const reference = cutAt(folder, 'out_relu');
      for (const name of ['eagle.jpg', 'giraffe.jpg']) {
        const x = await photo224(name);
        const ours = model.predict(x) as tf.Tensor;
        const ref = reference.predict(x) as tf.Tensor;
        assert.deepEqual(ours.shape, [1, 7, 7, 1280]);
        const d = maxAbsDiff(ours, ref);
        t.diagnostic(
          `${name}: .h5 into our MobileNetV2 vs tfjs folder cut at out_relu, max |diff| = ${d.toExponential(2)}`,
        );
        assert.ok(d < 1e-4, `${name}: max |diff| = ${d}`);
        assert.ok(tf.max(ref).dataSync()[0] > 1, 'reference features are not trivial');
        tf.dispose([x, ours, ref]);
      }
      folder.dispose();
      model.dispose();
    });
  },
);

describe('Keras .h5: refusal of incomplete or mis-shaped files', { skip: skipWithoutWeights(V1_H5) }, () => {
  it('names the missing tensor and the wrongly shaped tensor, with the file path', async () => {
    const set = await readKerasH5(weightsPath(V1_H5));
    // A faithful copy written by our own flat writer loads (checks the writer before trusting it).
    const copy = join(tmp, 'copy.h5');
    writeFlatH5(copy, set.layers);
    await loadKerasH5Into(buildMobileNetV1({ alpha: 0.25 }), copy);

    const missing = new Map(set.layers);
    missing.set(
      'conv_pw_7_bn',
      set.layers.get('conv_pw_7_bn')!.filter((w) => w.name !== 'moving_variance'),
    );
    const missingPath = join(tmp, 'missing.h5');
    writeFlatH5(missingPath, missing);
    await assert.rejects(loadKerasH5Into(buildMobileNetV1({ alpha: 0.25 }), missingPath), (e: unknown) => {
      assert.ok(e instanceof InputErrors);
      assert.ok(e.message.startsWith(missingPath), e.message);
      assert.deepEqual(e.problems, ['missing: conv_pw_7_bn/moving_variance [128]']);
      return true;
    });

    const wrong = new Map(set.layers);
    const k = set.layers.get('conv1')![0];
    wrong.set('conv1', [{ name: 'kernel', shape: [3, 3, 8, 3], data: k.data }]);
    const wrongPath = join(tmp, 'wrong.h5');
    writeFlatH5(wrongPath, wrong);
    await assert.rejects(loadKerasH5Into(buildMobileNetV1({ alpha: 0.25 }), wrongPath), (e: unknown) => {
      assert.ok(e instanceof InputErrors);
      assert.ok(e.message.includes(wrongPath));
      assert.deepEqual(e.problems, [
        'wrong shape: conv1/kernel is [3,3,8,3] in the file, the model needs [3,3,3,8]',
      ]);
      return true;
    });
    // skipMismatch: everything else loads, conv1/kernel keeps its initial value and is reported.
    const r = await loadKerasH5Into(buildMobileNetV1({ alpha: 0.25 }), wrongPath, { skipMismatch: true });
    assert.deepEqual(r.notLoaded, ['conv1/kernel']);
    assert.equal(r.paramsLoaded, 218_544 - 3 * 3 * 3 * 8);

    // A wider model (alpha 0.5): every one of the 135 tensors is refused as wrongly shaped.
    await assert.rejects(
      loadKerasH5Into(buildMobileNetV1({ alpha: 0.5 }), copy),
      (e: unknown) =>
        e instanceof InputErrors && /\(0 missing, 135 wrongly shaped, 0 extra\)/.test(e.message),
    );
  });

  it('refuses files that are absent, not HDF5, or not Keras weights', async () => {
    const m = buildMobileNetV1({ alpha: 0.25 });
    await assert.rejects(
      loadKerasH5Into(m, join(tmp, 'nope.h5')),
      (e: unknown) => e instanceof InputError && /weights file not found/.test(e.message),
    );
    const txt = join(tmp, 'text.h5');
    await writeFile(txt, 'hello');
    await assert.rejects(
      readKerasH5(txt),
      (e: unknown) =>
        e instanceof InputError && e.message.includes(txt) && /not a readable HDF5 file/.test(e.message),
    );
    const other = join(tmp, 'other.h5');
    const f = new h5wasm.File(other, 'w');
    f.create_dataset({ name: 'x', data: new Float32Array([1, 2]) });
    f.close();
    await assert.rejects(
      readKerasH5(other),
      (e: unknown) => e instanceof InputError && /not a Keras weights file/.test(e.message),
    );
  });
});

describe('Keras 3 .weights.h5 layout', () => {
  it('snake-cases class names as Keras naming.to_snake_case does', () => {
    // Expected values follow keras/src/utils/naming.py to_snake_case (two regex passes, lower-cased).
    assert.equal(toSnakeCase('Conv2D'), 'conv2d');
    assert.equal(toSnakeCase('BatchNormalization'), 'batch_normalization');
    assert.equal(toSnakeCase('DepthwiseConv2D'), 'depthwise_conv2d');
    assert.equal(toSnakeCase('ReLU'), 're_lu');
    assert.equal(toSnakeCase('Functional'), 'functional');
  });

  it('round-trips layers/<class>[_n]/vars/<i> into a fresh model (self-consistency: no Keras 3 file is available offline)', async () => {
    const src = buildMobileNetV1({ alpha: 0.25, inputShape: [32, 32, 3] });
    const keyed = keyedLayers(src, 'keras3-path');
    // keras/src/saving/saving_lib.py _save_container_state: first 'conv2d', then 'conv2d_1', ...
    assert.equal(keyed[0][0], 'layers/conv2d');
    assert.equal(keyed[1][0], 'layers/batch_normalization');
    assert.equal(keyed[2][0], 'layers/depthwise_conv2d');
    assert.equal(keyed[4][0], 'layers/conv2d_1');
    const path = join(tmp, 'model.weights.h5');
    const f = new h5wasm.File(path, 'w');
    const layersGroup = f.create_group('layers');
    for (const [key, layer] of keyed) {
      const g = layersGroup.create_group(key.slice('layers/'.length));
      const vars = g.create_group('vars');
      layer.weights.forEach((w, i) => {
        // distinct values per tensor so a mix-up would show
        const size = (w.shape as number[]).reduce((a, b) => a * b, 1);
        const data = Float32Array.from({ length: size }, (_, j) => ((j % 7) + i) / 10 + 0.5);
        vars.create_dataset({ name: String(i), data, shape: w.shape as number[], dtype: '<f' });
      });
    }
    f.create_group('vars');
    f.close();
    const set = await readKerasH5(path);
    assert.equal(set.format, 'keras3');
    assert.equal(set.layers.size, 54);
    const dst = buildMobileNetV1({ alpha: 0.25, inputShape: [32, 32, 3] });
    const r = assignWeights(dst, set);
    assert.equal(r.paramsLoaded, dst.countParams());
    const bn = dst.getLayer('conv_dw_3_bn');
    assert.deepEqual(bn.weights.map(variableName), ['gamma', 'beta', 'moving_mean', 'moving_variance']);
    // moving_variance is vars/3 of the 6th BatchNormalization -> values (j % 7 + 3) / 10 + 0.5
    assert.ok(Math.abs(bn.getWeights()[3].dataSync()[0] - 0.8) < 1e-6);
  });
});
