/**
 * The saved model as a contract (src/rundir/model.ts): checksums written at save time and verified
 * at load, the self-check (reference outputs re-run at load), complete runs only, schema versions,
 * and checksummed training checkpoints. Each broken model is refused with a message naming the file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/backend.js';
import { openSavedModel, readModelInfo, selfCheckInputs } from '../../src/rundir/model.js';
import { loadPredictor } from '../../src/predict/predictor.js';
import { getColormap } from '../../src/polarmap/colormaps.js';
import { generateCohort, writeCohort } from '../../src/synth/index.js';
import {
  checkpointPath,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from '../../src/train/checkpoint.js';
import { InputError } from '../../src/util/errors.js';
import { sha256Hex } from '../../src/util/hash.js';
import { cli } from '../helpers/cli.js';
import { buildTestModel, singleMapBytes, testPatient, writeTestRun } from '../predict/fixtures.js';

let tmp = '';
let good = '';

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-rundir-'));
  const model = await buildTestModel();
  good = await writeTestRun(join(tmp, 'good'), model);
  model.dispose();
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A copy of the good run to break. */
async function copyRun(name: string): Promise<string> {
  const d = join(tmp, name);
  await cp(good, d, { recursive: true });
  return d;
}

/** Rewrite a model file and record its new checksum, as a tool that "fixes up" a model would. */
async function rewriteWithChecksum(run: string, file: string, bytes: Uint8Array | string): Promise<void> {
  await writeFile(join(run, 'model', file), bytes);
  const infoPath = join(run, 'model', 'polarcad.json');
  const info = JSON.parse(await readFile(infoPath, 'utf8'));
  info.checksums[file] = sha256Hex(typeof bytes === 'string' ? bytes : bytes);
  await writeFile(infoPath, JSON.stringify(info));
}

