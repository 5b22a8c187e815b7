/**
 * Copy a set of named weight tensors (read from a Keras .h5 file, or taken from another tfjs
 * model) into a `tf.LayersModel`, layer by layer, checking every shape. Problems are reported
 * all at once: missing, extra and mis-shaped weights, each named `layer/variable`.
 */
import * as tf from '@tensorflow/tfjs';
import { InputErrors } from '../../util/errors.js';

/** One stored weight tensor. `name` is the variable name (`kernel`, `gamma`, ...) or, for Keras 3
 * files, its index in the layer's weight list (`0`, `1`, ...). Data are row-major float32. */
export interface NamedWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * Weights grouped by layer. With `keying: 'name'` the keys are Keras layer names (`conv1_bn`);
 * with `keying: 'keras3-path'` they are Keras 3 object paths (`layers/conv2d_1`), which Keras 3
 * derives from the class name and the order of layers, not from layer names.
 */
export interface WeightSet {
  /** Where the weights came from (a file path or a description), used in messages. */
  readonly source: string;
  readonly format: 'keras2-flat' | 'keras2-nested' | 'keras3' | 'tfjs';
  readonly keying: 'name' | 'keras3-path';
  readonly layers: ReadonlyMap<string, readonly NamedWeight[]>;
}

export interface AssignOptions {
  /** Weights in the set that no model layer uses are ignored (reported) instead of refused. */
  readonly allowExtra?: boolean;
  /** Model weights absent from the set keep their current (random) values instead of refusing. */
  readonly allowMissing?: boolean;
  /** Mis-shaped weights are skipped (reported) instead of refused (Keras' `skip_mismatch`). */
  readonly skipMismatch?: boolean;
}

export interface AssignReport {
  /** Number of layers whose weights were all set. */
  readonly layersLoaded: number;
  /** Number of weight tensors set. */
  readonly tensorsLoaded: number;
  /** Number of scalar parameters set. */
  readonly paramsLoaded: number;
  /** `layer/variable` entries of the set that were not used (only with `allowExtra`). */
  readonly ignored: readonly string[];
  /** Model weights left at their initial value (only with `allowMissing` / `skipMismatch`). */
  readonly notLoaded: readonly string[];
}

/** Variable name of a tfjs layer weight: the last path component of its original name. */
export function variableName(w: tf.LayerVariable): string {
  const parts = w.originalName.split('/');
  return parts[parts.length - 1];
}

