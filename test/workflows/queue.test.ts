/**
 * Experiments through the job queue with a REAL Redis (test/helpers/redis.ts) and workers as child
 * processes (`polarcad worker`): same table as in-process, a SIGKILLed worker loses nothing, a
 * restarted coordinator does not repeat finished jobs, a checksum mismatch on the worker fails
 * clearly, a wrong URL or a Redis going away is a clear error within seconds. Tiny cohort (24
 * patients, 64 px maps), 64 px inputs and one epoch per stage.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { copyFile, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { cli } from '../helpers/cli.js';
import { loadExperimentCohort } from '../../src/workflows/experiment.js';
import { parseQueueUrl, runSweep, SweepFailed } from '../../src/workflows/queue/index.js';
import { EXPERIMENT_JOB, planExperimentJobs } from '../../src/workflows/queue/experiment-jobs.js';
import { freePort, redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js';
import { spawnCli as spawnChild, startsPerJob } from './queue-helpers.js';

const skip = redisAvailable() ? false : 'redis-server is not installed (.ci/run installs it)';

let dir = '';
let manifest = '';
let redis: RedisServer | null = null;
const children: ChildProcess[] = [];
const spawnCli = (args: string[]): ReturnType<typeof spawnChild> => spawnChild(args, children);

function worker(url: string, extra: string[] = []): ReturnType<typeof spawnCli> {
  return spawnCli(['worker', '--queue', url, '--lock-ms', '5000', ...extra]);
}

const SWEEP = ['--backbone', 'MobileNetV2', '--input-size', '64', '--epochs-scale', '0.01'];

function strategies(out: string, list: string, extra: string[] = []): string[] {
  return ['experiment', 'strategies', manifest, ...SWEEP, '--strategies', list, '--out', out, ...extra];
}

/** The table's rows without the timing column (train_seconds differs from run to run). */
async function tableWithoutTimes(out: string): Promise<Record<string, string>[]> {
  const rows = parse(await readFile(join(out, 'strategies.csv'), 'utf8'), { columns: true }) as Record<
    string,
    string
  >[];
  return rows.map(({ train_seconds: _t, ...rest }) => rest);
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'polarcad-queue-'));
  const s = await cli([
    'synth',
    '--out',
    join(dir, 'cohort'),
    '--patients',
    '24',
    '--map-size',
    '64',
    '--seed',
    '5',
    '--workers',
    '1',
  ]);
  assert.equal(s.code, 0, s.err);
  manifest = join(dir, 'cohort', 'manifest.csv');
  redis = await startRedis();
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a sweep through the queue with two workers writes the same table as in-process', { skip }, async () => {
  const url = (redis as RedisServer).url(1);
  const w1 = worker(url);
  const w2 = worker(url);
  const inProcess = await cli([...strategies(join(dir, 'ip'), 'warmup,finetune,two-stage'), '--quiet']);
  assert.equal(inProcess.code, 0, inProcess.err);
  const queued = await cli(strategies(join(dir, 'q'), 'warmup,finetune,two-stage', ['--queue', url]));
  assert.equal(queued.code, 0, queued.err);
  assert.deepEqual(await tableWithoutTimes(join(dir, 'q')), await tableWithoutTimes(join(dir, 'ip')));
  for (const run of ['warmup', 'finetune', 'two-stage'])
    assert.equal(
      await readFile(join(dir, 'q', 'runs', run, 'predictions.csv'), 'utf8'),
      await readFile(join(dir, 'ip', 'runs', run, 'predictions.csv'), 'utf8'),
      `runs/${run}/predictions.csv`,
    );
  const md = (p: string) => readFile(join(dir, p, 'strategies.md'), 'utf8');
  assert.equal((await md('q')).split('\n').length, (await md('ip')).split('\n').length);
  // SIGTERM: both workers stop cleanly
  w1.proc.kill('SIGTERM');
  w2.proc.kill('SIGTERM');
  assert.equal(await w1.exit, 0, w1.output());
  assert.equal(await w2.exit, 0, w2.output());
  assert.match(w1.output() + w2.output(), /SIGTERM: finishing the job in flight/);
  const runs = startsPerJob(w1.output() + w2.output());
  assert.equal(runs.size, 3);
});

test(
  'a worker killed with SIGKILL mid-job loses nothing: its job finishes on another worker',
  { skip },
  async () => {
    const url = (redis as RedisServer).url(2);
    const a = worker(url);
    const coordinator = cli(strategies(join(dir, 'kill'), 'two-stage,warmup', ['--queue', url]));
    await a.waitFor(/^start experiment-/m);
    a.proc.kill('SIGKILL');
    await a.exit;
    const killed = [...startsPerJob(a.output()).keys()][0];
    const b = worker(url);
    const r = await coordinator;
    assert.equal(r.code, 0, `${r.err}\nworker a:\n${a.output()}\nworker b:\n${b.output()}`);
    const rows = (await readFile(join(dir, 'kill', 'strategies.csv'), 'utf8')).trim().split('\n');
    assert.equal(rows.length, 3);
    assert.match(b.output(), new RegExp(`^done ${killed}`, 'm'));
    b.proc.kill('SIGTERM');
    assert.equal(await b.exit, 0);
  },
);

