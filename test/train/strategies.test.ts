import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '../../src/models/layers/keras-layers.js';
import { addHaiHead, HAI_HEAD_LAYERS } from '../../src/models/heads.js';
import { getBackbone } from '../../src/models/table.js';
import { countParams } from '../../src/models/unfreeze.js';
import {
  applyStageTrainability,
  parseStrategies,
  planStrategy,
  STRATEGY_IDS,
} from '../../src/train/strategies.js';
import {
  experimentCsv,
  experimentMarkdown,
  EXPERIMENT_CSV_COLUMNS,
} from '../../src/train/experiment-table.js';
import { parse } from 'csv-parse/sync';

/**
 * Independent count of the trainable parameters when backbone layers with index >= `from` are
 * trainable, plus the head: every weight of those layers except BN moving statistics, summed from
 * the weight shapes (not through tfjs' trainable flags that countParams reads).
 */
function expectedTrainable(model: tf.LayersModel, from: number): number {
  let n = 0;
  model.layers.forEach((layer, i) => {
    if (i < from || layer.getClassName() === 'Normalization') return; // Keras: Normalization statistics are never trainable
    for (const w of layer.weights) {
      if (/moving_(mean|variance)/.test(w.originalName)) continue;
      n += w.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
    }
  });
  return n;
}

const CTX_BASE = { finetuneBnPolicy: 'follow' as const, lrExponent: 3 };

test('strategy plans: stages, learning rates, epochs (scaled), weights', () => {
  const ctx = { ...CTX_BASE, backboneLayers: 154, finetuneDepth: 20 };
  const p = Object.fromEntries(STRATEGY_IDS.map((id) => [id, planStrategy(id, ctx)]));
  assert.deepEqual(
    STRATEGY_IDS.map((id) => p[id].number),
    [1, 2, 3, 4, 5, 6],
  );
  assert.equal(p.scratch.weights, 'none');
  assert.ok(STRATEGY_IDS.filter((id) => id !== 'scratch').every((id) => p[id].weights === 'imagenet'));
  assert.deepEqual(
    p.scratch.stages.map((s) => [s.kind, s.epochs, s.lrExponent, s.unfreeze]),
    [['full', 100, 3, 154]],
  );
  assert.deepEqual(
    p['two-stage'].stages.map((s) => [s.kind, s.epochs, s.lrExponent, s.unfreeze]),
    [
      ['warmup', 100, 3, 0],
      ['finetune', 30, 5, 20],
    ],
  );
  assert.deepEqual(
    p.finetune.stages.map((s) => [s.epochs, s.lrExponent, s.unfreeze]),
    [[30, 5, 20]],
  );
  // MobileNetV2 (154 layers <= 200): strategy 3 freezes the whole backbone, and says so
  assert.equal(p['freeze-200'].stages[0].unfreeze, 0);
  assert.match(p['freeze-200'].note ?? '', /154 layers/);
  // a 564-layer backbone (ResNet152V2): 364 trainable top layers
  assert.equal(planStrategy('freeze-200', { ...ctx, backboneLayers: 564 }).stages[0].unfreeze, 364);
  // --epochs-scale 0.1: 100 -> 10, 30 -> 3; never below 1
  const s = planStrategy('two-stage', { ...ctx, epochsScale: 0.1 });
  assert.deepEqual(
    s.stages.map((x) => x.epochs),
    [10, 3],
  );
  assert.deepEqual(
    planStrategy('two-stage', { ...ctx, epochsScale: 0.001 }).stages.map((x) => x.epochs),
    [1, 1],
  );
  assert.throws(() => planStrategy('scratch', { ...ctx, epochsScale: 0 }), /epochs-scale/);
  // BN in training mode: the scratch network only by default; overridable per plan
  assert.deepEqual(
    STRATEGY_IDS.map((id) => p[id].stages.every((x) => x.trainBn)),
    [true, false, false, false, false, false],
  );
  assert.ok(planStrategy('imagenet-all', { ...ctx, bnTraining: true }).stages[0].trainBn);
  assert.ok(!planStrategy('scratch', { ...ctx, bnTraining: false }).stages[0].trainBn);
});