function isContainer(layer: tf.layers.Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

/** Keras' `naming.to_snake_case`, used by Keras 3 to name saved objects after their class. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** Keras 3 class name of a tfjs layer (tfjs calls a functional model `Model`, Keras 3 `Functional`). */
function keras3ClassName(layer: tf.layers.Layer): string {
  const c = layer.getClassName();
  return c === 'Model' ? 'Functional' : c;
}

/**
 * Every weighted (non-container) layer of `model` with the key it has in a weight set of the
 * given keying. Nested sub-models are flattened; for Keras 3 keys they add a path level, as in
 * Keras 3's own saving code (`_save_container_state`: snake-cased class name, `_1`, `_2`, ...).
 */
export function keyedLayers(
  model: tf.LayersModel,
  keying: WeightSet['keying'],
  prefix = 'layers',
): Array<[string, tf.layers.Layer]> {
  const out: Array<[string, tf.layers.Layer]> = [];
  const used = new Map<string, number>();
  for (const layer of model.layers) {
    let key = layer.name;
    if (keying === 'keras3-path') {
      const base = toSnakeCase(keras3ClassName(layer));
      const n = used.get(base);
      const name = n === undefined ? base : `${base}_${n + 1}`;
      used.set(base, n === undefined ? 0 : n + 1);
      key = `${prefix}/${name}`;
    }
    if (isContainer(layer)) out.push(...keyedLayers(layer, keying, `${key}/layers`));
    else if (layer.weights.length > 0) out.push([key, layer]);
  }
  return out;
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Copy `set` into `model` by layer name (or Keras 3 path) and variable name, checking shapes.
 * Nothing is written unless every check passes (or the options allow the problems found).
 * @throws InputErrors listing every missing, extra and mis-shaped weight, with the source path.
 */
export function assignWeights(
  model: tf.LayersModel,
  set: WeightSet,
  options: AssignOptions = {},
): AssignReport {
  const missing: string[] = [];
  const misShaped: string[] = [];
  const used = new Set<string>();
  const plan: Array<{ layer: tf.layers.Layer; values: Array<NamedWeight | undefined> }> = [];
  const notLoaded: string[] = [];

  for (const [key, layer] of keyedLayers(model, set.keying)) {
    const stored = set.layers.get(key) ?? [];
    const byName = new Map(stored.map((w) => [w.name, w]));
    const values: Array<NamedWeight | undefined> = [];
    layer.weights.forEach((w, i) => {
      const vname = set.keying === 'keras3-path' ? String(i) : variableName(w);
      const label = `${key}/${set.keying === 'keras3-path' ? `vars/${i} (${variableName(w)})` : vname}`;
      const s = byName.get(vname);
      if (!s) {
        missing.push(`missing: ${label} ${fmtShape(w.shape as number[])}`);
        notLoaded.push(label);
        values.push(undefined);
        return;
      }
      used.add(`${key}\u0000${vname}`);
      if (!sameShape(s.shape, w.shape as number[])) {
        misShaped.push(
          `wrong shape: ${label} is ${fmtShape(s.shape)} in the file, the model needs ${fmtShape(w.shape as number[])}`,
        );
        notLoaded.push(label);
        values.push(undefined);
        return;
      }
      values.push(s);
    });
    plan.push({ layer, values });
  }

  const extra: string[] = [];
  for (const [key, ws] of set.layers) {
    for (const w of ws) {
      if (!used.has(`${key}\u0000${w.name}`)) extra.push(`${key}/${w.name} ${fmtShape(w.shape)}`);
    }
  }

  const problems: string[] = [];
  if (!options.allowMissing) problems.push(...missing);
  if (!options.skipMismatch) problems.push(...misShaped);
  if (!options.allowExtra) problems.push(...extra.map((e) => `extra (not in the model): ${e}`));
  if (problems.length > 0) {
    throw new InputErrors(
      `${set.source}: weights do not fit model "${model.name}" (${missing.length} missing, ${misShaped.length} wrongly shaped, ${extra.length} extra)`,
      problems,
    );
  }

  let layersLoaded = 0;
  let tensorsLoaded = 0;
  let paramsLoaded = 0;
  for (const { layer, values } of plan) {
    if (values.every((v) => v === undefined)) continue;
    // getWeights() returns the variables' own tensors: never dispose them.
    const current = layer.getWeights();
    const next = values.map((v, i) => (v ? tf.tensor(v.data, v.shape as number[], 'float32') : current[i]));
    layer.setWeights(next);
    next.forEach((t, i) => {
      if (values[i]) t.dispose();
    });
    if (values.every((v) => v !== undefined)) layersLoaded++;
    for (const v of values) {
      if (v) {
        tensorsLoaded++;
        paramsLoaded += v.data.length;
      }
    }
  }
  return { layersLoaded, tensorsLoaded, paramsLoaded, ignored: extra, notLoaded };
}

/**
 * The weights of a tfjs model as a name-keyed `WeightSet` (layers of nested sub-models
 * flattened), to copy them into another architecture with `assignWeights`.
 */
export function weightSetFromModel(
  model: tf.LayersModel,
  source: string,
  layerFilter?: (name: string) => boolean,
): WeightSet {
  const layers = new Map<string, NamedWeight[]>();
  for (const [key, layer] of keyedLayers(model, 'name')) {
    if (layerFilter && !layerFilter(key)) continue;
    layers.set(
      key,
      layer.weights.map((w) => ({
        name: variableName(w),
        shape: [...w.shape] as number[],
        data: w.read().dataSync() as Float32Array,
      })),
    );
  }
  return { source, format: 'tfjs', keying: 'name', layers };
}
