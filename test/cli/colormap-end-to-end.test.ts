/**
 * The colour map carried end to end (issue 13): generated exports in each built-in colour map and
 * in a user table close to `hot` ("thermal", a CSV) go through `prepare` -> `score`; the scores of
 * the normal patients are ~0 and the LAD patients' stress defect is found. Recognition tells
 * thermal from hot when the table is a candidate, and calls hot unsure (a loud WARNING on score)
 * when it is not; a normal database fitted in another colour map is a warning, refused by --strict.
 * Cohorts: 24 generated patients per colour map, easy, single-map PNGs (map 64 px, canvas 120 px).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { readImage } from '../../src/ingest/readers.js';
import { loadNormalDatabase } from '../../src/polarmap/normal-database.js';
import { loadPredictor } from '../../src/predict/predictor.js';
import { buildServer } from '../../src/serve/server.js';
import {
  BUILTIN_COLORMAPS,
  colormapFromRows,
  getColormap,
  type Colormap,
} from '../../src/polarmap/colormaps.js';
import { ColormapRecogniser, recognitionDoubt } from '../../src/polarmap/recognise-colormap.js';
import { generateCohort, writeCohort, type Cohort } from '../../src/synth/index.js';
import { cli } from '../helpers/cli.js';
import { tinyCnnTrainArgs } from '../helpers/runs.js';
import { buildTestModel, writeTestRun } from '../predict/fixtures.js';

/** A "thermal" table close to hot: black, dark violet, crimson, orange, yellow, white. */
function thermal(): Colormap {
  const stops: [number, number, number, number][] = [
    [0, 0, 0, 0],
    [0.2, 70, 0, 110],
    [0.45, 215, 25, 60],
    [0.7, 255, 140, 0],
    [0.88, 255, 225, 50],
    [1, 255, 255, 255],
  ];
  const rows: [number, number, number][] = [];
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1][0]) k++;
    const [t0, ...a] = stops[k];
    const [t1, ...b] = stops[k + 1];
    const f = (t - t0) / (t1 - t0);
    rows.push([0, 1, 2].map((c) => Math.round(a[c] + f * (b[c] - a[c]))) as [number, number, number]);
  }
  return colormapFromRows('thermal.csv', rows);
}

const THERMAL = thermal();
let root = '';
let cohort: Cohort;
let thermalCsv = '';

/** Write the cohort's single-map exports in `cm` under ROOT/NAME/raw; the raw manifest path. */
async function exportsIn(name: string, cm: Colormap): Promise<string> {
  await writeCohort(cohort, join(root, name, 'raw'), {
    layout: 'single',
    format: 'png',
    colormap: cm,
    grid: false,
    canvas: 120,
  });
  return join(root, name, 'raw', 'manifest.csv');
}

/** A patient's thermal stress and rest exports, copied as single maps named after their view (P0001_stress_ac.png). */
async function studyFiles(id: string): Promise<string[]> {
  const dir = join(root, 'study');
  await mkdir(dir, { recursive: true });
  return Promise.all(
    ['stress_ac', 'rest_ac'].map(async (v) => {
      const to = join(dir, `${id}_${v}.png`);
      await copyFile(join(root, 'thermal', 'raw', id, `${v}.png`), to);
      return to;
    }),
  );
}

type Row = Record<string, string>;
const readRows = async (out: string): Promise<Row[]> =>
  parse(await readFile(join(out, 'scores.csv'), 'utf8'), { columns: true }) as Row[];

