/**
 * DenseNet121 / 169 / 201 (Huang et al. 2017) as Keras Applications builds them with
 * include_top=False (keras/src/applications/densenet.py). The two stem ZeroPadding2D layers are
 * unnamed in Keras ('zero_padding2d_1', 'zero_padding2d_2' in legacy naming).
 */
import * as tf from '@tensorflow/tfjs';
import {
  ap,
  channels,
  KerasNamer,
  kerasInput,
  squareShape,
  type BuildOptions,
  type SymbolicTensor,
  reluLayer as relu,
  resnetBatchNorm as bn,
} from './common.js';

function convBlock(x: SymbolicTensor, growthRate: number, name: string): SymbolicTensor {
  let x1 = ap(bn(`${name}_0_bn`), x);
  x1 = ap(relu(`${name}_0_relu`), x1);
  x1 = ap(
    tf.layers.conv2d({ filters: 4 * growthRate, kernelSize: 1, useBias: false, name: `${name}_1_conv` }),
    x1,
  );
  x1 = ap(bn(`${name}_1_bn`), x1);
  x1 = ap(relu(`${name}_1_relu`), x1);
  x1 = ap(
    tf.layers.conv2d({
      filters: growthRate,
      kernelSize: 3,
      padding: 'same',
      useBias: false,
      name: `${name}_2_conv`,
    }),
    x1,
  );
  return ap(tf.layers.concatenate({ axis: -1, name: `${name}_concat` }), [x, x1]);
}

function denseBlock(x: SymbolicTensor, blocks: number, name: string): SymbolicTensor {
  for (let i = 0; i < blocks; i++) x = convBlock(x, 32, `${name}_block${i + 1}`);
  return x;
}

function transitionBlock(x: SymbolicTensor, reduction: number, name: string): SymbolicTensor {
  x = ap(bn(`${name}_bn`), x);
  x = ap(relu(`${name}_relu`), x);
  x = ap(
    tf.layers.conv2d({
      filters: Math.trunc(channels(x) * reduction),
      kernelSize: 1,
      useBias: false,
      name: `${name}_conv`,
    }),
    x,
  );
  return ap(tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name: `${name}_pool` }), x);
}

function buildDenseNet(
  blocks: readonly [number, number, number, number],
  name: string,
  opts: BuildOptions,
): tf.LayersModel {
  const nm = new KerasNamer(opts.autoNaming);
  const input = kerasInput(squareShape(opts, 224));
  let x = ap(
    tf.layers.zeroPadding2d({
      padding: [
        [3, 3],
        [3, 3],
      ],
      name: nm.next('zero_padding2d'),
    }),
    input,
  );
  x = ap(tf.layers.conv2d({ filters: 64, kernelSize: 7, strides: 2, useBias: false, name: 'conv1_conv' }), x);
  x = ap(bn('conv1_bn'), x);
  x = ap(relu('conv1_relu'), x);
  x = ap(
    tf.layers.zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
      name: nm.next('zero_padding2d'),
    }),
    x,
  );
  x = ap(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1' }), x);
  x = denseBlock(x, blocks[0], 'conv2');
  x = transitionBlock(x, 0.5, 'pool2');
  x = denseBlock(x, blocks[1], 'conv3');
  x = transitionBlock(x, 0.5, 'pool3');
  x = denseBlock(x, blocks[2], 'conv4');
  x = transitionBlock(x, 0.5, 'pool4');
  x = denseBlock(x, blocks[3], 'conv5');
  x = ap(bn('bn'), x);
  x = ap(relu('relu'), x);
  return tf.model({ inputs: input, outputs: x, name: opts.name ?? name });
}

/** Keras `DenseNet121(include_top=False)`; output 'relu' (1024 channels). */
export function buildDenseNet121(opts: BuildOptions = {}): tf.LayersModel {
  return buildDenseNet([6, 12, 24, 16], 'densenet121', opts);
}
/** Keras `DenseNet169(include_top=False)`; output 'relu' (1664 channels). */
export function buildDenseNet169(opts: BuildOptions = {}): tf.LayersModel {
  return buildDenseNet([6, 12, 32, 32], 'densenet169', opts);
}
/** Keras `DenseNet201(include_top=False)`; output 'relu' (1920 channels). */
export function buildDenseNet201(opts: BuildOptions = {}): tf.LayersModel {
  return buildDenseNet([6, 12, 48, 32], 'densenet201', opts);
}
