/**
 * The saved model as a contract (src/rundir/model.ts): checksums written at save time and verified
 * at load, the self-check (reference outputs re-run at load), complete runs only, schema versions,
 * and checksummed training checkpoints. Each broken model is refused with a message naming the file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/backend.js';
import { openSavedModel, readModelInfo, selfCheckInputs } from '../../src/rundir/model.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.js';
import { sha256Hex } from '../../src/util/hash.js';
import { buildTestModel, writeTestRun } from '../predict/fixtures.js';

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
    bad[bad.length - 2] ^= 0x01;
    assert.throws(() => decodeCheckpoint(bad, 'warmup.ckpt'), /warmup\.ckpt: checksum mismatch/);
  });
});
