/**
 * The one job abstraction of the queue: a {@link JobKind} says how a unit of work (an experiment
 * configuration, a cross-validation fold, a Hyperband trial, a benchmark unit) is validated,
 * named (a deterministic id from the inputs that decide its result) and run on a worker. The
 * coordinator plans jobs of a kind and runs them with {@link runJobs}; `polarcad worker`
 * dispatches each job to its kind by BullMQ job name. Also here: the shared-folder paths every
 * kind uses, the data checksum of a manifest, and the per-worker pool of loaded contexts.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { loadManifest } from '../../ingest/manifest.js';
import { InputError } from '../../util/errors.js';
import { sha256File, sha256Hex } from '../../util/hash.js';
import { canonicalJson, decodeResult, jobIdOf } from './codec.js';
import { runSweep, type SweepOptions } from './sweep.js';

/** A worker-side problem that retrying cannot fix (bad job, data differing from the coordinator's). */
export class PermanentJobError extends InputError {}

/** What a worker gives every job kind. */
export interface JobEnv {
  /** The shared folder as this machine mounts it (jobs name their inputs relative to it). */
  readonly sharedDir?: string;
  /** This machine's feature cache folder. */
  readonly cacheDir?: string;
  /** Contexts kept loaded between jobs (the worker's concurrency). */
  readonly keep: number;
  readonly log: (line: string) => void;
}

/** A kind's state on one worker: runs validated jobs, released when the worker stops. */
export interface JobHandler<D, R> {
  run(data: D): Promise<R>;
  dispose(): Promise<void>;
}

/** A kind of job: its BullMQ name, its data schema, its id and label, and its worker side. */
export interface JobKind<D, R> {
  /** BullMQ job name (also the prefix of the ids). */
  readonly name: string;
  /** Version of the data format: part of the id, so a new format never reuses an old result. */
  readonly format: number;
  readonly schema: z.ZodType<D>;
  /** The part of the data that decides the result (hashed into the id; no paths of one machine). */
  idInputs(data: D): unknown;
  /** A short name for messages, e.g. "cv/fold-03". */
  label(data: D): string;
  /** The worker's side (called once per worker, on the first job of this kind). */
  open(env: JobEnv): JobHandler<D, R>;
}

/**
 * The schema of a job that names a cohort: the kind's data `format`, the manifest (relative to the
 * shared folder, absolute without one), the checksum of its data, and the kind's own `fields`.
 * @example const jobSchema = cohortJobSchema(1, { seed: z.number() });
 */
export function cohortJobSchema<F extends number, S extends z.ZodRawShape>(format: F, fields: S) {
  return z.object({ format: z.literal(format), manifest: z.string(), checksum: z.string(), ...fields });
}

/**
 * A job kind whose data names a cohort (see {@link cohortJobSchema}): its id hashes all of the data
 * but the manifest's path, which differs between machines (the checksum stands for the data).
 */
export function cohortJobKind<D extends { readonly manifest: string }, R>(
  kind: Omit<JobKind<D, R>, 'idInputs'>,
): JobKind<D, R> {
  return { ...kind, idInputs: ({ manifest: _m, ...rest }) => rest };
}

/** A job ready to be added: id, name (for messages) and data. */
export interface PlannedJob<D> {
  readonly id: string;
  readonly label: string;
  readonly data: D;
}

/**
 * The id, label and data of one job of `kind`.
 * @example planJob(cvFoldKind, data).id // 'cv-fold-3f…'
 */
export function planJob<D>(kind: JobKind<D, unknown>, data: D): PlannedJob<D> {
  const clean = JSON.parse(canonicalJson(data)) as D;
  return {
    id: jobIdOf(kind.name, { format: kind.format, inputs: kind.idInputs(clean) }),
    label: kind.label(clean),
    data: clean,
  };
}

/**
 * Run jobs of `kind` through the queue (the coordinator's side) and return their results in order.
 * @throws as {@link runSweep}
 * @example const results = await runJobs(cvFoldKind, folds.map(planFold), { url })
 */
export async function runJobs<D, R>(
  kind: JobKind<D, R>,
  jobs: readonly PlannedJob<D>[],
  o: SweepOptions,
): Promise<R[]> {
  const texts = await runSweep(kind.name, jobs, o);
  return texts.map((t) => decodeResult<R>(t));
}

/**
 * A path as a job names it: relative to `sharedDir` (every machine mounts it elsewhere), or
 * absolute without one.
 * @throws InputError when the path is not under the shared folder
 * @example sharedPath('/mnt/lab/study/manifest.csv', '/mnt/lab') // 'study/manifest.csv'
 */
