/**
 * ResNet50V2 / ResNet101V2 / ResNet152V2 (He et al. 2016, pre-activation) as Keras Applications
 * builds them with include_top=False (keras/src/applications/resnet.py `ResNet(preact=True,
 * use_bias=True)` and `residual_block_v2`). The 1x1 stride-2 shortcut max-poolings are unnamed in
 * Keras and get automatic names ('max_pooling2d_1', ...).
 */
import * as tf from '@tensorflow/tfjs';
import {
  ap,
  KerasNamer,
  kerasInput,
  squareShape,
  type BuildOptions,
  type SymbolicTensor,
  reluLayer as relu,
  resnetBatchNorm as bn,
} from './common.js';

function residualBlockV2(
  x: SymbolicTensor,
  filters: number,
  stride: number,
  convShortcut: boolean,
  name: string,
  nm: KerasNamer,
): SymbolicTensor {
  let preact = ap(bn(`${name}_preact_bn`), x);
  preact = ap(relu(`${name}_preact_relu`), preact);
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
  y = ap(bn(`${name}_1_bn`), y);
  y = ap(relu(`${name}_1_relu`), y);
  y = ap(
    tf.layers.zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
      name: `${name}_2_pad`,
    }),
    y,
  );
  y = ap(
    tf.layers.conv2d({ filters, kernelSize: 3, strides: stride, useBias: false, name: `${name}_2_conv` }),
    y,
  );
  y = ap(bn(`${name}_2_bn`), y);
  y = ap(relu(`${name}_2_relu`), y);
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

function buildResNetV2(
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
      name: 'conv1_pad',
    }),
    input,
  );
  x = ap(tf.layers.conv2d({ filters: 64, kernelSize: 7, strides: 2, useBias: true, name: 'conv1_conv' }), x);
  x = ap(
    tf.layers.zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
      name: 'pool1_pad',
    }),
    x,
  );
  x = ap(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);
  x = stackV2(x, 64, blocks[0], 2, 'conv2', nm);
  x = stackV2(x, 128, blocks[1], 2, 'conv3', nm);
  x = stackV2(x, 256, blocks[2], 2, 'conv4', nm);
  x = stackV2(x, 512, blocks[3], 1, 'conv5', nm);
  x = ap(bn('post_bn'), x);
  x = ap(relu('post_relu'), x);
  return tf.model({ inputs: input, outputs: x, name: opts.name ?? name });
}

/** Keras `ResNet50V2(include_top=False)`; output 'post_relu' (2048 channels). */
export function buildResNet50V2(opts: BuildOptions = {}): tf.LayersModel {
  return buildResNetV2([3, 4, 6, 3], 'resnet50v2', opts);
}
/** Keras `ResNet101V2(include_top=False)`. */
export function buildResNet101V2(opts: BuildOptions = {}): tf.LayersModel {
  return buildResNetV2([3, 4, 23, 3], 'resnet101v2', opts);
}
/** Keras `ResNet152V2(include_top=False)`. */
export function buildResNet152V2(opts: BuildOptions = {}): tf.LayersModel {
  return buildResNetV2([3, 8, 36, 3], 'resnet152v2', opts);
}
