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

/** A named ReLU `Activation` layer. */
export function reluLayer(name: string): tf.layers.Layer {
  return tf.layers.activation({ activation: 'relu', name });
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
