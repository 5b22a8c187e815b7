/**
 * Keras layers that TensorFlow.js lacks (or supports only partly), written once with serialisation
 * so that any model containing them saves and loads (`tf.serialization.registerClass`).
 *
 * - `Normalization`: Keras' `layers.Normalization(axis=-1)` as used in the EfficientNet stem. Its
 *   weights are `mean`, `variance` and `count` (all non-trainable), exactly as Keras stores them, so
 *   Keras counts 2*C+1 parameters for it; output = (x - mean) / max(sqrt(variance), eps).
 * - `Rescaling`: Keras' `layers.Rescaling(scale, offset)` with a scalar OR per-channel `scale`
 *   (EfficientNet divides by the ImageNet standard deviation per channel, which tfjs' own scalar
 *   Rescaling cannot express). Registered under the Keras class name, it supersedes tfjs' class.
 * - `CustomScaleLayer`: the scaled residual `x + r * scale` of Inception-ResNet-v2 (Keras 3 class
 *   name; Keras 2 wrote it as a Lambda layer, which cannot be serialised portably).
 *
 * Swish needs no layer: tfjs already has the 'swish' activation (x * sigmoid(x)) for
 * `Activation('swish')` and for `Conv2D(activation='swish')`; ZeroPadding2D, DepthwiseConv2D,
 * SeparableConv2D, ReLU(maxValue), Multiply and Reshape exist in tfjs too.
 */
import * as tf from '@tensorflow/tfjs';

type Shape = (number | null)[];
type Kwargs = Record<string, unknown>;

function oneTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) throw new Error(`expected exactly one input tensor, got ${inputs.length}`);
    return inputs[0];
  }
  return inputs;
}

function oneShape(inputShape: Shape | Shape[]): Shape {
  return Array.isArray(inputShape[0]) ? (inputShape as Shape[])[0] : (inputShape as Shape);
}

/** Arguments of {@link Normalization}. */
export interface NormalizationArgs {
  name?: string;
  trainable?: boolean;
  /** Only the last (channel) axis is supported, as used by Keras Applications. */
  axis?: number;
  /** Optional fixed statistics (otherwise the weights start at mean 0, variance 1). */
  mean?: number[] | null;
  variance?: number[] | null;
}

/** Keras `Normalization(axis=-1)`: (x - mean) / sqrt(variance), with Keras-shaped weights. */
export class Normalization extends tf.layers.Layer {
  static className = 'Normalization';
  private readonly axis: number;
  private readonly initMean: number[] | null;
  private readonly initVariance: number[] | null;
  private meanW: tf.LayerVariable | null = null;
  private varianceW: tf.LayerVariable | null = null;

  constructor(args: NormalizationArgs = {}) {
    super({ name: args.name, trainable: args.trainable });
    this.axis = args.axis ?? -1;
    if (this.axis !== -1 && this.axis !== 3) {
      throw new Error(`Normalization: only the channel axis (-1) is supported, got ${this.axis}`);
    }
    this.initMean = args.mean ?? null;
    this.initVariance = args.variance ?? null;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = oneShape(inputShape);
    const c = shape[shape.length - 1];
    if (c === null) throw new Error('Normalization: the channel dimension must be known');
    const mean = this.initMean;
    const variance = this.initVariance;
    this.meanW = this.addWeight('mean', [c], 'float32', tf.initializers.zeros(), undefined, false);
    this.varianceW = this.addWeight('variance', [c], 'float32', tf.initializers.ones(), undefined, false);
    // Keras keeps the number of samples seen as a scalar weight (int64 in Keras; float32 here).
    this.addWeight('count', [], 'float32', tf.initializers.zeros(), undefined, false);
    if (mean !== null) this.meanW.write(tf.tensor1d(mean));
    if (variance !== null) this.varianceW.write(tf.tensor1d(variance));
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs);
      if (this.meanW === null || this.varianceW === null) throw new Error('Normalization: not built');
      const sd = tf.maximum(tf.sqrt(this.varianceW.read()), tf.scalar(1e-7));
      return tf.div(tf.sub(x, this.meanW.read()), sd);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis, mean: this.initMean, variance: this.initVariance };
  }
}

/** Arguments of {@link Rescaling}. */
export interface RescalingArgs {
  name?: string;
  trainable?: boolean;
  /** Scalar or per-channel multiplier. */
  scale: number | number[];
  offset?: number | number[];
}

/** Keras `Rescaling`: x * scale + offset, scale/offset scalar or per channel. */
export class Rescaling extends tf.layers.Layer {
  static className = 'Rescaling';
  readonly scale: number | number[];
  readonly offset: number | number[];

  constructor(args: RescalingArgs) {
    super({ name: args.name, trainable: args.trainable });
    this.scale = args.scale;
    this.offset = args.offset ?? 0;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      let x = oneTensor(inputs);
      if (x.dtype !== 'float32') x = tf.cast(x, 'float32');
      return tf.add(tf.mul(x, this.scale), this.offset);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale, offset: this.offset };
  }
}

/** Arguments of {@link CustomScaleLayer}. */
export interface CustomScaleArgs {
  name?: string;
  trainable?: boolean;
  scale: number;
}

/** Inception-ResNet-v2 scaled residual: inputs [x, r] -> x + r * scale (Szegedy et al. 2017). */
export class CustomScaleLayer extends tf.layers.Layer {
  static className = 'CustomScaleLayer';
  readonly scale: number;

  constructor(args: CustomScaleArgs) {
    super({ name: args.name, trainable: args.trainable });
    this.scale = args.scale;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new Error('CustomScaleLayer expects two inputs [x, residual]');
    }
    const [x, r] = inputs;
    return tf.tidy(() => tf.add(x, tf.mul(r, this.scale)));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale };
  }
}

tf.serialization.registerClass(Normalization);
tf.serialization.registerClass(Rescaling);
tf.serialization.registerClass(CustomScaleLayer);
