/**
 * The saved model of a run (`RUN/model/`): the one reader and writer of `polarcad.json` and of the
 * tfjs layers-model files beside it, with the integrity checks that make a loaded model the model
 * that was trained ("never trust a broken model"):
 *
 * 1. One source of truth: `model/` holds the run's weights; every consumer (evaluate, predict,
 *    serve, report, export) loads it through {@link openSavedModel}.
 * 2. Checksums: the SHA-256 of every model file is written to `polarcad.json` at save time and
 *    verified at load; a mismatch is an error naming the file.
 * 3. Self-check: the outputs of the model on a few seeded reference inputs are stored at save time
 *    and recomputed at load; a different answer (flipped bits, NaN weights, a `model.json` whose
 *    softmax became linear) refuses the model.
 * 4. Only a complete run loads: a run directory whose `config.json` status is not 'complete' is
 *    refused.
 * 5. Versions: `schemaVersion` 2 (this module); files without it are version 1 (before checksums)
 *    and load without the checks; a newer version is refused with a clear message.
 *
 * `kind` leaves room for models that are not one CNN: `kind: 'ensemble'` (a fold ensemble of CNN
 * members, each a model folder under `members/`) is read by src/rundir/ensemble.ts; this module
 * loads `kind: 'cnn'` and names any other kind it cannot load.
 */
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { INPUT_MODES } from '../domain/input-mode.js';
import { initBackend } from '../engine/backend.js';
import '../models/layers/keras-layers.js';
import { SCALING_MODES, scalePixels, type ScalingMode } from '../domain/scaling.js';
import { loadTfjsFolder } from '../models/weights/tfjs-folder.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, errorMessage } from '../util/errors.js';
import { pathExists, readTextFile } from '../util/fs.js';
import { sha256File, sha256Hex } from '../util/hash.js';
import { Rng } from '../util/rng.js';
import { MODEL_FILES, RUN_FILES, modelFile, runFile } from './files.js';

/** The `polarcad.json` schema version this module writes. */
export const MODEL_SCHEMA_VERSION = 2;

const SelfCheckSchema = z.object({
  /** seed of the reference inputs (uniform RGB bytes, scaled like real inputs) */
  seed: z.string().min(1),
  /** model outputs on the reference inputs, one row per input */
  outputs: z.array(z.array(z.number())).min(1),
  /** largest accepted absolute difference per output */
  tolerance: z.number().positive(),
});
export type SelfCheck = z.infer<typeof SelfCheckSchema>;

/** `model/polarcad.json`: what a saved model needs at inference, and its integrity data. */
export const SavedModelInfoSchema = z
  .object({
    /** absent in version-1 files */
    schemaVersion: z.number().int().positive().optional(),
    /** 'cnn' (a backbone + head, this module); other kinds are read by their own loaders */
    kind: z.string().min(1).optional(),
    backbone: z.string().min(1),
    inputSize: z.number().int().min(8),
    scaling: z.enum(SCALING_MODES as [ScalingMode, ...ScalingMode[]]),
    classes: z.array(z.string()).min(1).optional(),
    camLayer: z.string().min(1).optional(),
    input: z.enum(INPUT_MODES).optional(),
    /** SHA-256 (hex) of each file of the model folder, by name */
    checksums: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)).optional(),
    /** SHA-256 of the run's `model.onnx` export, when written */
    onnxSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    selfCheck: SelfCheckSchema.optional(),
  })
  .passthrough();
export type SavedModelInfo = z.infer<typeof SavedModelInfoSchema>;

/** What a trainer says about a model it saves (the rest is computed). */
export interface ModelDescription {
  readonly backbone: string;
  readonly inputSize: number;
  readonly scaling: ScalingMode;
  readonly classes?: string[];
  readonly camLayer?: string;
  readonly input?: SavedModelInfo['input'];
  /** further fields recorded verbatim */
  readonly [extra: string]: unknown;
}

/** Where a model's files are. */
export interface ModelLocation {
  readonly modelDir: string;
  /** the run directory, when the model folder is `RUN/model` of a run */
  readonly runDir: string | null;
}

/** A verified, loaded model. */
export interface OpenedModel extends ModelLocation {
  readonly info: SavedModelInfo;
  readonly model: tf.LayersModel;
}

const SELF_CHECK_SEED = 'polarcad/self-check';
const SELF_CHECK_INPUTS = 2;
const SELF_CHECK_TOLERANCE = 1e-3;

/**
 * The reference inputs of the self-check: `n` seeded images of uniform RGB bytes, scaled as the
 * backbone expects (`src/domain/scaling.ts`).
 */
export function selfCheckInputs(seed: string, n: number, size: number, scaling: ScalingMode): tf.Tensor4D {
  const rng = new Rng(seed);
  const per = size * size * 3;
  const x = new Float32Array(n * per);
  const bytes = new Uint8Array(per);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < per; j++) bytes[j] = Math.floor(rng.next() * 256);
    x.set(scalePixels(bytes, scaling), i * per);
  }
  return tf.tensor4d(x, [n, size, size, 3]);
}

