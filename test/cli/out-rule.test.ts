/**
 * Never lose a user's data (issue 12): `--out` through the real CLI. `prepare DATA/manifest.csv
 * --out DATA` and `evaluate RUN M --out RUN` are refused and delete nothing; a regular file is not
 * turned into a folder; polarcad's own output is replaced; an unwritable `--out` is an input error
 * naming the path (no stack trace); a `prepare` killed with SIGKILL leaves a temporary that the next
 * run removes, and one stopped with SIGTERM leaves none. Commands that write one file (`export`,
 * `report`) never overwrite a file or a figures folder polarcad did not write.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCohort, writeCohort } from '../../src/synth/index.js';
import { getColormap } from '../../src/polarmap/colormaps.js';
import { OUTPUT_MARKER } from '../../src/util/output.js';
import { cli } from '../helpers/cli.js';
import { buildTestModel, writeTestRun } from '../predict/fixtures.js';
import { writeManifest, writeTrainRun } from '../report/fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dir = '';
let data = '';
let manifest = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-out-rule-'));
  await chmod(dir, 0o755);
  data = join(dir, 'data');
  const cohort = generateCohort({ patients: 12, seed: 3, mapSize: 64 });
  await writeCohort(cohort, data, {
    layout: 'single',
    format: 'png',
    colormap: getColormap('rainbow'),
    grid: true,
    canvas: 160,
  });
  await rm(join(data, OUTPUT_MARKER)); // as a user's own folder of exports
  manifest = join(data, 'manifest.csv');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `polarcad ARGS` in a child process (killable); resolves with its exit code or signal. */
function child(
  args: string[],
  opts: { uid?: number; gid?: number; onSpawn?: (pid: number) => void } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/bin.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
      env: { ...process.env, HOME: dir },
    });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', rej);
    p.on('exit', (code, signal) => res({ code, signal, err }));
    opts.onSpawn?.(p.pid as number);
  });
}

