/**
 * A fold ensemble saved as ONE model (`polarcad train --model cnn --ensemble K`): `RUN/model/`
 * holds `polarcad.json` with `kind: 'ensemble'` and the members, each a complete CNN model folder
 * of its own (model.json, weights.bin, polarcad.json with checksums and self-check) under
 * `model/members/1` .. `model/members/K`:
 *
 *   model/polarcad.json           kind 'ensemble'; what a consumer needs (backbone, inputSize,
 *                                 scaling, camLayer, input, colour map, as a single CNN's); the
 *                                 members (folder, fold, patients trained and selected on); the
 *                                 SHA-256 of each member's polarcad.json (which holds the
 *                                 checksums of the member's files); the self-check outputs of the
 *                                 ensemble (the mean of the members' outputs on the reference inputs)
 *   model/members/K/              one member, as `saveModel` writes a single CNN
 *
 * The ensemble computes the mean of its members' class probabilities (Lakshminarayanan et al.
 * 2017): averaging probabilities keeps each member's output a probability and the mean is one too.
 * Opening it (`openEnsemble`) checks the run is complete, the ensemble's and every member's
 * checksums and self-checks, as `openSavedModel` does for one CNN.
 */
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { initBackend } from '../engine/backend.js';
import { loadTfjsFolder } from '../models/weights/tfjs-folder.js';
import { InputError } from '../util/errors.js';
import { pathExists, readJsonObject } from '../util/fs.js';
import { sha256File } from '../util/hash.js';
import { MODEL_FILES, RUN_FILES, modelFile } from './files.js';
import {
  locateModel,
  openVerified,
  meanOutputs,
  MODEL_SCHEMA_VERSION,
  readModelInfo,
  runSelfCheck,
  SELF_CHECK,
  selfCheckInputs,
  verifyChecksums,
  writeModelInfo,
  type ModelDescription,
  type ModelLocation,
  type SavedModelInfo,
} from './model.js';

/** The `kind` of an ensemble's polarcad.json. */
export const ENSEMBLE_KIND = 'ensemble';

/** How the members' outputs are combined (the only rule). */
export const ENSEMBLE_COMBINE = 'mean of the members\u2019 class probabilities';

/** One member of a fold ensemble, as recorded in the ensemble's polarcad.json. */
export const EnsembleMemberSchema = z
  .object({
    /** folder of the member, relative to the ensemble's model folder ('members/1') */
    dir: z.string().regex(/^members\/[1-9][0-9]*$/),
    /** the fold its epochs were selected on (1-based) */
    fold: z.number().int().positive(),
    /** patients it was trained on / selected its epochs on */
    trainedOn: z.number().int().nonnegative(),
    selectedOn: z.number().int().nonnegative(),
  })
  .passthrough();
export type EnsembleMember = z.infer<typeof EnsembleMemberSchema>;

/** The `ensemble` field of an ensemble's polarcad.json. */
export const EnsembleSpecSchema = z
  .object({
    type: z.literal('fold'),
    combine: z.string(),
    members: z.array(EnsembleMemberSchema).min(2),
  })
  .passthrough();
export type EnsembleSpec = z.infer<typeof EnsembleSpecSchema>;

/** An opened, verified ensemble: its polarcad.json and its members' models (in member order). */
export interface OpenedEnsemble extends ModelLocation {
  readonly info: SavedModelInfo & { readonly ensemble: EnsembleSpec };
  readonly members: readonly tf.LayersModel[];
  /** each member's polarcad.json */
  readonly memberInfos: readonly SavedModelInfo[];
  /** releases every member */
  dispose(): void;
}

/** Folder of member `k` (1-based) of the ensemble in `modelDir`. */
export function memberDir(modelDir: string, k: number): string {
  return join(modelDir, RUN_FILES.members, String(k));
}

/**
 * Write the ensemble's polarcad.json in `modelDir` over members already saved (`saveModel`) in
 * `memberDir(modelDir, 1..K)` and loaded as `models`: the description a consumer reads, the
 * members, the SHA-256 of each member's polarcad.json, and the self-check outputs of the mean.
 */
