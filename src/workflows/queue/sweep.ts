/**
 * The coordinator's side of a sweep on BullMQ: add the jobs under their deterministic ids (a job
 * already in the queue is not added twice; one that failed before is retried once more), follow
 * them through QueueEvents, and collect their results in the jobs' order. Ctrl-C (SIGINT) leaves
 * the queue as it is; the same sweep started again picks up the finished jobs' results.
 */
import { Job, Queue, QueueEvents } from 'bullmq';
import { InputError } from '../../util/errors.js';
import { onStopSignals } from '../../util/signals.js';
import type { PlannedJob } from './jobs.js';
import { checkRedis, closeAll, watchRedis, type QueueUrl } from './connection.js';

/** The queue polarcad uses unless told otherwise. */
export const DEFAULT_QUEUE_NAME = 'polarcad';

/** Attempts per job (a failed attempt is retried with exponential backoff, then reported). */
export const DEFAULT_ATTEMPTS = 3;

/** Where a sweep stands. */
export interface SweepProgress {
  readonly total: number;
  readonly done: number;
  readonly running: number;
  readonly failed: number;
}

/** Options of {@link runSweep}. */
export interface SweepOptions {
  readonly url: QueueUrl;
  readonly queueName?: string;
  readonly attempts?: number;
  /** How long Redis may not answer before the sweep stops with an error (default 10 s). */
  readonly graceMs?: number;
  readonly log?: (line: string) => void;
  readonly onProgress?: (p: SweepProgress) => void;
}

/** Jobs of a sweep that failed for good: each with its error. */
export class SweepFailed extends InputError {
  constructor(
    readonly failures: readonly { label: string; id: string; reason: string }[],
    total: number,
  ) {
    super(
      `${failures.length} of ${total} jobs failed (their errors below); the others' results are kept in the queue, run the command again to retry the failed ones\n${failures.map((f) => `  - ${f.label} (${f.id}): ${f.reason}`).join('\n')}`,
      { exitCode: 1 },
    );
    this.name = 'SweepFailed';
  }
}

/**
 * Run `jobs` (named `name`) through the queue and return their results (the workers' return
 * values, JSON text) in the jobs' order.
 * @throws InputError when Redis cannot be reached or goes away, on SIGINT (exit code 130), and
 *   {@link SweepFailed} when jobs failed for good
 * @example const texts = await runSweep('experiment-unit', jobs, { url: parseQueueUrl('redis://127.0.0.1:6379/0') })
 */
export async function runSweep<D>(
  name: string,
  jobs: readonly PlannedJob<D>[],
  o: SweepOptions,
): Promise<string[]> {
  await checkRedis(o.url);
  const queueName = o.queueName ?? DEFAULT_QUEUE_NAME;
  const queue = new Queue(queueName, { connection: o.url.options });
  const events = new QueueEvents(queueName, { connection: o.url.options });
  queue.on('error', () => {}); // the watchdog reports a lost Redis
  events.on('error', () => {});
  const watch = watchRedis(o.url, o.graceMs ?? 10_000);
  let off = (): void => {};
  const interrupted = new Promise<never>((_, reject) => {
    off = onStopSignals(['SIGINT'], () =>
      reject(
        new InputError(
          'interrupted: the jobs stay in the queue (workers go on with them); run the same command again to collect the results',
          { exitCode: 130 },
        ),
      ),
    );
  });
  try {
    return await Promise.race([follow(name, jobs, queue, events, o), watch.lost, interrupted]);
  } finally {
    off();
    watch.stop();
    await closeAll([events, queue]);
  }
}

async function follow<D>(
  name: string,
  jobs: readonly PlannedJob<D>[],
  queue: Queue,
  events: QueueEvents,
  o: SweepOptions,
): Promise<string[]> {
  const attempts = o.attempts ?? DEFAULT_ATTEMPTS;
  const index = new Map(jobs.map((j, i) => [j.id, i]));
  const results: (string | undefined)[] = jobs.map(() => undefined);
  const failures = new Map<string, string>();
  const running = new Set<string>();
  const dirty = new Set<string>();
  let wake: () => void = () => {};
  const touch = (jobId: string): void => {
    if (!index.has(jobId)) return;
    dirty.add(jobId);
    wake();
  };
  const progress = (): void =>
    o.onProgress?.({
      total: jobs.length,
      done: results.filter((r) => r !== undefined).length,
      running: running.size,
      failed: failures.size,
    });
  events.on('active', ({ jobId }) => {
    if (!index.has(jobId)) return;
    running.add(jobId);
    progress();
  });
  events.on('completed', ({ jobId }) => touch(jobId));
  events.on('failed', ({ jobId }) => touch(jobId));
  events.on('waiting', ({ jobId }) => {
    if (running.delete(jobId)) progress();
  });
  await events.waitUntilReady();
  await queue.addBulk(
    jobs.map((j) => ({
      name,
      data: j.data,
      opts: {
        jobId: j.id,
        attempts,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: false,
        removeOnFail: false,
      },
    })),
  );
  /** Look at one job's state; `first`: a job that failed in an earlier run is retried. */
  const check = async (id: string, first: boolean): Promise<void> => {
    const i = index.get(id) as number;
    if (results[i] !== undefined || failures.has(id)) return;
    // the state first: a job read before its state is final could miss its return value
    const state = await queue.getJobState(id);
    const job = state === 'unknown' ? undefined : await Job.fromId<D, string>(queue, id);
    if (job === undefined) {
      failures.set(id, 'the job is no longer in the queue (removed by someone else?)');
      return;
    }
    if (state === 'completed') {
      running.delete(id);
      results[i] = job.returnvalue;
      if (first) o.log?.(`${jobs[i].label}: already done (${id})`);
      else o.log?.(`${jobs[i].label}: done${job.processedBy ? ` by ${job.processedBy}` : ''}`);
    } else if (state === 'failed') {
      running.delete(id);
      if (first) {
        o.log?.(`${jobs[i].label}: failed in an earlier run (${job.failedReason}); retrying`);
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      } else {
        failures.set(id, job.failedReason || 'failed without a message');
        o.log?.(`${jobs[i].label}: FAILED after ${job.attemptsMade} attempt(s): ${job.failedReason}`);
      }
    } else if (state === 'active') running.add(id);
    else running.delete(id); // waiting, or delayed before its next attempt
  };
  for (const j of jobs) await check(j.id, true);
  progress();
  const settled = (): boolean => results.every((r, i) => r !== undefined || failures.has(jobs[i].id));
  let sinceFull = 0;
  while (!settled()) {
    if (dirty.size === 0)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    wake = () => {};
    // events may be missed (a reconnect): look at every open job now and then
    const ids = dirty.size > 0 && Date.now() - sinceFull < 5000 ? [...dirty] : jobs.map((j) => j.id);
    if (ids.length === jobs.length) sinceFull = Date.now();
    dirty.clear();
    for (const id of ids) await check(id, false);
    progress();
  }
  if (failures.size > 0)
    throw new SweepFailed(
      jobs
        .filter((j) => failures.has(j.id))
        .map((j) => ({ label: j.label, id: j.id, reason: failures.get(j.id) as string })),
      jobs.length,
    );
  return results as string[];
}