describe('saved model integrity', () => {
  test('a saved model records version, checksums and self-check outputs, and loads', async () => {
    const info = await readModelInfo(join(good, 'model'));
    assert.equal(info.schemaVersion, 2);
    assert.deepEqual(Object.keys(info.checksums ?? {}).sort(), ['model.json', 'weights.bin']);
    assert.equal(
      info.checksums?.['weights.bin'],
      sha256Hex(await readFile(join(good, 'model', 'weights.bin'))),
    );
    const rows = info.selfCheck?.outputs ?? [];
    assert.equal(rows.length, 2);
    for (const r of rows) assert.ok(Math.abs(r[0] + r[1] - 1) < 1e-5, 'softmax outputs sum to 1');
    // loading via the run folder and via RUN/model gives the same verified model
    for (const p of [good, join(good, 'model')]) {
      const m = await openSavedModel(p);
      assert.equal(m.runDir, good);
      const x = selfCheckInputs(info.selfCheck?.seed ?? '', 2, info.inputSize, info.scaling);
      const y = (m.model.predict(x) as tf.Tensor).arraySync() as number[][];
      assert.ok(Math.abs(y[1][1] - rows[1][1]) < 1e-6);
      x.dispose();
      m.model.dispose();
    }
  });

  test('a flipped bit in weights.bin is a checksum error naming the file', async () => {
    const run = await copyRun('flipped');
    const w = new Uint8Array(await readFile(join(run, 'model', 'weights.bin')));
    w[100] ^= 0x10;
    await writeFile(join(run, 'model', 'weights.bin'), w);
    await assert.rejects(openSavedModel(run), /weights\.bin: SHA-256 mismatch/);
  });

  test('NaN weights (checksum updated) fail the self-check', async () => {
    const run = await copyRun('nan');
    const w = new Uint8Array(await readFile(join(run, 'model', 'weights.bin')));
    const f = new Float32Array(w.buffer, w.byteOffset, w.byteLength / 4);
    f.fill(NaN, f.length - 64); // the head's last weights
    await rewriteWithChecksum(run, 'weights.bin', w);
    await assert.rejects(openSavedModel(run), /polarcad\.json: self-check failed/);
  });

  test('model.json with softmax replaced by linear (checksum updated) fails the self-check', async () => {
    const run = await copyRun('linear');
    const text = await readFile(join(run, 'model', 'model.json'), 'utf8');
    assert.match(text, /"activation":"softmax"/);
    await rewriteWithChecksum(
      run,
      'model.json',
      text.replace('"activation":"softmax"', '"activation":"linear"'),
    );
    await assert.rejects(openSavedModel(run), /self-check failed/);
  });

  test('an unfinished run is refused; a newer schema version is refused; a version-1 model still loads', async () => {
    const running = await copyRun('running');
    const cfg = JSON.parse(await readFile(join(running, 'config.json'), 'utf8'));
    await writeFile(join(running, 'config.json'), JSON.stringify({ ...cfg, status: 'running' }));
    await assert.rejects(
      openSavedModel(running),
      /the run is not complete \(config\.json status "running"\)/,
    );

    const newer = await copyRun('newer');
    const infoPath = join(newer, 'model', 'polarcad.json');
    const info = JSON.parse(await readFile(infoPath, 'utf8'));
    await writeFile(infoPath, JSON.stringify({ ...info, schemaVersion: 99 }));
    await assert.rejects(openSavedModel(newer), /schema version 99 was written by a newer polarcad/);

    const v1 = await copyRun('v1');
    const { schemaVersion: _v, checksums: _c, selfCheck: _s, kind: _k, ...old } = info;
    await writeFile(join(v1, 'model', 'polarcad.json'), JSON.stringify(old));
    const m = await openSavedModel(v1);
    assert.equal(m.info.schemaVersion, undefined);
    m.model.dispose();
  });

  test(
    'one source of truth: evaluate, predict and serve all refuse the same corrupted weights.bin',
    { timeout: 120_000 },
    async () => {
      // the probe: 200 flipped bits made predict/serve answer p 0.4999 while evaluate (which read
      // model.onnx) still reported the original AUC; now every consumer loads model/ and checks it
      const run = await copyRun('flipped-200');
      const w = new Uint8Array(await readFile(join(run, 'model', 'weights.bin')));
      for (let i = 0; i < 200; i++) w[(i * 7919) % w.length] ^= 1 << (i % 8);
      await writeFile(join(run, 'model', 'weights.bin'), w);
      const data = join(tmp, 'cohort-200');
      await writeCohort(generateCohort({ patients: 6, seed: 5, mapSize: 64 }), data, {
        layout: 'single',
        format: 'png',
        colormap: getColormap('rainbow'),
        grid: true,
        canvas: 160,
      });
      const mismatch = /model[/\\]weights\.bin: SHA-256 mismatch/;
      const ev = await cli(['evaluate', run, join(data, 'manifest.csv'), '--out', join(tmp, 'eval-200')]);
      assert.equal(ev.code, 2, ev.err);
      assert.match(ev.err, mismatch);
      const image = join(tmp, 'P0001_stress_ac.png');
      await writeFile(image, await singleMapBytes(testPatient(0, 1), 'stress_ac'));
      const pr = await cli(['predict', run, image]);
      assert.equal(pr.code, 2, pr.err);
      assert.match(pr.err, mismatch);
      await assert.rejects(loadPredictor(run, { threads: 1 }), mismatch); // serve's loader
    },
  );

  test(
    'a model file or config.json that is a device or a FIFO is refused at once (no endless hashing, no hang)',
    { timeout: 60_000 },
    async () => {
      const notRegular = (name: RegExp) => (e: unknown) =>
        e instanceof InputError && name.test(e.message) && /not a regular file/.test(e.message);
      const zero = await copyRun('dev-zero');
      await rm(join(zero, 'model', 'weights.bin'));
      await symlink('/dev/zero', join(zero, 'model', 'weights.bin'));
      await assert.rejects(openSavedModel(zero), notRegular(/weights\.bin/));
      const fifo = await copyRun('fifo');
      await rm(join(fifo, 'model', 'weights.bin'));
      assert.equal(spawnSync('mkfifo', [join(fifo, 'model', 'weights.bin')]).status, 0, 'mkfifo');
      await assert.rejects(openSavedModel(fifo), notRegular(/weights\.bin/));
      const info = await copyRun('info-zero');
      await rm(join(info, 'model', 'polarcad.json'));
      await symlink('/dev/urandom', join(info, 'model', 'polarcad.json'));
      await assert.rejects(openSavedModel(info), notRegular(/polarcad\.json/));
      const cfg = await copyRun('config-fifo');
      await rm(join(cfg, 'config.json'));
      assert.equal(spawnSync('mkfifo', [join(cfg, 'config.json')]).status, 0, 'mkfifo');
      await assert.rejects(openSavedModel(cfg), notRegular(/config\.json/));
    },
  );

  test('a missing model file is named', async () => {
    const run = await copyRun('missing');
    await rm(join(run, 'model', 'weights.bin'));
    await assert.rejects(openSavedModel(run), /weights\.bin: missing/);
  });
});