/** The outputs of `model` on `x`, one row per input. */
export function modelOutputs(model: tf.LayersModel, x: tf.Tensor4D): number[][] {
  return tf.tidy(() => {
    const y = model.predict(x) as tf.Tensor | tf.Tensor[];
    const t = (Array.isArray(y) ? y[0] : y).reshape([x.shape[0], -1]);
    return t.arraySync() as number[][];
  });
}

async function tfjsArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  return new Promise<tf.io.ModelArtifacts>((res, rej) => {
    model
      .save(
        tf.io.withSaveHandler(async (a) => {
          res(a);
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      )
      .catch(rej);
  });
}

/** The element-wise mean of the outputs of `models` on `x` (an ensemble's outputs). */
export function meanOutputs(models: readonly tf.LayersModel[], x: tf.Tensor4D): number[][] {
  const all = models.map((m) => modelOutputs(m, x));
  return all[0].map((row, i) => row.map((_, j) => all.reduce((s, o) => s + o[i][j], 0) / all.length));
}

/** The reference inputs and tolerance of every self-check. */
export const SELF_CHECK = {
  seed: SELF_CHECK_SEED,
  inputs: SELF_CHECK_INPUTS,
  tolerance: SELF_CHECK_TOLERANCE,
};

/**
 * Save `model` as a model folder: model.json, weights.bin, then polarcad.json (schema version,
 * `description`, checksums, self-check outputs) written last, each file atomically.
 * @example await saveModel('runs/a/model', model, { backbone: 'MobileNetV2', inputSize: 224, scaling: 'tf', input: 'stress_ac' })
 */
export async function saveModel(
  modelDir: string,
  model: tf.LayersModel,
  description: ModelDescription,
): Promise<SavedModelInfo> {
  const artifacts = await tfjsArtifacts(model);
  const weights = new Uint8Array(artifacts.weightData as ArrayBuffer);
  const topology = JSON.stringify({
    format: 'layers-model',
    generatedBy: 'polarcad',
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [MODEL_FILES.weights], weights: artifacts.weightSpecs }],
  });
  const x = selfCheckInputs(SELF_CHECK_SEED, SELF_CHECK_INPUTS, description.inputSize, description.scaling);
  let outputs: number[][];
  try {
    outputs = modelOutputs(model, x);
  } finally {
    x.dispose();
  }
  await mkdir(modelDir, { recursive: true });
  await writeFileAtomic(modelFile(modelDir, 'weights'), weights);
  await writeFileAtomic(modelFile(modelDir, 'topology'), topology);
  const info: SavedModelInfo = {
    schemaVersion: MODEL_SCHEMA_VERSION,
    kind: 'cnn',
    ...description,
    checksums: { [MODEL_FILES.topology]: sha256Hex(topology), [MODEL_FILES.weights]: sha256Hex(weights) },
    selfCheck: { seed: SELF_CHECK_SEED, outputs, tolerance: SELF_CHECK_TOLERANCE },
  };
  await writeModelInfo(modelDir, info);
  return info;
}

/** Write `polarcad.json` (atomically). */
export async function writeModelInfo(modelDir: string, info: SavedModelInfo): Promise<void> {
  await writeFileAtomic(modelFile(modelDir, 'info'), JSON.stringify(info, null, 2) + '\n');
}

/** Record the checksum of the run's `model.onnx` export in `polarcad.json`. */
export async function recordOnnxExport(runDir: string, onnx: Uint8Array): Promise<void> {
  const modelDir = runFile(runDir, 'model');
  const info = await readModelInfo(modelDir, ['cnn', 'ensemble']);
  await writeFileAtomic(runFile(runDir, 'onnx'), onnx);
  await writeModelInfo(modelDir, { ...info, onnxSha256: sha256Hex(onnx) });
}

/**
 * Where the model of `path` is: a run directory (`path/model/polarcad.json`) or a model folder
 * (`path/polarcad.json`; a run's when it is `RUN/model`).
 * @throws InputError when `path` is neither
 */
export async function locateModel(path: string): Promise<ModelLocation> {
  const abs = resolve(path);
  if (await pathExists(modelFile(runFile(abs, 'model'), 'info')))
    return { modelDir: runFile(abs, 'model'), runDir: abs };
  if (await pathExists(modelFile(abs, 'info'))) {
    const parent = dirname(abs);
    const isRun = basename(abs) === RUN_FILES.model && (await pathExists(runFile(parent, 'config')));
    return { modelDir: abs, runDir: isRun ? parent : null };
  }
  throw new InputError(
    `${path}: not a polarcad model (not a polarcad run directory with model/${MODEL_FILES.info}, nor a model folder with ${MODEL_FILES.info}; polarcad train writes both)`,
  );
}

/**
 * Read and validate `polarcad.json` of a model folder, of one of `kinds` (default: a CNN).
 * @throws InputError naming the file and field, or a schema version newer than this polarcad reads
 */
