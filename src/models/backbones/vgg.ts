/**
 * VGG16 / VGG19 (Simonyan & Zisserman 2015) as Keras Applications builds them with
 * include_top=False (keras/src/applications/vgg16.py, vgg19.py): 'block{b}_conv{i}' and
 * 'block{b}_pool' layers, so Keras .h5 weights map by name.
 */
import * as tf from '@tensorflow/tfjs';
import type { BuildOptions } from './common.js';
import { ap, kerasModel } from './common.js';

function buildVgg(convsPerBlock: readonly number[], name: string, opts: BuildOptions): tf.LayersModel {
  return kerasModel(opts, 224, name, (input) => {
    const filters = [64, 128, 256, 512, 512];
    let x = input;
    convsPerBlock.forEach((n, b) => {
      for (let i = 1; i <= n; i++) {
        x = ap(
          tf.layers.conv2d({
            filters: filters[b],
            kernelSize: 3,
            activation: 'relu',
            padding: 'same',
            name: `block${b + 1}_conv${i}`,
          }),
          x,
        );
      }
      x = ap(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${b + 1}_pool` }), x);
    });
    return x;
  });
}

/** Keras `VGG16(include_top=False)`; output 'block5_pool' (512 channels). */
export function buildVGG16(opts: BuildOptions = {}): tf.LayersModel {
  return buildVgg([2, 2, 3, 3, 3], 'vgg16', opts);
}

/** Keras `VGG19(include_top=False)`; output 'block5_pool' (512 channels). */
export function buildVGG19(opts: BuildOptions = {}): tf.LayersModel {
  return buildVgg([2, 2, 4, 4, 4], 'vgg19', opts);
}
