/**
 * TensorFlow.js layers-model folders (`model.json` plus binary weight shards) read from disk,
 * with no network and no tfjs-node: a custom `tf.io.IOHandler` reads the files with `node:fs`.
 * Also `cutAt`, which turns a classifier into a backbone ending at a named layer.
 */
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError, errorMessage } from '../../util/errors.js';
import { readInputFile, readInputText } from '../../util/read-input.js';

/** Parse and minimally validate a tfjs `model.json` document. */
export function parseModelJson(text: string, where: string): tf.io.ModelJSON {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${where}: not valid JSON (${errorMessage(e)})`);
  }
  if (typeof json !== 'object' || json === null || !('modelTopology' in json)) {
    throw new InputError(`${where}: not a TensorFlow.js layers model (no "modelTopology" field)`);
  }
  const m = json as tf.io.ModelJSON;
  if (m.weightsManifest !== undefined && !Array.isArray(m.weightsManifest)) {
    throw new InputError(`${where}: "weightsManifest" must be an array`);
  }
  return m;
}

/**
 * Build `ModelArtifacts` from a parsed model.json and a function returning the bytes of each
 * shard named in its weights manifest (shards are concatenated in manifest order, as tfjs expects).
 */
export async function artifactsFromModelJson(
  modelJson: tf.io.ModelJSON,
  readShard: (shardPath: string) => Promise<Uint8Array>,
): Promise<tf.io.ModelArtifacts> {
  return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const parts: Uint8Array[] = [];
    for (const group of manifest) {
      for (const p of group.paths) parts.push(await readShard(p));
      specs.push(...group.weights);
    }
    const total = parts.reduce((s, p) => s + p.byteLength, 0);
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.byteLength;
    }
    return [specs, all.buffer];
  });
}

/**
 * A `tf.io.IOHandler` that loads a layers model from a folder on disk. `location` is either the
 * folder or its `model.json`. Shard paths in the manifest are resolved relative to the folder.
 */
export function folderIOHandler(location: string): tf.io.IOHandler {
  return {
    load: async () => {
      const jsonPath = await modelJsonPath(location);
      const dir = dirname(jsonPath);
      const modelJson = parseModelJson(await readInputText(jsonPath, 'json'), jsonPath);
      return artifactsFromModelJson(modelJson, async (shard) => {
        const p = join(dir, shard);
        try {
          return new Uint8Array(await readInputFile(p, 'model'));
        } catch (e) {
          throw new InputError(`${jsonPath}: weight shard "${shard}" cannot be read (${errorMessage(e)})`);
        }
      });
    },
  };
}

async function modelJsonPath(location: string): Promise<string> {
  const abs = resolve(location);
  let st;
  try {
    st = await stat(abs);
  } catch {
    throw new InputError(`${abs}: no such TensorFlow.js model folder or model.json`);
  }
  return st.isDirectory() ? join(abs, 'model.json') : abs;
}

/**
 * Load a TensorFlow.js layers model (`model.json` + shards) from a folder or a `model.json` path.
 * @throws InputError when the folder, the JSON or a shard is missing or malformed.
 */
export async function loadTfjsFolder(location: string): Promise<tf.LayersModel> {
  const jsonPath = await modelJsonPath(location);
  try {
    return await tf.loadLayersModel(folderIOHandler(jsonPath));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${jsonPath}: cannot build the TensorFlow.js layers model (${errorMessage(e)})`, {
      cause: e,
    });
  }
}

/** Is this layer itself a model (a nested Sequential / functional sub-model)? */
function isContainer(layer: tf.layers.Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

/** Find a layer by name, searching nested sub-models depth-first. Returns the owning model too. */
export function findLayer(
  model: tf.LayersModel,
  name: string,
): { owner: tf.LayersModel; layer: tf.layers.Layer } | undefined {
  for (const layer of model.layers) {
    if (layer.name === name) return { owner: model, layer };
  }
  for (const layer of model.layers) {
    if (isContainer(layer)) {
      const hit = findLayer(layer, name);
      if (hit) return hit;
    }
  }
  return undefined;
}

/**
 * A sub-model from the model's input to the output of the named layer (for example a Keras
 * MobileNetV2 classifier cut at `out_relu`). When the layer lies inside a nested sub-model (as
 * in Teachable Machine exports, a Sequential of [backbone, head]), the cut starts at that
 * sub-model's own input. The returned model shares its layers (and so its weights) with `model`.
 * @throws InputError when no layer has that name.
 */
export function cutAt(model: tf.LayersModel, layerName: string): tf.LayersModel {
  const hit = findLayer(model, layerName);
  if (!hit) {
    throw new InputError(`model "${model.name}" has no layer named "${layerName}"`);
  }
  const output = hit.layer.output;
  if (Array.isArray(output))
    throw new InputError(`layer "${layerName}" has several outputs; cannot cut there`);
  return tf.model({ inputs: hit.owner.inputs, outputs: output, name: `${hit.owner.name}_to_${layerName}` });
}

/** Every layer of a model with nested sub-models flattened (depth-first, in layer order). */
export function flattenLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  for (const layer of model.layers) {
    if (isContainer(layer)) out.push(...flattenLayers(layer));
    else out.push(layer);
  }
  return out;
}
