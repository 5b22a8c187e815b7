/**
 * Data-parallel training over worker threads (src/train/parallel/): the same losses, accuracies
 * and weights as the single-thread trainer up to float rounding on 1 and 2 workers, the same
 * result for the same seed, BatchNormalization in training mode (statistics per shard, moving
 * averages folded as one thread would write them), a worker's failure surfacing as an error
 * (no hang), and no thread left behind.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { initBackend, tf } from '../../src/engine/backend.js';
import { shardBounds } from '../../src/train/parallel/protocol.js';
import {
  TrainingSetup,
  trainStages,
  type StageSpec,
  type TrainEvent,
  type TrainResult,
} from '../../src/train/trainer.js';
import { InputError } from '../../src/util/errors.js';
import { makeExamples, SIZE, tinyClassifier } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

// a head stage, then a stage that trains the second conv block too (BN frozen: inference mode);
// 13 training examples in batches of 5: uneven shards and a last batch of 3
const STAGES: StageSpec[] = [
  { name: 'warmup', epochs: 3, lr: 1e-2, unfreeze: 0 },
  { name: 'finetune', epochs: 2, lr: 1e-3, unfreeze: 3 },
];
const TRAIN = makeExamples(13, 1);
const VALIDATION = makeExamples(6, 2, 'v');

function newSetup(): TrainingSetup {
  return new TrainingSetup({ backboneName: 'tiny', inputSize: SIZE, scaling: 'unit', layout: 'image' });
}

async function run(
  workers: number | undefined,
  stages = STAGES,
  setup?: TrainingSetup,
  onEvent?: (e: TrainEvent) => void,
  batching: { batchSize: number; microBatch?: number } = { batchSize: 5 },
): Promise<TrainResult> {
  const { model, headLayers } = tinyClassifier(1);
  const s = setup ?? newSetup();
  try {
    return await trainStages({
      setup: s,
      model,
      headLayers,
      train: TRAIN,
      validation: VALIDATION,
      stages,
      ...batching,
      seed: 7,
      ...(workers !== undefined ? { workers } : {}),
      onEvent,
    });
  } finally {
    if (setup === undefined) await s.dispose();
    model.dispose();
  }
}

/** |a - b| <= tol * max(1, |b|) for every value. */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    assert.ok(d <= tol * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]} (diff ${d})`);
  }
}

function assertSameTraining(got: TrainResult, ref: TrainResult, tol: number): void {
  assert.equal(got.history.length, ref.history.length);
  got.history.forEach((r, i) => {
    const e = ref.history[i];
    const what = `${r.stage} epoch ${r.epoch}`;
    assert.equal(`${r.stage}/${r.epoch}`, `${e.stage}/${e.epoch}`);
    assertClose([r.loss, r.valLoss], [e.loss, e.valLoss], tol, `${what} losses`);
    assert.equal(r.accuracy, e.accuracy, `${what} accuracy`);
    assert.equal(r.valAccuracy, e.valAccuracy, `${what} val accuracy`);
  });
  assert.deepEqual(
    got.stages.map((s) => s.bestEpoch),
    ref.stages.map((s) => s.bestEpoch),
  );
  assert.deepEqual([...got.weights.keys()], [...ref.weights.keys()]);
  for (const [k, v] of ref.weights) assertClose(got.weights.get(k) as Float32Array, v, tol, k);
}

/** Threads of this process (Linux), or null where /proc is not there. */
function threadCount(): number | null {
  return existsSync('/proc/self/task') ? readdirSync('/proc/self/task').length : null;
}

test('shards are contiguous, cover the batch in order and differ in size by at most one', () => {
  assert.deepEqual(shardBounds(5, 2), [
    [0, 3],
    [3, 5],
  ]);
  assert.deepEqual(shardBounds(3, 4), [
    [0, 1],
    [1, 2],
    [2, 3],
    [3, 3],
  ]);
  assert.deepEqual(shardBounds(16, 1), [[0, 16]]);
});

describe('trainStages on worker threads', () => {
  let ref: TrainResult;
  before(async () => {
    ref = await run(undefined);
  });

  test('1 worker: the same losses, accuracies and weights as this thread', async () => {
    const got = await run(1);
    // the worker computes exactly what this thread computes (same kernels, same order)
    assertSameTraining(got, ref, 0);
    // the trainer learned something: the check is not comparing two untrained models
    const w0 = tinyClassifier(1).model.getLayer('dense_1').getWeights()[0].dataSync();
    const w1 = got.weights.get('dense_1/kernel') as Float32Array;
    assert.ok(
      w1.some((v, i) => Math.abs(v - w0[i]) > 1e-4),
      'the head trained',
    );
  });

  test('2 workers: the same within float rounding, and the same again for the same seed', async () => {
    const a = await run(2);
    assertSameTraining(a, ref, 1e-5);
    const b = await run(2);
    for (const [k, v] of a.weights) assert.deepEqual(b.weights.get(k), v, `${k}: bit for bit`);
    assert.deepEqual(
      b.history.map((r) => r.loss),
      a.history.map((r) => r.loss),
    );
  });

  test('every worker thread is gone when training ends, normally or by an error', async () => {
    const setup = newSetup();
    try {
      await run(undefined, STAGES.slice(0, 1), setup); // ONNX Runtime sessions made, features memoised
      const before = threadCount();
      let during = 0;
      await run(2, STAGES.slice(0, 1), setup, () => (during = Math.max(during, threadCount() ?? 0)));
      if (before !== null) {
        assert.ok(during >= before + 2, `2 worker threads while training (${before} -> ${during})`);
        assert.equal(threadCount(), before);
      }
      await assert.rejects(run(0, STAGES.slice(0, 1), setup), InputError);
      if (before !== null) assert.equal(threadCount(), before);
    } finally {
      await setup.dispose();
    }
  });
});

describe('BatchNormalization in training mode on worker threads', () => {
  // batches of 4 (13 examples: the last batch has 1): one thread in micro-batches of 2, two
  // workers with shards of 2, so every forward call sees the same examples on both paths
  const BN_STAGES: StageSpec[] = [STAGES[0], { ...STAGES[1], trainBn: true }];
  const BATCHING = { batchSize: 4, microBatch: 2 };
  const MOVING = /moving_(mean|variance)$/;
  let ref: TrainResult;
  before(async () => {
    ref = await run(undefined, BN_STAGES, undefined, undefined, BATCHING);
  });

  test('the stage trained BN in training mode: its moving averages moved', async () => {
    const frozen = await run(undefined, [STAGES[0], STAGES[1]], undefined, undefined, BATCHING);
    const keys = [...ref.weights.keys()].filter((k) => MOVING.test(k));
    assert.ok(keys.length >= 2, `moving averages among the kept weights (${keys.join(', ')})`);
    for (const k of keys) {
      const a = ref.weights.get(k) as Float32Array;
      const b = frozen.weights.get(k) as Float32Array;
      assert.ok(
        a.some((v, i) => Math.abs(v - b[i]) > 1e-4),
        `${k} differs from inference mode`,
      );
    }
  });

  test('1 and 2 workers: the same losses, accuracies, weights and moving averages as this thread', async () => {
    assertSameTraining(await run(1, BN_STAGES, undefined, undefined, BATCHING), ref, 1e-6);
    assertSameTraining(await run(2, BN_STAGES, undefined, undefined, BATCHING), ref, 1e-5);
  });
});

test('a bad worker count is refused', async () => {
  await assert.rejects(run(0), /training workers must be an integer in \[1, 256\], got 0/);
  await assert.rejects(run(1.5), InputError);
});

/** A layer class this test registers in the main thread only: the workers cannot rebuild it. */
class MainThreadOnly extends tf.layers.Layer {
  static readonly className = 'MainThreadOnly';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return Array.isArray(inputs) ? inputs[0] : inputs;
  }
}
tf.serialization.registerClass(MainThreadOnly);

test("a worker's failure is an error naming the worker, not a hang", async () => {
  const input = tf.input({ shape: [SIZE, SIZE, 3], name: 'input_1' });
  let x = new MainThreadOnly({ name: 'custom' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, strides: 2, name: 'conv1' })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 2, activation: 'softmax', name: 'out' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x });
  const setup = newSetup();
  const before = threadCount();
  try {
    await assert.rejects(
      trainStages({
        setup,
        model,
        headLayers: 2,
        train: TRAIN,
        validation: VALIDATION,
        stages: [STAGES[0]],
        batchSize: 5,
        seed: 1,
        workers: 2,
      }),
      /training worker [01]: .*MainThreadOnly/,
    );
    if (before !== null) assert.equal(threadCount(), before);
  } finally {
    await setup.dispose();
    model.dispose();
  }
});
