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
        manifest: z.object({ path: z.string(), sha256: z.string().optional() }).passthrough().optional(),
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

/** calibration.json (temperature scaling fitted on validation patients only). */
export const CalibrationSchema = z
  .object({
    method: z.string().optional(),
    temperature: z.number().positive(),
    fittedOn: z.literal('validation').optional(),
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