export async function readModelInfo(
  modelDir: string,
  kinds: readonly string[] = ['cnn'],
): Promise<SavedModelInfo> {
  const p = modelFile(modelDir, 'info');
  const text = await readTextFile(p);
  let raw: unknown;
  try {
    raw = JSON.parse(text) as unknown;
  } catch (e) {
    throw new InputError(`${p}: not valid JSON (${errorMessage(e)})`);
  }
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version === 'number' && version > MODEL_SCHEMA_VERSION)
    throw new InputError(
      `${p}: schema version ${version} was written by a newer polarcad (this one reads versions 1 to ${MODEL_SCHEMA_VERSION}); update polarcad`,
    );
  const parsed = SavedModelInfoSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new InputError(`${p}: field "${i.path.join('.') || '(root)'}": ${i.message}`);
  }
  const kind = parsed.data.kind ?? 'cnn';
  if (!kinds.includes(kind))
    throw new InputError(`${p}: a "${kind}" model; this loader reads CNN models (kind "cnn") only`);
  return parsed.data;
}

/** Refuse a run whose config.json says it is not complete. */
export async function checkRunComplete(runDir: string): Promise<void> {
  const p = runFile(runDir, 'config');
  if (!(await pathExists(p))) return;
  const text = await readTextFile(p);
  let status: unknown;
  try {
    status = (JSON.parse(text) as { status?: unknown } | null)?.status;
  } catch (e) {
    throw new InputError(`${p}: not valid JSON (${errorMessage(e)})`);
  }
  if (status !== undefined && status !== 'complete')
    throw new InputError(
      `${runDir}: the run is not complete (config.json status "${String(status)}"); finish it with \`polarcad train --resume ${runDir}\` or train again`,
    );
}

/**
 * Verify the SHA-256 of every model file recorded in `info`. Each file is read by the one input
 * reader (regular files only, size-limited), so a model file that is a symlink to a device or a
 * FIFO is refused at once instead of being hashed for ever.
 * @throws InputError naming the first missing, irregular or changed file
 */
export async function verifyChecksums(
  modelDir: string,
  info: Pick<SavedModelInfo, 'checksums'>,
): Promise<void> {
  for (const [name, want] of Object.entries(info.checksums ?? {})) {
    const p = join(modelDir, name);
    if (!(await pathExists(p))) throw new InputError(`${p}: missing; the saved model is incomplete`);
    const got = await sha256File(p);
    if (got !== want)
      throw new InputError(
        `${p}: SHA-256 mismatch (recorded ${want.slice(0, 12)}…, file ${got.slice(0, 12)}…): the model file changed or was corrupted after it was saved; retrain or restore it`,
      );
  }
}

/**
 * Re-run the self-check of `info` on `model` (or on the mean of several models' outputs, as an
 * ensemble computes).
 * @throws InputError when an output differs from the recorded one by more than the tolerance
 */
export function runSelfCheck(
  model: tf.LayersModel | readonly tf.LayersModel[],
  info: SavedModelInfo,
  where: string,
): void {
  const c = info.selfCheck;
  if (c === undefined) return;
  const x = selfCheckInputs(c.seed, c.outputs.length, info.inputSize, info.scaling);
  let got: number[][];
  try {
    got = Array.isArray(model) ? meanOutputs(model, x) : modelOutputs(model as tf.LayersModel, x);
  } finally {
    x.dispose();
  }
  for (let i = 0; i < c.outputs.length; i++) {
    for (let j = 0; j < c.outputs[i].length; j++) {
      const d = Math.abs((got[i]?.[j] ?? NaN) - c.outputs[i][j]);
      if (!(d <= c.tolerance))
        throw new InputError(
          `${where}: self-check failed: output ${j} on reference input ${i} is ${String(got[i]?.[j])}, saved ${c.outputs[i][j]} (tolerance ${c.tolerance}); the model does not compute what was trained (changed weights or model.json)`,
        );
    }
  }
}

/**
 * The first steps of opening any saved model (a network, an ensemble, a closed-form model): locate
 * it, refuse an unfinished run, read its description with `read`, verify the recorded checksums.
 * @throws InputError for any failed step, naming the file
 * @example const { loc, info } = await openVerified('runs/mnv2', readModelInfo);
 */
export async function openVerified<I extends Pick<SavedModelInfo, 'checksums'>>(
  path: string,
  read: (modelDir: string) => Promise<I>,
): Promise<{ readonly loc: ModelLocation; readonly info: I }> {
  const loc = await locateModel(path);
  if (loc.runDir !== null) await checkRunComplete(loc.runDir);
  const info = await read(loc.modelDir);
  await verifyChecksums(loc.modelDir, info);
  return { loc, info };
}

/**
 * Open the model of a run directory or model folder: locate it, refuse an unfinished run, read
 * `polarcad.json`, verify the checksums, load the tfjs model, run the self-check.
 * @throws InputError for any failed step, naming the file
 * @example const { model, info } = await openSavedModel('runs/mnv2'); // ... model.dispose()
 */
export async function openSavedModel(path: string): Promise<OpenedModel> {
  const { loc, info } = await openVerified(path, readModelInfo);
  await initBackend('wasm');
  const model = await loadTfjsFolder(loc.modelDir);
  try {
    runSelfCheck(model, info, modelFile(loc.modelDir, 'info'));
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { ...loc, info, model };
}