/** Normal patients score ~0; the LAD patients' stress defect (LAD stress sum > 0) is found. */
function checkScores(rows: readonly Row[], what: string): void {
  const normals = cohort.patients.filter((p) => p.label === 0 && p.lesions.length === 0);
  const lad = cohort.patients.filter((p) => p.lesions.some((l) => l.vessel === 'LAD'));
  assert.ok(normals.length > 0 && lad.length > 0, 'the cohort has normal and LAD patients');
  const byId = new Map(rows.map((r) => [r.patient_id, r]));
  const meanSss = normals.reduce((s, p) => s + Number(byId.get(p.id)?.sss_ac), 0) / normals.length;
  assert.ok(meanSss <= 2, `${what}: normal patients' mean SSS ${meanSss.toFixed(2)} (want ~0)`);
  const found = lad.filter((p) => Number(byId.get(p.id)?.lad_stress_ac) > 0).length;
  assert.ok(found / lad.length >= 0.8, `${what}: LAD stress defect found in ${found} of ${lad.length}`);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'polarcad-cmap-e2e-'));
  cohort = generateCohort({ patients: 24, seed: 7, mapSize: 64, difficulty: 'easy' });
  thermalCsv = join(root, 'thermal.csv');
  const rows: string[] = ['r,g,b'];
  for (let i = 0; i < THERMAL.entries; i++)
    rows.push(Array.from(THERMAL.table.subarray(i * 3, i * 3 + 3)).join(','));
  await writeFile(thermalCsv, rows.join('\n') + '\n');
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the colour map end to end', () => {
  for (const name of BUILTIN_COLORMAPS) {
    test(`${name} exports: prepare recognises and records it, score reads the crops with it`, async () => {
      const raw = await exportsIn(name, getColormap(name));
      const prep = join(root, name, 'prep');
      const p = await cli(['prepare', raw, '--out', prep, '--size', '64', '--quiet']);
      assert.equal(p.code, 0, p.err);
      const report = JSON.parse(await readFile(join(prep, 'report.json'), 'utf8')) as {
        colormap: { name: string; source: string; coverage: number; rows: number[][]; doubt: string | null };
      };
      assert.equal(report.colormap.name, name);
      assert.equal(report.colormap.source, 'recognised');
      assert.equal(report.colormap.rows.length, 256);
      assert.ok(report.colormap.coverage > 0.9, `${name}: coverage ${report.colormap.coverage}`);
      assert.equal(report.colormap.doubt, null);
      const out = join(root, name, 'score');
      const s = await cli([
        'score',
        join(prep, 'manifest.csv'),
        '--out',
        out,
        '--min-normals',
        '6',
        '--resamples',
        '50',
      ]);
      assert.equal(s.code, 0, s.err);
      assert.match(s.out, new RegExp(`colour map ${name} \\(recorded by prepare, coverage \\d+\\.\\d%\\)`));
      assert.doesNotMatch(s.err, /WARNING/);
      checkScores(await readRows(out), name);
    });
  }

  test('a user table (CSV): prepare --colormap records it (given), score uses it; unsure recognition is a loud warning', async () => {
    const raw = await exportsIn('thermal', THERMAL);
    const prep = join(root, 'thermal', 'prep');
    const p = await cli(['prepare', raw, '--out', prep, '--size', '64', '--colormap', thermalCsv]);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /colour map thermal\.csv \(given, coverage \d+\.\d%\)/);
    const report = JSON.parse(await readFile(join(prep, 'report.json'), 'utf8')) as {
      colormap: { name: string; source: string; rows: number[][] };
    };
    assert.equal(report.colormap.source, 'given');
    assert.deepEqual(report.colormap.rows[120], Array.from(THERMAL.table.subarray(360, 363)));

    // score: the table travels in report.json; no file, no recognition needed
    const out = join(root, 'thermal', 'score');
    const db = join(root, 'thermal', 'db.json');
    const s = await cli([
      'score',
      join(prep, 'manifest.csv'),
      '--out',
      out,
      '--min-normals',
      '6',
      '--resamples',
      '50',
      '--save-normal-db',
      db,
    ]);
    assert.equal(s.code, 0, s.err);
    assert.match(s.out, /colour map thermal\.csv \(recorded by prepare, coverage \d+\.\d%\)/);
    checkScores(await readRows(out), 'thermal.csv');

    // the same exports without the table: hot recognised unsure -> a loud WARNING
    const prepHot = join(root, 'thermal', 'prep-hot');
    const ph = await cli(['prepare', raw, '--out', prepHot, '--size', '64', '--quiet']);
    assert.equal(ph.code, 0, ph.err);
    assert.match(ph.err, /polarcad prepare: WARNING: the colour map hot was recognised unsure/);
    const s2 = await cli([
      'score',
      raw,
      '--out',
      join(root, 'thermal', 'score-hot'),
      '--min-normals',
      '6',
      '--resamples',
      '50',
    ]);
    assert.equal(s2.code, 0, s2.err);
    assert.match(s2.out, /colour map hot \(recognised, coverage \d+\.\d%\)/);
    assert.match(s2.err, /polarcad score: WARNING: the colour map hot was recognised unsure/);

    // a normal database fitted with thermal maps, used on maps read in hot: warning; --strict refuses
    const hotOut = join(root, 'thermal', 'score-db');
    const base = [
      'score',
      join(prepHot, 'manifest.csv'),
      '--normal-db',
      db,
      '--split',
      'all-train',
      '--resamples',
      '20',
    ];
    const w = await cli([...base, '--out', hotOut]);
    assert.equal(w.code, 0, w.err);
    assert.match(
      w.err,
      /WARNING: the maps are read in hot, but the normal database was fitted with thermal\.csv maps/,
    );
    const strict = await cli([...base, '--out', join(root, 'thermal', 'strict'), '--strict']);
    assert.equal(strict.code, 2);
    assert.match(strict.err, /fitted with thermal\.csv maps.*refused \(strict\)/);
  });

  test('recognition: thermal exports are thermal when the table is a candidate; among the built-ins only, hot is unsure', async () => {
    // the crops prepared in the test above (cleaned with the thermal table)
    const withThermal = new ColormapRecogniser({
      candidates: [THERMAL, ...BUILTIN_COLORMAPS.map((n) => getColormap(n))],
    });
    const builtinsOnly = new ColormapRecogniser();
    for (const p of cohort.patients.slice(0, 8)) {
      const crop = await readImage(join(root, 'thermal', 'prep', p.id, 'stress_ac.png'));
      withThermal.add(crop);
      builtinsOnly.add(crop);
    }
    const a = withThermal.result();
    assert.equal(a.colormap.name, 'thermal.csv');
    assert.ok(a.coverage > 0.9, `thermal covers ${a.coverage}`);
    assert.equal(recognitionDoubt(a), null, 'sure: hot is far behind');
    const b = builtinsOnly.result();
    assert.equal(b.colormap.name, 'hot');
    assert.ok(b.coverage < 0.9, `hot covers only ${b.coverage} of thermal exports`);
    assert.match(recognitionDoubt(b) ?? '', /hot was recognised unsure: only \d+\.\d% coverage/);
  });
  test('train --model cnn --colormap thermal.csv records the table with the run; predict reads SSS/SRS/SDS with it', async () => {
    const run = join(root, 'thermal', 'cnn');
    const t = await cli(
      tinyCnnTrainArgs(join(root, 'thermal', 'prep', 'manifest.csv'), run, {
        inputSize: 96,
        warmupEpochs: 1,
        cacheDir: join(root, 'cache'),
        extra: ['--views', 'stress_ac', '--colormap', thermalCsv],
      }),
    );
    assert.equal(t.code, 0, t.err);
    const info = JSON.parse(await readFile(join(run, 'model', 'polarcad.json'), 'utf8')) as {
      colormap: string;
      colormapSource: string;
      colormapTable: { name: string; rows: number[][] };
    };
    assert.equal(info.colormap, 'thermal.csv');
    assert.equal(info.colormapSource, 'given');
    assert.deepEqual(info.colormapTable.rows[200], Array.from(THERMAL.table.subarray(600, 603)));

    // one normal study exported in thermal, scored with the run's table and the thermal normal database
    const normal = cohort.patients.find((p) => p.label === 0 && p.lesions.length === 0);
    assert.ok(normal);
    const files = await studyFiles(normal.id);
    const db = join(root, 'thermal', 'db.json');
    const r = await cli(['predict', run, ...files, '--normal-db', db, '--format', 'json']);
    assert.equal(r.code, 0, r.err);
    const [row] = JSON.parse(r.out) as {
      scores: { available: boolean; colormap: string; colormapSource: string; AC: { sss: number } };
      warnings: string[];
    }[];
    assert.equal(row.scores.available, true);
    assert.equal(row.scores.colormap, 'thermal.csv');
    assert.equal(row.scores.colormapSource, 'run');
    assert.ok(row.scores.AC.sss <= 3, `normal SSS ${row.scores.AC.sss} (want ~0)`);
    assert.deepEqual(row.warnings, [], "the study is in the run's own (user) table: no colour-map warning");
    assert.doesNotMatch(r.err, /WARNING/);
  });

  test('predict with a run that records no colour map: an unsure recognition is a loud warning in the JSON and on stderr', async () => {
    const model = await buildTestModel();
    try {
      const run = await writeTestRun(join(root, 'plain-run'), model);
      const p = cohort.patients.find((x) => x.label === 0 && x.lesions.length === 0);
      assert.ok(p);
      const files = await studyFiles(p.id);
      const r = await cli([
        'predict',
        run,
        ...files,
        '--normal-db',
        join(root, 'thermal', 'db.json'),
        '--format',
        'json',
      ]);
      assert.equal(r.code, 0, r.err);
      const [row] = JSON.parse(r.out) as {
        scores: { colormap: string; colormapSource: string; warning: string | null; reason: string | null };
        warnings: string[];
      }[];
      assert.equal(row.scores.colormap, 'hot', row.scores.reason ?? '');
      assert.equal(row.scores.colormapSource, 'recognised');
      assert.match(
        row.scores.warning ?? '',
        /the colour map hot was recognised unsure: only \d+\.\d% coverage/,
      );
      assert.ok(
        row.warnings.some((w) => /recognised unsure/.test(w)),
        row.warnings.join(' | '),
      );
      assert.match(r.err, /polarcad predict: WARNING: .*recognised unsure/);

      // the same study sent to `serve`: the API answer carries the same loud warning (the page
      // prints result.warnings above the result, src/serve/static/app.js)
      const predictor = await loadPredictor(run, {
        threads: 1,
        normalDb: await loadNormalDatabase(join(root, 'thermal', 'db.json')),
      });
      const app = await buildServer(predictor, { logStream: new PassThrough() });
      try {
        const form = new FormData();
        // serve takes a map's view from its form field (file names are not read: privacy)
        for (const f of files)
          form.append(
            basename(f, '.png').replace(/^.*_(stress|rest)_/, '$1_'),
            new Blob([await readFile(f)]),
            'map.png',
          );
        const req = new Request('http://localhost/', { method: 'POST', body: form });
        const csrf = (await app.inject({ method: 'GET', url: '/api/session' })).json<{ csrf: string }>().csrf;
        const res = await app.inject({
          method: 'POST',
          url: '/api/predict',
          payload: Buffer.from(await req.arrayBuffer()),
          headers: { 'content-type': req.headers.get('content-type') as string, 'x-polarcad-csrf': csrf },
        });
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json<{ warnings: string[]; scores: { colormapSource: string } }>();
        assert.equal(body.scores.colormapSource, 'recognised');
        assert.ok(
          body.warnings.some((w) => /hot was recognised unsure/.test(w)),
          body.warnings.join(' | '),
        );
      } finally {
        await app.close();
        await predictor.dispose();
      }
    } finally {
      model.dispose();
    }
  });
});