test('parseStrategies: numbers, names, all; unknown names are InputErrors', () => {
  assert.deepEqual(parseStrategies('all'), [...STRATEGY_IDS]);
  assert.deepEqual(parseStrategies('1,6,warmup'), ['scratch', 'two-stage', 'warmup']);
  assert.throws(() => parseStrategies('7'), /unknown strategy "7"/);
  assert.throws(() => parseStrategies(' , '), /--strategies: no strategy/);
  assert.throws(() => parseStrategies('x', '--bn-training'), /--bn-training: unknown strategy "x"/);
});

test('trainable counts per strategy are what the strategy says (MobileNetV2 and EfficientNetB0, small inputs)', () => {
  for (const name of ['MobileNetV2', 'EfficientNetB0']) {
    const spec = getBackbone(name);
    const backbone = spec.build({ inputShape: [32, 32, 3] });
    const model = addHaiHead(backbone, { units: 16 });
    const L = backbone.layers.length;
    const total = model.countParams();
    const bnStats = model.layers
      .flatMap((l) =>
        l.getClassName() === 'Normalization'
          ? l.weights
          : l.weights.filter((w) => /moving_(mean|variance)/.test(w.originalName)),
      )
      .reduce((a, w) => a + w.shape.reduce<number>((x, y) => x * (y ?? 1), 1), 0);
    const head = expectedTrainable(model, L);
    // head = GAP(none) + Dense(C*16+16) + Dropout + Dense(17*2)
    assert.equal(head, spec.featureWidth * 16 + 16 + 17 * 2);
    const k = 12;
    const ctx = { ...CTX_BASE, backboneLayers: L, finetuneDepth: k };
    for (const id of STRATEGY_IDS) {
      const plan = planStrategy(id, ctx);
      const last = plan.stages[plan.stages.length - 1];
      applyStageTrainability(model, last, HAI_HEAD_LAYERS);
      const got = countParams(model);
      let want: number;
      if (id === 'scratch' || id === 'imagenet-all')
        want = total - bnStats; // everything but BN moving statistics and Normalization's mean/variance/count
      else if (id === 'freeze-200')
        want = expectedTrainable(model, Math.min(200, L)); // the head stays trainable
      else if (id === 'warmup') want = head;
      else want = expectedTrainable(model, L - k);
      assert.equal(got.trainable, want, `${name} ${id}`);
      assert.equal(got.trainable + got.nonTrainable, total);
    }
    if (L > 200)
      assert.ok(expectedTrainable(model, 200) > head, `${name}: layers 200..${L - 1} have weights`);
    model.dispose();
  }
});

test('experiment table: CSV columns and rows, skipped rows kept, Markdown in percent', () => {
  const rows = [
    {
      name: 'warmup',
      description: 'Warm-up only',
      metrics: { accuracy: 0.75, auc: 0.8125, specificity: 0.5, sensitivity: 1, precision: 2 / 3, f1: 0.8 },
      intervals: { accuracy: { lo: 0.409, hi: 0.929 }, auc: { lo: 0.5, hi: 1 } },
      trainSeconds: 12.345,
      trainable: 100,
      epochs: 'warmup:10',
      runDir: 'runs/warmup',
    },
    { name: 'VGG16', description: 'VGG16', note: 'skipped: no weights' },
  ];
  const csv = parse(experimentCsv(rows), { columns: true }) as Record<string, string>[];
  assert.deepEqual(Object.keys(csv[0]), [...EXPERIMENT_CSV_COLUMNS]);
  assert.equal(csv.length, 2);
  assert.equal(csv[0].accuracy, '0.75');
  assert.equal(csv[0].train_seconds, '12.35');
  assert.deepEqual(
    [csv[0].accuracy_lo, csv[0].accuracy_hi, csv[0].auc_lo, csv[0].f1_lo],
    ['0.409', '0.929', '0.5', ''],
  );
  assert.equal(csv[1].accuracy, '');
  assert.equal(csv[1].note, 'skipped: no weights');
  const md = experimentMarkdown(rows, 'Strategies', ['a note']);
  assert.match(
    md,
    /\| warmup \| Warm-up only \| 75\.0 \[40\.9, 92\.9\] \| 0\.813 \[0\.500, 1\.000\] \| 50\.0 \| 100\.0 \| 66\.7 \| 80\.0 \| 12\.3 \| warmup:10 \|/,
  );
  assert.match(md, /\| VGG16 \| VGG16 \| — \|/);
  assert.match(md, /- brackets: 95% intervals .*\n- a note\n$/);
});
