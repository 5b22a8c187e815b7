/**
 * Issue 11, item 4: `polarcad train --model cnn --ensemble K`, a fold ensemble of the two-stage
 * recipe saved as one model. A tiny run (MobileNetV2 at random weights, 64 px, a few epochs) with
 * K = 2: the members are saved under model/members/K; predict, evaluate and the exported ONNX graph
 * give the mean of the members' probabilities; the heatmap is the mean of the members' maps; the
 * temperature is fitted on the out-of-fold predictions only; bad K values are refused naming
 * `--ensemble`.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { cli } from '../helpers/cli.js';
import { tinyCnnTrainArgs } from '../helpers/runs.js';
import { writePreparedCohort, TINY_STRESS_AC } from '../helpers/cohort.js';
import { prepareInput } from '../../src/engine/features.js';
import { OnnxModel } from '../../src/engine/onnx/session.js';
import { explainMembers } from '../../src/explain/index.js';
import { rowSource } from '../../src/ingest/input-source.js';
import { loadManifest } from '../../src/ingest/manifest.js';
import { loadPredictor, type Predictor } from '../../src/predict/predictor.js';
import { predictStudy } from '../../src/predict/study.js';
import type { FeatureSource } from '../../src/domain/input-mode.js';
import { Writable } from 'node:stream';
import { buildServer } from '../../src/serve/server.js';
import { runTraining, type MemberEvent } from '../../src/workflows/train.js';
import { trainingCurves } from '../../src/report/charts/training.js';

let dir = '';
let manifest = '';
const run = (): string => join(dir, 'ens');
const K = 2;

interface Config {
  resolved: {
    split: { train: string[]; validation: string[]; test: string[] };
    ensemble: { members: number; folds: string[][] };
  };
}
const readJson = async <T>(p: string): Promise<T> => JSON.parse(await readFile(p, 'utf8')) as T;
const readCsv = async (p: string): Promise<Record<string, string>[]> =>
  parse(await readFile(p, 'utf8'), { columns: true }) as Record<string, string>[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-ensemble-'));
  ({ manifest } = await writePreparedCohort(dir, TINY_STRESS_AC));
  const r = await cli(
    tinyCnnTrainArgs(manifest, run(), {
      cacheDir: join(dir, 'cache'),
      extra: ['--ensemble', String(K), '--calibrate'],
    }),
  );
  assert.equal(r.code, 0, r.err);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The model inputs of the run's test patients, as train read them. */
async function testSources(): Promise<{ id: string; src: FeatureSource }[]> {
  const cfg = await readJson<Config>(join(run(), 'config.json'));
  const m = await loadManifest(manifest, { requireLabels: true });
  const want = new Set(cfg.resolved.split.test);
  const rows = m.rows.filter((r) => want.has(r.patientId));
  const ctx = { manifestPath: manifest, command: 'evaluate' as const, requiredBy: 'test' };
  return Promise.all(rows.map(async (r) => ({ id: r.patientId, src: await rowSource(r, 'stress_ac', ctx) })));
}

test('train --ensemble 2 writes one model: the members with their own integrity data, and says what it is', async () => {
  const info = await readJson<Record<string, unknown>>(join(run(), 'model', 'polarcad.json'));
  assert.equal(info.kind, 'ensemble');
  const ens = info.ensemble as {
    members: { dir: string; fold: number; trainedOn: number; selectedOn: number }[];
  };
  assert.deepEqual(
    ens.members.map((m) => m.dir),
    ['members/1', 'members/2'],
  );
  assert.deepEqual(Object.keys(info.checksums as object).sort(), [
    'members/1/polarcad.json',
    'members/2/polarcad.json',
  ]);
  for (let k = 1; k <= K; k++) {
    const mi = await readJson<Record<string, unknown>>(
      join(run(), 'model', 'members', String(k), 'polarcad.json'),
    );
    assert.equal(mi.kind, 'cnn');
    assert.ok(
      mi.selfCheck !== undefined && mi.checksums !== undefined,
      `member ${k} has checksums and self-check`,
    );
  }
  const cfg = await readJson<Config>(join(run(), 'config.json'));
  const { split, ensemble } = cfg.resolved;
  // the folds partition the training patients; the test part is in none of them
  assert.deepEqual(ensemble.folds.flat().sort(), [...split.train].sort());
  assert.equal(ensemble.folds.flat().filter((id) => split.test.includes(id)).length, 0);
  for (const [i, m] of ens.members.entries()) {
    assert.equal(m.selectedOn, ensemble.folds[i].length);
    assert.equal(m.trainedOn, split.train.length - ensemble.folds[i].length);
  }
  const metrics = await readJson<Record<string, unknown>>(join(run(), 'metrics.json'));
  assert.match(String(metrics.model), /fold ensemble of 2/);
  const summary = await readFile(join(run(), 'summary.txt'), 'utf8');
  assert.match(summary, /fold ensemble of 2 two-stage CNNs/);
  assert.match(summary, /member 2: trained on \d+ patients, epochs selected on fold 2/);
});