test('a coordinator restarted mid-sweep finishes without repeating done jobs', { skip }, async () => {
  const url = (redis as RedisServer).url(3);
  const w = worker(url);
  const out = join(dir, 'restart');
  const first = spawnCli(strategies(out, 'warmup,finetune,two-stage', ['--queue', url]));
  await first.waitFor(/: done by /);
  first.proc.kill('SIGINT');
  assert.equal(await first.exit, 130, first.output());
  assert.match(first.output(), /interrupted: the jobs stay in the queue/);
  const second = await cli(strategies(out, 'warmup,finetune,two-stage', ['--queue', url]));
  assert.equal(second.code, 0, second.err);
  assert.match(second.err, /already done/);
  const runs = startsPerJob(w.output());
  assert.equal(runs.size, 3, w.output());
  for (const [id, n] of runs) assert.equal(n, 1, `${id} ran ${n} times`);
  w.proc.kill('SIGTERM');
  await w.exit;
});

test(
  'an input whose checksum differs on the worker fails clearly, without retries; a job failing every attempt is reported with its error',
  { skip },
  async () => {
    const url = (redis as RedisServer).url(4);
    const mine = join(dir, 'shared-coordinator');
    const theirs = join(dir, 'shared-worker');
    await cp(join(dir, 'cohort'), join(mine, 'study'), { recursive: true });
    await cp(join(dir, 'cohort'), join(theirs, 'study'), { recursive: true });
    await copyFile(
      join(theirs, 'study', 'P0002', 'stress_ac.png'),
      join(theirs, 'study', 'P0001', 'stress_ac.png'),
    );
    const w = worker(url, ['--shared-dir', theirs]);
    const r = await cli([
      'experiment',
      'strategies',
      join(mine, 'study', 'manifest.csv'),
      ...SWEEP,
      '--strategies',
      'warmup',
      '--out',
      join(dir, 'mismatch'),
      '--queue',
      url,
      '--shared-dir',
      mine,
      '--quiet',
    ]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /1 of 1 jobs failed/);
    assert.match(r.err, /input checksum mismatch: .*shared-worker.*manifest\.csv/);
    assert.equal(startsPerJob(w.output()).size, 1);
    assert.doesNotMatch(w.output(), /attempt 2/);
    // a job that keeps failing (here: a backbone the worker does not know) is retried, then reported with its error
    const theirManifest = join(theirs, 'study', 'manifest.csv');
    const common = { manifest: theirManifest, out: '', input: 'stress_ac' as const, seed: 1, inputSize: 64 };
    const jobs = planExperimentJobs(
      common,
      await loadExperimentCohort(common),
      [{ experiment: 'backbones', backbone: 'NoSuchNet', weights: 'none' }],
      theirs,
    );
    await assert.rejects(
      runSweep(EXPERIMENT_JOB, jobs, { url: parseQueueUrl(url), attempts: 2 }),
      (e: unknown) =>
        e instanceof SweepFailed &&
        /backbones\/NoSuchNet .*NoSuchNet/.test(e.message) &&
        e.failures.length === 1,
    );
    assert.match(w.output(), /attempt 2\)/);
    // a manifest outside --shared-dir is refused before anything is queued
    const outside = await cli([
      ...strategies(join(dir, 'outside'), 'warmup'),
      '--queue',
      url,
      '--shared-dir',
      mine,
    ]);
    assert.equal(outside.code, 2);
    assert.match(outside.err, /--shared-dir .*is not inside it/);
    w.proc.kill('SIGTERM');
    await w.exit;
  },
);

test('a wrong Redis URL or a Redis that goes away is a clear error within seconds', { skip }, async () => {
  const port = await freePort();
  let t0 = Date.now();
  const refused = await cli([
    ...strategies(join(dir, 'refused'), 'warmup'),
    '--queue',
    `redis://127.0.0.1:${port}/0`,
  ]);
  assert.equal(refused.code, 2);
  assert.match(refused.err, new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/0`));
  assert.ok(Date.now() - t0 < 15_000);
  const scheme = await cli([
    ...strategies(join(dir, 'scheme'), 'warmup'),
    '--queue',
    'http://127.0.0.1:6379',
  ]);
  assert.equal(scheme.code, 2);
  assert.match(scheme.err, /--queue: the scheme must be redis:\/\/ or rediss:\/\//);
  const noWorker = await cli(['worker', '--queue', `redis://u:secret@127.0.0.1:${port}/0`]);
  assert.equal(noWorker.code, 2);
  assert.match(noWorker.err, /cannot reach Redis at redis:\/\/u:\*\*\*@127\.0\.0\.1/);
  assert.doesNotMatch(noWorker.err, /secret/);
  // a Redis that goes away while the coordinator waits (no worker: the jobs would wait for ever)
  const doomed = await startRedis();
  try {
    const waiting = cli(strategies(join(dir, 'gone'), 'warmup', ['--queue', doomed.url(0)]));
    await new Promise((r) => setTimeout(r, 2500));
    t0 = Date.now();
    doomed.kill();
    const r = await waiting;
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /Redis at redis:\/\/127\.0\.0\.1:\d+\/0 went away/);
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  } finally {
    await doomed.stop();
  }
});
