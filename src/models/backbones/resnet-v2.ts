/**
 * ResNet50V2 / ResNet101V2 / ResNet152V2 (He et al. 2016, pre-activation) as Keras Applications
 * builds them with include_top=False (keras/src/applications/resnet.py `ResNet(preact=True,
 * use_bias=True)` and `residual_block_v2`). The 1x1 stride-2 shortcut max-poolings are unnamed in
 * Keras and get automatic names ('max_pooling2d_1', ...).
 */
import * as tf from '@tensorflow/tfjs';
import type { StageBlocks, SymbolicTensor } from './common.js';
import { ap, bnRelu, familyVariant, KerasNamer, resnetStem, zeroPad } from './common.js';

function residualBlockV2(
  x: SymbolicTensor,
  filters: number,
  stride: number,
  convShortcut: boolean,
  name: string,
  nm: KerasNamer,
): SymbolicTensor {
  const preact = bnRelu(x, `${name}_preact_`);
  let shortcut: SymbolicTensor;
  if (convShortcut) {
    shortcut = ap(
      tf.layers.conv2d({ filters: 4 * filters, kernelSize: 1, strides: stride, name: `${name}_0_conv` }),
      preact,
    );
  } else {
    shortcut =
      stride > 1
        ? ap(tf.layers.maxPooling2d({ poolSize: 1, strides: stride, name: nm.next('max_pooling2d') }), x)
        : x;
  }
  let y = ap(
    tf.layers.conv2d({ filters, kernelSize: 1, strides: 1, useBias: false, name: `${name}_1_conv` }),
    preact,
  );
  y = bnRelu(y, `${name}_1_`);
  y = ap(zeroPad(1, `${name}_2_pad`), y);
  y = ap(
    tf.layers.conv2d({ filters, kernelSize: 3, strides: stride, useBias: false, name: `${name}_2_conv` }),
    y,
  );
  y = bnRelu(y, `${name}_2_`);
  y = ap(tf.layers.conv2d({ filters: 4 * filters, kernelSize: 1, name: `${name}_3_conv` }), y);
  return ap(tf.layers.add({ name: `${name}_out` }), [shortcut, y]);
}

function stackV2(
  x: SymbolicTensor,
  filters: number,
  blocks: number,
  stride1: number,
  name: string,
  nm: KerasNamer,
): SymbolicTensor {
  x = residualBlockV2(x, filters, 1, true, `${name}_block1`, nm);
  for (let i = 2; i < blocks; i++) x = residualBlockV2(x, filters, 1, false, `${name}_block${i}`, nm);
  return residualBlockV2(x, filters, stride1, false, `${name}_block${blocks}`, nm);
}

/** The ResNetV2 layers on `input` for `blocks` per stage. */
function resNetV2Layers(input: SymbolicTensor, blocks: StageBlocks, nm: KerasNamer): SymbolicTensor {
  let x = resnetStem(input, {
    padNames: ['conv1_pad', 'pool1_pad'],
    poolName: 'pool1_pool',
    useBias: true,
  });
  // stacks 'conv2' .. 'conv5' of 64, 128, 256, 512 filters; all but the last end with stride 2
  blocks.forEach((n, stage) => {
    x = stackV2(x, 64 * 2 ** stage, n, stage < blocks.length - 1 ? 2 : 1, `conv${stage + 2}`, nm);
  });
  return bnRelu(x, 'post_');
}

/** Keras `ResNet50V2(include_top=False)`; output 'post_relu' (2048 channels). */
export const buildResNet50V2 = familyVariant(resNetV2Layers, [3, 4, 6, 3], 'resnet50v2');
/** Keras `ResNet101V2(include_top=False)`. */
export const buildResNet101V2 = familyVariant(resNetV2Layers, [3, 4, 23, 3], 'resnet101v2');
/** Keras `ResNet152V2(include_top=False)`. */
export const buildResNet152V2 = familyVariant(resNetV2Layers, [3, 8, 36, 3], 'resnet152v2');
