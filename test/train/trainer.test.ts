/**
 * The trainer on a tiny generated task (test/train/helpers.ts): what each stage freezes, the
 * learning rates, selection on validation only, learning, determinism and exact resume.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../../src/engine/backend.js';
import { Adam } from '../../src/train/adam.js';
import { bestEpochIndex, isBetter } from '../../src/train/selection.js';
import {
  applyWeights,
  predict,
  TrainingSetup,
  trainStages,
  type Example,
  type StageSpec,
  type TrainResult,
} from '../../src/train/trainer.js';
import { makeExamples, SIZE, tinyClassifier } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

const STAGES: StageSpec[] = [
  { name: 'warmup', epochs: 12, lr: 1e-2, unfreeze: 0 },
  { name: 'finetune', epochs: 4, lr: 1e-4, unfreeze: 3 },
];

function setup(): TrainingSetup {
  return new TrainingSetup({ backboneName: 'tiny', inputSize: SIZE, scaling: 'unit', layout: 'image' });
}

async function run(
  extra: Partial<Parameters<typeof trainStages>[0]> = {},
  stages = STAGES,
): Promise<TrainResult> {
  const { model, headLayers } = tinyClassifier(1);
  const s = setup();
  try {
    return await trainStages({
      setup: s,
      model,
      headLayers,
      train: makeExamples(32, 1),
      validation: makeExamples(12, 2, 'v'),
      stages,
      batchSize: 8,
      seed: 3,
      ...extra,
    });
  } finally {
    await s.dispose();
    model.dispose();
  }
}

describe('Adam', () => {
  test('three steps match the Keras formula computed in float64', () => {
    // reference: m,v recursions and lr_t = lr*sqrt(1-b2^t)/(1-b1^t), Keras optimizers/adam.py
    const w = tf.variable(tf.tensor1d([1, -2]));
    const adam = new Adam([{ key: 'w', variable: w, lr: 0.1 }]);
    const grads = [
      [0.5, -1],
      [0.25, 2],
      [-1, 0.1],
    ];
    const ref = [1, -2];
    const m = [0, 0];
    const v = [0, 0];
    grads.forEach((g, t) => {
      adam.applyGradients({ [w.name]: tf.tensor1d(g) });
      const lrT = (0.1 * Math.sqrt(1 - 0.999 ** (t + 1))) / (1 - 0.9 ** (t + 1));
      for (let i = 0; i < 2; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
        ref[i] -= (lrT * m[i]) / (Math.sqrt(v[i]) + 1e-7);
      }
    });
    const got = w.dataSync();
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(got[i] - ref[i]) < 1e-6, `w[${i}] ${got[i]} vs ${ref[i]}`);
    adam.dispose();
  });

  test('a restored state continues bit for bit', () => {
    const make = (): { w: tf.Variable; adam: Adam } => {
      const w = tf.variable(tf.tensor1d([0.3, 0.7, -1]));
      return { w, adam: new Adam([{ key: 'w', variable: w, lr: 0.01 }]) };
    };
    const a = make();
    const b = make();
    for (let k = 0; k < 3; k++) {
      a.adam.applyGradients({ [a.w.name]: tf.tensor1d([k + 1, -k, 0.5]) });
      b.adam.applyGradients({ [b.w.name]: tf.tensor1d([k + 1, -k, 0.5]) });
    }
    const saved = b.adam.getState();
    const c = make();
    c.w.assign(b.w);
    c.adam.setState(saved);
    for (let k = 3; k < 6; k++) {
      a.adam.applyGradients({ [a.w.name]: tf.tensor1d([k + 1, -k, 0.5]) });
      c.adam.applyGradients({ [c.w.name]: tf.tensor1d([k + 1, -k, 0.5]) });
    }
    assert.deepEqual(Array.from(c.w.dataSync()), Array.from(a.w.dataSync()));
    assert.equal(c.adam.iterations, 6);
  });
});

describe('best-epoch selection', () => {
  test('higher accuracy wins; ties go to lower loss, then the earlier epoch', () => {
    assert.equal(isBetter({ accuracy: 0.8, loss: 0.9 }, { accuracy: 0.7, loss: 0.1 }), true);
    assert.equal(isBetter({ accuracy: 0.8, loss: 0.4 }, { accuracy: 0.8, loss: 0.5 }), true);
    assert.equal(isBetter({ accuracy: 0.8, loss: 0.5 }, { accuracy: 0.8, loss: 0.5 }), false);
    assert.equal(isBetter({ accuracy: NaN, loss: 0 }, { accuracy: 0.1, loss: 9 }), false);
    const scores = [
      { accuracy: 0.5, loss: 0.7 },
      { accuracy: 0.75, loss: 0.6 },
      { accuracy: 0.75, loss: 0.5 },
      { accuracy: 0.75, loss: 0.5 },
      { accuracy: 0.7, loss: 0.1 },
    ];
    assert.equal(bestEpochIndex(scores), 2);
  });
});

describe('trainStages', () => {
  test('each stage trains exactly its part, at its learning rate, and the model is left as found', async () => {
    const { model, headLayers } = tinyClassifier(1);
    const before = model.getWeights().map((w) => w.dataSync().slice());
    const trainableBefore = model.layers.map((l) => l.trainable);
    const s = setup();
    const requested: string[] = [];
    const orig = s.features.bind(s);
    s.features = (m, cut, ex, p) => {
      requested.push(...ex.map((e) => e.id));
      return orig(m, cut, ex, p);
    };
    const r = await trainStages({
      setup: s,
      model,
      headLayers,
      train: makeExamples(32, 1),
      validation: makeExamples(12, 2, 'v'),
      stages: [
        ...STAGES.slice(0, 1),
        { ...STAGES[1], layerLr: [{ layers: '^conv2$', lr: 5e-4 }], startAsCandidate: false },
      ],
      batchSize: 8,
      seed: 3,
    });
    // warm-up: head only. Hai head on 8 channels, 8 units: 8*8+8 + (8+1)*2 = 90 trainable
    const [w, f] = r.stages;
    assert.equal(w.trainableParams, 90);
    assert.equal(w.firstTrainableLayer, 'dense');
    assert.deepEqual(w.cut, ['global_average_pooling2d']);
    assert.deepEqual(w.learningRates, [{ lr: 1e-2, variables: 4 }]);
    // fine-tune: top 3 backbone layers (relu2, bn2, conv2): conv 3*3*8*8+8 = 584, BN gamma+beta 16 -> 600 + 90
    assert.equal(f.trainableParams, 690);
    assert.equal(f.firstTrainableLayer, 'conv2');
    assert.deepEqual(f.cut, ['relu1']);
    // conv2 kernel+bias at the group LR, bn2 gamma/beta and the head at the stage LR
    assert.deepEqual(
      f.learningRates.sort((a, b) => a.lr - b.lr),
      [
        { lr: 1e-4, variables: 6 },
        { lr: 5e-4, variables: 2 },
      ],
    );
    // the trained values cover conv2 and up, not conv1 / bn1; BN moving statistics untouched (inference mode)
    assert.ok(r.weights.has('conv2/kernel'));
    assert.ok(!r.weights.has('conv1/kernel'));
    const bn2 = model.getLayer('bn2');
    const movingMean = bn2.weights.find((x) => x.originalName.endsWith('moving_mean'));
    assert.deepEqual(
      Array.from(r.weights.get('bn2/moving_mean') as Float32Array),
      Array.from(movingMean?.read().dataSync() ?? []),
    );
    assert.notDeepEqual(
      Array.from(r.weights.get('conv2/kernel') as Float32Array),
      Array.from(model.getLayer('conv2').getWeights()[0].dataSync()),
    );
    // the model itself is back to its initial weights and trainability
    model.getWeights().forEach((x, i) => assert.deepEqual(x.dataSync(), before[i]));
    assert.deepEqual(
      model.layers.map((l) => l.trainable),
      trainableBefore,
    );
    // selection only ever saw training and validation examples
    assert.ok(requested.every((id) => id.startsWith('p') || id.startsWith('v')));
    assert.ok(r.selectionIds.every((id) => id.startsWith('v')));
    await s.dispose();
    model.dispose();
  });

  test('learns a separable generated task to high accuracy on unseen examples', async () => {
    const { model, headLayers } = tinyClassifier(2);
    const s = setup();
    const r = await trainStages({
      setup: s,
      model,
      headLayers,
      train: makeExamples(48, 4),
      validation: makeExamples(16, 5, 'v'),
      stages: [
        { name: 'warmup', epochs: 40, lr: 3e-2, unfreeze: 0 },
        { name: 'finetune', epochs: 10, lr: 1e-3, unfreeze: 3 },
      ],
      batchSize: 8,
      seed: 1,
    });
    applyWeights(model, r.weights);
    const test: Example[] = makeExamples(40, 77, 't');
    const p = await predict(s, model, headLayers, r.lastStart, test);
    const acc = test.filter((e, i) => (p[i] > 0.5 ? 1 : 0) === e.label).length / test.length;
    assert.ok(acc >= 0.95, `test accuracy ${acc}`);
    assert.ok(r.validation.accuracy >= 0.9, `validation accuracy ${r.validation.accuracy}`);
    await s.dispose();
    model.dispose();
  });

  test('same seed, same history and weights; another seed differs', async () => {
    const a = await run();
    const b = await run();
    assert.deepEqual(
      a.history.map(({ seconds: _s, ...r }) => r),
      b.history.map(({ seconds: _s, ...r }) => r),
    );
    for (const [k, v] of a.weights) assert.deepEqual(v, b.weights.get(k), k);
    const c = await run({ seed: 4 });
    assert.notDeepEqual(
      a.history.map((r) => r.loss),
      c.history.map((r) => r.loss),
    );
  });

  test('an interrupted run resumed from its checkpoints equals an uninterrupted one', async () => {
    const full = await run();
    const dir = await mkdtemp(join(tmpdir(), 'polarcad-train-resume-'));
    // stop in the middle of the fine-tune stage's 2nd epoch: 12 warm-up epochs x 4 batches + 5 batches
    let batches = 0;
    const first = await run({ checkpointDir: dir, shouldStop: () => ++batches === 12 * 4 + 5 });
    assert.equal(first.interrupted, true);
    assert.deepEqual((await readdir(dir)).sort(), ['finetune.ckpt', 'warmup.ckpt']);
    const resumed = await run({ checkpointDir: dir });
    assert.equal(resumed.interrupted, false);
    assert.equal(resumed.stages[0].resumed, true);
    assert.deepEqual(
      resumed.history.map(({ seconds: _s, ...r }) => r),
      full.history.map(({ seconds: _s, ...r }) => r),
    );
    for (const [k, v] of full.weights) assert.deepEqual(resumed.weights.get(k), v, k);
  });

  test('patience stops a stage early and the epochs run are recorded', async () => {
    // lr 1e-15: the updates are below float32 resolution, so the validation score never improves after epoch 1
    const r = await run({}, [{ name: 'warmup', epochs: 30, lr: 1e-15, unfreeze: 0, patience: 2 }]);
    const st = r.stages[0];
    assert.equal(st.stoppedEarly, true);
    assert.ok(st.epochsRun < 30);
    assert.equal(r.history.length, st.epochsRun);
    assert.equal(st.bestEpoch, 1);
    assert.equal(st.epochsRun, 3);
  });
});

test('a later stage that never beats its starting weights on validation keeps them (epoch 0)', async () => {
  const { model, headLayers } = tinyClassifier(1);
  const s = setup();
  const common = {
    setup: s,
    model,
    headLayers,
    train: makeExamples(32, 1),
    validation: makeExamples(12, 2, 'v'),
    batchSize: 8,
    seed: 3,
  };
  // a fine-tune stage whose learning rate is far below float32 resolution cannot move from where it starts
  const still = { ...STAGES[1], lr: 1e-30 };
  const kept = await trainStages({ ...common, stages: [STAGES[0], still] });
  const warmOnly = await trainStages({ ...common, stages: [STAGES[0]] });
  assert.equal(kept.stages[1].bestEpoch, 0);
  // the same weights scored through the fine-tune sub-graph (another order of float32 operations)
  assert.equal(kept.validation.accuracy, warmOnly.validation.accuracy);
  assert.ok(Math.abs(kept.validation.loss - warmOnly.validation.loss) < 1e-6);
  for (const [k, v] of warmOnly.weights)
    assert.deepEqual(Array.from(kept.weights.get(k) as Float32Array), Array.from(v), k);
  // the strict per-stage rule keeps one of the stage's own epochs instead
  const strict = await trainStages({ ...common, stages: [STAGES[0], { ...still, startAsCandidate: false }] });
  assert.ok(strict.stages[1].bestEpoch >= 1);
  await s.dispose();
  model.dispose();
});
