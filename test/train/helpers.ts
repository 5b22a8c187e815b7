/**
 * Shared fixtures of the trainer tests: a tiny backbone (two conv + BN + ReLU blocks) with the Hai
 * head, and a generated, separable two-class image task (class 1 has a dark "defect" quadrant).
 */
import { tf } from '../../src/engine/backend.js';
import type { RgbImage } from '../../src/domain/image.js';
import type { Label } from '../../src/domain/views.js';
import { imageContentHash } from '../../src/engine/features.js';
import { addHaiHead, HAI_HEAD_LAYERS } from '../../src/models/heads.js';
import { seededInit } from '../../src/train/init.js';
import type { Example } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

export const SIZE = 16;

/** input -> [conv 3x3 (8) -> BN -> ReLU] x 2; 7 layers incl. the input; seeded He init. */
export function tinyClassifier(seed: number, units = 8): { model: tf.LayersModel; headLayers: number } {
  const input = tf.input({ shape: [SIZE, SIZE, 3], name: 'input_1' });
  let x: tf.SymbolicTensor = input;
  for (const b of [1, 2]) {
    x = tf.layers
      .conv2d({ filters: 8, kernelSize: 3, padding: 'same', strides: 2, name: `conv${b}` })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: `bn${b}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu', name: `relu${b}` }).apply(x) as tf.SymbolicTensor;
  }
  const backbone = tf.model({ inputs: input, outputs: x, name: 'tiny' });
  const rng = new Rng(seed);
  seededInit(backbone.layers, rng.fork('backbone'), 'he');
  const model = addHaiHead(backbone, { units });
  seededInit(model.layers.slice(-HAI_HEAD_LAYERS), rng.fork('head'), 'glorot');
  return { model, headLayers: HAI_HEAD_LAYERS };
}

/** A bright disc-like image; class 1 has its top-left quadrant darkened to 20%. Noise per pixel. */
export function makeImage(label: Label, rng: Rng): RgbImage {
  const data = new Uint8Array(SIZE * SIZE * 3);
  const base = rng.uniform(150, 230);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const defect = label === 1 && x < SIZE / 2 && y < SIZE / 2;
      const v = Math.max(0, Math.min(255, (defect ? 0.2 : 1) * base + rng.normal(0, 10)));
      const o = (y * SIZE + x) * 3;
      data[o] = v;
      data[o + 1] = v * 0.6;
      data[o + 2] = v * 0.3;
    }
  }
  return { width: SIZE, height: SIZE, data };
}

/** `n` examples, alternating labels, ids p000.. */
export function makeExamples(n: number, seed: number, prefix = 'p'): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const label: Label = i % 2 === 0 ? 0 : 1;
    const img = makeImage(label, rng);
    return {
      id: `${prefix}${String(i).padStart(3, '0')}`,
      label,
      angle: 0,
      key: imageContentHash(img),
      load: () => Promise.resolve(img),
    };
  });
}
