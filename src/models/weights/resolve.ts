/**
 * Where a backbone's initial weights come from, and loading them into polarcad's own
 * TypeScript architecture. Never downloads anything.
 *
 * `--weights imagenet` resolves, in order:
 *  1. (an explicit path is given instead of 'imagenet': that file or tfjs folder);
 *  2. the Keras cache, `$KERAS_HOME/models/` or `~/.keras/models/`, under the exact file name Keras
 *     itself stores the include_top=False ImageNet weights as (so a user who ever ran Keras has them);
 *  3. the embedded default from the nsfwjs package (MobileNetV2 and InceptionV3 only: ImageNet-
 *     initialised, retrained on another task, 8-bit; see embedded.ts);
 *  4. otherwise an error naming the exact file to obtain and where to put it.
 * `--weights none` is random initialisation: strategy 1 of Hai et al. (2022), training from scratch.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../../util/errors.js';
import { kerasHome } from '../../util/env.js';
import { sha256File } from '../../util/hash.js';

import { getBackbone, mobileNetV2NotopFile, type BackboneSpec } from '../table.js';
import type { BuildOptions } from '../backbones/common.js';
import { assignWeights, weightSetFromModel, type AssignReport, type WeightSet } from './assign.js';
import { readKerasH5 } from './h5.js';
import { embeddedFor, embeddedModelPath, embeddedWeightSet, type EmbeddedModel } from './embedded.js';
import { loadTfjsFolder } from './tfjs-folder.js';

export type WeightsSource = 'path' | 'keras-cache' | 'embedded' | 'random';

/** The outcome of weight resolution, recorded in every report. */
export interface ResolvedWeights {
  readonly backbone: string;
  readonly source: WeightsSource;
  /** File or folder the weights come from (absent for random initialisation). */
  readonly path?: string;
  /** SHA-256 of the file (of model.json for a tfjs folder; of the model bundle for the embedded default). */
  readonly sha256?: string;
  /** Plain-language provenance, for the CLI and reports. */
  readonly description: string;
}

export interface ResolveOptions {
  /** MobileNetV2 width multiplier (changes the Keras file name). Default 1.0. */
  readonly alpha?: number;
  /** Input side (MobileNetV2's Keras file name depends on it: 96..224). Default: the table's size. */
  readonly inputSize?: number;
  /** The Keras cache folder to search (default `$KERAS_HOME/models` or `~/.keras/models`). */
  readonly kerasModelsDir?: string;
  /** Compute SHA-256 of the weights file (default true). */
  readonly hash?: boolean;
}

const RANDOM_DESCRIPTION =
  'random initialisation (no pretrained weights; strategy 1 of Hai et al. 2022, training from scratch)';

/** The folder Keras caches downloaded weights in: `$KERAS_HOME/models`, else `~/.keras/models`. */
export function kerasModelsDir(): string {
  return join(kerasHome(), 'models');
}

/** The file name Keras stores this backbone's include_top=False ImageNet weights under. */
export function kerasNotopFileName(
  spec: BackboneSpec,
  opts: { alpha?: number; inputSize?: number } = {},
): string {
  if (spec.family === 'mobilenet-v2') {
    const rows = opts.inputSize ?? spec.inputSize;
    // Keras picks the weight file for the nearest published size when rows is not one of them.
    const published = [96, 128, 160, 192, 224];
    const r = published.includes(rows) ? rows : 224;
    return mobileNetV2NotopFile(opts.alpha ?? 1.0, r);
  }
  return spec.kerasNotopFile;
}

function embeddedCovers(m: EmbeddedModel, opts: ResolveOptions): boolean {
  return m.alpha === undefined || (opts.alpha ?? 1.0) === m.alpha;
}

function describeFile(path: string): string {
  if (existsSync(join(path, 'model.json')) || path.endsWith('model.json'))
    return `TensorFlow.js layers model ${path}`;
  return `Keras weights file ${path}`;
}

/**
 * Decide where `backbone`'s weights come from for `spec` = 'imagenet' | 'none' | a path.
 * @throws InputError for an unknown backbone, a missing explicit path, or (for 'imagenet') when
 *   nothing is available: the message names the exact Keras file and the folder to put it in.
 */
