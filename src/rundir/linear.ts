/**
 * Closed-form models in a run directory (`polarcad train --model hybrid|cnn-segments|
 * segment-logistic|pixel-logistic`): `model/linear-model.json` (the fitted model,
 * src/models/linear/polar-model.ts) and `model/polarcad.json` (kind "linear", schema version,
 * SHA-256 of the model file, self-check). The same integrity rules as CNN models
 * (src/rundir/model.ts): only a complete run loads, a changed or corrupted file is named, and a
 * self-check re-predicts two seeded reference studies and compares with the probabilities stored
 * at save time (catches edited weights, NaN, a swapped backbone).
 */
import { z } from 'zod';
import type { RgbImage } from '../domain/image.js';
import type { View } from '../domain/views.js';
import { polarModelSchema, PolarModelPredictor, type PolarModel } from '../models/linear/polar-model.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, errorMessage } from '../util/errors.js';
import { readTextFile } from '../util/fs.js';
import { sha256Hex } from '../util/hash.js';
import { Rng } from '../util/rng.js';
import { MODEL_FILES, modelFile } from './files.js';
import { locateModel, MODEL_SCHEMA_VERSION, openVerified, type ModelLocation } from './model.js';

const SELF_CHECK_SEED = 'polarcad/linear-self-check';
const SELF_CHECK_STUDIES = 2;
const SELF_CHECK_SIDE = 64;
const SELF_CHECK_TOLERANCE = 1e-6;

/** `model/polarcad.json` of a closed-form model. */
export const linearModelInfoSchema = z.object({
  schemaVersion: z.number().int().positive(),
  kind: z.literal('linear'),
  recipe: z.string(),
  views: z.array(z.string()),
  classes: z.array(z.string()),
  checksums: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
  selfCheck: z.object({
    seed: z.string(),
    probabilities: z.array(z.number()),
    tolerance: z.number().positive(),
  }),
});
export type LinearModelInfo = z.infer<typeof linearModelInfoSchema>;

/** Seeded reference studies: uniform random RGB crops of every view. */
function referenceStudies(seed: string, views: readonly View[]): Partial<Record<View, RgbImage>>[] {
  const rng = new Rng(seed);
  return Array.from({ length: SELF_CHECK_STUDIES }, () =>
    Object.fromEntries(
      views.map((v) => {
        const data = new Uint8Array(SELF_CHECK_SIDE * SELF_CHECK_SIDE * 3);
        for (let k = 0; k < data.length; k++) data[k] = Math.floor(rng.next() * 256);
        return [v, { width: SELF_CHECK_SIDE, height: SELF_CHECK_SIDE, data }];
      }),
    ),
  );
}

async function selfCheckProbabilities(p: PolarModelPredictor, seed: string): Promise<number[]> {
  return (await p.predict(referenceStudies(seed, p.model.views))).map((r) => r.probability);
}

/**
 * Save a closed-form model into `modelDir`: the model file, then polarcad.json with its checksum
 * and self-check, each atomically.
 * @example await saveLinearModel('runs/h/model', model)
 */
export async function saveLinearModel(
  modelDir: string,
  model: PolarModel,
  o: { cacheDir?: string } = {},
): Promise<LinearModelInfo> {
  const text = JSON.stringify(model) + '\n';
  const predictor = await PolarModelPredictor.open(model, o);
  let probabilities: number[];
  try {
    probabilities = await selfCheckProbabilities(predictor, SELF_CHECK_SEED);
  } finally {
    await predictor.dispose();
  }
  await writeFileAtomic(modelFile(modelDir, 'linear'), text);
  const info: LinearModelInfo = {
    schemaVersion: MODEL_SCHEMA_VERSION,
    kind: 'linear',
    recipe: model.recipe,
    views: model.views,
    classes: ['normal', 'cad'],
    checksums: { [MODEL_FILES.linear]: sha256Hex(text) },
    selfCheck: { seed: SELF_CHECK_SEED, probabilities, tolerance: SELF_CHECK_TOLERANCE },
  };
  await writeFileAtomic(modelFile(modelDir, 'info'), JSON.stringify(info, null, 2) + '\n');
  return info;
}

async function readJson(path: string): Promise<unknown> {
  const text = await readTextFile(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${errorMessage(e)})`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown, path: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new InputError(`${path}: field "${i.path.join('.') || '(root)'}": ${i.message}`);
  }
  return r.data;
}

/** Is the model at `path` (a run directory or model folder) a closed-form one? */
export async function isLinearModel(path: string): Promise<boolean> {
  const loc = await locateModel(path);
  const raw = (await readJson(modelFile(loc.modelDir, 'info'))) as { kind?: unknown } | null;
  return raw?.kind === 'linear';
}

/** A verified, opened closed-form model. */
export interface OpenedLinearModel extends ModelLocation {
  readonly info: LinearModelInfo;
  readonly predictor: PolarModelPredictor;
}

/**
 * Open a closed-form model: locate it, refuse an unfinished run, verify the checksum, parse the
 * model, open its featurizers and run the self-check.
 * @throws InputError naming the file for any failed step
 */
export async function openLinearModel(
  path: string,
  o: { cacheDir?: string } = {},
): Promise<OpenedLinearModel> {
  const { loc, info } = await openVerified(path, async (dir) => {
    const infoPath = modelFile(dir, 'info');
    return parseWith(linearModelInfoSchema, await readJson(infoPath), infoPath);
  });
  const modelPath = modelFile(loc.modelDir, 'linear');
  const model = parseWith(polarModelSchema, await readJson(modelPath), modelPath);
  const predictor = await PolarModelPredictor.open(model, o);
  try {
    const got = await selfCheckProbabilities(predictor, info.selfCheck.seed);
    info.selfCheck.probabilities.forEach((want, i) => {
      if (!(Math.abs(got[i] - want) <= info.selfCheck.tolerance))
        throw new InputError(
          `${modelFile(loc.modelDir, 'info')}: self-check failed: reference study ${i} gives P(CAD) ${got[i]}, saved ${want}; the model does not compute what was trained (changed model file or backbone weights)`,
        );
    });
  } catch (e) {
    await predictor.dispose();
    throw e;
  }
  return { ...loc, info, predictor };
}