test('calibration is fitted on the out-of-fold predictions: every training patient once, no test patient', async () => {
  const cfg = await readJson<Config>(join(run(), 'config.json'));
  const cal = await readJson<{ fittedOn: string; ids: string[]; n: number }>(join(run(), 'calibration.json'));
  assert.equal(cal.fittedOn, 'out-of-fold');
  assert.deepEqual([...cal.ids].sort(), [...cfg.resolved.split.train].sort());
  assert.equal(cal.ids.filter((id) => cfg.resolved.split.test.includes(id)).length, 0);
  const oof = await readCsv(join(run(), 'out-of-fold.csv'));
  assert.deepEqual(oof.map((r) => r.patient_id).sort(), [...cfg.resolved.split.train].sort());
  for (const r of oof)
    assert.ok(
      cfg.resolved.ensemble.folds[Number(r.fold) - 1].includes(r.patient_id),
      `${r.patient_id} in its fold`,
    );
});

test("predict gives the mean of the members' probabilities and the mean of their Grad-CAM maps", async () => {
  const sources = await testSources();
  const ens = await loadPredictor(run(), { threads: 1 });
  const members: Predictor[] = [];
  try {
    assert.equal(ens.explainers.length, K);
    assert.match(ens.card.ensemble ?? '', /fold ensemble of 2/);
    for (let k = 1; k <= K; k++)
      members.push(await loadPredictor(join(run(), 'model', 'members', String(k)), { threads: 1 }));
    const preds = await readCsv(join(run(), 'predictions.csv'));
    for (const { id, src } of sources) {
      const whole = await explainMembers(ens.explainers, src);
      const parts = await Promise.all(members.map((m) => explainMembers(m.explainers, src)));
      const mean = parts.reduce((s, p) => s + p.probability, 0) / K;
      assert.ok(Math.abs(whole.probability - mean) < 1e-6, `${id}: ${whole.probability} vs ${mean}`);
      for (let i = 0; i < whole.map.length; i++) {
        const m = parts.reduce((s, p) => s + p.map[i], 0) / K;
        assert.ok(Math.abs(whole.map[i] - m) < 1e-6, `${id}: map[${i}] ${whole.map[i]} vs ${m}`);
      }
      const { result } = await predictStudy(ens, { maps: { stress_ac: src as never } }, { study: id });
      assert.ok(Math.abs(result.rawProbability - mean) < 1e-6);
      const row = preds.find((r) => r.patient_id === id);
      assert.ok(
        row !== undefined && Math.abs(Number(row.prob) - mean) < 1e-4,
        `${id}: predictions.csv ${row?.prob} vs ${mean}`,
      );
    }
  } finally {
    await ens.dispose();
    for (const m of members) await m.dispose();
  }
});

