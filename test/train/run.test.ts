/**
 * `polarcad train` through `main()` on a tiny generated cohort (src/synth -> prepare): run
 * directory contents, protocol (LRs from the backbone table, Table 2 depth, split, selection on
 * validation), the saved model reproducing predictions.csv, --select-on test recorded, and errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { main } from '../../src/cli/main.js';
import { initBackend, tf } from '../../src/engine/backend.js';
import { prepareInput } from '../../src/engine/features.js';
import { prepare } from '../../src/ingest/prepare.js';
import { readImage } from '../../src/ingest/readers.js';
import { loadTfjsFolder } from '../../src/models/weights/tfjs-folder.js';
import { getColormap } from '../../src/polarmap/colormaps.js';
import { generateCohort, writeCohort } from '../../src/synth/index.js';
import { logit, sigmoid } from '../../src/evaluate/calibration.js';
import { loadPredictor } from '../../src/predict/predictor.js';
import { predictStudy } from '../../src/predict/study.js';
import { runTraining } from '../../src/workflows/train.js';

let dir = '';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => (
    (out += String(s)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => (
    (err += String(s)),
    true
  )) as typeof process.stderr.write;
  try {
    return { code: await main(args), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

const base = (out: string): string[] => [
  'train',
  join(dir, 'prep', 'manifest.csv'),
  '--model',
  'cnn',
  '--backbone',
  'MobileNetV2',
  '--weights',
  'none',
  '--input-size',
  '96',
  '--out',
  out,
  '--warmup-epochs',
  '4',
  '--finetune-epochs',
  '2',
  '--batch-size',
  '8',
  '--cache-dir',
  join(dir, 'cache'),
  '--quiet',
];

before(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'polarcad-train-cli-'));
  const cohort = generateCohort({ patients: 20, seed: 5, mapSize: 64, difficulty: 'easy' });
  await writeCohort(cohort, join(dir, 'raw'), {
    layout: 'single',
    format: 'png',
    colormap: getColormap('gray'),
    grid: false,
    canvas: 96,
  });
  await prepare(join(dir, 'raw', 'manifest.csv'), { out: join(dir, 'prep'), size: 64, views: ['stress_ac'] });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('polarcad train', () => {
  test('writes a complete run directory following the protocol', async () => {
    const out = join(dir, 'run');
    const r = await cli(base(out));
    assert.equal(r.code, 0, r.err);
    const files = await readdir(out);
    for (const f of [
      'config.json',
      'history.csv',
      'metrics.json',
      'predictions.csv',
      'summary.txt',
      'model.onnx',
      'model',
      'training-curves.svg',
      'training-curves.png',
    ]) {
      assert.ok(files.includes(f), `${f} missing (have ${files.join(', ')})`);
    }
    assert.ok(!files.includes('checkpoints'), 'checkpoints removed when the run completes');
    const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.status, 'complete');
    // MobileNetV2: a = 3 (Hai et al. Table 2) -> warm-up 1e-3, fine-tune 1e-5; Table 2 depth k = 3 under 'follow' (docs/backbones.md)
    assert.deepEqual(cfg.resolved.learningRates, { exponentA: 3, warmup: 1e-3, finetune: 1e-5 });
    assert.equal(cfg.resolved.unfreeze.k, 3);
    assert.equal(cfg.resolved.unfreeze.bnPolicy, 'follow');
    assert.equal(cfg.resolved.weights.source, 'random');
    // 20 patients: 4 test (20%), 16 -> 3 or 4 validation, the rest train; disjoint; selection on validation only
    const { train, validation, test: testIds } = cfg.resolved.split;
    assert.equal(testIds.length, 4);
    assert.equal(train.length + validation.length, 16);
    const all = new Set([...train, ...validation, ...testIds]);
    assert.equal(all.size, 20);
    assert.deepEqual([...cfg.selectionIds].sort(), [...validation].sort());
    assert.equal(cfg.resolved.selection.leaksTest, false);
    assert.match(cfg.resolved.manifest.sha256, /^[0-9a-f]{64}$/);
    // history: 4 warm-up + 2 fine-tune rows
    const hist = parse(await readFile(join(out, 'history.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    assert.deepEqual(
      hist.map((h) => `${h.stage}${h.epoch}`),
      ['warmup1', 'warmup2', 'warmup3', 'warmup4', 'finetune1', 'finetune2'],
    );
    assert.deepEqual([...new Set(hist.map((h) => Number(h.lr)))], [1e-3, 1e-5]);
    // metrics and predictions over the test patients
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    assert.equal(metrics.n, 4);
    const { tp, fp, tn, fn } = metrics.confusion;
    assert.equal(tp + fp + tn + fn, 4);
    assert.ok(
      metrics.accuracy.lo <= metrics.accuracy.estimate && metrics.accuracy.estimate <= metrics.accuracy.hi,
    );
    const preds = parse(await readFile(join(out, 'predictions.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    assert.deepEqual(preds.map((p) => p.patient_id).sort(), [...testIds].sort());
    assert.equal(
      preds.filter((p) => Number(p.predicted) === Number(p.label)).length / 4,
      metrics.accuracy.estimate,
    );
    // the saved tfjs model (full network, tfjs forward) reproduces the cached-feature predictions
    const model = await loadTfjsFolder(join(out, 'model'));
    const info = JSON.parse(await readFile(join(out, 'model', 'polarcad.json'), 'utf8'));
    assert.equal(info.inputSize, 96);
    for (const p of preds) {
      const img = await readImage(join(dir, 'prep', p.patient_id, 'stress_ac.png'));
      const x = tf.tensor(prepareInput(img, 0, 'image', 96, info.scaling), [1, 96, 96, 3]);
      const y = (model.predict(x) as tf.Tensor).dataSync();
      assert.ok(
        Math.abs(y[1] - Number(p.prob)) < 1e-3,
        `${p.patient_id}: model ${y[1]} vs predictions.csv ${p.prob}`,
      );
      x.dispose();
    }
    model.dispose();
    assert.match(await readFile(join(out, 'summary.txt'), 'utf8'), /best-epoch selection on: validation/);
  });

  test('--select-on test warns, and the leak is recorded in config.json and summary.txt', async () => {
    const out = join(dir, 'run-leak');
    const r = await cli([...base(out), '--select-on', 'test', '--finetune-epochs', '0']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /WARNING: --select-on test/);
    const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.resolved.selection.leaksTest, true);
    assert.deepEqual([...cfg.selectionIds].sort(), [...cfg.resolved.split.test].sort());
    assert.match(await readFile(join(out, 'summary.txt'), 'utf8'), /WARNING/);
    assert.equal(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).selectionLeaksTest, true);
  });

  test('--calibrate fits a temperature on validation only; the predictor applies it', async () => {
    const out = join(dir, 'run-calib');
    const r = await cli([...base(out), '--finetune-epochs', '0', '--calibrate']);
    assert.equal(r.code, 0, r.err);
    const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    const cal = JSON.parse(await readFile(join(out, 'calibration.json'), 'utf8'));
    const T = cal.temperature as number;
    assert.ok(Number.isFinite(T) && T > 0, `T = ${T}`);
    assert.equal(cal.fittedOn, 'validation');
    // fitted on exactly the carved validation patients, none of the test patients
    assert.deepEqual([...cal.ids].sort(), [...cfg.resolved.split.validation].sort());
    assert.equal(cal.n, cfg.resolved.split.validation.length);
    assert.ok(cal.ids.every((id: string) => !cfg.resolved.split.test.includes(id)));
    assert.ok(
      cal.nllAfter <= cal.nllBefore + 1e-12,
      'the fitted T cannot be worse than T = 1 on its own data',
    );
    assert.equal(cfg.calibrated, true);
    assert.equal(cfg.temperature, T);
    assert.match(
      await readFile(join(out, 'summary.txt'), 'utf8'),
      /calibration: temperature .* fitted on \d+ validation patients/,
    );
    // predictions.csv keeps prob and adds prob_calibrated = sigmoid(logit(prob) / T)
    const preds = parse(await readFile(join(out, 'predictions.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    for (const p of preds) {
      const want = sigmoid(logit(Number(p.prob)) / T);
      assert.ok(
        Math.abs(Number(p.prob_calibrated) - want) < 1e-9,
        `${p.patient_id}: ${p.prob_calibrated} vs ${want}`,
      );
    }
    // loadPredictor picks calibration.json up: its probability = sigmoid(logit(raw) / T)
    const predictor = await loadPredictor(out, { threads: 1 });
    try {
      assert.equal(predictor.temperature, T);
      const img = await readImage(join(dir, 'prep', preds[0].patient_id, 'stress_ac.png'));
      const { result } = await predictStudy(predictor, { maps: { stress_ac: img } });
      assert.equal(result.calibrated, true);
      const want = sigmoid(logit(result.rawProbability) / T);
      assert.ok(Math.abs(result.probability - want) < 1e-4, `predictor ${result.probability} vs ${want}`);
    } finally {
      await predictor.dispose();
    }
  });

  test('bad input is a clear error naming the cause', async () => {
    // a raw (uncropped, non-square) export is refused with a pointer to `polarcad prepare`
    await mkdir(join(dir, 'rawpng'), { recursive: true });
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    await writeFile(join(dir, 'rawpng', 'a.png'), png);
    const rows = [
      'patient_id,label,stress_ac',
      'p1,CAD,a.png',
      'p2,CAD,a.png',
      'p3,normal,a.png',
      'p4,normal,a.png',
    ];
    await writeFile(join(dir, 'rawpng', 'manifest.csv'), rows.join('\n') + '\n');
    const raw = await cli([
      'train',
      join(dir, 'rawpng', 'manifest.csv'),
      '--model',
      'cnn',
      '--backbone',
      'MobileNetV2',
      '--weights',
      'none',
      '--out',
      join(dir, 'x'),
      '--quiet',
    ]);
    assert.equal(raw.code, 2);
    assert.match(
      raw.err,
      /a\.png \(row 2, stress_ac\) is 40x30, not a square polar-map crop.*polarcad prepare/,
    );
    const bb = await cli([...base(join(dir, 'y')), '--backbone', 'NoSuchNet']);
    assert.equal(bb.code, 2);
    assert.match(bb.err, /unknown backbone 'NoSuchNet'/);
    const both = await cli([...base(join(dir, 'z')), '--unfreeze', '3', '--unfreeze-from', 'Conv_1']);
    assert.match(both.err, /--unfreeze or --unfreeze-from/);
    const resume = await cli(['train', '--resume', join(dir, 'nothing-here')]);
    assert.match(resume.err, /not a polarcad run directory/);
  });

  test('a re-run into a complete run trains beside it and swaps in when complete (never in place)', async () => {
    const out = join(dir, 'rerun');
    const opts = {
      manifest: join(dir, 'prep', 'manifest.csv'),
      backbone: 'MobileNetV2',
      weights: 'none',
      inputSize: 96,
      out,
      warmupEpochs: 2,
      finetuneEpochs: 0,
      batchSize: 8,
      cacheDir: join(dir, 'cache'),
    };
    await runTraining(opts);
    const before = await readFile(join(out, 'model', 'weights.bin'));
    const seen: string[] = [];
    const r = await runTraining(
      { ...opts, seed: 2 },
      {
        onEvent: () => {
          // while the new run trains, the old one is untouched and still complete
          seen.push(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).status);
          assert.ok(readFileSync(join(out, 'model', 'weights.bin')).equals(before));
        },
      },
    );
    assert.equal(r.interrupted, false);
    assert.ok(seen.length > 0 && seen.every((x) => x === 'complete'), seen.join(','));
    const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.status, 'complete');
    assert.equal(cfg.resolved.seed, 2);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('.rerun')),
      [],
      'no partial sibling left',
    );
    const p = await loadPredictor(out);
    await p.dispose();
  });
});
