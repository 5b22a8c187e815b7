/**
 * `polarcad worker`: a process on any machine that takes jobs from the queue and runs them
 * (BullMQ Worker). A worker that dies mid-job (SIGKILL, a lost machine) stops renewing its lock and
 * BullMQ's stalled-job check hands the job to another worker; a job that fails is retried with
 * backoff and then reported to the coordinator with its error; a permanent problem (malformed job,
 * data differing by checksum) fails at once. `close()` lets the job in flight finish.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { errorMessage } from '../../util/errors.js';
import { encodeResult } from './codec.js';
import { checkRedis, closeAll, watchRedis, type QueueUrl } from './connection.js';
import { PermanentJobError, type JobEnv, type JobHandler, type WorkerKind } from './jobs.js';
import { BUILTIN_KINDS } from './kinds.js';
import { DEFAULT_QUEUE_NAME } from './sweep.js';

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  readonly url: QueueUrl;
  /** Jobs in flight in this process (default 1; CPU-bound training: rather one worker per core). */
  readonly concurrency?: number;
  /** The shared folder as this machine mounts it (jobs name their inputs relative to it). */
  readonly sharedDir?: string;
  /** Lock of a job in flight, renewed at half this period; a dead worker's job is retried after it (default 30 s). */
  readonly lockMs?: number;
  readonly queueName?: string;
  /** Feature cache folder of this machine. */
  readonly cacheDir?: string;
  /** How long Redis may not answer before the worker stops with an error (default 30 s). */
  readonly graceMs?: number;
  readonly log: (line: string) => void;
  /** The kinds of job this worker runs (default: the experiments, cv folds and Hyperband trials). */
  readonly kinds?: readonly WorkerKind[];
}

/** A started worker. */
export interface RunningWorker {
  /** The worker's name in the queue (host:pid). */
  readonly name: string;
  /** Settles when the worker stopped: resolves after close(), rejects when Redis went away. */
  readonly stopped: Promise<void>;
  /** Stop taking jobs, let the job in flight finish, disconnect. */
  close(): Promise<void>;
}

/**
 * Start a worker on the queue at `o.url`.
 * @throws InputError when Redis cannot be reached
 * @example const w = await startWorker({ url: parseQueueUrl('redis://10.0.0.5:6379/0'), sharedDir: '/mnt/lab', log: console.log }); process.once('SIGTERM', () => void w.close())
 */
export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  await checkRedis(o.url);
  const name = `${hostname()}:${process.pid}`;
  const concurrency = o.concurrency ?? 1;
  const lockMs = o.lockMs ?? 30_000;
  const jobs = new KindDispatch(o.kinds ?? BUILTIN_KINDS, {
    ...(o.sharedDir !== undefined ? { sharedDir: o.sharedDir } : {}),
    ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
    keep: concurrency,
    log: o.log,
  });
  const label = (job: Job<unknown, string>): string => {
    const d = job.data as { label?: unknown };
    return `${job.id ?? '?'}${typeof d.label === 'string' ? ` ${d.label}` : ''}`;
  };
  const worker = new Worker<unknown, string>(
    o.queueName ?? DEFAULT_QUEUE_NAME,
    async (job) => {
      try {
        return encodeResult(await jobs.run(job.name, job.data));
      } catch (e) {
        if (e instanceof PermanentJobError) throw new UnrecoverableError(`${name}: ${e.message}`);
        throw new Error(`${name}: ${errorMessage(e)}`, { cause: e });
      }
    },
    {
      connection: o.url.options,
      concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 2,
      name,
    },
  );
  const started = new Map<string, number>();
  worker.on('active', (job) => {
    started.set(job.id ?? '', performance.now());
    o.log(`start ${label(job)} (attempt ${job.attemptsMade + 1})`);
  });
  worker.on('completed', (job) => {
    const t = started.get(job.id ?? '');
    o.log(
      `done ${label(job)}${t !== undefined ? ` in ${((performance.now() - t) / 1000).toFixed(1)} s` : ''}`,
    );
  });
  worker.on('failed', (job, e) => {
    o.log(`failed ${job ? label(job) : '?'}: ${e.message}`);
  });
  let lastError = '';
  worker.on('error', (e) => {
    if (e.message !== lastError) o.log(`queue error: ${e.message}`);
    lastError = e.message;
  });
  await worker.waitUntilReady();
  const watch = watchRedis(o.url, o.graceMs ?? 30_000);
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      watch.stop();
      await worker.close();
      await jobs.dispose();
      resolveClosed();
    })();
    return closing;
  };
  const stopped = Promise.race([closed, watch.lost]).catch(async (e: unknown) => {
    await closeAll([{ close: () => worker.close(true), disconnect: () => worker.disconnect() }]);
    await jobs.dispose();
    throw e;
  });
  o.log(
    `worker ${name} on ${o.url.display} queue "${o.queueName ?? DEFAULT_QUEUE_NAME}", concurrency ${concurrency}, shared folder ${o.sharedDir ?? '(none: jobs name absolute paths)'}`,
  );
  return { name, stopped, close };
}

/** The worker's kinds of job: each job goes to its kind's handler (opened on its first job). */
class KindDispatch {
  private readonly kinds: Map<string, WorkerKind>;
  private readonly handlers = new Map<string, JobHandler<unknown, unknown>>();

  constructor(
    kinds: readonly WorkerKind[],
    private readonly env: JobEnv,
  ) {
    this.kinds = new Map(kinds.map((k) => [k.name, k]));
  }

  /** @throws PermanentJobError for an unknown kind or malformed data */
  async run(name: string, raw: unknown): Promise<unknown> {
    const kind = this.kinds.get(name);
    if (kind === undefined)
      throw new PermanentJobError(
        `unknown kind of job "${name}" (this worker runs ${[...this.kinds.keys()].join(', ')})`,
      );
    let handler = this.handlers.get(name);
    if (handler === undefined) {
      handler = kind.open(this.env);
      this.handlers.set(name, handler);
    }
    return handler.run(raw);
  }

  async dispose(): Promise<void> {
    for (const h of this.handlers.values()) await h.dispose();
    this.handlers.clear();
  }
}
