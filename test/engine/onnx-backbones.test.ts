/**
 * ONNX export parity per backbone family, at each backbone's native input size, with seeded
 * He-scaled random weights and random BN statistics (no ImageNet weights on this machine). tfjs runs on the wasm
 * backend; ONNX Runtime runs the exported bytes. Acceptance: max |ort - tfjs| / max |tfjs| < 1e-4.
 * The figures measured when this was written are in docs/engine.md ("ONNX Runtime path").
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { getBackbone } from '../../src/models/table.js';
import { parity, randomInput, randomizeWeights } from './onnx-helpers.js';

const TOL = 1e-4;
const VERBOSE = process.env.POLARCAD_TEST_VERBOSE === '1';

before(async () => {
  await initBackend('wasm');
});

/** Backbone, batch size, and whether to add a classifier head and export [camLayer, probs]. */
const CASES: [string, number, boolean][] = [
  ['MobileNetV2', 2, true],
  ['EfficientNetB0', 1, true],
  ['ResNet50V2', 1, false],
  ['DenseNet121', 1, false],
  ['VGG16', 1, false],
  ['Xception', 1, false],
  ['InceptionV3', 1, false],
  ['InceptionResNetV2', 1, false],
];

describe('ONNX export parity per backbone (tfjs wasm vs ONNX Runtime)', () => {
  for (const [name, batch, withHead] of CASES) {
    test(`${name}: batch ${batch}${withHead ? ', feature map + probabilities' : ''}`, async () => {
      const spec = getBackbone(name);
      const t0 = performance.now();
      const backbone = spec.build({});
      let model = backbone;
      let outputs: string[] | undefined;
      if (withHead) {
        const gap = tf.layers.globalAveragePooling2d({ name: 'head_gap' }).apply(backbone.outputs[0]) as tf.SymbolicTensor;
        const probs = tf.layers.dense({ units: 2, activation: 'softmax', name: 'head_probs' }).apply(gap) as tf.SymbolicTensor;
        model = tf.model({ inputs: backbone.inputs, outputs: probs, name: `${name}_clf` });
        outputs = [spec.camLayer, 'head_probs'];
      }
      // He-scaled random weights: the builders' own initialisation makes features vanish (~1e-12).
      randomizeWeights(model, 11, 0.3, 'he');
      const shape = [batch, spec.nativeSize, spec.nativeSize, 3];
      const lo = spec.scaling === 'raw' || spec.scaling === 'caffe' ? 0 : -1;
      const hi = spec.scaling === 'raw' || spec.scaling === 'caffe' ? 255 : 1;
      const r = await parity(model, randomInput(shape, 7, lo, hi), shape, outputs === undefined ? {} : { outputs }, 2);
      if (VERBOSE) {
        process.stderr.write(
          `${name}: errors ${r.errors.map((e) => e.toExponential(2)).join(', ')}; ${(r.onnxBytes / 2 ** 20).toFixed(1)} MiB; ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
        );
      }
      for (const [i, e] of r.errors.entries()) {
        assert.ok(e < TOL, `${name} output ${i}: relative error ${e.toExponential(2)}`);
        assert.deepEqual(r.dims[i], r.tfjsShapes[i]);
      }
      model.dispose();
    });
  }
});
