/**
 * Sweeps beyond one machine: experiments as jobs on BullMQ and Redis (docs/queue.md).
 */
export { parseQueueUrl, checkRedis, type QueueUrl } from './connection.js';
export { queueRunner, type QueueRunnerOptions } from './experiment-runner.js';
export { startWorker, type RunningWorker, type WorkerOptions } from './worker.js';
export { runSweep, SweepFailed, DEFAULT_QUEUE_NAME, DEFAULT_ATTEMPTS, type SweepProgress } from './sweep.js';
export { jobIdOf, encodeResult, decodeResult } from './codec.js';
