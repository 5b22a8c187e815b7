/**
 * A study in another colour map than the training maps' (issue 12: a greyscale copy of a rainbow
 * map flipped the call silently): `prepare` records the cohort's colour map, `train` keeps it in
 * the model's polarcad.json, and `predict` / `serve` warn (CLI, JSON answer, CSV) or refuse with
 * --strict. Maps in the training colour map get no warning.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type * as tf from '@tensorflow/tfjs';
import { prepare, preparedColormap } from '../../src/ingest/prepare.js';
import { getColormap } from '../../src/polarmap/colormaps.js';
import { loadPredictor } from '../../src/predict/predictor.js';
import { buildServer } from '../../src/serve/server.js';
import { generateCohort, writeCohort } from '../../src/synth/index.js';
import { cli } from '../helpers/cli.js';
import { buildTestModel, singleMapBytes, testPatient, writeTestRun } from './fixtures.js';

let dir = '';
let model: tf.LayersModel;
let run = '';
let rainbow = '';
let grey = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-cm-warning-'));
  model = await buildTestModel();
  run = await writeTestRun(join(dir, 'run'), model, { colormap: 'rainbow' });
  const bytes = await singleMapBytes(testPatient(0, 1), 'stress_ac');
  rainbow = join(dir, 'P0001_stress_ac.png');
  grey = join(dir, 'P0002_stress_ac.png');
  await writeFile(rainbow, bytes);
  await writeFile(grey, await sharp(bytes).greyscale().toColourspace('srgb').png().toBuffer());
});
after(async () => {
  model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('colour map of the training maps', () => {
  test('prepare records the cohort colour map; preparedColormap reads it back for train', async () => {
    const raw = join(dir, 'cohort');
    await writeCohort(generateCohort({ patients: 4, seed: 5, mapSize: 64 }), raw, {
      layout: 'single',
      format: 'png',
      colormap: getColormap('rainbow'),
      grid: true,
      canvas: 160,
    });
    const out = join(dir, 'prepared');
    const report = await prepare(join(raw, 'manifest.csv'), { out, size: 64 });
    assert.equal(report.colormap?.name, 'rainbow');
    const onDisk = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as {
      colormap: { name: string };
    };
    assert.equal(onDisk.colormap.name, 'rainbow');
    assert.equal((await preparedColormap(join(out, 'manifest.csv')))?.colormap.name, 'rainbow');
    assert.equal(await preparedColormap(join(raw, 'manifest.csv')), null);
  });

  test('predict warns about a greyscale copy (stderr, JSON, CSV) and refuses it with --strict', async () => {
    const json = await cli(['predict', run, rainbow, grey, '--format', 'json']);
    assert.equal(json.code, 0, json.err);
    const rows = JSON.parse(json.out) as { study: string; warnings: string[] }[];
    assert.deepEqual(rows.find((r) => r.study === 'P0001')?.warnings, []);
    const w = rows.find((r) => r.study === 'P0002')?.warnings ?? [];
    assert.equal(w.length, 1);
    assert.match(w[0], /look like the gray colour map, but the model was trained on rainbow maps/);
    assert.match(json.err, /WARNING: P0002: the maps look like the gray colour map/);
    assert.doesNotMatch(json.err, /P0001/);
    const csv = await cli(['predict', run, grey, '--format', 'csv']);
    assert.match(csv.out, /trained on rainbow maps/);
    const strict = await cli(['predict', run, rainbow, grey, '--strict', '--format', 'csv']);
    assert.equal(strict.code, 2);
    assert.match(strict.err, /P0002: the maps look like the gray colour map.*refused \(strict\)/);
  });

  test('serve puts the warning into the answer, and refuses the study when started with --strict', async () => {
    const predictor = await loadPredictor(run, { threads: 1 });
    /** POST the grey map to a server built with `strict`. */
    const post = async (strict: boolean): Promise<{ statusCode: number; body: string }> => {
      const app = await buildServer(predictor, { logLevel: 'silent', strict });
      try {
        const csrf = (await app.inject({ method: 'GET', url: '/api/session' })).json<{ csrf: string }>().csrf;
        const form = new FormData();
        form.append('stress_ac', new Blob([await readFile(grey)]), 'upload');
        const req = new Request('http://localhost/', { method: 'POST', body: form });
        return await app.inject({
          method: 'POST',
          url: '/api/predict',
          payload: Buffer.from(await req.arrayBuffer()),
          headers: { 'content-type': req.headers.get('content-type') as string, 'x-polarcad-csrf': csrf },
        });
      } finally {
        await app.close();
      }
    };
    try {
      const r = await post(false);
      assert.equal(r.statusCode, 200, r.body);
      assert.match((JSON.parse(r.body) as { warnings: string[] }).warnings[0], /trained on rainbow maps/);
      const strict = await post(true);
      assert.equal(strict.statusCode, 400, strict.body);
      assert.match(strict.body, /the maps look like the gray colour map.*refused \(strict\)/);
    } finally {
      await predictor.dispose();
    }
  });
});
