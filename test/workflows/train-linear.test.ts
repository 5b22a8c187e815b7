import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { VIEWS } from '../../src/domain/views.js';
import { clinicalOfRow, loadManifest } from '../../src/ingest/manifest.js';
import { readImage } from '../../src/ingest/readers.js';
import { polarModelSchema, PolarModelPredictor } from '../../src/models/linear/polar-model.js';
import { cli } from '../helpers/cli.js';
import { writePreparedCohort } from '../helpers/cohort.js';

let dir = '';
let manifest = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-train-linear-'));
  ({ manifest } = await writePreparedCohort(dir, {
    patients: 40,
    seed: 5,
    colormap: 'hot',
    grid: false,
    canvas: 128,
    prepare: { size: 64 },
  }));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function csvRows(text: string): Record<string, string>[] {
  const [head, ...rows] = text.trim().split('\n');
  const cols = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v])));
}

test('train (default model: hybrid) writes a run with the network beside both baselines, paired tests, and a model that predicts the same probabilities again', async () => {
  const out = join(dir, 'hybrid');
  const r = await cli(['train', manifest, '--out', out, '--cache-dir', join(dir, 'cache')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /--model hybrid/);
  assert.match(r.out, /segment-logistic/);
  const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as {
    rows: { name: string; n: number; auc: { estimate: number; lo: number; hi: number } }[];
    comparisons: { baseline: string; delongP: number; mcnemarP: number }[];
  };
  assert.deepEqual(
    metrics.rows.map((x) => x.name),
    ['hybrid', 'segment-logistic', 'pixel-logistic'],
  );
  assert.ok(metrics.rows.every((x) => x.n === 8 && x.auc.lo <= x.auc.estimate && x.auc.estimate <= x.auc.hi));
  assert.deepEqual(
    metrics.comparisons.map((c) => c.baseline),
    ['segment-logistic', 'pixel-logistic'],
  );
  assert.ok(
    metrics.comparisons.every((c) => c.delongP >= 0 && c.delongP <= 1 && c.mcnemarP >= 0 && c.mcnemarP <= 1),
  );
  const model = polarModelSchema.parse(
    JSON.parse(await readFile(join(out, 'model', 'linear-model.json'), 'utf8')),
  );
  assert.deepEqual(model.views, [...VIEWS]);
  assert.deepEqual(
    model.members.map((m) => m.name),
    ['cnn-segments', 'segment-logistic'],
  );
  assert.equal(model.colormap.name, 'hot');
  assert.equal(model.trainedOn.patients, 32);
  // the saved model reproduces the run's test predictions
  const preds = csvRows(await readFile(join(out, 'predictions.csv'), 'utf8'));
  const m = await loadManifest(manifest);
  const rows = m.rows.filter((row) => preds.some((p) => p.patient_id === row.patientId));
  const crops = await Promise.all(
    rows.map(async (row) =>
      Object.fromEntries(
        await Promise.all(VIEWS.map(async (v) => [v, await readImage(row.views[v] as string)])),
      ),
    ),
  );
  const predictor = await PolarModelPredictor.open(model, { cacheDir: join(dir, 'cache') });
  const again = await predictor.predict(crops);
  await predictor.dispose();
  rows.forEach((row, i) => {
    const p = preds.find((x) => x.patient_id === row.patientId);
    assert.ok(Math.abs(Number(p?.prob) - again[i].probability) < 1e-9);
    // evidence sums (plus the stacked offset) to the logit: its sign follows the call on clear cases
    assert.equal(Object.keys(again[i].evidence).length, 4);
  });
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
    status: string;
    resolved: { split: { train: string[]; test: string[] } };
  };
  assert.equal(config.status, 'complete');
  assert.equal(config.resolved.split.test.filter((id) => config.resolved.split.train.includes(id)).length, 0);
});