describe('checkpoints carry a checksum', () => {
  test('a changed byte in a checkpoint body is refused; the intact one round-trips', () => {
    const arrays = new Map([['w', Float32Array.from([1, 2, 3, 4])]]);
    const buf = encodeCheckpoint({ stage: 'warmup', epoch: 3 }, arrays);
    const ok = decodeCheckpoint<{ stage: string; epoch: number }>(buf, 'warmup.ckpt');
    assert.deepEqual(ok.meta, { stage: 'warmup', epoch: 3 });
    assert.deepEqual(Array.from(ok.arrays.get('w') ?? []), [1, 2, 3, 4]);
    const bad = Buffer.from(buf);
    bad[bad.length - 40] ^= 0x01; // inside the arrays
    assert.throws(() => decodeCheckpoint(bad, 'warmup.ckpt'), /warmup\.ckpt: checksum mismatch/);
  });

  test('--resume refuses a checkpoint with a changed byte anywhere: magic, header (epoch), arrays, checksum', async () => {
    const dir = join(tmp, 'ckpt');
    const arrays = new Map([['w', Float32Array.from([0.5, -1.25, 3])]]);
    await saveCheckpoint(dir, 'finetune', { stage: 'finetune', epoch: 3, lr: 0.0001 }, arrays);
    const intact = await readFile(checkpointPath(dir, 'finetune'));
    // loadCheckpoint is what the trainer reads on --resume
    const ok = await loadCheckpoint<{ epoch: number }>(dir, 'finetune');
    assert.equal(ok?.meta.epoch, 3);
    const epochAt = intact.indexOf('"epoch":3') + '"epoch":'.length;
    assert.ok(epochAt > 8, 'the epoch is in the header');
    for (let i = 0; i < intact.length; i++) {
      const bad = Buffer.from(intact);
      bad[i] ^= i === epochAt ? 0x01 : 0x10; // at epochAt: "epoch":3 becomes "epoch":2, still valid JSON
      await writeFile(checkpointPath(dir, 'finetune'), bad);
      await assert.rejects(
        loadCheckpoint(dir, 'finetune'),
        (e: unknown) => e instanceof InputError && /finetune\.ckpt: /.test(e.message),
        `byte ${i} changed and accepted`,
      );
    }
  });

  test('a checkpoint that is a FIFO is refused, not waited on', { timeout: 20_000 }, async () => {
    const dir = join(tmp, 'ckpt-fifo');
    await saveCheckpoint(dir, 'warmup', { epoch: 1 }, new Map([['w', new Float32Array(2)]]));
    await rm(checkpointPath(dir, 'warmup'));
    assert.equal(spawnSync('mkfifo', [checkpointPath(dir, 'warmup')]).status, 0, 'mkfifo');
    await assert.rejects(loadCheckpoint(dir, 'warmup'), /warmup\.ckpt: is not a regular file/);
  });
});
