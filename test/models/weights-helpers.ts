/**
 * Shared helpers for the weight-loading tests: where the test-only pretrained weights live
 * (`../shared/weights` next to the repository; never copied into it) and photo decoding.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import type { NamedWeight } from '../../src/models/weights/assign.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEIGHTS_DIR = resolve(REPO_ROOT, '../shared/weights');

/** `false` when the shared weights are present, else the reason to skip (for `it(..., { skip })`). */
export function skipWithoutWeights(...relative: string[]): string | false {
  for (const r of relative) {
    const p = resolve(WEIGHTS_DIR, r);
    if (!existsSync(p)) return `test-only weights not found: ${p} (see ../shared/weights/README.md)`;
  }
  return false;
}

export function weightsPath(...parts: string[]): string {
  return resolve(WEIGHTS_DIR, ...parts);
}

/** Decode a JPEG to a [1, h, w, 3] float tensor in [0, 255] (sharp; alpha removed). */
export async function photoTensor(path: string): Promise<tf.Tensor4D> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return tf.tensor4d(new Float32Array(data), [1, info.height, info.width, 3]);
}

/** Max |a - b| over two tensors of the same shape. */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/**
 * Write a Keras-2 flat-layout .h5 (root `layer_names`, per-layer `weight_names`, datasets
 * `<layer>/<layer>/<var>:0`, as Keras' legacy `save_weights_to_hdf5_group`) with h5wasm.
 * Call after `await h5wasm.ready`.
 */
export function writeFlatH5(path: string, layers: ReadonlyMap<string, readonly NamedWeight[]>): void {
  const f = new h5wasm.File(path, 'w');
  f.create_attribute('layer_names', [...layers.keys()]);
  f.create_attribute('backend', 'tensorflow');
  for (const [name, ws] of layers) {
    const g = f.create_group(name);
    g.create_attribute(
      'weight_names',
      ws.map((w) => `${name}/${w.name}:0`),
    );
    const inner = g.create_group(name);
    for (const w of ws)
      inner.create_dataset({ name: `${w.name}:0`, data: w.data, shape: [...w.shape], dtype: '<f' });
  }
  f.close();
}
