/**
 * `polarcad export RUN --out model.onnx` of closed-form runs: tiny runs trained on a generated
 * cohort (hybrid, segment-logistic with a numeric clinical variable, pixel-logistic), exported,
 * run in ONNX Runtime on the run's test patients (inputs from `polarOnnxFeeds`) and compared with
 * the run's own predictions.csv; a member that cannot be expressed is refused with nothing written.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { View } from '../../src/domain/views.js';
import { summariseOnnx } from '../../src/engine/onnx/schema.js';
import { clinicalOfRow, loadManifest } from '../../src/ingest/manifest.js';
import { readImage } from '../../src/ingest/readers.js';
import { polarOnnxFeeds } from '../../src/models/linear/onnx-graph.js';
import {
  polarModelSchema,
  PolarModelPredictor,
  type PolarModel,
} from '../../src/models/linear/polar-model.js';
import { cli } from '../helpers/cli.js';
import { writePreparedCohort } from '../helpers/cohort.js';

const CROP = 64;
let dir = '';
let manifest = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-export-cf-'));
  ({ manifest } = await writePreparedCohort(dir, {
    patients: 32,
    seed: 11,
    colormap: 'hot',
    grid: false,
    canvas: 128,
    prepare: { size: CROP },
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

async function train(name: string, args: string[]): Promise<string> {
  const out = join(dir, name);
  const r = await cli([
    'train',
    manifest,
    ...args,
    '--out',
    out,
    '--cache-dir',
    join(dir, 'cache'),
    '--quiet',
  ]);
  assert.equal(r.code, 0, r.err);
  return out;
}

/** Export `run`, run the graph on the run's predicted patients; P(CAD) and member logits against the run. */
async function exportAndCompare(
  t: TestContext,
  run: string,
  views: readonly View[],
): Promise<{ model: PolarModel; maxDiff: number; onnx: Uint8Array }> {
  const onnx = join(dir, `${run.split('/').at(-1)}.onnx`);
  const r = await cli(['export', run, '--out', onnx, '--crop-size', String(CROP)]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*\.onnx .*closed-form .*outputs: p_cad, member_logits/);
  const model = polarModelSchema.parse(
    JSON.parse(await readFile(join(run, 'model', 'linear-model.json'), 'utf8')),
  );
  const bytes = new Uint8Array(await readFile(onnx));
  const s = summariseOnnx(bytes);
  assert.equal(s.metadata['polarcad.format'], 'polarcad-onnx-closed-form/1');
  assert.equal(s.metadata['polarcad.recipe'], model.recipe);
  assert.equal(s.metadata['polarcad.crop_size'], String(CROP));
  assert.deepEqual(
    JSON.parse(s.metadata['polarcad.members']),
    model.members.map((m) => m.name),
  );
  const documented = JSON.parse(s.metadata['polarcad.inputs']) as { name: string; dims: unknown[] }[];
  assert.deepEqual(
    s.inputs.map((i) => i.name),
    documented.map((i) => i.name),
  );
  assert.deepEqual(s.outputs, [
    { name: 'p_cad', dims: ['batch'] },
    { name: 'member_logits', dims: ['batch', model.members.length] },
  ]);

  // every patient of the cohort (training and test) through the graph
  const m = await loadManifest(manifest);
  const rows = m.rows;
  const crops = await Promise.all(
    rows.map(async (row) =>
      Object.fromEntries(
        await Promise.all(views.map(async (v) => [v, await readImage(row.views[v] as string)])),
      ),
    ),
  );
  const clinical = rows.map(clinicalOfRow);
  const feeds = polarOnnxFeeds(model, crops, CROP, clinical);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2 });
  const res = await session.run(
    Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor('float32', f.data, f.dims)])),
  );
  await session.release();
  const p = res.p_cad.data as Float32Array;
  const logits = res.member_logits.data as Float32Array;
  assert.equal(p.length, rows.length);
  // the run's own test predictions
  const preds = csvRows(await readFile(join(run, 'predictions.csv'), 'utf8'));
  assert.ok(preds.length >= 4);
  let maxDiff = 0;
  for (const row of preds) {
    const i = rows.findIndex((r) => r.patientId === row.patient_id);
    const d = Math.abs(p[i] - Number(row.prob));
    maxDiff = Math.max(maxDiff, d);
    assert.ok(d < 1e-4, `${row.patient_id}: ONNX ${p[i]}, run ${row.prob}`);
  }
  // every patient: P(CAD) and each member's logit against the predictor (logits compared where
  // the member's probability is not saturated in float64)
  const predictor = await PolarModelPredictor.open(model, { cacheDir: join(dir, 'cache') });
  let maxLogitDiff = 0;
  try {
    const again = await predictor.predict(crops, clinical);
    again.forEach((a, i) => {
      assert.ok(Math.abs(p[i] - a.probability) < 1e-4, `patient ${i}: ${p[i]} vs ${a.probability}`);
      model.members.forEach((mm, k) => {
        const want = a.members[mm.name];
        const got = logits[i * model.members.length + k];
        if (Math.abs(got) > 30) return;
        const d = Math.abs(got - Math.log(want / (1 - want)));
        maxLogitDiff = Math.max(maxLogitDiff, d);
        assert.ok(
          d < 1e-4 * Math.max(10, Math.abs(got)),
          `${mm.name}, patient ${i}: logit ${got} vs ${Math.log(want / (1 - want))}`,
        );
      });
    });
  } finally {
    await predictor.dispose();
  }
  t.diagnostic(
    `${model.recipe}: max |P_onnx - P_run| ${maxDiff.toExponential(2)} over ${preds.length} test patients; max |member logit diff| ${maxLogitDiff.toExponential(2)} over ${rows.length} patients; P from ${Math.min(...p).toFixed(4)} to ${Math.max(...p).toFixed(4)}`,
  );
  return { model, maxDiff, onnx: bytes };
}

