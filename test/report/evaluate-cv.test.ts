/**
 * `polarcad evaluate` and `polarcad cv` through `main()` on a tiny generated cohort (src/synth ->
 * prepare; MobileNetV2 with random weights at 64 px so it runs in seconds): evaluate reproduces the
 * run's own test predictions through ONNX Runtime, the --sensitivity threshold equals the one
 * computed independently from the tfjs model on the run's validation patients, and cv tests every
 * patient exactly once with epochs chosen inside each fold.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { initBackend, tf } from '../../src/engine/backend.js';
import { prepareInput } from '../../src/engine/features.js';
import { readImage } from '../../src/ingest/readers.js';
import { loadTfjsFolder } from '../../src/models/weights/tfjs-folder.js';
import { cli } from '../helpers/cli.js';
import { tinyCnnTrainArgs } from '../helpers/runs.js';
import { writePreparedCohort, TINY_STRESS_AC } from '../helpers/cohort.js';

let dir = '';
let manifest = '';
const run = (): string => join(dir, 'run');

before(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'polarcad-evaluate-'));
  ({ manifest } = await writePreparedCohort(dir, TINY_STRESS_AC));
  const r = await cli(tinyCnnTrainArgs(manifest, run(), { warmupEpochs: 3, cacheDir: join(dir, 'cache') }));
  assert.equal(r.code, 0, r.err);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Row = Record<string, string>;
const csv = async (p: string): Promise<Row[]> => parse(await readFile(p, 'utf8'), { columns: true }) as Row[];

describe('polarcad evaluate', () => {
  test("reproduces the run's test predictions through ONNX Runtime, writes predictions, metrics and the report", async () => {
    const out = join(dir, 'eval');
    // the run's own manifest: its training and validation patients are reported apart (issue 13)
    const r = await cli(['evaluate', run(), manifest, '--out', out, '--resamples', '200', '--allow-overlap']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /16 of 20 patients of manifest\.csv were seen by the run run/);
    assert.match(r.out, /threshold 0\.5 \(default 0\.5\)/);
    assert.match(r.out, /mobilenetv2\s+4\s+/);
    assert.match(r.out, /mobilenetv2_seen\s+16\s+/);
    const preds = await csv(join(out, 'predictions.csv'));
    assert.equal(preds.length, 20);
    const own = await csv(join(run(), 'predictions.csv'));
    const byId = new Map(preds.map((p) => [p.patient_id, Number(p.prob)]));
    for (const p of own)
      assert.ok(
        Math.abs((byId.get(p.patient_id) ?? -1) - Number(p.prob)) < 1e-4,
        `${p.patient_id}: ${byId.get(p.patient_id)} vs ${p.prob}`,
      );
    const m = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    assert.equal(m.format, 'polarcad-metrics');
    assert.equal(m.command, 'evaluate');
    assert.equal(m.rows[0].n, 4);
    // accuracy recounted from predictions.csv at 0.5 on the patients the run never saw
    const unseen = preds.filter((p) => p.split === 'unseen');
    assert.equal(unseen.length, 4);
    const correct = unseen.filter((p) => (Number(p.prob) >= 0.5 ? 1 : 0) === Number(p.label)).length;
    assert.equal(m.rows[0].accuracy.estimate, correct / 4);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    assert.match(html, /<section id="metrics">/);
    assert.match(html, /fig-roc/);
  });

  test("--sensitivity picks the threshold on the run's validation patients (checked against the tfjs model)", async () => {
    const out = join(dir, 'eval-sens');
    const r = await cli([
      'evaluate',
      run(),
      manifest,
      '--out',
      out,
      '--sensitivity',
      '1',
      '--resamples',
      '100',
      '--no-report',
      '--allow-overlap',
    ]);
    assert.equal(r.code, 0, r.err);
    const cfg = JSON.parse(await readFile(join(run(), 'config.json'), 'utf8'));
    const info = JSON.parse(await readFile(join(run(), 'model', 'polarcad.json'), 'utf8'));
    const labels = new Map((await csv(manifest)).map((row) => [row.patient_id, row.label]));
    const model = await loadTfjsFolder(join(run(), 'model'));
    // sensitivity 1 on validation: the smallest P(CAD) of a validation CAD patient
    let expected = Infinity;
    for (const id of cfg.resolved.split.validation as string[]) {
      if (labels.get(id) !== 'CAD') continue;
      const img = await readImage(join(dir, 'prep', id, 'stress_ac.png'));
      const x = tf.tensor(prepareInput(img, 0, 'image', 64, info.scaling), [1, 64, 64, 3]);
      const y = (model.predict(x) as tf.Tensor).dataSync();
      expected = Math.min(expected, y[1]);
      x.dispose();
    }
    model.dispose();
    const e = JSON.parse(await readFile(join(out, 'evaluate.json'), 'utf8'));
    assert.ok(Math.abs(e.threshold.value - expected) < 1e-4, `${e.threshold.value} vs ${expected}`);
    assert.match(e.threshold.rule, /validation patients for sensitivity >= 1/);
  });

  test('RUN/model evaluates like RUN, in a fresh process (bug: "backend \'wasm\' has not yet been initialized")', async () => {
    const out = join(dir, 'eval-model-folder');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/bin.ts',
        'evaluate',
        join(run(), 'model'),
        manifest,
        '--out',
        out,
        '--resamples',
        '100',
        '--no-report',
        '--allow-overlap',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const viaRun = parse(await readFile(join(dir, 'eval', 'predictions.csv'), 'utf8'), {
      columns: true,
    }) as Record<string, string>[];
    const viaModel = parse(await readFile(join(out, 'predictions.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    assert.deepEqual(
      viaModel.map((x) => x.prob),
      viaRun.map((x) => x.prob),
    );
  });

  test('bad input: both threshold options, a folder without a model', async () => {
    const a = await cli([
      'evaluate',
      run(),
      manifest,
      '--out',
      join(dir, 'x'),
      '--threshold',
      '0.3',
      '--sensitivity',
      '0.9',
    ]);
    assert.equal(a.code, 2);
    assert.match(a.err, /--threshold or --sensitivity, not both/);
    const b = await cli(['evaluate', join(dir, 'prep'), manifest, '--out', join(dir, 'y')]);
    assert.equal(b.code, 2);
    assert.match(b.err, /prep: not a polarcad model/);
  });
});

describe('polarcad cv', () => {
  test('3 folds: every patient tested once, epochs chosen inside each fold, pooled and per-fold results, report', async () => {
    const out = join(dir, 'cv');
    const r = await cli([
      'cv',
      manifest,
      '--backbone',
      'MobileNetV2',
      '--weights',
      'none',
      '--input-size',
      '64',
      '--k',
      '3',
      '--warmup-epochs',
      '2',
      '--finetune-epochs',
      '1',
      '--batch-size',
      '8',
      '--out',
      out,
      '--cache-dir',
      join(dir, 'cache'),
      '--resamples',
      '100',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /fold 3: n /);
    assert.match(r.out, /mean ± SD over folds/);
    const preds = await csv(join(out, 'predictions.csv'));
    assert.equal(preds.length, 20);
    assert.equal(new Set(preds.map((p) => p.patient_id)).size, 20);
    assert.deepEqual([...new Set(preds.map((p) => p.fold))].sort(), ['1', '2', '3']);
    const cv = JSON.parse(await readFile(join(out, 'cv.json'), 'utf8'));
    assert.equal(cv.folds.length, 3);
    assert.equal(
      cv.folds.reduce((s: number, f: { n: number }) => s + f.n, 0),
      20,
    );
    for (let f = 1; f <= 3; f++) {
      const fold = join(out, 'folds', `fold-0${f}`, 'run');
      const c = JSON.parse(await readFile(join(fold, 'config.json'), 'utf8'));
      const testIds = new Set(preds.filter((p) => p.fold === String(f)).map((p) => p.patient_id));
      assert.deepEqual(new Set(c.resolved.split.test), testIds);
      // nested: the epochs were selected on validation patients of the fold's training part only
      for (const id of c.selectionIds as string[])
        assert.ok(!testIds.has(id), `fold ${f}: selection patient ${id} is in the test fold`);
      assert.equal(c.resolved.selection.on, 'validation');
    }
    // pooled confusion recounted from the out-of-fold predictions
    const m = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    const tp = preds.filter((p) => p.label === '1' && Number(p.prob) >= 0.5).length;
    assert.equal(m.rows[0].confusion.tp, tp);
    assert.equal(m.rows[0].n, 20);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    assert.match(html, /Cross-validation: 3 folds/);
    assert.ok((await stat(join(out, 'figures', 'roc.svg'))).size > 0);
  });
});