/** Wait until a temporary sibling `.NAME.<pid>.<hex>.tmp` of `out` exists; returns its name. */
async function temporaryOf(out: string, pid: number, timeoutMs = 60_000): Promise<string> {
  const base = out.split('/').pop() as string;
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const hit = (await readdir(join(out, '..'))).find(
      (n) => n.startsWith(`.${base}.${pid}.`) && n.endsWith('.tmp'),
    );
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no temporary of ${out} appeared`);
}

describe('--out never replaces what polarcad did not write', () => {
  test('prepare DATA/manifest.csv --out DATA is refused and the source images stay', async () => {
    const before = (await readdir(data)).sort();
    const r = await cli(['prepare', manifest, '--out', data, '--size', '64']);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`--out ${data}: .*not written by polarcad prepare`));
    assert.deepEqual((await readdir(data)).sort(), before);
  });

  test('evaluate RUN M --out RUN is refused and the model stays', async () => {
    const run = join(dir, 'run');
    await mkdir(join(run, 'model'), { recursive: true });
    await writeFile(join(run, 'model', 'model.json'), '{"trained": true}');
    await writeFile(join(run, 'config.json'), '{"status": "complete"}');
    const r = await cli(['evaluate', run, manifest, '--out', run]);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`--out ${run}: `));
    assert.equal(await readFile(join(run, 'model', 'model.json'), 'utf8'), '{"trained": true}');
    const inside = await cli(['evaluate', run, manifest, '--out', join(run, 'eval')]);
    assert.equal(inside.code, 2);
    assert.match(inside.err, /is inside the input folder/);
  });

  test('--out naming a regular file is refused and the file is not turned into a folder', async () => {
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'my notes');
    const r = await cli(['prepare', manifest, '--out', file, '--size', '64']);
    assert.equal(r.code, 2);
    assert.match(r.err, /is a file/);
    assert.ok((await stat(file)).isFile());
    assert.equal(await readFile(file, 'utf8'), 'my notes');
  });

  test("polarcad's own prepare output is replaced; an empty folder needs --force", async () => {
    const out = join(dir, 'prepared');
    assert.equal((await cli(['prepare', manifest, '--out', out, '--size', '64'])).code, 0);
    assert.equal((await cli(['prepare', manifest, '--out', out, '--size', '64'])).code, 0);
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const r = await cli(['prepare', manifest, '--out', empty, '--size', '64']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--force/);
    assert.equal((await cli(['prepare', manifest, '--out', empty, '--size', '64', '--force'])).code, 0);
    assert.ok((await readdir(empty)).includes('manifest.csv'));
  });

  test('an unwritable --out is an input error naming the path, with no stack trace', async (t) => {
    if (process.getuid?.() === 0 && !reachableByOthers(process.cwd())) {
      t.skip(
        'running as root in a checkout that user nobody cannot read: the check needs a readable checkout',
      );
      return;
    }
    const ro = join(dir, 'read-only');
    await mkdir(ro);
    await chmod(ro, 0o555);
    const out = join(ro, 'out');
    // root may write anywhere: then run the command as nobody, as a hospital user would be
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = await child(['prepare', manifest, '--out', out, '--size', '64'], asNobody);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, new RegExp(`--out ${out}: cannot write there \\(permission denied`));
    assert.doesNotMatch(r.err, /internal error|\n\s+at /);
  });
});

describe('--out FILE (export, report) never overwrites what polarcad did not write', () => {
  test("export --out the model's weights, a user's file or a folder is refused; its own ONNX is replaced", async () => {
    const model = await buildTestModel();
    const run = await writeTestRun(join(dir, 'export-run'), model);
    model.dispose();
    const weights = join(run, 'model', 'weights.bin');
    const before = await readFile(weights);
    const intoModel = await cli(['export', join(run, 'model'), '--format', 'onnx', '--out', weights]);
    assert.equal(intoModel.code, 2);
    assert.match(intoModel.err, /weights\.bin: exists and is not an ONNX export of polarcad export/);
    assert.deepEqual(await readFile(weights), before);
    const notes = join(dir, 'export-notes.txt');
    await writeFile(notes, 'my notes');
    const user = await cli(['export', join(run, 'model'), '--format', 'onnx', '--out', notes]);
    assert.equal(user.code, 2);
    assert.equal(await readFile(notes, 'utf8'), 'my notes');
    const folder = await cli(['export', join(run, 'model'), '--format', 'onnx', '--out', data]);
    assert.equal(folder.code, 2);
    assert.match(folder.err, /is a folder, not a file/);
    const inside = await cli([
      'export',
      join(run, 'model'),
      '--format',
      'onnx',
      '--out',
      join(run, 'model', 'x.onnx'),
    ]);
    assert.equal(inside.code, 2);
    assert.match(inside.err, /is inside the input folder/);
    const onnx = join(dir, 'exports', 'model.onnx');
    assert.equal((await cli(['export', join(run, 'model'), '--format', 'onnx', '--out', onnx])).code, 0);
    assert.equal((await cli(['export', join(run, 'model'), '--format', 'onnx', '--out', onnx])).code, 0);
  });

  test("report --out next to a user's figures folder, over a user's file or a run file is refused; its own report is replaced", async () => {
    const manifestPath = await writeManifest(join(dir, 'report-data'));
    const run = join(dir, 'report-run');
    await writeTrainRun(run, manifestPath);
    const config = await readFile(join(run, 'config.json'), 'utf8');
    const overRun = await cli(['report', run, '--out', join(run, 'config.json')]);
    assert.equal(overRun.code, 2);
    assert.match(overRun.err, /config\.json: exists and is not an HTML report of polarcad report/);
    assert.equal(await readFile(join(run, 'config.json'), 'utf8'), config);
    const docs = join(dir, 'documents');
    await mkdir(join(docs, 'figures'), { recursive: true });
    await writeFile(join(docs, 'figures', 'holiday.png'), 'a photo');
    await writeFile(join(docs, 'notes.html'), '<p>my notes</p>');
    const besideUserFigures = await cli(['report', run, '--out', join(docs, 'summary.html')]);
    assert.equal(besideUserFigures.code, 2);
    assert.match(besideUserFigures.err, /figures: exists and was not written by polarcad report/);
    assert.equal(await readFile(join(docs, 'figures', 'holiday.png'), 'utf8'), 'a photo');
    const overUserFile = await cli(['report', run, '--out', join(docs, 'notes.html')]);
    assert.equal(overUserFile.code, 2);
    assert.equal(await readFile(join(docs, 'notes.html'), 'utf8'), '<p>my notes</p>');
    const fresh = join(dir, 'reports', 'summary.html');
    assert.equal((await cli(['report', run, '--out', fresh])).code, 0);
    assert.equal((await cli(['report', run, '--out', fresh])).code, 0, 'its own report and figures');
    assert.equal((await cli(['report', run])).code, 0, 'the default DIR/report.html');
    assert.equal((await cli(['report', run])).code, 0);
  });
});

describe('--save-normal-db FILE', () => {
  test('score --save-normal-db naming the manifest or a folder is refused; its own normal database is replaced', async () => {
    const before = await readFile(manifest, 'utf8');
    const args = ['score', manifest, '--split', 'all-train', '--min-normals', '2', '--resamples', '10'];
    const over = await cli([...args, '--out', join(dir, 'score-a'), '--save-normal-db', manifest]);
    assert.equal(over.code, 2);
    assert.match(
      over.err,
      /--save-normal-db .*manifest\.csv: exists and is not a normal database of polarcad score/,
    );
    assert.equal(await readFile(manifest, 'utf8'), before);
    const folder = await cli([...args, '--out', join(dir, 'score-b'), '--save-normal-db', data]);
    assert.equal(folder.code, 2);
    assert.match(folder.err, /--save-normal-db .*: is a folder, not a file/);
    const db = join(dir, 'normal-db.json');
    const first = await cli([...args, '--out', join(dir, 'score-c'), '--save-normal-db', db]);
    assert.equal(first.code, 0, first.err);
    const again = await cli([...args, '--out', join(dir, 'score-c'), '--save-normal-db', db]);
    assert.equal(again.code, 0, again.err);
  });
});

describe('temporaries of interrupted runs', () => {
  test('SIGKILL leaves a temporary that the next run removes; SIGTERM leaves none', async () => {
    const out = join(dir, 'killed');
    let pid = 0;
    const killed = child(['prepare', manifest, '--out', out, '--size', '64'], { onSpawn: (p) => (pid = p) });
    const tmp = await temporaryOf(out, pid);
    process.kill(pid, 'SIGKILL');
    assert.equal((await killed).signal, 'SIGKILL');
    assert.ok((await readdir(dir)).includes(tmp), 'the killed run left its temporary');
    assert.equal((await cli(['prepare', manifest, '--out', out, '--size', '64'])).code, 0);
    assert.ok(!(await readdir(dir)).includes(tmp), 'the next run removed it');

    const termed = child(['prepare', manifest, '--out', join(dir, 'termed'), '--size', '64'], {
      onSpawn: (p) => (pid = p),
    });
    const tmp2 = await temporaryOf(join(dir, 'termed'), pid);
    process.kill(pid, 'SIGTERM');
    assert.equal((await termed).signal, 'SIGTERM');
    assert.ok(!(await readdir(dir)).includes(tmp2), 'SIGTERM removed the temporary');
    assert.ok(!(await readdir(dir)).includes('termed'), 'and wrote no output');
  });
});

/** Whether every folder down to `dir` lets other users through (so a child run as nobody can load the code). */
function reachableByOthers(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o005) !== 0o005) return false;
    if (dirname(d) === d) return true;
  }
}
