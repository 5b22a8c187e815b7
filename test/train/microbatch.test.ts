/**
 * Micro-batching in the trainer (gradient accumulation, src/engine/microbatch.ts): the same
 * training as whole batches, with the training accuracy computed (it used to be NaN), and a bad
 * micro-batch size refused.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/engine/backend.js';
import { InputError } from '../../src/util/errors.js';
import { TrainingSetup, trainStages, type StageSpec, type TrainResult } from '../../src/train/trainer.js';
import { makeExamples, SIZE, tinyClassifier } from './helpers.js';

before(async () => {
  await initBackend('wasm');
});

const STAGES: StageSpec[] = [
  { name: 'warmup', epochs: 4, lr: 1e-2, unfreeze: 0 },
  { name: 'finetune', epochs: 2, lr: 1e-3, unfreeze: 3 },
];

async function run(microBatch?: number): Promise<TrainResult> {
  const { model, headLayers } = tinyClassifier(1);
  const setup = new TrainingSetup({
    backboneName: 'tiny',
    inputSize: SIZE,
    scaling: 'unit',
    layout: 'image',
  });
  try {
    // 30 training examples, batches of 8: 8, 8, 8, 6; micro-batches of 3 split them 3+3+2 and 3+3
    return await trainStages({
      setup,
      model,
      headLayers,
      train: makeExamples(30, 1),
      validation: makeExamples(12, 2, 'v'),
      stages: STAGES,
      batchSize: 8,
      seed: 3,
      ...(microBatch !== undefined ? { microBatch } : {}),
    });
  } finally {
    await setup.dispose();
    model.dispose();
  }
}

describe('trainStages with micro-batches', () => {
  test('training accuracy is computed and equals the whole-batch run; losses agree to float rounding', async () => {
    const whole = await run();
    const micro = await run(3);
    assert.equal(micro.history.length, 6);
    for (const [i, r] of micro.history.entries()) {
      const ref = whole.history[i];
      assert.ok(Number.isFinite(r.accuracy), `${r.stage} ${r.epoch}: accuracy ${r.accuracy}`);
      // a count of correct examples over the 30 training examples
      assert.ok(
        Math.abs(r.accuracy * 30 - Math.round(r.accuracy * 30)) < 1e-9,
        `accuracy ${r.accuracy} is not k/30`,
      );
      // reference: the whole-batch path, which scores the batch's probabilities in one forward pass
      assert.equal(
        r.accuracy,
        ref.accuracy,
        `${r.stage} ${r.epoch}: train accuracy ${r.accuracy} vs whole batch ${ref.accuracy}`,
      );
      assert.ok(Math.abs(r.loss - ref.loss) < 1e-5, `${r.stage} ${r.epoch}: loss ${r.loss} vs ${ref.loss}`);
      assert.ok(
        Math.abs(r.valLoss - ref.valLoss) < 1e-5,
        `${r.stage} ${r.epoch}: val loss ${r.valLoss} vs ${ref.valLoss}`,
      );
    }
  });

  test('a micro-batch size that is not a positive integer is an InputError', async () => {
    await assert.rejects(
      () => run(0),
      (e: unknown) =>
        e instanceof InputError && /micro-batch size must be a positive integer, got 0/.test(e.message),
    );
    await assert.rejects(
      () => run(2.5),
      (e: unknown) => e instanceof InputError && /got 2\.5/.test(e.message),
    );
  });
});