test('predict reads a hybrid run: the same probability as the run, per-disc evidence heatmap, words from the same raster; a changed model file is refused', async () => {
  const out = join(dir, 'hybrid');
  const preds = csvRows(await readFile(join(out, 'predictions.csv'), 'utf8'));
  const m = await loadManifest(manifest);
  const row = m.rows.find((r) => r.patientId === preds[0].patient_id);
  assert.ok(row);
  const r = await cli([
    'predict',
    out,
    '--manifest',
    manifest,
    '--format',
    'json',
    '--out',
    join(dir, 'overlays'),
  ]);
  assert.equal(r.code, 0, r.err);
  const results = JSON.parse(r.out) as {
    study: string;
    probability: number;
    sentence: string;
    territories: Record<'LAD' | 'LCx' | 'RCA', number>;
    viewsUsed: string[];
    timings: { totalMs: number };
  }[];
  const mine = results.find((x) => x.study === row.patientId);
  assert.ok(mine, r.out.slice(0, 400));
  // predict finds and cleans the disc of each file again (as for any export), so the pixels differ slightly from the run's crops
  const diff = Math.abs(mine.probability - Number(preds[0].prob));
  assert.ok(diff < 0.05, `predict ${mine.probability} vs run ${preds[0].prob}`);
  assert.deepEqual(mine.viewsUsed, [...VIEWS]);
  // words from the same raster: every study's sentence names the territory with the largest share
  // (or says the evidence heatmap is empty, with all shares 0)
  let named = 0;
  for (const x of results) {
    const t = x.territories;
    const largest = (['LAD', 'LCx', 'RCA'] as const).reduce((a, b) => (t[b] > t[a] ? b : a));
    const m = /\((LAD|LCx|RCA) territory/.exec(x.sentence);
    if (m === null) {
      assert.match(x.sentence, /empty/, `${x.study}: no territory named in "${x.sentence}"`);
      assert.deepEqual([t.LAD, t.LCx, t.RCA], [0, 0, 0], `${x.study}: ${x.sentence}`);
      continue;
    }
    named++;
    assert.equal(m[1], largest, `${x.study}: "${x.sentence}" vs shares ${JSON.stringify(t)}`);
    assert.ok(t[largest] > 0);
  }
  assert.ok(named > 0, 'at least one study has evidence for CAD to describe');
  // tamper with the model file: checksum refusal naming it
  const file = join(out, 'model', 'linear-model.json');
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace('"intercept":', '"intercept":-0.5+0*'));
  const bad = await cli(['predict', out, '--manifest', manifest, '--format', 'json']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /linear-model\.json: SHA-256 mismatch/);
  await writeFile(file, text);
});

