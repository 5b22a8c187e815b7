/**
 * Scoring a full-network sub-graph must not hold every activation of the batch: before the fix,
 * `probabilities` (validation each epoch, trainer.ts) ran runSubGraph inside one tf.tidy, so a
 * MobileNetV2 scratch stage at 224 px (batch 64) kept ~4 GB of activations alive and exhausted the
 * 4 GB wasm heap ("memory access out of bounds" in applyWeights right after the stage). Measured
 * with MobileNetV2 (alpha 1, 128 px, 64 validation examples): wasm heap 2,326 MB before, 1,195 MB
 * after (the rest is the training step). `release: true` frees each layer output after its last use.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { runSubGraph, subGraph } from '../../src/train/graph.js';
import { addHaiHead, HAI_HEAD_LAYERS } from '../../src/models/heads.js';
import { SIZE } from './helpers.js';

/** input -> 8 x conv 3x3 (8 filters, stride 1, relu): 8 equal activations per example. */
function deepChain(): { model: tf.LayersModel; headLayers: number } {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  let x: tf.SymbolicTensor = input;
  for (let i = 0; i < 8; i++)
    x = tf.layers
      .conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: `c${i}` })
      .apply(x) as tf.SymbolicTensor;
  return {
    model: addHaiHead(tf.model({ inputs: input, outputs: x }), { units: 8 }),
    headLayers: HAI_HEAD_LAYERS,
  };
}

before(async () => {
  await initBackend('wasm');
});

test('runSubGraph release: same output, only the output alive at return, nothing left behind', async () => {
  const { model, headLayers } = deepChain();
  try {
    const g = subGraph(model, 1, headLayers);
    const n = 32;
    const x = tf.randomUniform([n, SIZE, SIZE, 3], 0, 1, 'float32', 7);
    const ref = tf.tidy(() => runSubGraph(g, [x]).dataSync().slice());
    let got: Float32Array = new Float32Array(0);
    const before = tf.engine().backend.numDataIds();
    const tensors = tf.memory().numTensors;
    // live tensors at the moment the sub-graph returns, inside the caller's tidy
    const liveAt = (release: boolean): number =>
      tf.tidy(() => {
        const y = runSubGraph(g, [x], { release });
        if (release) got = y.dataSync().slice() as Float32Array;
        return tf.memory().numTensors - tensors;
      });
    const plain = liveAt(false);
    const kept = liveAt(true);
    assert.deepEqual(got, ref);
    // without release: the 8 conv outputs and the head's 3 (its Dropout is the identity in inference)
    assert.ok(plain >= 11, `plain: ${plain} live tensors`);
    // with release only the output is left (a layer's internals are freed by its own tidy)
    assert.equal(kept, 1, `release: ${kept} live tensors (plain ${plain})`);
    assert.equal(tf.engine().backend.numDataIds(), before, 'backend buffers');
    assert.equal(tf.memory().numTensors, tensors, 'tensors');
    x.dispose();
  } finally {
    model.dispose();
  }
});
