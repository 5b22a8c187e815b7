/**
 * Shared helpers for the Keras Applications re-implementations: explicit layer naming (including
 * Keras' automatic names such as `conv2d_1`), applying a layer to a symbolic tensor with types,
 * and Keras' `imagenet_utils.correct_pad`.
 */
import * as tf from '@tensorflow/tfjs';

export type SymbolicTensor = tf.SymbolicTensor;

/**
 * How Keras auto-names unnamed layers.
 * - 'legacy': Keras <= 2.2 (standalone), used when the published .h5 files were saved and by the
 *   nsfwjs models: every class counter starts at 1 (`conv2d_1`, `conv2d_2`, ..., `input_1`).
 * - 'tf2': tf.keras 2.x and Keras 3: the first layer of a class is unsuffixed (`conv2d`,
 *   `conv2d_1`, ...).
 */
export type AutoNaming = 'legacy' | 'tf2';

/** Options every builder accepts. */
export interface BuildOptions {
  /** Input shape [height, width, 3]; defaults to the backbone's native size. */
  inputShape?: [number, number, 3];
  /** Width multiplier (MobileNetV2 only). */
  alpha?: number;
  /** Auto-name style for layers Keras leaves unnamed (default 'legacy'). */
  autoNaming?: AutoNaming;
  /** Model name (defaults to the Keras model name). */
  name?: string;
}

/** Keras-style unique names per layer class ('conv2d', 'batch_normalization', 'activation', ...). */
export class KerasNamer {
  private readonly counts = new Map<string, number>();
  constructor(private readonly style: AutoNaming = 'legacy') {}

  /** Next automatic name for `base` (snake_case class name). */
  next(base: string): string {
    const n = this.counts.get(base) ?? 0;
    this.counts.set(base, n + 1);
    if (this.style === 'legacy') return `${base}_${n + 1}`;
    return n === 0 ? base : `${base}_${n}`;
  }
}

/**
 * Keras BatchNormalization over channels (last axis) with epsilon 1.001e-5, as the ResNet,
 * ResNetV2 and DenseNet application files set it (other Keras defaults: momentum 0.99).
 */
export function resnetBatchNorm(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: -1, epsilon: 1.001e-5, name });
}

/** A named `ZeroPadding2D` layer adding `pad` rows and columns on every side. */
export function zeroPad(pad: number, name: string): tf.layers.Layer {
  return tf.layers.zeroPadding2d({
    padding: [
      [pad, pad],
      [pad, pad],
    ],
    name,
  });
}

/** A named ReLU `Activation` layer. */
export function reluLayer(name: string): tf.layers.Layer {
  return tf.layers.activation({ activation: 'relu', name });
}

/**
 * {@link resnetBatchNorm} then ReLU on `x`, named `${prefix}bn` and `${prefix}relu` (the
 * pre-activation unit of ResNetV2 and DenseNet).
 */
export function bnRelu(x: SymbolicTensor, prefix: string): SymbolicTensor {
  return ap(reluLayer(`${prefix}relu`), ap(resnetBatchNorm(`${prefix}bn`), x));
}

/** Apply `layer` to one or several symbolic tensors, typed. */
export function ap(layer: tf.layers.Layer, x: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
  const out = layer.apply(x);
  if (Array.isArray(out) || !(out instanceof tf.SymbolicTensor)) {
    throw new Error(`layer ${layer.name} did not return a single symbolic tensor`);
  }
  return out;
}

/** Spatial size [h, w] of an NHWC symbolic tensor. */
export function spatial(x: SymbolicTensor): [number | null, number | null] {
  return [x.shape[1], x.shape[2]];
}

/** Channels of an NHWC symbolic tensor. */
export function channels(x: SymbolicTensor): number {
  const c = x.shape[3];
  if (c === null || c === undefined) throw new Error('channel dimension unknown');
  return c;
}

/**
 * Keras `imagenet_utils.correct_pad(inputs, kernel_size)`: zero padding ((top, bottom), (left,
 * right)) before a stride-2 'valid' convolution so it matches TF 'same' on even sizes.
 */
export function correctPad(x: SymbolicTensor, kernel: number): [[number, number], [number, number]] {
  const [h, w] = spatial(x);
  const adjust = [h === null ? 1 : 1 - (h % 2), w === null ? 1 : 1 - (w % 2)];
  const c = Math.floor(kernel / 2);
  return [
    [c - adjust[0], c],
    [c - adjust[1], c],
  ];
}

/** The model input, named 'input_1' as Keras 2 (standalone and tf.keras) names it. */
export function kerasInput(shape: [number, number, 3]): SymbolicTensor {
  return tf.input({ shape, name: 'input_1' });
}

/** Default input shape for a square native size. */
export function squareShape(opts: BuildOptions, native: number): [number, number, 3] {
  return opts.inputShape ?? [native, native, 3];
}

/** How the ResNet / DenseNet stem differs between the two families. */
export interface StemOptions {
  /** Names of the 3-pixel padding before the convolution and the 1-pixel one before the pooling. */
  readonly padNames: readonly [string, string];
  readonly poolName: string;
  readonly useBias: boolean;
  /** Applied after the convolution (DenseNet: batch norm + ReLU; ResNetV2: nothing). */
  readonly afterConv?: (x: SymbolicTensor) => SymbolicTensor;
}

/**
 * The stem that Keras' resnet.py and densenet.py share: ZeroPadding2D(3) -> Conv2D(64, 7x7,
 * stride 2) 'conv1_conv' -> `afterConv` -> ZeroPadding2D(1) -> MaxPooling2D(3x3, stride 2).
 */
export function resnetStem(input: SymbolicTensor, o: StemOptions): SymbolicTensor {
  let x = ap(zeroPad(3, o.padNames[0]), input);
  x = ap(
    tf.layers.conv2d({ filters: 64, kernelSize: 7, strides: 2, useBias: o.useBias, name: 'conv1_conv' }),
    x,
  );
  if (o.afterConv !== undefined) x = o.afterConv(x);
  x = ap(zeroPad(1, o.padNames[1]), x);
  return ap(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: o.poolName }), x);
}

/** Blocks per stage of a four-stage family (ResNetV2, DenseNet). */
export type StageBlocks = readonly [number, number, number, number];

/**
 * The builder of one variant of a four-stage family (e.g. ResNet50V2 of ResNetV2): a Keras model
 * (see {@link kerasModel}) of native side 224 named `name`, whose layers `body` builds with the
 * variant's block counts per stage and a fresh namer for the layers Keras leaves unnamed.
 */
export function familyVariant(
  body: (input: SymbolicTensor, blocks: StageBlocks, nm: KerasNamer) => SymbolicTensor,
  blocks: StageBlocks,
  name: string,
): (opts?: BuildOptions) => tf.LayersModel {
  return (opts = {}) => {
    const nm = new KerasNamer(opts.autoNaming);
    return kerasModel(opts, 224, name, (input) => body(input, blocks, nm));
  };
}

/**
 * A Keras Applications model: the input 'input_1' of shape `opts.inputShape` (default native x
 * native x 3), the output that `body` builds on it, and the name `opts.name`, else `name`.
 */
export function kerasModel(
  opts: BuildOptions,
  native: number,
  name: string,
  body: (input: SymbolicTensor) => SymbolicTensor,
): tf.LayersModel {
  const input = kerasInput(squareShape(opts, native));
  return tf.model({ inputs: input, outputs: body(input), name: opts.name ?? name });
}