export function sharedPath(path: string, sharedDir: string | undefined, what = 'the manifest'): string {
  const abs = resolve(path);
  if (sharedDir === undefined) return abs;
  const rel = relative(resolve(sharedDir), abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    throw new InputError(
      `--shared-dir ${sharedDir}: ${what} ${abs} is not inside it (workers find the data under their own --shared-dir)`,
    );
  return rel.split(sep).join('/');
}

/**
 * The inverse of {@link sharedPath} on a worker: the path under this machine's shared folder.
 * @throws PermanentJobError for a relative path on a worker without --shared-dir
 * @example localPath('study/manifest.csv', '/data/lab') // '/data/lab/study/manifest.csv'
 */
export function localPath(path: string, sharedDir: string | undefined): string {
  if (!isAbsolute(path) && sharedDir === undefined)
    throw new PermanentJobError(
      `the job names ${path} relative to the shared folder: start the worker with --shared-dir`,
    );
  return resolve(sharedDir ?? '/', path);
}

/**
 * The checksum of a manifest's data: its bytes and, per row, the patient, the label and the
 * sha256 of every image it names (views and page). Equal checksums: the same inputs.
 * @throws InputError for a missing or invalid manifest, a missing image
 * @example await manifestChecksum('/mnt/lab/study/manifest.csv') // '3fa1…'
 */
export async function manifestChecksum(path: string): Promise<string> {
  const m = await loadManifest(path);
  const parts = [`manifest:${m.sha256}`];
  for (const r of m.rows) {
    const files = [...Object.values(r.views), ...(r.page ? [r.page.path] : [])];
    const hashes: string[] = [];
    for (const f of files)
      hashes.push(
        await sha256File(f).catch((e: unknown) => {
          throw new InputError(`${path}: row ${r.row} (${r.patientId}): cannot read ${f}`, { cause: e });
        }),
      );
    parts.push(`${r.patientId}:${r.label ?? ''}:${hashes.join(',')}`);
  }
  return sha256Hex(parts.join(';'));
}

/**
 * Check the data a job names against the coordinator's checksum.
 * @throws PermanentJobError naming the path when it cannot be read or differs
 * @example await verifyChecksum(manifest, job.checksum, (p) => manifestChecksum(p), sharedDir)
 */
export async function verifyChecksum(
  path: string,
  expected: string,
  compute: (path: string) => Promise<string>,
  sharedDir: string | undefined,
): Promise<void> {
  let found: string;
  try {
    found = await compute(path);
  } catch (e) {
    if (e instanceof InputError)
      throw new PermanentJobError(`input ${path} under --shared-dir ${sharedDir ?? '/'}: ${e.message}`, {
        cause: e,
      });
    throw e;
  }
  if (found !== expected)
    throw new PermanentJobError(
      `input checksum mismatch: ${path} and its images have checksum ${found.slice(0, 16)}…, the job expects ${expected.slice(0, 16)}… (the shared folder differs from the coordinator's data)`,
    );
}

/**
 * Open a context on the data at `path` and check the data's checksum (`checksumOf` the context)
 * against the coordinator's, as {@link verifyChecksum}; the context is disposed of when the
 * check fails.
 * @throws PermanentJobError as verifyChecksum
 * @example await openVerified(manifest, job.checksum, () => TuneContext.open(settings), (c) => cohortChecksum(c.cohort.data), sharedDir)
 */
export async function openVerified<T extends { dispose(): Promise<void> }>(
  path: string,
  expected: string,
  open: () => Promise<T>,
  checksumOf: (ctx: T) => string,
  sharedDir: string | undefined,
): Promise<T> {
  let ctx: T | undefined;
  const compute = async (): Promise<string> => {
    ctx = await open();
    return checksumOf(ctx);
  };
  try {
    await verifyChecksum(path, expected, compute, sharedDir);
  } catch (e) {
    await ctx?.dispose();
    throw e;
  }
  return ctx as T;
}

/**
 * Loaded contexts (data, backbones, features) kept between jobs of the same sweep on a worker:
 * up to `keep` per key; taking a context of another key releases the others.
 */
export class ContextPool<T> {
  private readonly idle = new Map<string, T[]>();

  constructor(
    private readonly keep: number,
    private readonly release: (x: T) => Promise<void>,
  ) {}

  /**
   * Run `use` with a context of `key` (kept one, or `open()`ed), then keep or release it.
   * @example await pool.with(key, () => openContext(job), (ctx) => runUnit(ctx, job.unit))
   */
  async with<R>(key: unknown, open: () => Promise<T>, use: (x: T) => Promise<R>): Promise<R> {
    const k = canonicalJson(key);
    const x = this.idle.get(k)?.pop() ?? (await open());
    try {
      return await use(x);
    } finally {
      for (const [other, list] of this.idle)
        if (other !== k) {
          for (const c of list) await this.release(c);
          this.idle.delete(other);
        }
      const list = this.idle.get(k) ?? [];
      if (list.length < this.keep) {
        list.push(x);
        this.idle.set(k, list);
      } else await this.release(x);
    }
  }

  /** Release every kept context. */
  async dispose(): Promise<void> {
    for (const list of this.idle.values()) for (const c of list) await this.release(c);
    this.idle.clear();
  }
}

/** A kind with its data type hidden: what a worker needs to validate and run any job of it. */
export interface WorkerKind {
  readonly name: string;
  /** The worker's side, opened on the first job; `run` validates the raw data first. */
  open(env: JobEnv): JobHandler<unknown, unknown>;
}

/**
 * The worker's view of `kind`.
 * @example startWorker({ url, kinds: [workerKind(cvFoldKind)], log: console.log })
 */
export function workerKind<D, R>(kind: JobKind<D, R>): WorkerKind {
  return {
    name: kind.name,
    open(env) {
      const handler = kind.open(env);
      return {
        run(raw) {
          const parsed = kind.schema.safeParse(raw);
          if (!parsed.success)
            throw new PermanentJobError(
              `not a ${kind.name} job of format ${kind.format}: ${parsed.error.message}`,
            );
          return handler.run(parsed.data);
        },
        dispose: () => handler.dispose(),
      };
    },
  };
}
