/**
 * The embedded default weights, installed by npm with the `nsfwjs` package (MIT): its Keras
 * (2.2.4) MobileNetV2 (224) and InceptionV3 (299) TensorFlow.js layers models, which nsfwjs ships
 * as browserify-wrapped CommonJS files (`dist/models/<model>/model.min.js` exporting the
 * model.json object, `group1-shard<i>of<n>.min.js` each exporting one shard as a base64 string).
 * nsfwjs itself loads them by `import()`-ing those files and decoding the base64 in a custom
 * IOHandler (its `JSONHandler`); we do the same with `createRequire`, fully offline.
 *
 * What they are (checked in the files): Keras Applications architectures with Keras layer names,
 * every weight tensor quantised to 8 bits (uint8 with a per-tensor min and scale), with a 5-class
 * head. They were initialised from ImageNet and retrained by the nsfwjs authors on another image
 * task, so they are NOT ImageNet weights. We cut them at the last convolutional feature map
 * (`out_relu`, `mixed10`) and use them only as a trainable initialisation.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError, errorMessage } from '../../util/errors.js';
import { artifactsFromModelJson, cutAt } from './tfjs-folder.js';
import { weightSetFromModel, type WeightSet } from './assign.js';

/** An embedded model: which backbone of the table it initialises and how. */
export interface EmbeddedModel {
  /** Backbone name in the table (`src/models/table.ts`). */
  readonly backbone: 'MobileNetV2' | 'InceptionV3';
  /** Folder under `nsfwjs/dist/models/`. */
  readonly folder: string;
  /** Number of weight shards nsfwjs ships. */
  readonly shards: number;
  /** Input side (square). */
  readonly inputSize: number;
  /** Layer whose output is the last convolutional feature map; the cut point. */
  readonly cutLayer: string;
  /** Width multiplier of the embedded network (MobileNetV2). */
  readonly alpha?: number;
  /** One-line provenance for docs, CLI output and reports. */
  readonly description: string;
}

/** What the embedded weights are (both models), as the CLI and reports say it: no class names. */
export const COMMON =
  'retrained by its authors on a 5-class content-moderation task (top blocks at least, ' +
  'how deep is not recorded in the files); ' +
  'every weight quantised to 8 bits (uint8, per-tensor min/scale). Not ImageNet weights.';

/** The two embedded models (nsfwjs 4.x). */
export const EMBEDDED_MODELS: readonly EmbeddedModel[] = Object.freeze([
  {
    backbone: 'MobileNetV2',
    folder: 'mobilenet_v2',
    shards: 1,
    inputSize: 224,
    cutLayer: 'out_relu',
    alpha: 1.0,
    description: `nsfwjs MobileNetV2 (alpha 1.0, 224): ImageNet-initialised Keras MobileNetV2 ${COMMON}`,
  },
  {
    backbone: 'InceptionV3',
    folder: 'inception_v3',
    shards: 6,
    inputSize: 299,
    cutLayer: 'mixed10',
    description: `nsfwjs InceptionV3 (299): ImageNet-initialised Keras InceptionV3 ${COMMON}`,
  },
]);

/** The embedded model that covers `backbone` (case-insensitive), if any. */
export function embeddedFor(backbone: string): EmbeddedModel | undefined {
  const key = backbone.trim().toLowerCase();
  return EMBEDDED_MODELS.find((m) => m.backbone.toLowerCase() === key);
}

/** Absolute folder holding nsfwjs' model bundles (`.../node_modules/nsfwjs/dist/models`). */
export function nsfwjsModelsFolder(): string {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve('nsfwjs'); // .../nsfwjs/dist/cjs/index.js
  } catch (e) {
    throw new InputError(
      `the embedded default weights need the npm package "nsfwjs", which is not installed (${errorMessage(e)})`,
    );
  }
  return resolve(dirname(main), '..', 'models');
}

/** Path of the model bundle of an embedded model (for provenance and hashing). */
export function embeddedModelPath(m: EmbeddedModel): string {
  return join(nsfwjsModelsFolder(), m.folder, 'model.min.js');
}

/**
 * Load the complete embedded nsfwjs model (with its 5-class head) as a tfjs layers model,
 * offline, exactly as nsfwjs does (8-bit weights de-quantised to float32 by tfjs).
 */
export async function loadEmbeddedFull(m: EmbeddedModel): Promise<tf.LayersModel> {
  const require = createRequire(import.meta.url);
  const dir = join(nsfwjsModelsFolder(), m.folder);
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = require(join(dir, 'model.min.js')) as tf.io.ModelJSON;
  } catch (e) {
    throw new InputError(
      `${join(dir, 'model.min.js')}: cannot read the embedded nsfwjs model (${errorMessage(e)})`,
    );
  }
  const artifacts = await artifactsFromModelJson(modelJson, async (shard) => {
    const file = join(dir, `${shard}.min.js`);
    let b64: unknown;
    try {
      b64 = require(file);
      delete require.cache[require.resolve(file)]; // do not keep megabytes of base64 alive
    } catch (e) {
      throw new InputError(`${file}: cannot read the embedded nsfwjs weight shard (${errorMessage(e)})`);
    }
    if (typeof b64 !== 'string') throw new InputError(`${file}: expected a base64 string export`);
    return new Uint8Array(Buffer.from(b64, 'base64'));
  });
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/** The embedded model cut at its last convolutional feature map (`out_relu` / `mixed10`). */
export async function loadEmbeddedBackbone(m: EmbeddedModel): Promise<tf.LayersModel> {
  return cutAt(await loadEmbeddedFull(m), m.cutLayer);
}

/**
 * The embedded backbone's weights (head excluded) as a name-keyed weight set, to copy into
 * polarcad's own architecture with `assignWeights`. The full model's tensors are disposed.
 */
export async function embeddedWeightSet(m: EmbeddedModel): Promise<WeightSet> {
  const full = await loadEmbeddedFull(m);
  try {
    const backbone = cutAt(full, m.cutLayer);
    return weightSetFromModel(backbone, `embedded ${m.description}`);
  } finally {
    full.dispose();
  }
}
