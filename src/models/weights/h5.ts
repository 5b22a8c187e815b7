/**
 * Keras HDF5 weight files read with h5wasm (no Python, no network):
 * - Keras 2 legacy, flat layout (`model.save_weights('x.h5')`, and the Keras Applications
 *   `*_notop.h5` downloads): root attribute `layer_names`; each layer group has `weight_names`.
 * - Keras 2 legacy, nested layout (`model.save('x.h5')`): the same under `model_weights/`.
 *   A layer that is itself a model (a Sequential inside a Sequential) keeps its inner layers'
 *   weights in its group, named `<inner layer>/<variable>:0`.
 * - Keras 3 `.weights.h5`: `layers/<snake-cased class name>[_n]/vars/<index>`, nested models as
 *   `layers/functional/layers/...`; Keras 3 addresses layers by class and order, not by name.
 */
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset, Group, File as H5File } from 'h5wasm';
import type * as tf from '@tensorflow/tfjs';
import { InputError, errorMessage } from '../../util/errors.js';
import {
  assignWeights,
  type AssignOptions,
  type AssignReport,
  type NamedWeight,
  type WeightSet,
} from './assign.js';

let ready: Promise<unknown> | undefined;

/** Open an HDF5 file read-only through h5wasm's Node build (host filesystem via NODERAWFS). */
export async function openH5(path: string): Promise<H5File> {
  const abs = resolve(path);
  let regular: boolean;
  try {
    regular = (await stat(abs)).isFile();
  } catch {
    throw new InputError(`${abs}: weights file not found`);
  }
  if (!regular)
    throw new InputError(
      `${abs}: not a regular file (a folder, device, FIFO or socket); weights are read only from a regular file`,
    );
  if (!(await hasHdf5Signature(abs)))
    throw new InputError(`${abs}: not a readable HDF5 file (no HDF5 signature)`);
  ready ??= h5wasm.ready;
  await ready;
  try {
    return new h5wasm.File(abs, 'r');
  } catch (e) {
    throw new InputError(`${abs}: not a readable HDF5 file (${errorMessage(e)})`);
  }
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * HDF5 files start with an 8-byte signature at offset 0, 512, 1024, 2048, ... (after an optional
 * user block). Checked before handing the file to h5wasm, which does not fail cleanly on non-HDF5 input.
 */
async function hasHdf5Signature(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(8);
    for (let off = 0; off + 8 <= size && off <= 1 << 20; off = off === 0 ? 512 : off * 2) {
      await fh.read(buf, 0, 8, off);
      if (buf.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    await fh.close();
  }
}

function isGroup(e: unknown): e is Group {
  return e instanceof h5wasm.Group;
}

function isDataset(e: unknown): e is Dataset {
  return e instanceof h5wasm.Dataset;
}

function stringList(g: Group, attr: string): string[] {
  const a = g.attrs[attr];
  if (!a) return [];
  const v = a.value;
  if (Array.isArray(v)) return v.map((x) => String(x));
  if (typeof v === 'string') return [v];
  return [];
}

function readTensor(ds: Dataset, where: string, name: string): NamedWeight {
  const shape = ds.shape ?? [];
  const v = ds.value;
  let data: Float32Array;
  if (v instanceof Float32Array) data = v;
  else if (v instanceof Float64Array) data = Float32Array.from(v);
  else if (typeof v === 'number') data = Float32Array.of(v);
  else
    throw new InputError(
      `${where}: dataset ${ds.path} has unsupported type ${JSON.stringify(ds.dtype)} (expected float32 or float64)`,
    );
  return { name, shape, data };
}

/** `conv1_bn/gamma:0` -> ['conv1_bn', 'gamma'] (owner = the path component before the variable). */
function splitWeightName(w: string): { owner: string | undefined; variable: string } {
  const parts = w.replace(/:\d+$/, '').split('/');
  return {
    owner: parts.length >= 2 ? parts[parts.length - 2] : undefined,
    variable: parts[parts.length - 1],
  };
}

function readKeras2(root: Group, where: string, layers: Map<string, NamedWeight[]>): void {
  for (const layerName of stringList(root, 'layer_names')) {
    const g = root.get(layerName);
    if (!isGroup(g))
      throw new InputError(`${where}: layer "${layerName}" is listed in layer_names but has no group`);
    const names = stringList(g, 'weight_names');
    const owners = new Set(names.map((n) => splitWeightName(n).owner ?? layerName));
    // A nested model's group holds several inner layers; a plain layer's weights all share one owner.
    const nested = owners.size > 1;
    for (const n of names) {
      const ds = g.get(n);
      if (!isDataset(ds))
        throw new InputError(
          `${where}: weight "${n}" of layer "${layerName}" is listed in weight_names but missing`,
        );
      const { owner, variable } = splitWeightName(n);
      const key = nested ? (owner ?? layerName) : layerName;
      const list = layers.get(key) ?? [];
      if (list.some((w) => w.name === variable)) {
        throw new InputError(`${where}: layer "${key}" has two weights named "${variable}"`);
      }
      list.push(readTensor(ds, where, variable));
      layers.set(key, list);
    }
  }
}

function readKeras3(g: Group, path: string, where: string, layers: Map<string, NamedWeight[]>): void {
  for (const k of g.keys()) {
    const child = g.get(k);
    if (!isGroup(child)) continue;
    const p = path ? `${path}/${k}` : k;
    if (k === 'vars') {
      const idx = child
        .keys()
        .filter((x) => /^\d+$/.test(x))
        .sort((a, b) => Number(a) - Number(b));
      const ws: NamedWeight[] = [];
      for (const i of idx) {
        const ds = child.get(i);
        if (isDataset(ds)) ws.push(readTensor(ds, where, i));
      }
      if (ws.length > 0 && path) layers.set(path, ws);
    } else {
      readKeras3(child, p, where, layers);
    }
  }
}

/**
 * Read every weight tensor of a Keras .h5 weights file (any of the three layouts above).
 * @throws InputError when the file is missing, is not HDF5, or is not a Keras weights file.
 */
export async function readKerasH5(path: string): Promise<WeightSet> {
  const abs = resolve(path);
  const f = await openH5(abs);
  try {
    const layers = new Map<string, NamedWeight[]>();
    const keys = f.keys();
    if (f.attrs['layer_names']) {
      readKeras2(f, abs, layers);
      return { source: abs, format: 'keras2-flat', keying: 'name', layers };
    }
    const mw = keys.includes('model_weights') ? f.get('model_weights') : null;
    if (isGroup(mw) && mw.attrs['layer_names']) {
      readKeras2(mw, abs, layers);
      return { source: abs, format: 'keras2-nested', keying: 'name', layers };
    }
    const l3 = keys.includes('layers') ? f.get('layers') : null;
    if (isGroup(l3)) {
      readKeras3(l3, 'layers', abs, layers);
      return { source: abs, format: 'keras3', keying: 'keras3-path', layers };
    }
    throw new InputError(
      `${abs}: not a Keras weights file (no "layer_names" attribute, no "model_weights" group, no Keras 3 "layers" group)`,
    );
  } finally {
    f.close();
  }
}

/**
 * Load a Keras .h5 file into `model` by layer name, checking every shape.
 * With `allowExtra`, weights of layers the model does not have (for example a classifier head
 * saved with the backbone) are ignored and listed in the report.
 * @throws InputErrors listing missing, extra and mis-shaped weights, naming the file.
 */
export async function loadKerasH5Into(
  model: tf.LayersModel,
  path: string,
  options: AssignOptions = {},
): Promise<AssignReport> {
  const set = await readKerasH5(path);
  return assignWeights(model, set, options);
}