test('evaluate reads a closed-form run: metrics with intervals on a labelled manifest, the run baselines beside it with paired tests; --sensitivity is refused with the reason', async () => {
  const out = join(dir, 'hybrid');
  const r = await cli([
    'evaluate',
    out,
    manifest,
    '--out',
    join(dir, 'eval'),
    '--no-report',
    '--resamples',
    '200',
    '--allow-overlap', // the run's own manifest: its 32 training patients are reported apart
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /32 of 40 patients of manifest\.csv were seen by the run hybrid/);
  type Rows = {
    rows: { name: string; n: number; auc: { estimate: number }; accuracy: { estimate: number } }[];
    comparisons?: { baseline: string; delongP: number; mcnemarP: number }[];
  };
  const metrics = JSON.parse(await readFile(join(dir, 'eval', 'metrics.json'), 'utf8')) as Rows;
  assert.deepEqual(
    metrics.rows.map((x) => [x.name, x.n]),
    [
      ['hybrid', 8],
      ['hybrid_seen', 32],
      ['pixel-logistic', 8],
      ['segment-logistic', 8],
    ],
  );
  assert.ok(metrics.rows[0].auc.estimate > 0.5);
  // the 8 unseen patients are the run's test part: the saved baselines give the run's own figures
  const run = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as Rows;
  for (const name of ['pixel-logistic', 'segment-logistic']) {
    const a = run.rows.find((x) => x.name === name);
    const b = metrics.rows.find((x) => x.name === name);
    assert.ok(a !== undefined && b !== undefined, name);
    assert.equal(b.accuracy.estimate, a.accuracy.estimate, name);
    assert.ok(Math.abs(b.auc.estimate - a.auc.estimate) < 1e-12, name);
  }
  assert.deepEqual(
    metrics.comparisons?.map((c) => c.baseline),
    ['pixel-logistic', 'segment-logistic'],
  );
  assert.ok(metrics.comparisons?.every((c) => c.delongP >= 0 && c.delongP <= 1 && c.mcnemarP <= 1));
  const bad = await cli([
    'evaluate',
    out,
    manifest,
    '--out',
    join(dir, 'eval2'),
    '--sensitivity',
    '0.9',
    '--allow-overlap',
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /closed-form model does not have/);
});

test('train --model segment-logistic: the baseline as a model of its own, calibrated on out-of-fold predictions, beside the pixel baseline', async () => {
  const out = join(dir, 'seg');
  const r = await cli([
    'train',
    manifest,
    '--model',
    'segment-logistic',
    '--views',
    'stress_ac,rest_ac',
    '--out',
    out,
    '--quiet',
  ]);
  assert.equal(r.code, 0, r.err);
  const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as {
    rows: { name: string }[];
  };
  assert.deepEqual(
    metrics.rows.map((x) => x.name),
    ['segment-logistic', 'pixel-logistic'],
  );
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
    temperature: number;
    resolved: { views: string[] };
  };
  assert.ok(config.temperature > 0);
  assert.deepEqual(config.resolved.views, ['stress_ac', 'rest_ac']);
});

test('train: an unknown --model or --views is refused with a message naming the flag, and nothing is written', async () => {
  const out = join(dir, 'bad');
  const a = await cli(['train', manifest, '--model', 'forest', '--out', out]);
  assert.notEqual(a.code, 0);
  assert.match(a.err, /--model must be one of hybrid, cnn-segments, segment-logistic, pixel-logistic, cnn/);
  const b = await cli(['train', manifest, '--views', 'stress,rest', '--out', out]);
  assert.notEqual(b.code, 0);
  assert.match(b.err, /--views: unknown view 'stress'/);
  await assert.rejects(readFile(join(out, 'config.json')));
});

test('train --backbone A,B --clinical age,sex: a backbone ensemble with the clinical variables fused, reported with and without them; predict and evaluate read the clinical columns', async () => {
  const out = join(dir, 'ensemble');
  const r = await cli([
    'train',
    manifest,
    '--model',
    'cnn-segments',
    '--backbone',
    'MobileNetV2,InceptionV3',
    '--views',
    'stress_ac',
    '--clinical',
    'age,sex',
    '--out',
    out,
    '--cache-dir',
    join(dir, 'cache'),
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /clinical variables: age, sex/);
  const model = polarModelSchema.parse(
    JSON.parse(await readFile(join(out, 'model', 'linear-model.json'), 'utf8')),
  );
  assert.deepEqual(
    model.members.map((m) => m.name),
    ['cnn-segments:MobileNetV2', 'cnn-segments:InceptionV3', 'clinical'],
  );
  const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as {
    rows: { name: string }[];
  };
  assert.deepEqual(
    metrics.rows.map((x) => x.name),
    ['cnn-segments', 'cnn-segments-images-only', 'segment-logistic', 'pixel-logistic'],
  );
  // the saved ensemble predicts the run's test patients again, with their clinical values
  const preds = csvRows(await readFile(join(out, 'predictions.csv'), 'utf8'));
  const m = await loadManifest(manifest);
  const rows = preds.map(
    (p) => m.rows.find((row) => row.patientId === p.patient_id) as (typeof m.rows)[number],
  );
  const predictor = await PolarModelPredictor.open(model);
  try {
    const again = await predictor.predict(
      await Promise.all(
        rows.map(async (row) => ({ stress_ac: await readImage(row.views.stress_ac as string) })),
      ),
      rows.map(clinicalOfRow),
    );
    again.forEach((a, i) =>
      assert.ok(Math.abs(a.probability - Number(preds[i].prob)) < 1e-9, preds[i].patient_id),
    );
    assert.deepEqual(Object.keys(again[0].clinical).sort(), ['age', 'sex']);
    assert.deepEqual(again[0].missingClinical, []);
  } finally {
    await predictor.dispose();
  }
  const p = await cli(['predict', out, '--manifest', manifest, '--format', 'csv']);
  assert.equal(p.code, 0, p.err);
  assert.doesNotMatch(p.err, /not given: imputed/);
  // a map without clinical values: imputed, with a warning
  const one = await cli(['predict', out, m.rows[0].views.stress_ac as string, '--format', 'json']);
  assert.equal(one.code, 0, one.err);
  assert.match(one.err, /clinical variable\(s\) age, sex not given: imputed/);
});
