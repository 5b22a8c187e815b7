/**
 * `--queue` for the experiments: a {@link UnitRunner} that sends the configurations to the queue
 * as jobs and hands their results back to the experiment, which then writes exactly what the
 * in-process run writes.
 */
import type { UnitResult, UnitRunner } from '../experiment.js';
import type { QueueUrl } from './connection.js';
import { experimentKind, planExperimentJobs } from './experiment-jobs.js';
import { runJobs } from './jobs.js';
import type { SweepOptions } from './sweep.js';

/** Options of {@link queueRunner}. */
export interface QueueRunnerOptions {
  readonly url: QueueUrl;
  /** The shared folder as this machine mounts it (the manifest must be inside it). */
  readonly sharedDir?: string;
  readonly queueName?: string;
  readonly attempts?: number;
}

/** Runner options of a coordinator that reports on its own (the cv and tune commands). */
export type CoordinatorOptions = QueueRunnerOptions & {
  readonly log?: (line: string) => void;
  readonly onProgress?: (label: string, done: number, total: number, detail?: string) => void;
};

/**
 * How a coordinator runs its jobs: through the queue of `o`, logging to `o.log`, with the
 * sweep's progress reported to `o.onProgress` under `label` ('N running, M failed').
 * @example await runJobs(cvFoldKind, jobs, sweepOptions(o, 'folds'))
 */
export function sweepOptions(o: CoordinatorOptions, label: string): SweepOptions {
  return {
    url: o.url,
    ...(o.queueName !== undefined ? { queueName: o.queueName } : {}),
    ...(o.attempts !== undefined ? { attempts: o.attempts } : {}),
    ...(o.log ? { log: o.log } : {}),
    onProgress: (p) => o.onProgress?.(label, p.done, p.total, `${p.running} running, ${p.failed} failed`),
  };
}

/**
 * The runner of `--queue URL`: the command becomes the coordinator of the sweep.
 * @example await runStrategiesExperiment({ ...common, runner: queueRunner({ url: parseQueueUrl('redis://127.0.0.1:6379/0') }) })
 */
export function queueRunner(o: QueueRunnerOptions): UnitRunner {
  return async ({ common, cohort, units }) => {
    const jobs = planExperimentJobs(common, cohort, units, o.sharedDir);
    const results = await runJobs(
      experimentKind,
      jobs,
      sweepOptions({ ...o, log: common.log, onProgress: common.onProgress }, 'sweep'),
    );
    // paths in the run directories are this machine's, as in the in-process run
    return results.map((r): UnitResult => {
      return {
        ...r,
        runDir: { ...r.runDir, config: { ...r.runDir.config, manifest: cohort.data.manifest.path } },
      };
    });
  };
}
