/**
 * Micro-batch gradient accumulation returns the full-batch mean loss and gradients (within 1e-5
 * relative), on the wasm backend with the polarcad gradient kernels, without leaking tensors.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { registerWasmGradientKernels } from '../../src/engine/kernels/index.js';
import { accumulateGradients, planMicroBatch, DEFAULT_MAX_BYTES } from '../../src/engine/microbatch.js';
import { Rng } from '../../src/util/rng.js';

function randn(rng: Rng, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return tf.tensor(v, shape);
}

before(async () => {
  await initBackend('wasm');
  registerWasmGradientKernels();
});

/** A tiny CNN: conv 3x3 -> relu -> depthwise 3x3 stride 2 -> global mean -> dense -> mean BCE. */
function makeModel(rng: Rng): { vars: tf.Variable[]; loss: (inp: tf.Tensor[]) => tf.Scalar } {
  const k1 = tf.variable(randn(rng, [3, 3, 3, 4]).mul(0.3), true, 'mb_k1');
  const k2 = tf.variable(randn(rng, [3, 3, 4, 1]).mul(0.3), true, 'mb_k2');
  const w = tf.variable(randn(rng, [4, 1]).mul(0.5), true, 'mb_w');
  const loss = ([x, y]: tf.Tensor[]): tf.Scalar => {
    const h1 = tf.relu(tf.conv2d(x as tf.Tensor4D, k1 as tf.Tensor4D, 1, 'same'));
    const h2 = tf.depthwiseConv2d(h1, k2 as tf.Tensor4D, 2, 'same');
    const logits = tf.matMul(tf.mean(h2, [1, 2]), w as tf.Tensor2D);
    return tf.losses.sigmoidCrossEntropy(y, logits);
  };
  return { vars: [k1, k2, w], loss };
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    den = Math.max(den, Math.abs(y[i]));
  }
  return num / den;
}

test('micro-batches 3+3+2 and 1x8 give the full-batch loss and gradients', async () => {
  await tf.setBackend('wasm');
  const rng = new Rng(7);
  const { vars, loss } = makeModel(rng);
  const x = randn(rng, [8, 10, 10, 3]);
  const y = tf.tensor2d([1, 0, 1, 1, 0, 0, 1, 0], [8, 1]);
  const tensorsBefore = tf.memory().numTensors;

  const full = await accumulateGradients(loss, [x, y], 8, { microBatch: 8 });
  assert.equal(full.steps, 1);
  for (const micro of [3, 1]) {
    const acc = await accumulateGradients(loss, [x, y], 8, { microBatch: micro });
    assert.equal(acc.microBatch, micro);
    assert.equal(acc.steps, Math.ceil(8 / micro));
    assert.ok(
      Math.abs(acc.value.dataSync()[0] - full.value.dataSync()[0]) <
        1e-5 * Math.abs(full.value.dataSync()[0]),
    );
    assert.deepEqual(Object.keys(acc.grads).sort(), ['mb_k1', 'mb_k2', 'mb_w']);
    for (const k of Object.keys(full.grads)) {
      const d = maxRelDiff(acc.grads[k], full.grads[k]);
      assert.ok(d < 1e-5, `micro-batch ${micro}, ${k}: relative difference ${d}`);
    }
    tf.dispose([acc.value, ...Object.values(acc.grads)]);
  }
  tf.dispose([full.value, ...Object.values(full.grads)]);
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors leaked');
  tf.dispose([x, y, ...vars]);
});

test('a memory budget picks the micro-batch size', async () => {
  // floor(2 GiB / 300 MB) = 7 examples; budget below one example still runs one at a time.
  assert.equal(planMicroBatch(16, 300e6, DEFAULT_MAX_BYTES), 7);
  assert.equal(planMicroBatch(16, 300e6, 1e6), 1);
  assert.equal(planMicroBatch(4, 1e3, DEFAULT_MAX_BYTES), 4);
  assert.throws(() => planMicroBatch(0, 1, 1), /batch must be a positive integer/);

  const rng = new Rng(8);
  const { vars, loss } = makeModel(rng);
  const x = randn(rng, [6, 10, 10, 3]);
  const y = tf.tensor2d([1, 0, 1, 1, 0, 0], [6, 1]);
  // Explicit per-example estimate: a budget of 2.5 examples -> micro-batch 2, 3 steps.
  const planned = await accumulateGradients(loss, [x, y], 6, { bytesPerExample: 1000, maxBytes: 2500 });
  assert.equal(planned.microBatch, 2);
  assert.equal(planned.steps, 3);
  // Measured estimate (tf.profile of a one-example step) with a budget far below it -> 1 per step.
  const probed = await accumulateGradients(loss, [x, y], 6, { maxBytes: 1 });
  assert.equal(probed.microBatch, 1);
  assert.equal(probed.steps, 6);
  for (const k of Object.keys(planned.grads)) assert.ok(maxRelDiff(probed.grads[k], planned.grads[k]) < 1e-5);
  const bad = tf.zeros([5, 1]);
  await assert.rejects(accumulateGradients(loss, [x, bad], 6), /input 1 has first dimension 5/);
  bad.dispose();
  tf.dispose([planned.value, probed.value, ...Object.values(planned.grads), ...Object.values(probed.grads)]);
  tf.dispose([x, y, ...vars]);
});

test('the memory probe leaves BatchNormalization moving averages as they were', async () => {
  const rng = new Rng(9);
  const bn = tf.layers.batchNormalization({ name: 'mb_bn', momentum: 0.5 });
  const w = tf.variable(randn(rng, [3, 1]).mul(0.5), true, 'mb_bn_w');
  const loss = ([x, y]: tf.Tensor[]): tf.Scalar => {
    const h = bn.apply(x, { training: true }) as tf.Tensor;
    return tf.losses.sigmoidCrossEntropy(y, tf.matMul(tf.mean(h, [1, 2]), w as tf.Tensor2D));
  };
  const x = randn(rng, [4, 5, 5, 3]).add(2);
  const y = tf.tensor2d([1, 0, 1, 0], [4, 1]);
  tf.tidy(() => void bn.apply(tf.zeros([1, 5, 5, 3]))); // built (its averages exist) in inference mode
  // the probe runs on one example, then the planned (whole) batch once: one update, from the batch
  const r = await accumulateGradients(loss, [x, y], 4, { maxBytes: 1e12 });
  assert.equal(r.steps, 1);
  const batchMean = tf.mean(x, [0, 1, 2]).dataSync();
  const moving = bn.getWeights()[2].dataSync();
  // m = 0.5 * 0 + 0.5 * batch mean (a probe update would have left 0.5 * (0.5 * one-example mean) + ...)
  moving.forEach((v, c) =>
    assert.ok(Math.abs(v - 0.5 * batchMean[c]) < 1e-5, `channel ${c}: ${v} vs ${0.5 * batchMean[c]}`),
  );
  tf.dispose([r.value, ...Object.values(r.grads), x, y, w]);
  bn.dispose();
});
