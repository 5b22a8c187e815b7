/**
 * The `--out` rule (src/util/output.ts) and the atomic writer's temporaries (src/util/atomic.ts):
 * what may be replaced, what is refused (named in the message), and stale temporaries of dead
 * processes removed while a previous output moved aside is put back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanStaleTemporaries, writeDirAtomic, writeFileAtomic } from '../../src/util/atomic.js';
import { InputError } from '../../src/util/errors.js';
import { OUTPUT_MARKER, checkOutputApart, claimOutputDir, readOutputMarker } from '../../src/util/output.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-output-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const refused = (path: string, what: RegExp) => (e: unknown) =>
  e instanceof InputError && e.message.includes(path) && what.test(e.message);

/** The pid of a process that has exited (so no process runs under it now, barring reuse). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('the --out rule', () => {
  test('a new path is accepted; the folder written carries the marker and is replaced next time', async () => {
    const out = join(dir, 'new', 'out');
    await writeDirAtomic(out, 'prepare', async (tmp) => writeFile(join(tmp, 'a.txt'), 'one'));
    assert.equal(await readOutputMarker(out), 'prepare');
    await writeDirAtomic(out, 'prepare', async (tmp) => writeFile(join(tmp, 'b.txt'), 'two'));
    assert.deepEqual((await readdir(out)).sort(), [OUTPUT_MARKER, 'b.txt']);
  });

  test("a user's folder, a regular file and another command's output are refused and left untouched", async () => {
    const data = join(dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'image.png'), 'precious');
    await assert.rejects(
      writeDirAtomic(data, 'prepare', async () => undefined),
      refused(data, /not written by polarcad prepare/),
    );
    assert.equal(await readFile(join(data, 'image.png'), 'utf8'), 'precious');
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'mine');
    await assert.rejects(claimOutputDir(file, 'evaluate'), refused(file, /is a file/));
    assert.equal(await readFile(file, 'utf8'), 'mine');
    const run = join(dir, 'run');
    await writeDirAtomic(run, 'tune', async (tmp) => writeFile(join(tmp, 'model.json'), '{}'));
    await assert.rejects(claimOutputDir(run, 'evaluate'), refused(run, /output of polarcad tune/));
    assert.equal(await readFile(join(run, 'model.json'), 'utf8'), '{}');
  });

  test('an empty folder needs force, and is then claimed (marked)', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await assert.rejects(claimOutputDir(empty, 'synth'), refused(empty, /--force/));
    await claimOutputDir(empty, 'synth', { force: true });
    assert.equal(await readOutputMarker(empty), 'synth');
  });

  test('--out inside an input folder, or containing an input (also through a symlink), is refused', async () => {
    const data = join(dir, 'inputs');
    await mkdir(data);
    await writeFile(join(data, 'manifest.csv'), 'patient_id\n');
    await assert.rejects(
      checkOutputApart(join(data, 'out'), [data]),
      refused(join(data, 'out'), /inside the input folder/),
    );
    await assert.rejects(
      checkOutputApart(dir, [join(data, 'manifest.csv')]),
      refused(dir, /contains the input/),
    );
    await symlink(data, join(dir, 'link'));
    await assert.rejects(
      checkOutputApart(join(dir, 'link'), [join(data, 'manifest.csv')]),
      refused(join(dir, 'link'), /contains the input/),
    );
    await checkOutputApart(join(dir, 'elsewhere'), [data, join(data, 'manifest.csv')]);
  });
});

describe('temporaries', () => {
  test("a dead process's temporaries are removed by the next write; a live one's are kept", async () => {
    const out = join(dir, 'prepared');
    const pid = deadPid();
    const stale = join(dir, `.prepared.${pid}.0badf00d.tmp`);
    await mkdir(stale);
    await writeFile(join(stale, 'crop.png'), 'x'.repeat(1000));
    const staleFile = join(dir, `.notes.csv.${pid}.12345678.tmp`);
    await writeFile(staleFile, 'half');
    const mine = join(dir, `.prepared.${process.pid}.deadbeef.tmp`);
    await mkdir(mine);
    await writeDirAtomic(out, 'prepare', async (tmp) => writeFile(join(tmp, 'a'), 'a'));
    await writeFileAtomic(join(dir, 'notes.csv'), 'a,b\n');
    const names = await readdir(dir);
    assert.ok(!names.includes(`.prepared.${pid}.0badf00d.tmp`), 'stale folder removed');
    assert.ok(!names.includes(`.notes.csv.${pid}.12345678.tmp`), 'stale file removed');
    assert.ok(names.includes(`.prepared.${process.pid}.deadbeef.tmp`), 'a running process keeps its own');
    await rm(mine, { recursive: true });
  });

  test('a previous output moved aside by a killed process is put back, not deleted', async () => {
    const out = join(dir, 'swapped');
    const old = join(dir, `.swapped.${deadPid()}.cafe0001.tmp.old`);
    await mkdir(old);
    await writeFile(join(old, 'result.csv'), 'kept');
    await cleanStaleTemporaries(out);
    assert.equal(await readFile(join(out, 'result.csv'), 'utf8'), 'kept');
  });
});
