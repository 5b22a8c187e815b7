/**
 * Benchmark of the job queue (issue 16) on one local redis-server:
 * (a) the queue's own cost per job: a sweep of 200 no-op jobs through the coordinator
 *     ({@link runSweep}) and one BullMQ worker in this process (wall time / jobs), and a one-job
 *     sweep end to end (connect, add, run, collect);
 * (b) real small jobs (strategies warmup and finetune, 64 px, one epoch, 6 seeds = 12 jobs) with 1
 *     and then 2 `polarcad worker` child processes: wall time, jobs/minute, and the overhead per
 *     job = (wall - sum of the workers' processing times) / jobs with one worker.
 * Target: overhead under 50 ms per job. The load average is recorded (the machine is shared).
 * `npm run bench -- queue`; writes bench/results/queue.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job, Queue, Worker } from 'bullmq';
import { main } from '../src/cli/main.js';
import {
  loadExperimentCohort,
  type ExperimentCommon,
  type ExperimentUnit,
} from '../src/workflows/experiment.js';
import { encodeResult, parseQueueUrl, runSweep, type QueueUrl } from '../src/workflows/queue/index.js';
import {
  EXPERIMENT_JOB,
  planExperimentJobs,
  type ExperimentJobData,
  type PlannedJob,
} from '../src/workflows/queue/experiment-jobs.js';
import { startRedis } from '../test/helpers/redis.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function noopOverhead(url: QueueUrl, jobs: number): Promise<Record<string, number>> {
  const queueName = 'bench-noop';
  const worker = new Worker<unknown, string>(queueName, async (job) => encodeResult({ id: job.id }), {
    connection: url.options,
    concurrency: 1,
  });
  await worker.waitUntilReady();
  try {
    const planned = Array.from({ length: jobs }, (_, i) => ({
      id: `noop-${i}`,
      label: `noop ${i}`,
      data: { i },
    }));
    let t0 = performance.now();
    await runSweep('noop', planned, { url, queueName });
    const sweepMs = performance.now() - t0;
    const single: number[] = [];
    for (let i = 0; i < 10; i++) {
      t0 = performance.now();
      await runSweep('noop', [{ id: `single-${i}`, label: 'single', data: { i } }], { url, queueName });
      single.push(performance.now() - t0);
    }
    single.sort((a, b) => a - b);
    return {
      noop_jobs: jobs,
      noop_sweep_seconds: sweepMs / 1000,
      noop_ms_per_job: sweepMs / jobs,
      single_job_sweep_ms_median: single[5],
    };
  } finally {
    await worker.close();
  }
}

function startWorkerProcess(url: string): { proc: ChildProcess; ready: Promise<void> } {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/bin.ts'), 'worker', '--queue', url],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const ready = new Promise<void>((res) => {
    let text = '';
    proc.stdout?.on('data', (b: Buffer) => {
      text += b.toString();
      if (/^worker /m.test(text)) res();
    });
  });
  return { proc, ready };
}

async function realJobs(
  url: QueueUrl,
  urlText: string,
  jobs: PlannedJob<ExperimentJobData>[],
  workers: number,
): Promise<Record<string, number>> {
  const procs = Array.from({ length: workers }, () => startWorkerProcess(urlText));
  try {
    await Promise.all(procs.map((p) => p.ready));
    const t0 = performance.now();
    await runSweep(EXPERIMENT_JOB, jobs, { url });
    const wall = (performance.now() - t0) / 1000;
    const queue = new Queue('polarcad', { connection: url.options });
    let processing = 0;
    for (const j of jobs) {
      const job = await Job.fromId(queue, j.id);
      if (job?.processedOn !== undefined && job.finishedOn !== undefined)
        processing += (job.finishedOn - job.processedOn) / 1000;
    }
    await queue.close();
    return {
      workers,
      jobs: jobs.length,
      wall_seconds: wall,
      jobs_per_minute: (60 * jobs.length) / wall,
      processing_seconds_sum: processing,
      overhead_ms_per_job: workers === 1 ? (1000 * (wall - processing)) / jobs.length : Number.NaN,
    };
  } finally {
    for (const p of procs) p.proc.kill('SIGTERM');
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const loadBefore = loadavg();
  const redis = await startRedis();
  const dir = await mkdtemp(join(tmpdir(), 'polarcad-queue-bench-'));
  try {
    const noop = await noopOverhead(parseQueueUrl(redis.url(0)), 200);
    const synth = await main([
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
    if (synth !== 0) throw new Error('synth failed');
    const jobs: PlannedJob<ExperimentJobData>[] = [];
    for (let seed = 1; seed <= 6; seed++) {
      const common: ExperimentCommon = {
        manifest: join(dir, 'cohort', 'manifest.csv'),
        out: join(dir, 'unused'),
        input: 'stress_ac',
        seed,
        epochsScale: 0.01,
        inputSize: 64,
      };
      const cohort = await loadExperimentCohort(common);
      const units: ExperimentUnit[] = (['warmup', 'finetune'] as const).map((strategy) => ({
        experiment: 'strategies',
        backbone: 'MobileNetV2',
        strategy,
      }));
      jobs.push(...planExperimentJobs(common, cohort, units, undefined));
    }
    const one = await realJobs(parseQueueUrl(redis.url(1)), redis.url(1), jobs, 1);
    const two = await realJobs(parseQueueUrl(redis.url(2)), redis.url(2), jobs, 2);
    return {
      cores: availableParallelism(),
      load_average_before: loadBefore.map((x) => Number(x.toFixed(2))),
      load_average_after: loadavg().map((x) => Number(x.toFixed(2))),
      target_overhead_ms_per_job: 50,
      ...noop,
      real_1_worker: one,
      real_2_workers: two,
      speedup_2_vs_1: one.wall_seconds / two.wall_seconds,
    };
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
