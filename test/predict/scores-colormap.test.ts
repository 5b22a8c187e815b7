/**
 * The colour map is carried end to end into SSS/SRS/SDS (issue 13): `predict` and `serve` read the
 * maps with --colormap when given, else with the colour map recorded with the trained run, else
 * the one recognised in the study, and say which. A normal patient exported in `cool` scores near 0
 * through a run that recorded `cool`, and clearly higher when forced to the wrong map.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { getColormap } from '../../src/polarmap/colormaps.js';
import {
  buildNormalDatabase,
  saveNormalDatabase,
  viewAcquisition,
  type NormalDatabase,
  type NormalSample,
} from '../../src/polarmap/normal-database.js';
import { segmentMeans } from '../../src/polarmap/read-uptake.js';
import { loadPredictor } from '../../src/predict/predictor.js';
import { predictStudy, runColormap } from '../../src/predict/study.js';
import { buildServer } from '../../src/serve/server.js';
import { InputError } from '../../src/util/errors.js';
import { cli } from '../helpers/cli.js';
import { buildTestModel, pageBytes, testPatient, writeTestRun } from './fixtures.js';

let dir = '';
let model: tf.LayersModel;
let coolRun = '';
let plainRun = '';
let db: NormalDatabase;
let dbFile = '';
let page = '';
let coolBytes: Buffer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-scores-cm-'));
  model = await buildTestModel();
  coolRun = await writeTestRun(join(dir, 'cool-run'), model, { colormap: 'cool' });
  plainRun = await writeTestRun(join(dir, 'plain-run'), model);
  const samples: NormalSample[] = [];
  for (let i = 0; i < 12; i++) {
    const p = testPatient(i, 0, 101);
    for (const v of ['stress_ac', 'rest_ac'] as const)
      samples.push({ ...viewAcquisition(v), segments: segmentMeans(p.maps[v]), id: `${p.id}/${v}` });
  }
  db = buildNormalDatabase(samples, { minStudies: 10 });
  dbFile = join(dir, 'normal-db.json');
  await saveNormalDatabase(dbFile, db);
  coolBytes = await pageBytes(testPatient(4, 0, 101), 'png', getColormap('cool'));
  page = join(dir, 'P0005.png');
  await writeFile(page, coolBytes);
});
after(async () => {
  model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("the scores' colour map", () => {
  test('runColormap: the name recorded in polarcad.json; null when the run records none', async () => {
    const cool = await loadPredictor(coolRun, { threads: 1 });
    const plain = await loadPredictor(plainRun, { threads: 1 });
    try {
      assert.equal(runColormap(cool)?.name, 'cool');
      assert.equal(runColormap(plain), null);
    } finally {
      await cool.dispose();
      await plain.dispose();
    }
  });

  test("predictStudy: the run's colour map (SSS near 0 for a normal), --colormap overrides it (wrong map: higher SSS), recognition without either", async () => {
    const p = await loadPredictor(coolRun, { threads: 1, normalDb: db });
    const plain = await loadPredictor(plainRun, { threads: 1, normalDb: db });
    try {
      const files = [{ bytes: coolBytes, name: 'page.png' }];
      const run = (await predictStudy(p, { files })).result.scores;
      assert.equal(run.available, true, run.reason ?? '');
      assert.equal(run.colormap, 'cool');
      assert.equal(run.colormapSource, 'run');
      assert.ok(run.AC!.sss <= 2, `SSS ${run.AC!.sss}`);
      const wrong = (await predictStudy(p, { files }, { colormap: getColormap('rainbow') })).result.scores;
      assert.equal(wrong.colormapSource, 'given');
      assert.equal(wrong.colormap, 'rainbow');
      assert.equal(wrong.available, true, wrong.reason ?? '');
      assert.ok(wrong.AC!.sss >= run.AC!.sss + 10, `wrong-map SSS ${wrong.AC!.sss} vs ${run.AC!.sss}`);
      const recognised = (await predictStudy(plain, { files })).result.scores;
      assert.equal(recognised.colormapSource, 'recognised');
      assert.equal(recognised.colormap, 'cool');
      assert.equal(recognised.AC!.sss, run.AC!.sss);
      assert.equal(recognised.warning, null, 'a sure recognition (no doubt) adds no warning');
    } finally {
      await p.dispose();
      await plain.dispose();
    }
  });

  test('a normal database fitted with another colour map: a loud warning, refused under strict', async () => {
    const fitted = await loadPredictor(coolRun, { threads: 1, normalDb: { ...db, colormap: 'cool' } });
    try {
      const files = [{ bytes: coolBytes, name: 'page.png' }];
      const same = (await predictStudy(fitted, { files })).result;
      assert.equal(same.scores.warning, null);
      assert.deepEqual(same.warnings, []);
      const other = (await predictStudy(fitted, { files }, { colormap: getColormap('rainbow') })).result;
      assert.match(
        other.scores.warning ?? '',
        /the maps are read in rainbow, but the normal database was fitted with cool maps/,
      );
      assert.ok(other.warnings.includes(other.scores.warning ?? ''));
      await assert.rejects(
        predictStudy(fitted, { files }, { colormap: getColormap('rainbow'), strict: true }),
        (e: Error) => e instanceof InputError && /fitted with cool maps.*refused \(strict\)/.test(e.message),
      );
      // a database that records no colour map (older files) warns about nothing
      const unstamped = await loadPredictor(coolRun, { threads: 1, normalDb: db });
      try {
        const old = (await predictStudy(unstamped, { files }, { colormap: getColormap('rainbow') })).result;
        assert.equal(old.scores.warning, null);
      } finally {
        await unstamped.dispose();
      }
    } finally {
      await fitted.dispose();
    }
  });

  test('predict CLI: says which colour map the scores used (table, JSON); --colormap overrides the run', async () => {
    const table = await cli(['predict', coolRun, page, '--normal-db', dbFile]);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /SSS\/SRS\/SDS read in colour map cool \(recorded with the trained run\)/);
    const json = await cli([
      'predict',
      coolRun,
      page,
      '--normal-db',
      dbFile,
      '--colormap',
      'rainbow',
      '--format',
      'json',
    ]);
    assert.equal(json.code, 0, json.err);
    const rows = JSON.parse(json.out) as { scores: { colormap: string; colormapSource: string } }[];
    assert.equal(rows[0].scores.colormap, 'rainbow');
    assert.equal(rows[0].scores.colormapSource, 'given');
  });

  test('serve: the colour map it was started with (--colormap) reads the uploads', async () => {
    const p = await loadPredictor(coolRun, { threads: 1, normalDb: db });
    /** POST the page to a server built with (or without) a colour map. */
    const post = async (colormap?: 'rainbow'): Promise<{ colormap: string; colormapSource: string }> => {
      const app = await buildServer(p, {
        logLevel: 'silent',
        ...(colormap !== undefined ? { colormap: getColormap(colormap) } : {}),
      });
      try {
        const csrf = (await app.inject({ method: 'GET', url: '/api/session' })).json<{ csrf: string }>().csrf;
        const form = new FormData();
        form.append('page', new Blob([coolBytes]), 'page.png');
        const req = new Request('http://localhost/', { method: 'POST', body: form });
        const r = await app.inject({
          method: 'POST',
          url: '/api/predict',
          payload: Buffer.from(await req.arrayBuffer()),
          headers: { 'content-type': req.headers.get('content-type') as string, 'x-polarcad-csrf': csrf },
        });
        assert.equal(r.statusCode, 200, r.body);
        return (JSON.parse(r.body) as { scores: { colormap: string; colormapSource: string } }).scores;
      } finally {
        await app.close();
      }
    };
    try {
      assert.deepEqual(await post().then((s) => [s.colormap, s.colormapSource]), ['cool', 'run']);
      assert.deepEqual(await post('rainbow').then((s) => [s.colormap, s.colormapSource]), [
        'rainbow',
        'given',
      ]);
    } finally {
      await p.dispose();
    }
  });
});
