import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type * as tf from '@tensorflow/tfjs';
import { loadPredictor, type Predictor } from '../../src/predict/predictor.js';
import { buildServer } from '../../src/serve/server.js';
import { buildTestModel, writeTestRun } from '../predict/fixtures.js';
import { patientPhantom, resolveCohortOptions } from '../../src/synth/cohort.js';
import { phantomVolume, sampleAnatomy } from '../../src/synth/volume.js';
import { encodeNifti } from '../../src/volume/nifti.js';

let tmp = '';
let model: tf.LayersModel;
let predictor: Predictor;
let app: FastifyInstance;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-serve-volume-'));
  model = await buildTestModel();
  predictor = await loadPredictor(await writeTestRun(join(tmp, 'run'), model), { threads: 1 });
  app = await buildServer(predictor, { logStream: new Writable({ write: (_c, _e, cb) => cb() }) });
});
after(async () => {
  await app?.close();
  await predictor?.dispose();
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

async function post(parts: readonly [string, Uint8Array, string][]) {
  const form = new FormData();
  for (const [field, bytes, filename] of parts) form.append(field, new Blob([bytes]), filename);
  const req = new Request('http://localhost/', { method: 'POST', body: form });
  return app.inject({
    method: 'POST',
    url: '/api/predict',
    payload: Buffer.from(await req.arrayBuffer()),
    headers: {
      'content-type': req.headers.get('content-type') as string,
      'x-polarcad-csrf': (await app.inject({ method: 'GET', url: '/api/session' })).json<{ csrf: string }>().csrf,
    },
  });
}

test('POST /api/predict accepts a NIfTI volume in place of a map; a truncated one is a 400', async () => {
  const opts = resolveCohortOptions({ patients: 1, seed: 21, mapSize: 64 });
  const { rng, grid, fields } = patientPhantom(21, 0, 0, opts);
  const anatomy = sampleAnatomy(rng.fork('a'));
  const views = predictor.views;
  const parts: [string, Uint8Array, string][] = views.map((v) => [
    v,
    encodeNifti(phantomVolume(grid, fields.views[v], anatomy, 120, rng.fork(v)).volume),
    `${v}.nii.gz`,
  ]);
  const res = await post(parts);
  assert.equal(res.statusCode, 200, res.body);
  const p = res.json<{ probability: number }>().probability;
  assert.ok(p >= 0 && p <= 1);
  const cut = parts[0][1].subarray(0, 1000);
  const bad = await post([[views[0], cut, 'cut.nii.gz'], ...parts.slice(1)]);
  assert.equal(bad.statusCode, 400, bad.body);
  assert.match(bad.json<{ error: string }>().error, /\.nii\.gz file is truncated/);
});