test("hybrid run (CNN + segment uptakes, stacked, two views): the ONNX graph gives the run's P(CAD)", async (t) => {
  const views: View[] = ['stress_ac', 'rest_ac'];
  const run = await train('hybrid', ['--model', 'hybrid', '--views', views.join(',')]);
  const { model, maxDiff } = await exportAndCompare(t, run, views);
  assert.deepEqual(
    model.members.map((m) => m.name),
    ['cnn-segments', 'segment-logistic'],
  );
  assert.ok(maxDiff < 1e-4);
});

test('segment-logistic with a numeric clinical variable: uptake inputs and the clinical vector (NaN = missing)', async (t) => {
  const views: View[] = ['stress_ac', 'rest_ac'];
  const run = await train('seg', [
    '--model',
    'segment-logistic',
    '--views',
    views.join(','),
    '--clinical',
    'age',
  ]);
  const { model, onnx } = await exportAndCompare(t, run, views);
  assert.deepEqual(
    model.members.map((m) => m.name),
    ['segment-logistic', 'clinical'],
  );
  // a missing age (NaN in the graph, '' for the predictor) is imputed the same way
  const m = await loadManifest(manifest);
  const crops = await Promise.all(
    m.rows
      .slice(0, 3)
      .map(async (row) =>
        Object.fromEntries(
          await Promise.all(views.map(async (v) => [v, await readImage(row.views[v] as string)])),
        ),
      ),
  );
  const clinical = [{ age: '' }, { age: '91' }, { age: 'unknown' }];
  const feeds = polarOnnxFeeds(model, crops, CROP, clinical);
  assert.ok(Number.isNaN(feeds.clinical.data[0]) && Number.isNaN(feeds.clinical.data[2]));
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 2 });
  const res = await session.run(
    Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor('float32', f.data, f.dims)])),
  );
  await session.release();
  const predictor = await PolarModelPredictor.open(model);
  const want = await predictor.predict(crops, clinical);
  await predictor.dispose();
  assert.deepEqual(want[0].missingClinical, ['age']);
  want.forEach((w, i) => assert.ok(Math.abs((res.p_cad.data as Float32Array)[i] - w.probability) < 1e-4));
  const s = summariseOnnx(new Uint8Array(await readFile(join(dir, 'seg.onnx'))));
  assert.deepEqual(s.inputs, [
    { name: 'uptake_stress_ac', dims: ['batch', CROP, CROP] },
    { name: 'uptake_rest_ac', dims: ['batch', CROP, CROP] },
    { name: 'clinical', dims: ['batch', 1] },
  ]);
});

test('pixel-logistic (one member, temperature-calibrated): RGB inputs resized in the graph', async (t) => {
  const views: View[] = ['stress_ac', 'stress_nac'];
  const run = await train('pix', ['--model', 'pixel-logistic', '--views', views.join(',')]);
  const { model } = await exportAndCompare(t, run, views);
  assert.ok(model.temperature !== null);
  const s = summariseOnnx(new Uint8Array(await readFile(join(dir, 'pix.onnx'))));
  assert.deepEqual(s.inputs, [
    { name: 'rgb_stress_ac', dims: ['batch', CROP, CROP, 3] },
    { name: 'rgb_stress_nac', dims: ['batch', CROP, CROP, 3] },
  ]);
});

test('cnn-segments on one view (one member, temperature-calibrated; features cached by the hybrid run)', async (t) => {
  const views: View[] = ['stress_ac'];
  const run = await train('cnn', ['--model', 'cnn-segments', '--views', views.join(',')]);
  const { model } = await exportAndCompare(t, run, views);
  assert.ok(model.temperature !== null);
  assert.equal(model.members[0].features.kind, 'cnn-segments');
});

test('a member that cannot be expressed (categorical clinical column) is refused by name, nothing written; --outputs is refused', async () => {
  const run = await train('sex', [
    '--model',
    'segment-logistic',
    '--views',
    'stress_ac',
    '--clinical',
    'sex',
  ]);
  const out = join(dir, 'sex.onnx');
  const r = await cli(['export', run, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.err, /member "clinical": clinical column "sex" is categorical .* no ONNX export/);
  await assert.rejects(readFile(out));
  const o = await cli(['export', join(dir, 'seg'), '--out', out, '--outputs', 'x']);
  assert.equal(o.code, 2);
  assert.match(o.err, /--outputs: .* closed-form model/);
  await assert.rejects(readFile(out));
});