test('evaluate and the exported ONNX graph give the same probabilities as predict', async () => {
  const sources = await testSources();
  const preds = await readCsv(join(run(), 'predictions.csv'));
  const prob = new Map(preds.map((r) => [r.patient_id, Number(r.prob)]));
  const ev = await cli([
    'evaluate',
    run(),
    manifest,
    '--out',
    join(dir, 'ev'),
    '--no-report',
    '--allow-overlap',
  ]);
  assert.equal(ev.code, 0, ev.err);
  const evRows = await readCsv(join(dir, 'ev', 'predictions.csv'));
  for (const { id } of sources) {
    const r = evRows.find((x) => x.patient_id === id);
    assert.ok(
      r !== undefined && Math.abs(Number(r.prob) - (prob.get(id) as number)) < 1e-4,
      `${id}: evaluate ${r?.prob}`,
    );
  }
  // --sensitivity chooses the threshold on the out-of-fold predictions (no validation part)
  const sens = await cli([
    'evaluate',
    run(),
    manifest,
    '--out',
    join(dir, 'ev-sens'),
    '--no-report',
    '--allow-overlap',
    '--sensitivity',
    '0.9',
  ]);
  assert.equal(sens.code, 0, sens.err);
  assert.match(sens.out + sens.err, /chosen on the ensemble's 16 out-of-fold predictions/);
  const onnx = join(dir, 'ens.onnx');
  const ex = await cli(['export', run(), '--out', onnx]);
  assert.equal(ex.code, 0, ex.err);
  assert.match(ex.out, /fold ensemble of 2 members/);
  const session = await OnnxModel.create(onnx, { threads: 1 });
  try {
    assert.deepEqual(session.outputNames.slice(0, 3), ['probabilities', 'member_1', 'member_2']);
    for (const { id, src } of sources) {
      const x = prepareInput(src, 0, 'image', 64, 'tf');
      const y = await session.run(x, [1, 64, 64, 3]);
      const p = y.probabilities.data[1];
      assert.ok(Math.abs(p - (prob.get(id) as number)) < 1e-4, `${id}: ONNX ${p} vs ${prob.get(id)}`);
      const mean = (y.member_1.data[1] + y.member_2.data[1]) / 2;
      assert.ok(Math.abs(p - mean) < 1e-6);
    }
  } finally {
    await session.dispose();
  }
});

test("the run's report says it is a fold ensemble and shows the ensemble's heatmaps", async () => {
  const r = await cli(['report', run()]);
  assert.equal(r.code, 0, r.err);
  const html = await readFile(join(run(), 'report.html'), 'utf8');
  assert.match(html, /a fold ensemble of 2 two-stage CNNs/);
  assert.match(html, /each member(&#39;|&#x27;|')s epochs chosen on its own fold/);
  const i = html.indexOf('<section id="heatmaps">');
  assert.doesNotMatch(html.slice(i, html.indexOf('</section>', i)), /Not available/);
});

test('bad --ensemble values are refused naming the flag', async () => {
  const out = join(dir, 'bad');
  for (const k of ['0', '1', '2.5', 'two']) {
    const r = await cli(
      tinyCnnTrainArgs(manifest, out, { cacheDir: join(dir, 'cache'), extra: ['--ensemble', k] }),
    );
    assert.notEqual(r.code, 0, `--ensemble ${k}`);
    assert.match(r.err, /--ensemble must be a whole number >= 2/, r.err);
  }
  const big = await cli(
    tinyCnnTrainArgs(manifest, out, { cacheDir: join(dir, 'cache'), extra: ['--ensemble', '9'] }),
  );
  assert.notEqual(big.code, 0);
  assert.match(
    big.err,
    /--ensemble 9: 9 folds need at least 9 training patients of each class; class \d \(\w+\) has \d/,
  );
  const linear = await cli(['train', manifest, '--model', 'hybrid', '--ensemble', '3', '--out', out]);
  assert.notEqual(linear.code, 0);
  assert.match(linear.err, /--ensemble: only for --model cnn/);
});

test("serve's model card says it is a fold ensemble", async () => {
  const p = await loadPredictor(run(), { threads: 1 });
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const app = await buildServer(p, { logStream: quiet });
  try {
    const card = (await app.inject({ method: 'GET', url: '/api/model' })).json<{
      ensemble: string;
      explanation: string;
    }>();
    assert.match(card.ensemble, /fold ensemble of 2 networks/);
    assert.equal(card.explanation, 'Grad-CAM');
  } finally {
    await app.close();
    await p.dispose();
  }
});

test('an interrupted ensemble resumes: finished members are kept, the run completes as one model', async () => {
  const out = join(dir, 'resumed');
  const opts = {
    manifest,
    backbone: 'MobileNetV2',
    out,
    weights: 'none',
    inputSize: 64,
    warmupEpochs: 2,
    finetuneEpochs: 1,
    batchSize: 8,
    cacheDir: join(dir, 'cache'),
    ensemble: 2,
  };
  let stop = false;
  const first: MemberEvent[] = [];
  const r1 = await runTraining(opts, {
    onMember: (e) => {
      first.push(e);
      if (e.type === 'member-end' && e.member === 1) stop = true;
    },
    shouldStop: () => stop,
  });
  assert.equal(r1.interrupted, true);
  assert.deepEqual(
    first.map((e) => `${e.type} ${e.member}`),
    ['member-start 1', 'member-end 1', 'member-start 2'],
  );
  const again: MemberEvent[] = [];
  const r2 = await runTraining(
    { ...opts, manifest: '', backbone: '', resume: true },
    { onMember: (e) => again.push(e) },
  );
  assert.equal(r2.interrupted, false);
  assert.deepEqual(
    again.map((e) => `${e.type} ${e.member}`),
    ['member-start 2', 'member-end 2'],
  );
  // same seed and data as the CLI run: the same ensemble
  const a = await readCsv(join(out, 'predictions.csv'));
  const b = await readCsv(join(run(), 'predictions.csv'));
  assert.deepEqual(
    a.map((r) => [r.patient_id, Number(r.prob).toFixed(5)]),
    b.map((r) => [r.patient_id, Number(r.prob).toFixed(5)]),
  );
  const p = await loadPredictor(out, { threads: 1 });
  await p.dispose();
});

test("the training curves of a 5-member ensemble (10 stages, more than the palette's 8 colours) are drawn", () => {
  const history = Array.from({ length: 10 }, (_, s) =>
    [1, 2].map((epoch) => ({
      stage: `member-${Math.floor(s / 2) + 1}/${s % 2 === 0 ? 'warmup' : 'finetune'}`,
      epoch,
      loss: 0.5,
      accuracy: 0.8,
      valLoss: 0.6,
      valAccuracy: 0.7,
    })),
  ).flat();
  const spec = JSON.stringify(trainingCurves(history));
  assert.match(spec, /member-5\/finetune/);
});
