/**
 * The kinds of job `polarcad worker` runs: every unit of work the commands can send to the queue.
 */
import { cvFoldKind } from './cv-jobs.js';
import { experimentKind } from './experiment-jobs.js';
import { workerKind, type WorkerKind } from './jobs.js';
import { tuneTrialKind } from './tune-jobs.js';

/** Experiment configurations, cross-validation folds, Hyperband trials. */
export const BUILTIN_KINDS: readonly WorkerKind[] = [
  workerKind(experimentKind),
  workerKind(cvFoldKind),
  workerKind(tuneTrialKind),
];
