import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { getBackbone } from '../../src/models/table.js';

before(async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
});

/**
 * One forward pass per family at the Keras native input size, batch 1, on the wasm backend,
 * including the three largest backbones. Output spatial sizes are Keras' (e.g. 224 -> 7,
 * 299 -> 10 for Xception / 8 for the Inceptions, 600 -> 19 for EfficientNetB7).
 */
const CASES: [string, number][] = [
  ['VGG16', 7],
  ['Xception', 10],
  ['MobileNetV2', 7],
  ['EfficientNetB0', 7],
  ['EfficientNetB7', 19],
  ['InceptionV3', 8],
  ['InceptionResNetV2', 8],
  ['DenseNet121', 7],
  ['ResNet152V2', 7],
];

for (const [name, side] of CASES) {
  test(`${name}: forward pass at native size without leaking tensors`, { timeout: 300_000 }, async (t) => {
    const spec = getBackbone(name);
    const before = tf.memory().numTensors;
    const m = spec.build();
    const x = tf.randomUniform([1, spec.nativeSize, spec.nativeSize, 3], 0, 1);
    const t0 = performance.now();
    const y = m.predict(x) as tf.Tensor;
    const data = await y.data();
    const ms = performance.now() - t0;
    t.diagnostic(`${name} ${spec.nativeSize}px forward ${ms.toFixed(0)} ms`);
    assert.deepEqual(y.shape, [1, side, side, spec.featureWidth]);
    assert.ok(data.every(Number.isFinite), 'finite output');
    tf.dispose([x, y]);
    m.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  });
}
