/**
 * Sweeps beyond one machine: experiments, cv folds, Hyperband trials (and any other {@link JobKind})
 * as jobs on BullMQ and Redis (docs/queue.md).
 */
export { parseQueueUrl, checkRedis, type QueueUrl } from './connection.js';
export { queueRunner, type QueueRunnerOptions } from './experiment-runner.js';
export { queueFoldRunner, cvFoldKind, CV_FOLD_JOB } from './cv-jobs.js';
export { queueTrialRunner, tuneTrialKind, TUNE_TRIAL_JOB } from './tune-jobs.js';
export { experimentKind, EXPERIMENT_JOB } from './experiment-jobs.js';
export {
  planJob,
  ContextPool,
  localPath,
  sharedPath,
  verifyChecksum,
  runJobs,
  workerKind,
  manifestChecksum,
  PermanentJobError,
  type JobKind,
  type JobEnv,
  type JobHandler,
  type PlannedJob,
  type WorkerKind,
} from './jobs.js';
export { BUILTIN_KINDS } from './kinds.js';
export { startWorker, type RunningWorker, type WorkerOptions } from './worker.js';
export { runSweep, SweepFailed, DEFAULT_QUEUE_NAME, DEFAULT_ATTEMPTS, type SweepProgress } from './sweep.js';
export { jobIdOf, encodeResult, decodeResult } from './codec.js';
