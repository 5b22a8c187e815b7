/**
 * `polarcad cv` and `polarcad tune` through the job queue with a REAL Redis and a `polarcad worker`
 * child process: the same outputs as the in-process run, two jobs in flight in one worker with
 * --concurrency 2, and a worker stopped with SIGTERM mid-job finishing its job first. Tiny cohort
 * (24 patients, 64 px maps), --weights none at 64 px, one or two epochs. Also the accuracy
 * benchmark's units (bench/accuracy-lib.ts) on the queue, with two closed-form recipes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { cli } from '../helpers/cli.js';
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js';
import { spawnCli as spawnChild, startsPerJob } from './queue-helpers.js';
import { parseQueueUrl, startWorker, workerKind } from '../../src/workflows/queue/index.js';
import {
  accuracyKind,
  runAccuracyUnits,
  type AccuracyUnit,
  type RecipeFigures,
} from '../../bench/accuracy-lib.js';

const skip = redisAvailable() ? false : 'redis-server is not installed (.ci/run installs it)';

let dir = '';
let manifest = '';
let redis: RedisServer | null = null;
const children: ChildProcess[] = [];
const spawnCli = (args: string[]): ReturnType<typeof spawnChild> => spawnChild(args, children);

function worker(url: string, extra: string[] = []): ReturnType<typeof spawnCli> {
  return spawnCli(['worker', '--queue', url, '--lock-ms', '5000', ...extra]);
}

async function csvRows(path: string): Promise<Record<string, string>[]> {
  return parse(await readFile(path, 'utf8'), { columns: true }) as Record<string, string>[];
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'polarcad-queue-sweeps-'));
  const s = await cli([
    'synth',
    '--out',
    join(dir, 'cohort'),
    '--patients',
    '24',
    '--map-size',
    '64',
    '--seed',
    '7',
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

const CV = [
  '--backbone',
  'MobileNetV2',
  '--weights',
  'none',
  '--input-size',
  '64',
  '--k',
  '3',
  '--warmup-epochs',
  '1',
  '--finetune-epochs',
  '1',
  '--batch-size',
  '8',
  '--resamples',
  '50',
  '--no-report',
];

test(
  'cv through the queue: one job per fold, two at once in a worker with --concurrency 2, the same predictions and per-fold figures as in-process',
  { skip },
  async () => {
    const url = (redis as RedisServer).url(1);
    const w = worker(url, ['--concurrency', '2', '--shared-dir', dir]);
    const ip = await cli(['cv', manifest, ...CV, '--out', join(dir, 'cv-ip')]);
    assert.equal(ip.code, 0, ip.err);
    const q = await cli([
      'cv',
      manifest,
      ...CV,
      '--out',
      join(dir, 'cv-q'),
      '--queue',
      url,
      '--shared-dir',
      dir,
    ]);
    assert.equal(q.code, 0, `${q.err}\nworker:\n${w.output()}`);
    assert.equal(
      await readFile(join(dir, 'cv-q', 'predictions.csv'), 'utf8'),
      await readFile(join(dir, 'cv-ip', 'predictions.csv'), 'utf8'),
    );
    const cvJson = async (out: string): Promise<Record<string, unknown>> =>
      JSON.parse(await readFile(join(dir, out, 'cv.json'), 'utf8')) as Record<string, unknown>;
    const [a, b] = [await cvJson('cv-q'), await cvJson('cv-ip')];
    assert.deepEqual(a.folds, b.folds);
    assert.deepEqual(a.pooled, b.pooled);
    assert.deepEqual(a.weights, b.weights);
    // the worker wrote each fold's run directory under the shared folder
    for (let f = 1; f <= 3; f++)
      assert.ok((await stat(join(dir, 'cv-q', 'folds', `fold-0${f}`, 'run', 'config.json'))).isFile());
    const log = w.output();
    const starts = startsPerJob(log);
    assert.equal(starts.size, 3, log);
    assert.ok([...starts.keys()].every((id) => id.startsWith('cv-fold-')));
    // --concurrency 2: a second fold started before the first finished
    const firstDone = log.search(/^done cv-fold-/m);
    assert.ok(
      [...log.slice(0, firstDone).matchAll(/^start cv-fold-/gm)].length >= 2,
      `expected two folds in flight at once:\n${log}`,
    );
    // an --out outside --shared-dir is refused before anything is written or queued
    const outside = await cli([
      'cv',
      manifest,
      ...CV,
      '--out',
      join(tmpdir(), 'polarcad-not-shared-cv'),
      '--queue',
      url,
      '--shared-dir',
      dir,
    ]);
    assert.equal(outside.code, 2);
    assert.match(outside.err, /--shared-dir .*: the output folder .* is not inside it/);
    await assert.rejects(stat(join(tmpdir(), 'polarcad-not-shared-cv')));
    w.proc.kill('SIGTERM');
    assert.equal(await w.exit, 0, w.output());
  },
);

const TUNE = [
  '--backbone',
  'MobileNetV2',
  '--weights',
  'none',
  '--input-size',
  '64',
  '--max-epochs',
  '3',
  '--units',
  '16,32',
  '--quiet',
];

test(
  'tune through the queue: one job per Hyperband trial, the same trial table as in-process',
  { skip },
  async () => {
    const url = (redis as RedisServer).url(2);
    const w = worker(url);
    const ip = await cli(['tune', manifest, ...TUNE, '--out', join(dir, 'tune-ip')]);
    assert.equal(ip.code, 0, ip.err);
    const q = await cli(['tune', manifest, ...TUNE, '--out', join(dir, 'tune-q'), '--queue', url]);
    assert.equal(q.code, 0, `${q.err}\nworker:\n${w.output()}`);
    const trials = async (out: string): Promise<Record<string, string>[]> =>
      (await csvRows(join(dir, out, 'trials.csv'))).map(({ seconds: _s, ...rest }) => rest);
    const inProcess = await trials('tune-ip');
    assert.equal(inProcess.length, 6); // R = 3, eta = 3: brackets of 3 + 1 and 2 trials
    assert.deepEqual(await trials('tune-q'), inProcess);
    const best = async (out: string): Promise<unknown> => {
      const b = JSON.parse(await readFile(join(dir, out, 'best.json'), 'utf8')) as Record<string, unknown>;
      return [b.config, b.epochs, b.validation, b.trial];
    };
    assert.deepEqual(await best('tune-q'), await best('tune-ip'));
    const starts = startsPerJob(w.output());
    assert.equal(starts.size, 6, w.output());
    assert.ok([...starts.keys()].every((id) => id.startsWith('tune-trial-')));
    // the same tuning again: every trial is already done, nothing runs twice
    const again = await cli(['tune', manifest, ...TUNE, '--out', join(dir, 'tune-q'), '--queue', url]);
    assert.equal(again.code, 0, again.err);
    assert.deepEqual(await trials('tune-q'), inProcess);
    for (const [id, n] of startsPerJob(w.output())) assert.equal(n, 1, `${id} ran ${n} times`);
    w.proc.kill('SIGTERM');
    assert.equal(await w.exit, 0, w.output());
  },
);

test('a worker stopped with SIGTERM mid-job finishes the job in flight, then exits 0', { skip }, async () => {
  const url = (redis as RedisServer).url(3);
  const w = worker(url);
  const coordinator = cli([
    'experiment',
    'strategies',
    manifest,
    '--backbone',
    'MobileNetV2',
    '--input-size',
    '64',
    '--epochs-scale',
    '0.01',
    '--strategies',
    'two-stage',
    '--out',
    join(dir, 'sigterm'),
    '--queue',
    url,
    '--quiet',
  ]);
  await w.waitFor(/^start experiment-/m);
  w.proc.kill('SIGTERM');
  assert.equal(await w.exit, 0, w.output());
  const r = await coordinator;
  assert.equal(r.code, 0, `${r.err}\nworker:\n${w.output()}`);
  const log = w.output();
  const term = log.indexOf('SIGTERM: finishing the job in flight');
  assert.ok(term > 0, log);
  assert.match(log.slice(term), /^done experiment-[0-9a-f]+ strategies\/two-stage/m);
  assert.match(log.slice(term), /stopped/);
  assert.equal((await csvRows(join(dir, 'sigterm', 'strategies.csv'))).length, 1);
});

test(
  'accuracy suite units (recipe x cohort) through the queue give the same figures as in-process',
  { skip },
  async () => {
    const url = (redis as RedisServer).url(4);
    const unit = (recipe: string): AccuracyUnit => ({
      cohort: 'tiny',
      recipe,
      trainManifest: manifest,
      testManifest: manifest,
      dataDir: dir,
    });
    const units = [unit('segment-logistic'), unit('pixel-logistic')];
    const w = await startWorker({
      url: parseQueueUrl(url),
      sharedDir: dir,
      kinds: [workerKind(accuracyKind)],
      log: () => {},
    });
    try {
      const here = await runAccuracyUnits(units, undefined);
      const queued = await runAccuracyUnits(units, url);
      const noTime = (f: RecipeFigures): Omit<RecipeFigures, 'seconds'> => {
        const { seconds: _s, ...rest } = f;
        return rest;
      };
      assert.deepEqual(queued.map(noTime), here.map(noTime));
      assert.ok(here.every((f) => f.auc >= 0 && f.auc <= 1));
    } finally {
      await w.close();
    }
  },
);
