/**
 * DenseNet121 / 169 / 201 (Huang et al. 2017) as Keras Applications builds them with
 * include_top=False (keras/src/applications/densenet.py). The two stem ZeroPadding2D layers are
 * unnamed in Keras ('zero_padding2d_1', 'zero_padding2d_2' in legacy naming).
 */
import * as tf from '@tensorflow/tfjs';
import type { StageBlocks, SymbolicTensor } from './common.js';
import { ap, bnRelu, familyVariant, channels, KerasNamer, resnetStem } from './common.js';

function convBlock(x: SymbolicTensor, growthRate: number, name: string): SymbolicTensor {
  let x1 = bnRelu(x, `${name}_0_`);
  x1 = ap(
    tf.layers.conv2d({ filters: 4 * growthRate, kernelSize: 1, useBias: false, name: `${name}_1_conv` }),
    x1,
  );
  x1 = bnRelu(x1, `${name}_1_`);
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
  x = bnRelu(x, `${name}_`);
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

/** The DenseNet layers on `input` for `blocks` per stage. */
function denseNetLayers(input: SymbolicTensor, blocks: StageBlocks, nm: KerasNamer): SymbolicTensor {
  let x = resnetStem(input, {
    padNames: [nm.next('zero_padding2d'), nm.next('zero_padding2d')],
    poolName: 'pool1',
    useBias: false,
    afterConv: (y) => bnRelu(y, 'conv1_'),
  });
  // dense blocks 'conv2' .. 'conv5', each but the last followed by transition 'pool2' .. 'pool4'
  blocks.forEach((n, stage) => {
    x = denseBlock(x, n, `conv${stage + 2}`);
    if (stage < blocks.length - 1) x = transitionBlock(x, 0.5, `pool${stage + 2}`);
  });
  return bnRelu(x, '');
}

/** Keras `DenseNet121(include_top=False)`; output 'relu' (1024 channels). */
export const buildDenseNet121 = familyVariant(denseNetLayers, [6, 12, 24, 16], 'densenet121');
/** Keras `DenseNet169(include_top=False)`; output 'relu' (1664 channels). */
export const buildDenseNet169 = familyVariant(denseNetLayers, [6, 12, 32, 32], 'densenet169');
/** Keras `DenseNet201(include_top=False)`; output 'relu' (1920 channels). */
export const buildDenseNet201 = familyVariant(denseNetLayers, [6, 12, 48, 32], 'densenet201');
