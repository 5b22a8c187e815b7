/**
 * The JSON files of a run directory: `config.json` (options, resolved configuration, status),
 * `metrics.json`, `calibration.json` (temperature scaling, Guo et al. 2017) and `evaluate.json`.
 * Typed (zod) where polarcad reads fields back; every other field is kept verbatim.
 */
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { pathExists, readJsonObject } from '../util/fs.js';
import { runFile } from './files.js';

/** The statuses of a run: written 'running' first, 'complete' when every file is written. */
export type RunStatus = 'running' | 'complete';

/** config.json: the fields polarcad reads back; everything else is kept. */
export const RunConfigSchema = z
  .object({
    polarcad: z.string().optional(),
    status: z.string().optional(),
    options: z.record(z.string(), z.unknown()).optional(),
    resolved: z
      .object({
        manifest: z
          .object({ path: z.string().optional(), sha256: z.string().optional() })
          .passthrough()
          .optional(),
        split: z
          .object({
            train: z.array(z.string()).optional(),
            validation: z.array(z.string()).optional(),
            test: z.array(z.string()).optional(),
          })
          .passthrough()
          .optional(),
        weights: z.unknown().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type RunConfig = z.infer<typeof RunConfigSchema>;

/** calibration.json (temperature scaling fitted on validation patients, or a fold ensemble's out-of-fold predictions; never test). */
export const CalibrationSchema = z
  .object({
    method: z.string().optional(),
    temperature: z.number().positive(),
    fittedOn: z.enum(['validation', 'out-of-fold']).optional(),
    n: z.number().int().optional(),
    ids: z.array(z.string()).optional(),
    nllBefore: z.number().optional(),
    nllAfter: z.number().optional(),
  })
  .passthrough();
export type Calibration = z.infer<typeof CalibrationSchema>;

/** The JSON files of a run. */
export type RunJsonFile = 'config' | 'metrics' | 'calibration' | 'evaluate';

/** JSON text as polarcad writes it: 2-space indent, undefined fields dropped, final newline. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v === undefined ? undefined : v), 2) + '\n';
}

/**
 * Write one JSON file of the run in `runDir` (atomically).
 * @example await writeRunJson(out, 'metrics', metricsJson)
 */
export async function writeRunJson(runDir: string, file: RunJsonFile, value: unknown): Promise<void> {
  await writeFileAtomic(runFile(runDir, file), jsonText(value));
}

/** One JSON file of the run as an object, or null when absent. @throws InputError when not JSON */
export async function readRunJson(
  runDir: string,
  file: RunJsonFile,
): Promise<Record<string, unknown> | null> {
  const p = runFile(runDir, file);
  return (await pathExists(p)) ? readJsonObject(p) : null;
}

function checked<T>(schema: z.ZodType<T>, raw: Record<string, unknown>, where: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const i = parsed.error.issues[0];
  throw new InputError(`${where}: field "${i.path.join('.') || '(root)'}": ${i.message}`);
}

/** config.json of the run, or null when absent. @throws InputError naming a malformed field */
export async function readRunConfig(runDir: string): Promise<RunConfig | null> {
  const raw = await readRunJson(runDir, 'config');
  return raw === null ? null : checked(RunConfigSchema, raw, runFile(runDir, 'config'));
}

/** calibration.json of the run, or null when absent. @throws InputError naming a malformed field */
export async function readCalibration(runDir: string): Promise<Calibration | null> {
  const raw = await readRunJson(runDir, 'calibration');
  return raw === null ? null : checked(CalibrationSchema, raw, runFile(runDir, 'calibration'));
}

/** Everything but the model that consumers take from a run (null parts when absent). */
export interface RunMetadata {
  config?: Record<string, unknown> | null;
  metrics?: Record<string, unknown> | null;
  calibration?: Record<string, unknown> | null;
}

/** config.json, metrics.json and calibration.json of the run in `runDir`. */
export async function readRunMetadata(runDir: string): Promise<RunMetadata> {
  return {
    config: await readRunJson(runDir, 'config'),
    metrics: await readRunJson(runDir, 'metrics'),
    calibration: await readRunJson(runDir, 'calibration'),
  };
}

/**
 * The patients a run learnt from, as its config.json records them: `train` (fitted on),
 * `selection` (epochs, threshold or calibration chosen on: the validation patients, and the test
 * patients too when the run selected epochs on its test set, `--select-on test`), and `test`
 * (held out). Both kinds of run record them: CNN runs (src/workflows/train.ts) and closed-form
 * runs (src/workflows/train-linear.ts, whose cross-validated choices are made on `train`).
 */
export interface RunPatients {
  readonly runDir: string;
  readonly train: readonly string[];
  readonly selection: readonly string[];
  readonly test: readonly string[];
  /** the SHA-256 of the manifest the run was trained on, when recorded */
  readonly manifestSha256?: string;
}

/**
 * The patients of the run in `runDir` (see {@link RunPatients}); null when config.json records
 * no split (an older run, or a model folder outside a run).
 * @example const seen = await readRunPatients('runs/hybrid'); // seen.train, seen.selection
 * @throws InputError naming a malformed field of config.json
 */
export async function readRunPatients(runDir: string): Promise<RunPatients | null> {
  const cfg = await readRunConfig(runDir);
  const split = cfg?.resolved?.split;
  if (cfg === null || split === undefined) return null;
  const resolvedRaw = cfg.resolved as Record<string, unknown>;
  const selection = resolvedRaw.selection as { on?: unknown; leaksTest?: unknown } | undefined;
  const leaksTest = selection?.leaksTest === true || selection?.on === 'test';
  const recorded = (cfg as Record<string, unknown>).selectionIds;
  const selectionIds = Array.isArray(recorded)
    ? recorded.filter((x): x is string => typeof x === 'string')
    : [];
  const test = split.test ?? [];
  const sha = cfg.resolved?.manifest?.sha256;
  return {
    runDir,
    train: split.train ?? [],
    selection: [...new Set([...(split.validation ?? []), ...selectionIds, ...(leaksTest ? test : [])])],
    test,
    ...(sha !== undefined ? { manifestSha256: sha } : {}),
  };
}
