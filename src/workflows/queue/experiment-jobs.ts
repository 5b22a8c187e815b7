/**
 * The experiments' configurations as queue jobs: what a job carries (the manifest named relative
 * to the shared folder, the data checksum, the settings that decide the result, the unit), its
 * deterministic id, and the worker's side: check the data by checksum, then run the SAME unit
 * function as the in-process run ({@link runExperimentUnit}).
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { INPUT_KINDS } from '../../train/experiment-data.js';
import { STRATEGY_IDS } from '../../train/strategies.js';
import { InputError } from '../../util/errors.js';
import {
  cohortChecksum,
  ExperimentContext,
  runExperimentUnit,
  type ExperimentCohort,
  type ExperimentCommon,
  type ExperimentHooks,
  type ExperimentSettings,
  type ExperimentUnit,
  type UnitResult,
} from '../experiment.js';
import { canonicalJson, jobIdOf } from './codec.js';

/** BullMQ job name of an experiment configuration. */
export const EXPERIMENT_JOB = 'experiment-unit';

/** Version of the job format (part of the id: a new format never reuses an old result). */
const FORMAT = 1;

const settingsSchema = z.object({
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

const jobSchema = z.object({
  format: z.literal(FORMAT),
  /** For log lines only (not part of the id). */
  label: z.string().optional(),
  manifest: z.string(),
  checksum: z.string(),
  settings: settingsSchema,
  unit: unitSchema,
});

/** What an experiment job carries. */
export type ExperimentJobData = z.infer<typeof jobSchema>;

/** A job ready to be added: id, name (for messages) and data. */
export interface PlannedJob<D> {
  readonly id: string;
  readonly label: string;
  readonly data: D;
}

function resultSettings(s: ExperimentSettings): ExperimentJobData['settings'] {
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

/**
 * The manifest as a job names it: relative to `sharedDir` (every machine mounts it elsewhere),
 * or absolute without one.
 * @throws InputError when the manifest is not under the shared folder
 * @example sharedPath('/mnt/lab/study/manifest.csv', '/mnt/lab') // 'study/manifest.csv'
 */
export function sharedPath(path: string, sharedDir: string | undefined): string {
  const abs = resolve(path);
  if (sharedDir === undefined) return abs;
  const rel = relative(resolve(sharedDir), abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    throw new InputError(
      `--shared-dir ${sharedDir}: the manifest ${abs} is not inside it (workers find the data under their own --shared-dir)`,
    );
  return rel.split(sep).join('/');
}

/**
 * One job per configuration; the id hashes the data checksum, the result-deciding settings and the
 * unit (not the paths: the same data elsewhere is the same job).
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
  return units.map((unit) => {
    const clean = JSON.parse(canonicalJson(unit)) as ExperimentUnit;
    const label =
      unit.experiment === 'strategies'
        ? `strategies/${unit.strategy}`
        : unit.experiment === 'backbones'
          ? `backbones/${unit.backbone}`
          : `finetune-depth/conv-${unit.depth}`;
    const data: ExperimentJobData = { format: FORMAT, label, manifest, checksum, settings, unit: clean };
    return {
      id: jobIdOf('experiment', { format: FORMAT, checksum, settings, unit: clean }),
      label,
      data,
    };
  });
}

/** A worker-side problem that retrying cannot fix (bad job, data differing from the coordinator's). */
export class PermanentJobError extends InputError {}

/**
 * The worker's side of experiment jobs: contexts (data + loaded backbones) kept between jobs of the
 * same sweep, one per job in flight.
 */
export class ExperimentJobRunner {
  private readonly idle = new Map<string, ExperimentContext[]>();

  /** `sharedDir`: where relative manifests are found; `hooks`: cache folder and log lines. */
  constructor(
    private readonly sharedDir: string | undefined,
    private readonly hooks: ExperimentHooks,
    private readonly keep: number,
  ) {}

  /**
   * Validate `raw` job data, check the data by checksum and run the unit.
   * @throws PermanentJobError for a malformed job, a missing manifest or a checksum mismatch
   * @example const result = await runner.run(job.data)
   */
  async run(raw: unknown): Promise<UnitResult> {
    const parsed = jobSchema.safeParse(raw);
    if (!parsed.success)
      throw new PermanentJobError(`not an experiment job of format ${FORMAT}: ${parsed.error.message}`);
    const job = parsed.data;
    if (!isAbsolute(job.manifest) && this.sharedDir === undefined)
      throw new PermanentJobError(
        `the job names its manifest relative to the shared folder (${job.manifest}): start the worker with --shared-dir`,
      );
    const manifest = resolve(this.sharedDir ?? '/', job.manifest);
    const key = canonicalJson({ manifest, checksum: job.checksum, settings: job.settings });
    let ctx = this.idle.get(key)?.pop();
    if (ctx === undefined) {
      try {
        ctx = await ExperimentContext.open({ ...this.hooks, ...job.settings, manifest });
      } catch (e) {
        if (e instanceof InputError)
          throw new PermanentJobError(
            `input ${job.manifest} under --shared-dir ${this.sharedDir ?? '/'}: ${e.message}`,
            { cause: e },
          );
        throw e;
      }
      const found = cohortChecksum(ctx.cohort.data);
      if (found !== job.checksum) {
        await ctx.dispose();
        throw new PermanentJobError(
          `input checksum mismatch: ${manifest} and its images have checksum ${found.slice(0, 16)}…, the job expects ${job.checksum.slice(0, 16)}… (the shared folder differs from the coordinator's data)`,
        );
      }
    }
    try {
      return await runExperimentUnit(ctx, job.unit);
    } finally {
      await this.release(key, ctx);
    }
  }

  private async release(key: string, ctx: ExperimentContext): Promise<void> {
    // keep contexts of this sweep only (a new sweep's data replaces the old)
    for (const [k, list] of this.idle)
      if (k !== key) {
        for (const c of list) await c.dispose();
        this.idle.delete(k);
      }
    const list = this.idle.get(key) ?? [];
    if (list.length < this.keep) {
      list.push(ctx);
      this.idle.set(key, list);
    } else await ctx.dispose();
  }

  /** Release every kept context. */
  async dispose(): Promise<void> {
    for (const list of this.idle.values()) for (const c of list) await c.dispose();
    this.idle.clear();
  }
}
