/**
 * `polarcad tune --queue`: each Hyperband trial (one head configuration trained for some epochs)
 * is a job ({@link tuneTrialKind}); the coordinator sends a round's trials together, and the next
 * round once their scores are in (successive halving needs them). A worker keeps the tuning
 * context (cohort, backbone, warm-up features) between trials of the same run and runs the SAME
 * trial function as the in-process run ({@link TuneContext.runTrial}).
 */
import { z } from 'zod';
import type { TrialOutcome } from '../../train/hyperband.js';
import { cohortChecksum } from '../experiment.js';
import { TuneContext, type TrialRunner, type TuneSettings } from '../tune.js';
import { cohortJobHandler, settingsSchema } from './experiment-jobs.js';
import { sweepOptions, type CoordinatorOptions } from './experiment-runner.js';
import { cohortJobKind, cohortJobSchema, planJob, runJobs, sharedPath, type JobKind } from './jobs.js';

/** BullMQ job name (and id prefix) of a Hyperband trial. */
export const TUNE_TRIAL_JOB = 'tune-trial';

const FORMAT = 1;

const jobSchema = cohortJobSchema(FORMAT, {
  settings: settingsSchema.omit({ epochsScale: true, microBatch: true }).extend({
    backbone: z.string(),
    weights: z.string().optional(),
  }),
  trial: z.object({
    config: z.object({
      units: z.number().int().positive(),
      dropout: z.number(),
      lrExponent: z.number().optional(),
    }),
    epochs: z.number().int().positive(),
    rngSeed: z.string(),
  }),
});

/** What a Hyperband trial job carries. */
export type TuneTrialJobData = z.infer<typeof jobSchema>;

/** A Hyperband trial as a job kind: the id hashes the data checksum, the settings and the trial. */
export const tuneTrialKind: JobKind<TuneTrialJobData, TrialOutcome> = cohortJobKind({
  name: TUNE_TRIAL_JOB,
  format: FORMAT,
  schema: jobSchema,
  label: (d) =>
    `tune/${d.trial.rngSeed.split('/').slice(-3).join('/')} (${d.trial.config.units} units, ${d.trial.epochs} epochs)`,
  open: (env) =>
    cohortJobHandler(
      env,
      (settings: TuneSettings) =>
        TuneContext.open({
          ...settings,
          ...(env.cacheDir !== undefined ? { cacheDir: env.cacheDir } : {}),
        }),
      (ctx, job: TuneTrialJobData) => ctx.runTrial(job.trial),
    ),
});

/**
 * The trial runner of `tune --queue URL`: each round's trials as jobs.
 * @example await runTune({ ...options, runner: queueTrialRunner({ url, sharedDir: '/mnt/lab' }) })
 */
export function queueTrialRunner(o: CoordinatorOptions): TrialRunner {
  return async ({ settings, cohort, trials }) => {
    const { manifest: _m, ...rest } = settings;
    const common = {
      format: FORMAT,
      manifest: sharedPath(cohort.data.manifest.path, o.sharedDir),
      checksum: cohortChecksum(cohort.data),
      settings: rest,
    } as const;
    const jobs = trials.map((trial) => planJob(tuneTrialKind, { ...common, trial }));
    return runJobs(tuneTrialKind, jobs, sweepOptions(o, 'round'));
  };
}
