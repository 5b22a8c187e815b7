/**
 * Shared helpers for the weight-loading tests: where the test-only pretrained weights live
 * (`../shared/weights` next to the repository; never copied into it) and photo decoding.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';

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