export async function resolveWeights(
  backbone: string,
  spec: string,
  opts: ResolveOptions = {},
): Promise<ResolvedWeights> {
  const row = getBackbone(backbone);
  const hash = opts.hash ?? true;
  if (spec === 'none') return { backbone: row.name, source: 'random', description: RANDOM_DESCRIPTION };
  if (spec !== 'imagenet') {
    const p = resolve(spec);
    if (!existsSync(p)) throw new InputError(`--weights ${spec}: no such file or folder (${p})`);
    const file = statSync(p).isDirectory() ? join(p, 'model.json') : p;
    if (!existsSync(file))
      throw new InputError(
        `--weights ${spec}: a folder must be a TensorFlow.js layers model with a model.json (${file} not found)`,
      );
    return {
      backbone: row.name,
      source: 'path',
      path: p,
      ...(hash ? { sha256: await sha256File(file) } : {}),
      description: `${row.name} weights from ${describeFile(p)} (given explicitly)`,
    };
  }
  const dir = opts.kerasModelsDir ?? kerasModelsDir();
  const fileName = kerasNotopFileName(row, opts);
  const cached = join(dir, fileName);
  if (existsSync(cached)) {
    return {
      backbone: row.name,
      source: 'keras-cache',
      path: cached,
      ...(hash ? { sha256: await sha256File(cached) } : {}),
      description: `${row.name} ImageNet weights (Keras Applications, include_top=False) from the Keras cache ${cached}`,
    };
  }
  const emb = embeddedFor(row.name);
  if (emb && embeddedCovers(emb, opts)) {
    const p = embeddedModelPath(emb);
    return {
      backbone: row.name,
      source: 'embedded',
      path: p,
      ...(hash ? { sha256: await sha256File(p) } : {}),
      description: `embedded default: ${emb.description}`,
    };
  }
  throw new InputError(
    `no ImageNet weights for ${row.name} on this machine, and polarcad never downloads. ` +
      `Put the Keras Applications file ${fileName} in ${dir}/ ` +
      `(Keras saves it there when you run keras.applications.${row.name}(weights='imagenet', include_top=False)${row.family === 'mobilenet-v2' ? `, alpha=${opts.alpha ?? 1.0}` : ''}), ` +
      `or pass --weights /path/to/${fileName}, or use --weights none to train from scratch.`,
  );
}

/** Does a weights file / folder / cache entry exist for `backbone`, without hashing? Used by `polarcad models`. */
export async function weightsAvailability(
  backbone: string,
  opts: ResolveOptions = {},
): Promise<ResolvedWeights | { backbone: string; source: 'unavailable'; description: string }> {
  try {
    return await resolveWeights(backbone, 'imagenet', { ...opts, hash: false });
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    const row = getBackbone(backbone);
    return {
      backbone: row.name,
      source: 'unavailable',
      description: `not on this machine: put ${kerasNotopFileName(row, opts)} in ${opts.kerasModelsDir ?? kerasModelsDir()}/`,
    };
  }
}

/** A builder of polarcad's own TypeScript architecture for a backbone. */
export type BackboneBuilder = (opts: BuildOptions) => tf.LayersModel;

/**
 * The TypeScript builder for a backbone family. Only the families whose builders are committed
 * are wired here; others raise an InputError until their builder lands.
 */
export function builderFor(spec: BackboneSpec): BackboneBuilder {
  return (opts) => spec.build(opts);
}

export interface LoadBackboneOptions extends ResolveOptions {
  /** 'imagenet' (default), 'none', or a path to a Keras .h5 / .weights.h5 file or a tfjs folder. */
  readonly weights?: string;
  /** Input shape; defaults to the table's input size. */
  readonly inputShape?: [number, number, 3];
  /** Override the architecture builder (tests; by default the table's builder). */
  readonly build?: BackboneBuilder;
}

export interface LoadedBackbone {
  readonly spec: BackboneSpec;
  readonly model: tf.LayersModel;
  readonly weights: ResolvedWeights;
  /** What was copied (absent for random initialisation). */
  readonly report?: AssignReport;
}

async function weightSetFromPath(p: string): Promise<WeightSet> {
  if (statSync(p).isDirectory() || p.endsWith('.json')) {
    const m = await loadTfjsFolder(p);
    try {
      return weightSetFromModel(m, p);
    } finally {
      m.dispose();
    }
  }
  return readKerasH5(p);
}

/**
 * Build `name` with polarcad's own architecture and fill it with the resolved weights, copied by
 * Keras layer name with every shape checked. From an explicit path, weights of layers the
 * backbone lacks (a classifier head) are ignored and listed in `report.ignored`; from the Keras
 * cache and the embedded default every tensor must match exactly. Every layer stays trainable.
 */
export async function loadBackbone(name: string, opts: LoadBackboneOptions = {}): Promise<LoadedBackbone> {
  const spec = getBackbone(name);
  const inputSize = opts.inputShape?.[0] ?? opts.inputSize ?? spec.inputSize;
  const resolved = await resolveWeights(spec.name, opts.weights ?? 'imagenet', { ...opts, inputSize });
  const build = opts.build ?? builderFor(spec);
  const model = build({
    inputShape: opts.inputShape ?? [spec.inputSize, spec.inputSize, 3],
    ...(opts.alpha !== undefined ? { alpha: opts.alpha } : {}),
  });
  if (resolved.source === 'random') return { spec, model, weights: resolved };
  let set: WeightSet;
  if (resolved.source === 'embedded') {
    const emb = embeddedFor(spec.name);
    if (!emb) throw new Error(`internal: no embedded model for ${spec.name}`);
    set = await embeddedWeightSet(emb);
  } else {
    set = await weightSetFromPath(resolved.path as string);
  }
  const report = assignWeights(model, set, { allowExtra: resolved.source === 'path' });
  return { spec, model, weights: resolved, report };
}
