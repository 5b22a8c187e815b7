/**
 * Graceful stop (src/util/signals.ts) and atomic temporaries (src/util/atomic.ts) together, in real
 * child processes: a command that handles SIGTERM keeps its output in flight and finishes it (the
 * CI failure of 2026-12-05: a worker's job temporary was removed and the worker killed by the
 * temporaries' own handler); a second signal aborts at once with 128 + its number; without a handler
 * SIGTERM removes the temporary and takes its default course.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./fixtures/stop-child.ts', import.meta.url));
let dir = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-signals-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
  building: Promise<void>;
  stopping: Promise<void>;
  pid: number;
}

function run(out: string, mode: 'handled' | 'unhandled' | 'stubborn'): Run {
  const p = spawn(process.execPath, ['--import', 'tsx', CHILD, out, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let seen: () => void = () => {};
  let heard: () => void = () => {};
  const building = new Promise<void>((res) => (seen = res));
  const stopping = new Promise<void>((res) => (heard = res));
  p.stdout.on('data', (b: Buffer) => {
    text += b.toString();
    if (text.includes('building')) seen();
    if (text.includes('stopping')) heard();
  });
  p.stderr.on('data', (b: Buffer) => (text += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((res) =>
    p.on('exit', (code, signal) => res({ code, signal, out: text })),
  );
  return { exit, building, stopping, pid: p.pid as number };
}

/** The temporaries beside `out` (each test writes into a folder of its own). */
const temporaries = async (out: string): Promise<string[]> =>
  (await readdir(dirname(out))).filter((n) => n.endsWith('.tmp'));

async function place(name: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d);
  return join(d, 'out');
}

test('SIGTERM to a command that handles it: the output in flight is kept and completed, exit 0', async () => {
  const out = await place('handled');
  const r = run(out, 'handled');
  await r.building;
  process.kill(r.pid, 'SIGTERM');
  const e = await r.exit;
  assert.equal(e.code, 0, e.out);
  assert.match(e.out, /done/);
  assert.equal(await readFile(join(out, 'rest.txt'), 'utf8'), 'written after the signal\n');
  assert.deepEqual(await temporaries(out), []);
});

test('a second signal aborts at once with 128 + its number', async () => {
  const r = run(await place('twice'), 'stubborn');
  await r.building;
  process.kill(r.pid, 'SIGINT');
  await r.stopping; // the first signal was heard, and the command goes on
  process.kill(r.pid, 'SIGINT');
  const e = await r.exit;
  assert.equal(e.code, 130, e.out);
  assert.doesNotMatch(e.out, /done/);
});

test('SIGTERM to a command that does not handle it: the temporary is removed and the signal kills it', async () => {
  const out = await place('unhandled');
  const r = run(out, 'unhandled');
  await r.building;
  assert.equal((await temporaries(out)).length, 1);
  process.kill(r.pid, 'SIGTERM');
  const e = await r.exit;
  assert.equal(e.signal, 'SIGTERM', e.out);
  assert.deepEqual(await temporaries(out), []);
  assert.deepEqual(await readdir(dirname(out)), [], 'no output either');
});
