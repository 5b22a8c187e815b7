/**
 * Reading a user's files (issue 12): only regular files, up to a size limit. A symlink to
 * /dev/zero or /dev/urandom and a FIFO are refused at once (no memory growth, no hang), through the
 * helper, through `polarcad predict` and `polarcad prepare` (manifest), and for SPECT volumes
 * (`polarcad polarmap`) and Keras weight files. (Model files and checkpoints: test/rundir/model.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { isPreparedManifest } from '../../src/evaluate/semiquant-read.js';
import { loadManifest } from '../../src/ingest/manifest.js';
import { readKerasH5 } from '../../src/models/weights/h5.js';
import { resolveWeights } from '../../src/models/weights/resolve.js';
import { InputError } from '../../src/util/errors.js';
import { readInputFile } from '../../src/util/read-input.js';
import { readVolume } from '../../src/volume/read.js';
import { cli } from '../helpers/cli.js';
import { buildTestModel, singleMapBytes, testPatient, writeTestRun } from '../predict/fixtures.js';

let dir = '';
let fifo = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-read-input-'));
  fifo = join(dir, 'P0001_stress_ac.png');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  await symlink('/dev/zero', join(dir, 'P0002_stress_ac.png'));
  await symlink('/dev/urandom', join(dir, 'urandom.csv'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const refused = (what: RegExp) => (e: unknown) => e instanceof InputError && what.test(e.message);

describe('readInputFile', () => {
  test('a regular file is read; a device, a FIFO, a folder and an oversized file are refused', async () => {
    const ok = join(dir, 'ok.csv');
    await writeFile(ok, 'a,b\n');
    assert.equal((await readInputFile(ok, 'table')).toString(), 'a,b\n');
    await assert.rejects(
      readInputFile(join(dir, 'P0002_stress_ac.png'), 'image'),
      refused(/not a regular file/),
    );
    await assert.rejects(readInputFile(join(dir, 'urandom.csv'), 'table'), refused(/not a regular file/));
    await assert.rejects(
      readInputFile(fifo, 'image'),
      refused(/P0001_stress_ac\.png: is not a regular file/),
    );
    await assert.rejects(readInputFile(dir, 'image'), refused(/is a directory/));
    await assert.rejects(readInputFile(ok, 'table', 3), refused(/larger than the .* limit for a table/));
    await assert.rejects(readInputFile(join(dir, 'none.png'), 'image'), refused(/none\.png: file not found/));
  });
});

describe('volumes and weight files', () => {
  test(
    'a volume that is a FIFO or a symlink to /dev/zero is refused at once',
    { timeout: 30_000 },
    async () => {
      const volFifo = join(dir, 'rest.nii');
      assert.equal(spawnSync('mkfifo', [volFifo]).status, 0, 'mkfifo');
      await assert.rejects(readVolume(volFifo), refused(/rest\.nii: is not a regular file/));
      const volZero = join(dir, 'stress.nii.gz');
      await symlink('/dev/zero', volZero);
      await assert.rejects(readVolume(volZero), refused(/stress\.nii\.gz: is not a regular file/));
    },
  );

  test("a prepared folder's report.json that is a FIFO is not waited on", { timeout: 30_000 }, async () => {
    const data = join(dir, 'prepared');
    await mkdir(data);
    await writeFile(join(data, 'P1_stress_ac.png'), await singleMapBytes(testPatient(0, 1), 'stress_ac'));
    await writeFile(join(data, 'manifest.csv'), 'patient_id,label,stress_ac\nP1,CAD,P1_stress_ac.png\n');
    assert.equal(spawnSync('mkfifo', [join(data, 'report.json')]).status, 0, 'mkfifo');
    assert.equal(await isPreparedManifest(await loadManifest(join(data, 'manifest.csv'))), false);
  });

  test(
    '--weights naming a FIFO or /dev/urandom is refused, not hashed for ever',
    { timeout: 30_000 },
    async () => {
      const fifoWeights = join(dir, 'fifo-weights.h5');
      assert.equal(spawnSync('mkfifo', [fifoWeights]).status, 0, 'mkfifo');
      await assert.rejects(
        resolveWeights('MobileNetV2', fifoWeights),
        refused(/fifo-weights\.h5: is not a regular file/),
      );
      const random = join(dir, 'random-weights.h5');
      await symlink('/dev/urandom', random);
      await assert.rejects(
        resolveWeights('MobileNetV2', random),
        refused(/random-weights\.h5: is not a regular file/),
      );
    },
  );

  test(
    'a Keras weights file that is a FIFO is refused, not reported missing',
    { timeout: 30_000 },
    async () => {
      const h5 = join(dir, 'weights.h5');
      assert.equal(spawnSync('mkfifo', [h5]).status, 0, 'mkfifo');
      await assert.rejects(readKerasH5(h5), refused(/weights\.h5: not a regular file/));
    },
  );
});

describe('through the CLI', () => {
  let model: tf.LayersModel;
  let run = '';
  before(async () => {
    model = await buildTestModel();
    run = await writeTestRun(join(dir, 'run'), model);
    await writeFile(join(dir, 'P0003_stress_ac.png'), await singleMapBytes(testPatient(0, 1), 'stress_ac'));
  });
  after(() => model?.dispose());

  test(
    'predict refuses a symlink to /dev/zero and a FIFO, and still answers the good study',
    { timeout: 60_000 },
    async () => {
      const r = await cli([
        'predict',
        run,
        fifo,
        join(dir, 'P0002_stress_ac.png'),
        join(dir, 'P0003_stress_ac.png'),
        '--format',
        'csv',
      ]);
      assert.equal(r.code, 2);
      assert.match(r.err, /P0001_stress_ac\.png: is not a regular file/);
      assert.match(r.err, /P0002_stress_ac\.png: is not a regular file/);
      assert.match(r.out, /^P0003,/m);
    },
  );

  test('prepare refuses a manifest that is a device', { timeout: 30_000 }, async () => {
    const r = await cli(['prepare', join(dir, 'urandom.csv'), '--out', join(dir, 'out')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /urandom\.csv: is not a regular file/);
  });
});
