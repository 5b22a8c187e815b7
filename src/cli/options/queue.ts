/**
 * `--queue URL` and `--shared-dir DIR`, the options of the commands that can run their work as jobs
 * on a queue (the coordinators) and of `polarcad worker` (argument parsing only; docs/queue.md).
 */
import type { Command } from 'commander';
import { parseQueueUrl } from '../../workflows/queue/index.js';
import type { QueueRunnerOptions } from '../../workflows/queue/index.js';
import { addOptions } from './parse.js';

/** Raw values of the queue options. */
export interface QueueCli {
  queue?: string;
  sharedDir?: string;
}

/** Add `--queue` and `--shared-dir` to a command. @example withQueueOptions(program.command('experiment')) */
export function withQueueOptions(cmd: Command): Command {
  return addOptions(cmd, [
    [
      '--queue <url>',
      'run the configurations as jobs on this Redis (redis://HOST:PORT/DB, rediss:// for TLS) and collect their results; `polarcad worker` runs them (docs/queue.md)',
    ],
    [
      '--shared-dir <dir>',
      'with --queue: the folder every machine sees (e.g. NFS); the manifest must be inside it, jobs name it relative to it',
    ],
  ]);
}

/**
 * The queue runner's options, or undefined without `--queue` (the in-process run).
 * @throws InputError for a malformed URL
 * @example parseQueueCli({ queue: 'redis://127.0.0.1:6379/0' })?.url.display // 'redis://127.0.0.1:6379/0'
 */
export function parseQueueCli(o: QueueCli): QueueRunnerOptions | undefined {
  if (o.queue === undefined) return undefined;
  return {
    url: parseQueueUrl(o.queue),
    ...(o.sharedDir !== undefined ? { sharedDir: o.sharedDir } : {}),
  };
}
