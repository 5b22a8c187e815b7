/**
 * `polarcad worker --queue URL [--concurrency N] [--shared-dir DIR]`: take jobs from the queue and
 * run them until SIGTERM / Ctrl-C (library: src/workflows/queue/worker.ts; docs/queue.md).
 */
import type { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import '../../models/layers/keras-layers.js';
import { checkRedis, parseQueueUrl, startWorker } from '../../workflows/queue/index.js';
import { addOptions, wholeOption } from '../options/parse.js';
import { onStopSignals } from '../../util/signals.js';

interface WorkerCli {
  queue: string;
  concurrency: string;
  sharedDir?: string;
  cacheDir?: string;
  lockMs: string;
}

export function registerWorker(program: Command): void {
  const cmd = program
    .command('worker')
    .description(
      'take jobs (experiment configurations, cv folds, Hyperband trials) from a Redis queue and run them, until SIGTERM or Ctrl-C (the job in flight is finished first)',
    )
    .requiredOption('--queue <url>', 'the Redis of the queue: redis://HOST:PORT/DB, rediss:// for TLS');
  addOptions(cmd, [
    ['--concurrency <n>', 'jobs in flight in this process (for training, rather one worker per core)', '1'],
    [
      '--shared-dir <dir>',
      'the shared folder as this machine mounts it (jobs name their inputs relative to it)',
    ],
    ['--cache-dir <dir>', 'on-disk feature cache of this machine (default: in memory only)'],
    [
      '--lock-ms <ms>',
      'lock of a job in flight; a worker that died mid-job has its job retried elsewhere after about this long',
      '30000',
    ],
  ]).action(async (o: WorkerCli) => {
    const url = parseQueueUrl(o.queue);
    const concurrency = wholeOption('--concurrency', o.concurrency, { min: 1, max: 64 }) ?? 1;
    const lockMs = wholeOption('--lock-ms', o.lockMs, { min: 500 }) ?? 30_000;
    await checkRedis(url); // a wrong URL is reported before the engine starts
    await initBackend('wasm');
    // the stop signals are handled before the first job can start: a SIGTERM that arrives while
    // the worker is starting (its first job may already be running) finishes that job too
    let w: Awaited<ReturnType<typeof startWorker>> | undefined;
    let stopRequested = false;
    const off = onStopSignals(['SIGTERM', 'SIGINT'], (signal) => {
      process.stdout.write(`${signal}: finishing the job in flight, then stopping (again to abort now)\n`);
      stopRequested = true;
      if (w !== undefined) void w.close();
    });
    try {
      w = await startWorker({
        url,
        concurrency,
        lockMs,
        ...(o.sharedDir !== undefined ? { sharedDir: o.sharedDir } : {}),
        ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
        log: (line) => process.stdout.write(`${line}\n`),
      });
      if (stopRequested) void w.close();
      await w.stopped;
      process.stdout.write(`worker ${w.name} stopped\n`);
    } finally {
      off();
    }
  });
}
