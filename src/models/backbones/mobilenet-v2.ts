/**
 * MobileNetV2 (Sandler et al. 2018) as Keras Applications builds it with include_top=False
 * (keras/src/applications/mobilenet_v2.py): same layers, names and weight shapes, so Keras .h5
 * weights map by name. Conv1 uses padding 'same' as in tf.keras >= 2.1 / Keras 3 (Keras 2.2.4 had an
 * extra weightless 'Conv1_pad' layer instead; weight names are identical).
 */
import * as tf from '@tensorflow/tfjs';
import {
  ap,
  channels,
  correctPad,
  kerasInput,
  squareShape,
  type BuildOptions,
  type SymbolicTensor,
} from './common.js';

/** Keras' `_make_divisible(v, divisor=8)`. */
export function makeDivisible(v: number, divisor = 8, minValue?: number): number {
  const min = minValue ?? divisor;
  let newV = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (newV < 0.9 * v) newV += divisor;
  return newV;
}

function bn(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name });
}

function invertedResBlock(
  inputs: SymbolicTensor,
  expansion: number,
  stride: 1 | 2,
  alpha: number,
  filters: number,
  blockId: number,
): SymbolicTensor {
  const inChannels = channels(inputs);
  const pointwiseFilters = makeDivisible(Math.trunc(filters * alpha), 8);
  let x = inputs;
  let prefix = `block_${blockId}_`;
  if (blockId) {
    x = ap(
      tf.layers.conv2d({
        filters: expansion * inChannels,
        kernelSize: 1,
        padding: 'same',
        useBias: false,
        name: `${prefix}expand`,
      }),
      x,
    );
    x = ap(bn(`${prefix}expand_BN`), x);
    x = ap(tf.layers.reLU({ maxValue: 6, name: `${prefix}expand_relu` }), x);
  } else {
    prefix = 'expanded_conv_';
  }
  if (stride === 2) {
    x = ap(tf.layers.zeroPadding2d({ padding: correctPad(x, 3), name: `${prefix}pad` }), x);
  }
  x = ap(
    tf.layers.depthwiseConv2d({
      kernelSize: 3,
      strides: stride,
      useBias: false,
      padding: stride === 1 ? 'same' : 'valid',
      name: `${prefix}depthwise`,
    }),
    x,
  );
  x = ap(bn(`${prefix}depthwise_BN`), x);
  x = ap(tf.layers.reLU({ maxValue: 6, name: `${prefix}depthwise_relu` }), x);
  x = ap(
    tf.layers.conv2d({
      filters: pointwiseFilters,
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      name: `${prefix}project`,
    }),
    x,
  );
  x = ap(bn(`${prefix}project_BN`), x);
  if (inChannels === pointwiseFilters && stride === 1) {
    return ap(tf.layers.add({ name: `${prefix}add` }), [inputs, x]);
  }
  return x;
}

/** [filters, stride, expansion] of blocks 0..16 (Keras mobilenet_v2.py). */
const BLOCKS: readonly [number, 1 | 2, number][] = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

/**
 * Keras `MobileNetV2(include_top=False, alpha)`. Output: 'out_relu', width 1280 (or
 * make_divisible(1280*alpha) for alpha > 1).
 */
export function buildMobileNetV2(opts: BuildOptions = {}): tf.LayersModel {
  const alpha = opts.alpha ?? 1.0;
  if (!(alpha > 0)) throw new Error(`MobileNetV2: alpha must be positive, got ${alpha}`);
  const shape = squareShape(opts, 224);
  const input = kerasInput(shape);
  let x = ap(
    tf.layers.conv2d({
      filters: makeDivisible(32 * alpha, 8),
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      name: 'Conv1',
    }),
    input,
  );
  x = ap(bn('bn_Conv1'), x);
  x = ap(tf.layers.reLU({ maxValue: 6, name: 'Conv1_relu' }), x);
  BLOCKS.forEach(([filters, stride, expansion], id) => {
    x = invertedResBlock(x, expansion, stride, alpha, filters, id);
  });
  const lastFilters = alpha > 1.0 ? makeDivisible(1280 * alpha, 8) : 1280;
  x = ap(tf.layers.conv2d({ filters: lastFilters, kernelSize: 1, useBias: false, name: 'Conv_1' }), x);
  x = ap(bn('Conv_1_bn'), x);
  x = ap(tf.layers.reLU({ maxValue: 6, name: 'out_relu' }), x);
  const rows = shape[0];
  const name = opts.name ?? `mobilenetv2_${alpha.toFixed(2)}_${rows}`;
  return tf.model({ inputs: input, outputs: x, name });
}
