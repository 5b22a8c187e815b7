/**
 * The experiments' configurations as queue jobs ({@link experimentKind}): what a job carries (the
 * manifest named relative to the shared folder, the data checksum, the settings that decide the
 * result, the unit), and the worker's side: check the data by checksum, then run the SAME unit
 * function as the in-process run ({@link runExperimentUnit}).
 */
import { z } from 'zod';
import { INPUT_KINDS } from '../../train/experiment-data.js';
import { STRATEGY_IDS } from '../../train/strategies.js';
import {
  cohortChecksum,
  ExperimentContext,
  runExperimentUnit,
  type ExperimentCohort,
  type ExperimentCommon,
  type ExperimentSettings,
  type ExperimentUnit,
  type UnitResult,
} from '../experiment.js';
import {
  cohortJobSchema,
  ContextPool,
  localPath,
  planJob,
  sharedPath,
  openVerified,
  type JobEnv,
  type JobHandler,
  type JobKind,
  type PlannedJob,
} from './jobs.js';

export { sharedPath, PermanentJobError, type PlannedJob } from './jobs.js';

/** BullMQ job name (and id prefix) of an experiment configuration. */
export const EXPERIMENT_JOB = 'experiment';

/** Version of the job format (part of the id: a new format never reuses an old result). */
const FORMAT = 1;

export const settingsSchema = z.object({
  input: z.enum(INPUT_KINDS),
  augment: z.number().int().optional(),
  seed: z.union([z.number(), z.string()]),
  epochsScale: z.number().optional(),
  batchSize: z.number().int().optional(),
  microBatch: z.number().int().optional(),
  inputSize: z.number().int().optional(),
});

const unitSchema = z.discriminatedUnion('experiment', [
  z.object({
    experiment: z.literal('strategies'),
    backbone: z.string(),
    strategy: z.enum(STRATEGY_IDS),
    freezeFirst: z.number().int().optional(),
  }),
  z.object({
    experiment: z.literal('backbones'),
    backbone: z.string(),
    weights: z.enum(['imagenet', 'none']),
  }),
  z.object({
    experiment: z.literal('finetune-depth'),
    backbone: z.string(),
    weights: z.string(),
    depth: z.number().int(),
    epochs: z.number().int(),
    lrExponent: z.number().optional(),
  }),
]);

const jobSchema = cohortJobSchema(FORMAT, {
  /** For log lines only (not part of the id). */
  label: z.string().optional(),
  settings: settingsSchema,
  unit: unitSchema,
});

/** What an experiment job carries. */
export type ExperimentJobData = z.infer<typeof jobSchema>;

/** The result-deciding settings of an experiment (what a job carries besides its unit). */
export function resultSettings(s: ExperimentSettings): ExperimentJobData['settings'] {
  return {
    input: s.input,
    ...(s.augment !== undefined ? { augment: s.augment } : {}),
    seed: s.seed,
    ...(s.epochsScale !== undefined ? { epochsScale: s.epochsScale } : {}),
    ...(s.batchSize !== undefined ? { batchSize: s.batchSize } : {}),
    ...(s.microBatch !== undefined ? { microBatch: s.microBatch } : {}),
    ...(s.inputSize !== undefined ? { inputSize: s.inputSize } : {}),
  };
}

function unitLabel(unit: ExperimentUnit): string {
  return unit.experiment === 'strategies'
    ? `strategies/${unit.strategy}`
    : unit.experiment === 'backbones'
      ? `backbones/${unit.backbone}`
      : `finetune-depth/conv-${unit.depth}`;
}

/**
 * An experiment configuration as a job kind: the id hashes the data checksum, the result-deciding
 * settings and the unit (not the paths: the same data elsewhere is the same job); a worker keeps
 * the loaded context (data, backbones) between jobs of the same sweep.
 */
export const experimentKind: JobKind<ExperimentJobData, UnitResult> = {
  name: EXPERIMENT_JOB,
  format: FORMAT,
  schema: jobSchema,
  idInputs: (d) => ({ checksum: d.checksum, settings: d.settings, unit: d.unit }),
  label: (d) => d.label ?? unitLabel(d.unit),
  open: (env) =>
    cohortJobHandler(
      env,
      (settings) =>
        ExperimentContext.open({
          ...(env.cacheDir !== undefined ? { cacheDir: env.cacheDir } : {}),
          log: (line) => env.log(`  ${line}`),
          ...settings,
        }),
      (ctx, job: ExperimentJobData) => runExperimentUnit(ctx, job.unit),
    ),
};

/** A context loaded from a job's cohort that a worker keeps between jobs (experiments, tuning). */
interface CohortContext {
  readonly cohort: { readonly data: Parameters<typeof cohortChecksum>[0] };
  dispose(): Promise<void>;
}

/**
 * The worker's side of a job kind that runs on a context loaded from the job's cohort: contexts
 * are kept in a {@link ContextPool} keyed by data and settings, opened by `open` with the job's
 * settings and this machine's manifest path, and checked against the job's checksum first.
 */
export function cohortJobHandler<
  J extends { readonly manifest: string; readonly checksum: string; readonly settings: object },
  C extends CohortContext,
  R,
>(
  env: JobEnv,
  open: (settings: J['settings'] & { manifest: string }) => Promise<C>,
  use: (ctx: C, job: J) => Promise<R>,
): JobHandler<J, R> {
  const pool = new ContextPool<C>(env.keep, (c) => c.dispose());
  return {
    async run(job) {
      const manifest = localPath(job.manifest, env.sharedDir);
      const settings = { ...job.settings, manifest };
      return pool.with(
        { manifest, checksum: job.checksum, settings },
        () =>
          openVerified(
            manifest,
            job.checksum,
            () => open(settings),
            (ctx) => cohortChecksum(ctx.cohort.data),
            env.sharedDir,
          ),
        (ctx) => use(ctx, job),
      );
    },
    dispose: () => pool.dispose(),
  };
}

/**
 * One job per configuration of an experiment.
 * @example planExperimentJobs(common, cohort, units, '/mnt/lab')[0].id // 'experiment-…'
 */
export function planExperimentJobs(
  common: ExperimentCommon,
  cohort: ExperimentCohort,
  units: readonly ExperimentUnit[],
  sharedDir: string | undefined,
): PlannedJob<ExperimentJobData>[] {
  const checksum = cohortChecksum(cohort.data);
  const manifest = sharedPath(cohort.data.manifest.path, sharedDir);
  const settings = resultSettings(common);
  return units.map((unit) =>
    planJob(experimentKind, { format: FORMAT, label: unitLabel(unit), manifest, checksum, settings, unit }),
  );
}
