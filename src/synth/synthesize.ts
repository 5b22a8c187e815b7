/**
 * Generate and write a cohort in one streaming pass, optionally on several worker threads (each
 * patient has its own seeded random streams, so the output is identical whatever the number of
 * workers). Used by `polarcad synth` and the benchmark; `generateCohort` + `writeCohort` is the
 * in-memory equivalent.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { writeDirAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';
import type { Label } from '../domain/views.js';
import { cohortLabels, generatePatient, resolveCohortOptions } from './cohort.js';
import type { CohortOptions } from './types.js';
import { mapPool } from '../util/pool.js';
import { startModuleWorker } from '../util/worker-thread.js';
import { writePatientVolumes } from './volume-write.js';
import {
  validateWriteOptions,
  writePatient,
  writeTables,
  type PatientRows,
  type WriteOptions,
} from './write.js';

export interface SynthesizeOptions {
  /** worker threads; default min(available cores, 4); 1 = in this thread */
  readonly workers?: number;
}

/** Message to a worker: generate and write these patients. */
export interface WorkerJob {
  readonly cohort: Required<CohortOptions>;
  readonly labels: readonly Label[];
  readonly indices: readonly number[];
  readonly dir: string;
  readonly write: Omit<WriteOptions, 'onProgress'>;
}

/** Message from a worker. */
export type WorkerReply =
  | { readonly kind: 'row'; readonly index: number; readonly rows: PatientRows }
  | { readonly kind: 'error'; readonly message: string };

/** Generate one patient and write its files (the unit of work of both paths). */
export async function synthesizeOne(job: Omit<WorkerJob, 'indices'>, index: number): Promise<PatientRows> {
  const p = generatePatient(job.cohort.seed, index, job.cohort.patients, job.labels[index], job.cohort);
  const rows = await writePatient(p, job.dir, job.write);
  if (!job.write.volumes) return rows;
  return { ...rows, volumes: await writePatientVolumes(job.dir, p.id, index, job.labels[index], job.cohort) };
}

/** Start a worker on worker.ts / worker.js (`startModuleWorker`). */
function startWorker(workerData: WorkerJob): Worker {
  return startModuleWorker(import.meta.url, './worker', { workerData });
}

async function runWorkers(
  job: Omit<WorkerJob, 'indices'>,
  nWorkers: number,
  onRow: (i: number, r: PatientRows) => void,
): Promise<void> {
  const n = job.cohort.patients;
  const shards: number[][] = Array.from({ length: nWorkers }, () => []);
  for (let i = 0; i < n; i++) shards[i % nWorkers].push(i);
  await Promise.all(
    shards.map(
      (indices) =>
        new Promise<void>((resolve, reject) => {
          const w = startWorker({ ...job, indices });
          let failed = false;
          w.on('message', (m: WorkerReply) => {
            if (m.kind === 'row') onRow(m.index, m.rows);
            else {
              failed = true;
              reject(new Error(m.message));
            }
          });
          w.on('error', reject);
          w.on('exit', (code) =>
            code === 0 || failed ? resolve() : reject(new Error(`synth worker exited with code ${code}`)),
          );
        }),
    ),
  );
}

/**
 * Generate a cohort and write it to `outDir` (atomically): same files and bytes as
 * `writeCohort(generateCohort(cohortOpts), outDir, writeOpts)`.
 */
export async function synthesizeToDir(
  cohortOpts: CohortOptions,
  outDir: string,
  writeOpts: WriteOptions,
  so: SynthesizeOptions = {},
): Promise<{ patients: number; cad: number }> {
  const cohort = resolveCohortOptions(cohortOpts);
  validateWriteOptions(writeOpts);
  const labels = cohortLabels(new Rng(cohort.seed).fork('labels'), cohort.patients, cohort.prevalence);
  const nWorkers = Math.max(1, Math.min(so.workers ?? Math.min(availableParallelism(), 4), cohort.patients));
  const { onProgress, ...write } = writeOpts;
  const n = cohort.patients;
  await writeDirAtomic(outDir, 'synth', async (dir) => {
    const rows = new Array<PatientRows>(n);
    let done = 0;
    const job = { cohort, labels, dir, write };
    if (nWorkers === 1) {
      await mapPool(labels, write.concurrency ?? 4, async (_label, i) => {
        rows[i] = await synthesizeOne(job, i);
        onProgress?.(++done, n);
      });
    } else {
      await runWorkers(job, nWorkers, (i, r) => {
        rows[i] = r;
        onProgress?.(++done, n);
      });
    }
    await writeTables(dir, rows, cohort, writeOpts);
  });
  return { patients: n, cad: labels.filter((l) => l === 1).length };
}
