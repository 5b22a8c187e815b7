/**
 * `polarcad train --resume RUN_DIR` and Ctrl-C, end to end on a tiny generated cohort:
 * - in process through `main()`: the SIGINT handler is triggered after the first fine-tune epoch,
 *   the run stops resumable (exit 130), `--resume` completes it;
 * - a child process `node --import tsx src/cli/bin.ts train ... --json` receives a real SIGINT after
 *   its first epoch event, exits 130 leaving checkpoints, and the run is resumed to completion.
 * Both resumed runs must equal an uninterrupted run: history (without timings), metrics.json,
 * predictions.csv and the saved model's weights.bin byte for byte.
 * Also: `--micro-batch` reaches the trainer and gives the same training as whole batches, and so
 * does `--train-workers 2` (data-parallel gradient steps on worker threads).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { main } from '../../src/cli/main.js';
import { initBackend } from '../../src/engine/backend.js';
import { prepare } from '../../src/ingest/prepare.js';
import { getColormap } from '../../src/polarmap/colormaps.js';
import { generateCohort, writeCohort } from '../../src/synth/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir = '';

interface Event {
  type: string;
  stage?: string;
  startEpoch?: number;
  row?: { stage: string; epoch: number; accuracy: number };
  outcome?: { name: string; resumed: boolean };
}

/** Run `main(args)` capturing stdout/stderr; `onLine` sees every stdout line as it is written. */
async function cli(
  args: string[],
  onLine?: (line: string) => void,
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  // the CLI writes strings; the test runner's own (binary) reports pass through
  process.stdout.write = ((s: string | Uint8Array, ...rest: never[]) => {
    if (typeof s !== 'string') return ow(s, ...rest);
    out += s;
    for (const l of s.split('\n')) if (l.trim() !== '') onLine?.(l);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => (
    (err += String(s)),
    true
  )) as typeof process.stderr.write;
  try {
    return { code: await main(args), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

const events = (out: string): Event[] =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{"type"'))
    .map((l) => JSON.parse(l) as Event);

/** 3 warm-up + 2 fine-tune epochs of MobileNetV2 (random weights, 64 px) in batches of 4. */
const base = (out: string): string[] => [
  'train',
  join(dir, 'prep', 'manifest.csv'),
  '--model',
  'cnn',
  '--backbone',
  'MobileNetV2',
  '--weights',
  'none',
  '--input-size',
  '64',
  '--out',
  out,
  '--warmup-epochs',
  '3',
  '--finetune-epochs',
  '2',
  '--batch-size',
  '4',
  '--cache-dir',
  join(dir, 'cache'),
  '--json',
];

/** history.csv without the timing column. */
async function history(run: string): Promise<Record<string, string>[]> {
  const rows = parse(await readFile(join(run, 'history.csv'), 'utf8'), { columns: true }) as Record<
    string,
    string
  >[];
  return rows.map(({ seconds: _s, ...r }) => r);
}

/** The resumed run `run` equals the uninterrupted run `full` in every result file. */
async function assertSameRun(run: string, full: string): Promise<void> {
  assert.deepEqual(await history(run), await history(full));
  assert.equal(
    await readFile(join(run, 'metrics.json'), 'utf8'),
    await readFile(join(full, 'metrics.json'), 'utf8'),
  );
  assert.equal(
    await readFile(join(run, 'predictions.csv'), 'utf8'),
    await readFile(join(full, 'predictions.csv'), 'utf8'),
  );
  assert.ok(
    (await readFile(join(run, 'model', 'weights.bin'))).equals(
      await readFile(join(full, 'model', 'weights.bin')),
    ),
    'model/weights.bin differs',
  );
  const a = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
  const b = JSON.parse(await readFile(join(full, 'config.json'), 'utf8'));
  assert.equal(a.status, 'complete');
  assert.deepEqual(a.resolved, b.resolved);
  assert.deepEqual(
    a.stages.map((s: { bestEpoch: number }) => s.bestEpoch),
    b.stages.map((s: { bestEpoch: number }) => s.bestEpoch),
  );
  assert.ok(!(await readdir(run)).includes('checkpoints'), 'checkpoints removed on completion');
}

/** What an interrupted run directory must look like. */
async function assertResumable(run: string, stages: string[]): Promise<void> {
  const files = await readdir(run);
  assert.ok(!files.includes('metrics.json'), 'no metrics for an interrupted run');
  assert.equal(JSON.parse(await readFile(join(run, 'config.json'), 'utf8')).status, 'running');
  assert.deepEqual((await readdir(join(run, 'checkpoints'))).sort(), stages);
}

let full = '';

before(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'polarcad-train-resume-cli-'));
  const cohort = generateCohort({ patients: 16, seed: 9, mapSize: 64, difficulty: 'easy' });
  await writeCohort(cohort, join(dir, 'raw'), {
    layout: 'single',
    format: 'png',
    colormap: getColormap('gray'),
    grid: false,
    canvas: 96,
  });
  await prepare(join(dir, 'raw', 'manifest.csv'), { out: join(dir, 'prep'), size: 64, views: ['stress_ac'] });
  full = join(dir, 'full');
  const r = await cli(base(full));
  assert.equal(r.code, 0, r.err);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('polarcad train --resume', () => {
  test('Ctrl-C (SIGINT handler) after the first fine-tune epoch, then --resume, equals the uninterrupted run', async () => {
    const run = join(dir, 'inproc');
    let sent = false;
    const first = await cli(base(run), (line) => {
      const e = JSON.parse(line) as Event;
      if (!sent && e.type === 'epoch' && e.row?.stage === 'finetune' && e.row.epoch === 1) {
        sent = true;
        process.emit('SIGINT', 'SIGINT');
      }
    });
    assert.ok(sent, 'no fine-tune epoch event seen');
    assert.equal(first.code, 130, first.err);
    assert.match(first.err, /stopping after the current batch/);
    const ev = events(first.out);
    assert.deepEqual(ev[ev.length - 1], { type: 'interrupted', out: resolve(run) });
    // the partial epoch 2 is discarded: the last epoch event is fine-tune epoch 1
    const epochs = ev.filter((e) => e.type === 'epoch').map((e) => `${e.row?.stage}${e.row?.epoch}`);
    assert.deepEqual(epochs, ['warmup1', 'warmup2', 'warmup3', 'finetune1']);
    await assertResumable(run, ['finetune.ckpt', 'warmup.ckpt']);
    assert.equal(
      process.listenerCount('SIGINT') === 0 ||
        !process.listeners('SIGINT').some((f) => f.name === 'onSigint'),
      true,
      'SIGINT handler removed',
    );

    const second = await cli(['train', '--resume', run, '--json']);
    assert.equal(second.code, 0, second.err);
    const ev2 = events(second.out);
    // warm-up restored complete from its checkpoint, fine-tune continues at epoch 2
    assert.deepEqual(
      ev2.filter((e) => e.type === 'stage-end').map((e) => [e.outcome?.name, e.outcome?.resumed]),
      [
        ['warmup', true],
        ['finetune', false],
      ],
    );
    assert.deepEqual(
      ev2.filter((e) => e.type === 'stage-start').map((e) => [e.stage, e.startEpoch]),
      [['finetune', 2]],
    );
    assert.deepEqual(
      ev2.filter((e) => e.type === 'epoch').map((e) => `${e.row?.stage}${e.row?.epoch}`),
      ['finetune2'],
    );
    await assertSameRun(run, full);
    // a completed run cannot be resumed
    const again = await cli(['train', '--resume', run]);
    assert.equal(again.code, 2);
    assert.match(again.err, /already complete/);
  });

  test('a real SIGINT to a child process after its first epoch leaves a resumable run; resumed it equals the uninterrupted run', async () => {
    const run = join(dir, 'child');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src', 'cli', 'bin.ts'), ...base(run)],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    let signalled = false;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!signalled && events(out.slice(0, out.lastIndexOf('\n') + 1)).some((e) => e.type === 'epoch')) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) =>
      child.on('close', (c, s) => res([c, s])),
    );
    assert.ok(signalled, `no epoch event before exit; stderr: ${err}`);
    assert.equal(signal, null, 'the process handled SIGINT instead of being killed by it');
    assert.equal(code, 130, err);
    assert.match(err, /resume with: polarcad train --resume/);
    const ev = events(out);
    assert.equal(ev[ev.length - 1].type, 'interrupted');
    const done = ev.filter((e) => e.type === 'epoch').map((e) => `${e.row?.stage}${e.row?.epoch}`);
    // stopped somewhere before the end, after at least one warm-up epoch
    assert.ok(done.length >= 1 && done.length < 5, `epochs before the stop: ${done.join(', ')}`);
    await assertResumable(
      run,
      done.some((d) => d.startsWith('finetune')) ? ['finetune.ckpt', 'warmup.ckpt'] : ['warmup.ckpt'],
    );

    const resumed = await cli(['train', '--resume', run, '--json']);
    assert.equal(resumed.code, 0, resumed.err);
    const rest = events(resumed.out)
      .filter((e) => e.type === 'epoch')
      .map((e) => `${e.row?.stage}${e.row?.epoch}`);
    // exactly the epochs not completed before the stop, once each
    assert.deepEqual([...done, ...rest], ['warmup1', 'warmup2', 'warmup3', 'finetune1', 'finetune2']);
    await assertSameRun(run, full);
  });

  test('--micro-batch reaches the trainer: recorded, same history (accuracy computed) as whole batches', async () => {
    const run = join(dir, 'micro');
    const r = await cli([...base(run), '--micro-batch', '3']);
    assert.equal(r.code, 0, r.err);
    const cfg = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
    assert.equal(cfg.options.microBatch, 3);
    assert.equal(cfg.resolved.microBatch, 3);
    const h = await history(run);
    const ref = await history(full);
    assert.equal(h.length, 5);
    h.forEach((row, i) => {
      assert.ok(Number.isFinite(Number(row.acc)), `epoch ${i + 1}: acc ${row.acc}`);
      assert.equal(row.acc, ref[i].acc);
      assert.ok(
        Math.abs(Number(row.loss) - Number(ref[i].loss)) < 1e-4,
        `loss ${row.loss} vs ${ref[i].loss}`,
      );
    });
    const bad = await cli([...base(join(dir, 'micro-bad')), '--micro-batch', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--micro-batch must be an integer >= 1, got 0/);
  });

  test('--train-workers 2 reaches the trainer: recorded, the same training up to float rounding', async () => {
    const run = join(dir, 'workers');
    const r = await cli([...base(run), '--train-workers', '2']);
    assert.equal(r.code, 0, r.err);
    const cfg = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
    assert.equal(cfg.options.trainWorkers, 2);
    const h = await history(run);
    const ref = await history(full);
    assert.equal(h.length, 5);
    h.forEach((row, i) => {
      assert.equal(row.acc, ref[i].acc);
      for (const k of ['loss', 'val_loss']) {
        const [a, b] = [Number(row[k]), Number(ref[i][k])];
        assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `epoch ${i + 1} ${k}: ${a} vs ${b}`);
      }
    });
    const bad = await cli([...base(join(dir, 'workers-bad')), '--train-workers', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--train-workers must be a whole number in \[1, 256\], got "0"/);
  });
});
