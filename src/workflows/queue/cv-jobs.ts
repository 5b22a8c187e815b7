/**
 * `polarcad cv --queue`: each fold (one training of one fold x seed) is a job ({@link cvFoldKind}).
 * The job names the cohort's manifest and the fold's folder relative to the shared folder; the
 * worker checks the data by checksum and runs the SAME fold function as the in-process run
 * ({@link runCvFold}), writing the fold's run directory (model included) under the shared folder;
 * the predictions, kept epochs and weights travel back through the queue.
 */
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { loadManifest } from '../../ingest/manifest.js';
import { runCvFold, type CvFoldResult, type CvFoldUnit, type FoldRunner } from '../cv.js';
import {
  cohortJobKind,
  cohortJobSchema,
  localPath,
  manifestChecksum,
  planJob,
  runJobs,
  sharedPath,
  verifyChecksum,
  type JobKind,
} from './jobs.js';
import { sweepOptions, type CoordinatorOptions } from './experiment-runner.js';

/** BullMQ job name (and id prefix) of a cross-validation fold. */
export const CV_FOLD_JOB = 'cv-fold';

const FORMAT = 1;

const jobSchema = cohortJobSchema(FORMAT, {
  /** The fold's folder, relative to the shared folder (absolute without one). */
  dir: z.string(),
  fold: z.number().int().nonnegative(),
  k: z.number().int().min(2),
  trainIds: z.array(z.string()),
  testIds: z.array(z.string()),
  seed: z.number(),
  train: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

/** What a cv fold job carries. */
export type CvFoldJobData = z.infer<typeof jobSchema>;

/**
 * A cross-validation fold as a job kind. The id hashes the data checksum, the fold's patients,
 * seed and training options, and the fold's folder under the shared folder (the job writes there).
 * A worker without --cache-dir shares the feature cache OUT/.cache of the in-process run.
 */
export const cvFoldKind: JobKind<CvFoldJobData, CvFoldResult> = cohortJobKind({
  name: CV_FOLD_JOB,
  format: FORMAT,
  schema: jobSchema,
  label: (d) => `cv/fold-${String(d.fold + 1).padStart(2, '0')} of ${d.k}`,
  open(env) {
    return {
      async run(job) {
        const manifestPath = localPath(job.manifest, env.sharedDir);
        await verifyChecksum(manifestPath, job.checksum, manifestChecksum, env.sharedDir);
        const manifest = await loadManifest(manifestPath, { requireLabels: true });
        const dir = localPath(job.dir, env.sharedDir);
        const unit: CvFoldUnit = {
          ...job,
          manifest: manifestPath,
          dir,
          train: job.train as CvFoldUnit['train'],
        };
        return runCvFold(manifest, unit, {
          cacheDir: env.cacheDir ?? join(dirname(dirname(dir)), '.cache'),
          hooks: { onWarning: (m) => env.log(`  ${m}`) },
        });
      },
      dispose: () => Promise.resolve(),
    };
  },
});

/**
 * The fold runner of `cv --queue URL`: the command becomes the coordinator; its --out must be
 * inside --shared-dir (workers write the folds' run directories there).
 * @example await runCrossValidation({ ...options, runner: queueFoldRunner({ url, sharedDir: '/mnt/lab' }) })
 */
export function queueFoldRunner(o: CoordinatorOptions): FoldRunner {
  return async (folds) => {
    if (folds.length === 0) return [];
    const checksum = await manifestChecksum(folds[0].manifest);
    const manifest = sharedPath(folds[0].manifest, o.sharedDir);
    const jobs = folds.map((f) =>
      planJob(cvFoldKind, {
        format: FORMAT,
        manifest,
        dir: sharedPath(f.dir, o.sharedDir, 'the output folder (workers write the folds there)'),
        checksum,
        fold: f.fold,
        k: f.k,
        trainIds: [...f.trainIds],
        testIds: [...f.testIds],
        seed: f.seed,
        train: stripUndefined(f.train),
      }),
    );
    return runJobs(cvFoldKind, jobs, sweepOptions(o, 'folds'));
  };
}

function stripUndefined(o: object): Record<string, string | number | boolean> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Record<
    string,
    string | number | boolean
  >;
}
