/**
 * End to end through `main()` on a tiny generated cohort (24 patients, 64 px maps), tiny inputs and
 * epochs (`--input-size`, `--epochs-scale`): every command writes its table with the right rows
 * and columns, and its figures.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { main } from '../../src/cli/main.js';
import { EXPERIMENT_CSV_COLUMNS } from '../../src/train/experiment-table.js';
import { TRIAL_COLUMNS } from '../../src/workflows/tune.js';
import { hyperbandPlan } from '../../src/train/hyperband.js';
import { convDepthToUnfreeze } from '../../src/workflows/experiment.js';
import { getBackbone } from '../../src/models/table.js';

let root = '';
let manifest = '';
const quiet = ['--quiet'];

async function run(args: string[]): Promise<{ rc: number; err: string }> {
  const chunks: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => {
    chunks.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  try {
    return { rc: await main(args), err: chunks.join('') };
  } finally {
    process.stderr.write = orig;
  }
}

async function table(path: string): Promise<Record<string, string>[]> {
  return parse(await readFile(path, 'utf8'), { columns: true }) as Record<string, string>[];
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'polarcad-exp-'));
  const r = await run([
    'synth',
    '--out',
    join(root, 'cohort'),
    '--patients',
    '24',
    '--map-size',
    '64',
    '--seed',
    '5',
    '--workers',
    '1',
  ]);
  assert.equal(r.rc, 0, r.err);
  manifest = join(root, 'cohort', 'manifest.csv');
});

test('experiment strategies: six rows, Table 4 columns, curves, run dirs (MobileNetV2, embedded weights, 64 px)', async () => {
  const out = join(root, 'strategies');
  const r = await run([
    'experiment',
    'strategies',
    manifest,
    '--backbone',
    'MobileNetV2',
    '--out',
    out,
    '--input-size',
    '64',
    '--epochs-scale',
    '0.01',
    '--train-workers',
    '2',
    ...quiet,
  ]);
  assert.equal(r.rc, 0, r.err);
  const rows = await table(join(out, 'strategies.csv'));
  assert.deepEqual(Object.keys(rows[0]), [...EXPERIMENT_CSV_COLUMNS]);
  assert.deepEqual(
    rows.map((x) => x.name),
    ['1-scratch', '2-imagenet-all', '3-freeze-200', '4-warmup', '5-finetune', '6-two-stage'],
  );
  for (const x of rows) {
    for (const k of ['accuracy', 'specificity', 'sensitivity'])
      assert.ok(Number(x[k]) >= 0 && Number(x[k]) <= 1, `${x.name} ${k}=${x[k]}`);
    assert.ok(Number(x.train_seconds) > 0);
    // 95% intervals around the point values (Wilson; bootstrap for AUC)
    for (const k of ['accuracy', 'auc'])
      assert.ok(
        Number(x[`${k}_lo`]) <= Number(x[k]) && Number(x[k]) <= Number(x[`${k}_hi`]),
        `${x.name} ${k} ${x[k]} in [${x[`${k}_lo`]}, ${x[`${k}_hi`]}]`,
      );
    assert.ok(
      existsSync(join(out, x.run_dir, 'history.csv')) &&
        existsSync(join(out, x.run_dir, 'training-curves.svg')) &&
        existsSync(join(out, x.run_dir, 'metrics.json')),
    );
  }
  // trainable parameters per strategy (MobileNetV2 + 256-unit head; Hai et al. Table 2: 740,610 at fine-tuning)
  const t = Object.fromEntries(rows.map((x) => [x.name, Number(x.trainable_params)]));
  const head = 1280 * 256 + 256 + 257 * 2; // 328,450
  assert.equal(t['4-warmup'], head);
  assert.equal(t['3-freeze-200'], head); // 154 layers <= 200: all frozen
  assert.equal(t['5-finetune'], 740_610);
  assert.equal(t['6-two-stage'], 740_610);
  // all layers: 2,257,984 backbone params minus 34,112 BN moving statistics (Keras: 2,223,872 trainable) + head
  assert.equal(t['1-scratch'], 2_223_872 + head);
  assert.equal(t['2-imagenet-all'], 2_223_872 + head);
  assert.equal(rows.find((x) => x.name === '6-two-stage')?.epochs, 'warmup:1+finetune:1');
  const md = await readFile(join(out, 'strategies.md'), 'utf8');
  assert.match(
    md,
    /Accuracy % \| AUC \| Specificity % \| Sensitivity % \| Precision % \| F1 % \| Training time \(s\)/,
  );
  assert.match(md, /every backbone layer is frozen/);
  // BN: training mode for the scratch network only (default --bn-training scratch), on 2 workers
  assert.match(
    md,
    /strategy 1 \(scratch\): BatchNormalization in training mode: statistics of up to 8 examples per forward call \(micro-batch 8, 2 workers\)/,
  );
  assert.match(md, /strategy 2 \(imagenet-all\): BatchNormalization in inference mode/);
  const scratchCfg = JSON.parse(await readFile(join(out, 'runs', 'scratch', 'config.json'), 'utf8')) as {
    stages: { trainBn: boolean }[];
  };
  assert.deepEqual(
    scratchCfg.stages.map((x) => x.trainBn),
    [true],
  );
  for (const f of ['strategies-curves-accuracy', 'strategies-curves-loss']) {
    assert.match(await readFile(join(out, `${f}.svg`), 'utf8'), /<svg/);
    assert.ok(existsSync(join(out, `${f}.png`)));
  }
  // the selection set is never the test set
  const cfg = JSON.parse(await readFile(join(out, 'runs', 'two-stage', 'config.json'), 'utf8')) as {
    split: { validation: string[]; test: string[] };
  };
  assert.equal(cfg.split.validation.filter((id) => cfg.split.test.includes(id)).length, 0);
});

test('experiment backbones: absent weights are skipped with a note, available ones trained', async () => {
  const out = join(root, 'backbones');
  const r = await run([
    'experiment',
    'backbones',
    manifest,
    '--backbones',
    'MobileNetV2,VGG16',
    '--out',
    out,
    '--input-size',
    '64',
    '--epochs-scale',
    '0.01',
    ...quiet,
  ]);
  assert.equal(r.rc, 0, r.err);
  const rows = await table(join(out, 'backbones.csv'));
  assert.deepEqual(
    rows.map((x) => x.name),
    ['MobileNetV2', 'VGG16'],
  );
  assert.ok(Number(rows[0].accuracy) >= 0 && rows[0].accuracy !== '');
  // VGG16's ImageNet file is not on this machine (no ~/.keras): skipped, metrics empty
  assert.equal(rows[1].accuracy, '');
  assert.match(
    rows[1].note,
    /skipped: no ImageNet weights .*vgg16_weights_tf_dim_ordering_tf_kernels_notop\.h5/,
  );
  assert.ok(existsSync(join(out, 'backbones-curves-accuracy.svg')));
});

test('experiment finetune-depth: refuses without VGG16 weights; with --weights none one row per depth', async () => {
  const out = join(root, 'depth');
  const refused = await run(['experiment', 'finetune-depth', manifest, '--out', out, ...quiet]);
  assert.equal(refused.rc, 2);
  assert.match(refused.err, /no ImageNet weights for VGG16.*--weights none/s);
  assert.ok(!existsSync(out));
  const r = await run([
    'experiment',
    'finetune-depth',
    manifest,
    '--out',
    out,
    '--weights',
    'none',
    '--depths',
    '0,1,16',
    '--input-size',
    '32',
    '--epochs-scale',
    '0.01',
    ...quiet,
  ]);
  assert.equal(r.rc, 0, r.err);
  const rows = await table(join(out, 'finetune-depth.csv'));
  assert.deepEqual(
    rows.map((x) => x.name),
    ['conv-0', 'conv-1', 'conv-16'],
  );
  // Apostolopoulos head: 512*500+500 + 500*250+250 + 250*2+2 = 382,252 trainable at depth 0;
  // + block5_conv3 (3*3*512*512+512 = 2,359,808) at depth 1; all 14,714,688 VGG16 params at 16 (13 conv layers)
  assert.equal(Number(rows[0].trainable_params), 382_252);
  assert.equal(Number(rows[1].trainable_params), 382_252 + 2_359_808);
  assert.equal(Number(rows[2].trainable_params), 382_252 + 14_714_688);
  assert.match(
    await readFile(join(out, 'finetune-depth.md'), 'utf8'),
    /has 13 convolutional layers; all 13 trainable/,
  );
  const cfg = JSON.parse(await readFile(join(out, 'runs', 'conv-1', 'config.json'), 'utf8')) as {
    input: string;
  };
  assert.equal(cfg.input, 'tile2x2');
});

test('convDepthToUnfreeze on VGG16: top n conv layers -> layers from that conv layer up', () => {
  const b = getBackbone('VGG16').build({ inputShape: [32, 32, 3] });
  // VGG16 notop layers: ..., block5_conv1 (15), block5_conv2 (16), block5_conv3 (17), block5_pool (18); 19 layers
  assert.deepEqual(convDepthToUnfreeze(b, 0), { k: 0, convLayers: 13, trainableConv: 0 });
  assert.deepEqual(convDepthToUnfreeze(b, 1), { k: 2, convLayers: 13, trainableConv: 1 });
  assert.deepEqual(convDepthToUnfreeze(b, 3), { k: 4, convLayers: 13, trainableConv: 3 });
  assert.deepEqual(convDepthToUnfreeze(b, 4), { k: 6, convLayers: 13, trainableConv: 4 }); // block4_conv3 at 13, block4_pool at 14
  assert.equal(convDepthToUnfreeze(b, 16).k, 18); // every layer but the input
  b.dispose();
});

test('tune: trial table with the planned trials, best.json scored on validation, figure', async () => {
  const out = join(root, 'tune');
  const r = await run([
    'tune',
    manifest,
    '--backbone',
    'MobileNetV2',
    '--out',
    out,
    '--input-size',
    '64',
    '--max-epochs',
    '9',
    '--lr-exponent',
    '3,4',
    ...quiet,
  ]);
  assert.equal(r.rc, 0, r.err);
  const trials = await table(join(out, 'trials.csv'));
  assert.deepEqual(Object.keys(trials[0]), [...TRIAL_COLUMNS]);
  const planned = hyperbandPlan(9, 3).reduce((a, b) => a + b.n.reduce((x, y) => x + y, 0), 0); // 9+3+1 + 5+1 + 3 = 22
  assert.equal(planned, 22);
  assert.equal(trials.length, planned);
  assert.ok(
    trials.every((t) => ['64', '128', '256', '512'].includes(t.units) && ['3', '4'].includes(t.lr_exponent)),
  );
  const best = JSON.parse(await readFile(join(out, 'best.json'), 'utf8')) as {
    scoredOn: string;
    validation: { accuracy: number };
    config: { units: number };
    split: { test: number };
  };
  assert.equal(best.scoredOn, 'validation');
  assert.equal(best.validation.accuracy, Math.max(...trials.map((t) => Number(t.val_accuracy))));
  assert.ok(best.split.test > 0);
  assert.match(await readFile(join(out, 'hyperband.svg'), 'utf8'), /<svg/);
  assert.match(await readFile(join(out, 'summary.txt'), 'utf8'), /test \(held out, never used\)/);
});

test('bad options are InputErrors naming the option', async () => {
  const a = await run([
    'experiment',
    'strategies',
    manifest,
    '--out',
    join(root, 'x'),
    '--strategies',
    '9',
    ...quiet,
  ]);
  assert.equal(a.rc, 2);
  assert.match(a.err, /--strategies: unknown strategy "9"/);
  const d = await run([
    'experiment',
    'strategies',
    manifest,
    '--out',
    join(root, 'w'),
    '--bn-training',
    'imagenet',
    ...quiet,
  ]);
  assert.equal(d.rc, 2);
  assert.match(d.err, /--bn-training: unknown strategy "imagenet"/);
  const e = await run([
    'experiment',
    'strategies',
    manifest,
    '--out',
    join(root, 'v'),
    '--train-workers',
    '0',
    ...quiet,
  ]);
  assert.equal(e.rc, 2);
  assert.match(e.err, /--train-workers/);
  const b = await run([
    'tune',
    manifest,
    '--backbone',
    'MobileNetV2',
    '--out',
    join(root, 'y'),
    '--eta',
    '1',
    ...quiet,
  ]);
  assert.equal(b.rc, 2);
  assert.match(b.err, /--eta/);
  const c = await run([
    'experiment',
    'strategies',
    manifest,
    '--out',
    join(root, 'z'),
    '--input',
    'polar',
    ...quiet,
  ]);
  assert.match(c.err, /--input: must be one of stress_ac, tile2x2, ac, nac/);
});
