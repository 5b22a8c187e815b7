/** Worker thread of `synthesizeToDir`: generates and writes its share of the patients. */
import { parentPort, workerData } from 'node:worker_threads';
import { synthesizeOne, type WorkerJob, type WorkerReply } from './synthesize.js';
import { mapPool } from '../util/pool.js';

const job = workerData as WorkerJob;
const post = (m: WorkerReply): void => parentPort?.postMessage(m);

try {
  await mapPool(job.indices, job.write.concurrency ?? 2, async (index) => {
    post({ kind: 'row', index, rows: await synthesizeOne(job, index) });
  });
} catch (e) {
  post({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
}
