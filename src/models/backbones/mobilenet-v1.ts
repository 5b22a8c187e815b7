/**
 * Keras Applications MobileNet (v1), no top, in TensorFlow.js layers with Keras' exact layer
 * names (`conv1`, `conv1_bn`, `conv1_relu`, `conv_dw_1`, `conv_dw_1_bn`, ..., `conv_pw_13_relu`),
 * so that Keras `.h5` weights load by name. Howard et al. 2017, "MobileNets: Efficient
 * Convolutional Neural Networks for Mobile Vision Applications"; structure as in
 * keras/applications/mobilenet.py (`_conv_block`, `_depthwise_conv_block`).
 *
 * NOT one of the 15 backbones of the zoo (src/models/table.ts): it exists so the .h5 importer can
 * be tested against the official `mobilenet_2_5_224_tf_no_top.h5` (alpha 0.25).
 */
import * as tf from '@tensorflow/tfjs';

export interface MobileNetV1Options {
  /** Input [height, width, channels]; default [224, 224, 3]. */
  readonly inputShape?: readonly [number, number, number];
  /** Width multiplier (Keras `alpha`): 0.25, 0.5, 0.75 or 1.0 for published weights. */
  readonly alpha?: number;
  /** Keras `depth_multiplier` of the depthwise convolutions (1 for published weights). */
  readonly depthMultiplier?: number;
}

/** Pointwise filters and stride of depthwise-separable blocks 1..13 (Keras mobilenet.py). */
const BLOCKS: ReadonlyArray<readonly [filters: number, stride: 1 | 2]> = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/** Keras MobileNet's BatchNormalization (epsilon 1e-3, momentum 0.99) `NAME_bn`, then ReLU6 `NAME_relu`. */
function bnRelu6(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  const y = tf.layers
    .batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.99, name: `${name}_bn` })
    .apply(x) as tf.SymbolicTensor;
  return tf.layers.reLU({ maxValue: 6, name: `${name}_relu` }).apply(y) as tf.SymbolicTensor;
}

/**
 * Build MobileNet v1 without its top, output = `conv_pw_13_relu` (7x7x(1024*alpha) at 224).
 * Strided convolutions are preceded by ZeroPadding2D ((0,1),(0,1)) and use 'valid' padding,
 * as in current Keras (older Keras, e.g. 2.0.4, used 'same', which pads identically at even sizes).
 * BatchNormalization epsilon 1e-3 (Keras default); ReLU capped at 6.
 */
export function buildMobileNetV1(options: MobileNetV1Options = {}): tf.LayersModel {
  const inputShape = options.inputShape ?? [224, 224, 3];
  const alpha = options.alpha ?? 1.0;
  const dm = options.depthMultiplier ?? 1;
  const input = tf.input({ shape: [...inputShape], name: 'input_1' });

  let x = tf.layers
    .zeroPadding2d({
      padding: [
        [0, 1],
        [0, 1],
      ],
      name: 'conv1_pad',
    })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({
      filters: Math.trunc(32 * alpha),
      kernelSize: 3,
      strides: 2,
      padding: 'valid',
      useBias: false,
      name: 'conv1',
    })
    .apply(x) as tf.SymbolicTensor;
  x = bnRelu6(x, 'conv1');

  BLOCKS.forEach(([filters, stride], i) => {
    const id = i + 1;
    if (stride === 2) {
      x = tf.layers
        .zeroPadding2d({
          padding: [
            [0, 1],
            [0, 1],
          ],
          name: `conv_pad_${id}`,
        })
        .apply(x) as tf.SymbolicTensor;
    }
    x = tf.layers
      .depthwiseConv2d({
        kernelSize: 3,
        strides: stride,
        padding: stride === 1 ? 'same' : 'valid',
        depthMultiplier: dm,
        useBias: false,
        name: `conv_dw_${id}`,
      })
      .apply(x) as tf.SymbolicTensor;
    x = bnRelu6(x, `conv_dw_${id}`);
    x = tf.layers
      .conv2d({
        filters: Math.trunc(filters * alpha),
        kernelSize: 1,
        padding: 'same',
        useBias: false,
        name: `conv_pw_${id}`,
      })
      .apply(x) as tf.SymbolicTensor;
    x = bnRelu6(x, `conv_pw_${id}`);
  });

  return tf.model({ inputs: input, outputs: x, name: `mobilenet_${alpha.toFixed(2)}_${inputShape[0]}` });
}