export async function saveEnsembleInfo(
  modelDir: string,
  models: readonly tf.LayersModel[],
  members: readonly EnsembleMember[],
  description: ModelDescription,
): Promise<SavedModelInfo> {
  if (models.length !== members.length || models.length < 2)
    throw new Error(`internal error: ${models.length} models for ${members.length} ensemble members`);
  const checksums: Record<string, string> = {};
  for (const m of members) {
    const name = `${m.dir}/${MODEL_FILES.info}`;
    checksums[name] = await sha256File(join(modelDir, name));
  }
  const x = selfCheckInputs(SELF_CHECK.seed, SELF_CHECK.inputs, description.inputSize, description.scaling);
  let outputs: number[][];
  try {
    outputs = meanOutputs(models, x);
  } finally {
    x.dispose();
  }
  const spec: EnsembleSpec = { type: 'fold', combine: ENSEMBLE_COMBINE, members: [...members] };
  const info: SavedModelInfo = {
    schemaVersion: MODEL_SCHEMA_VERSION,
    ...description,
    kind: ENSEMBLE_KIND,
    ensemble: spec,
    checksums,
    selfCheck: { seed: SELF_CHECK.seed, outputs, tolerance: SELF_CHECK.tolerance },
  };
  await writeModelInfo(modelDir, info);
  return info;
}

/** Is the model of `path` (a run directory or a model folder) an ensemble? False when it is no model. */
export async function isEnsembleModel(path: string): Promise<boolean> {
  let loc: ModelLocation;
  try {
    loc = await locateModel(path);
  } catch {
    return false;
  }
  const p = modelFile(loc.modelDir, 'info');
  if (!(await pathExists(p))) return false;
  const raw = await readJsonObject(p).catch(() => null);
  return raw?.kind === ENSEMBLE_KIND;
}

/**
 * Read and validate an ensemble's polarcad.json (without loading the members).
 * @throws InputError naming the file and field
 */
export async function readEnsembleInfo(modelDir: string): Promise<OpenedEnsemble['info']> {
  const info = await readModelInfo(modelDir, [ENSEMBLE_KIND]);
  const parsed = EnsembleSpecSchema.safeParse(info.ensemble);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new InputError(
      `${modelFile(modelDir, 'info')}: field "ensemble.${i.path.join('.')}": ${i.message}`,
    );
  }
  return { ...info, ensemble: parsed.data };
}

/**
 * Open the ensemble of a run directory or model folder: refuse an unfinished run, verify the
 * ensemble's checksums (each member's polarcad.json), then open every member as a single CNN
 * (checksums, self-check) and re-run the ensemble's self-check on the mean.
 * @throws InputError for any failed step, naming the file
 */
export async function openEnsemble(path: string): Promise<OpenedEnsemble> {
  const { loc, info } = await openVerified(path, readEnsembleInfo);
  await initBackend('wasm');
  const members: tf.LayersModel[] = [];
  const memberInfos: SavedModelInfo[] = [];
  const dispose = (): void => members.forEach((m) => m.dispose());
  try {
    for (const m of info.ensemble.members) {
      const dir = join(loc.modelDir, m.dir);
      const mi = await readModelInfo(dir);
      await verifyChecksums(dir, mi);
      const model = await loadTfjsFolder(dir);
      members.push(model);
      runSelfCheck(model, mi, modelFile(dir, 'info'));
      if (mi.inputSize !== info.inputSize || mi.scaling !== info.scaling)
        throw new InputError(
          `${modelFile(dir, 'info')}: input ${mi.inputSize} px / ${mi.scaling} differs from the ensemble's ${info.inputSize} px / ${info.scaling}`,
        );
      memberInfos.push(mi);
    }
    runSelfCheck(members, info, modelFile(loc.modelDir, 'info'));
  } catch (e) {
    dispose();
    throw e;
  }
  return { ...loc, info, members, memberInfos, dispose };
}
