/**
 * Inception-ResNet-v2 (Szegedy et al. 2017) as Keras Applications builds it with include_top=False
 * (keras/src/applications/inception_resnet_v2.py). Unnamed convolutions / batch norms /
 * activations / poolings get Keras automatic names in creation order ('conv2d_1', ...). The scaled
 * residual `x + scale * r` is a {@link CustomScaleLayer}; with legacy naming it takes the name of
 * the Keras 2 Lambda layer it replaces ('block35_1', ...), with 'tf2' naming the Keras 3 auto-name
 * ('custom_scale_layer', ...). It has no weights either way.
 */
import * as tf from '@tensorflow/tfjs';
import { CustomScaleLayer } from '../layers/keras-layers.js';
import type { BuildOptions, SymbolicTensor } from './common.js';
import { ap, channels, KerasNamer, kerasModel } from './common.js';

/** Options of one convolution + batch norm + activation unit (Keras `conv2d_bn`). */
interface ConvBnOptions {
  strides?: number;
  padding?: 'same' | 'valid';
  activation?: 'relu' | null;
  useBias?: boolean;
  name?: string;
}

/** One unit of a {@link IrnLayers.tower}: filters, kernel size and the unit's options. */
type TowerStep = [filters: number, kernel: number | [number, number], options?: ConvBnOptions];

const VALID: ConvBnOptions = { padding: 'valid' };
const VALID_STRIDE_2: ConvBnOptions = { strides: 2, padding: 'valid' };

/** The layer builders of Inception-ResNet-v2, naming layers in Keras' creation order. */
class IrnLayers {
  constructor(
    private readonly nm: KerasNamer,
    private readonly style: NonNullable<BuildOptions['autoNaming']>,
  ) {}

  /** Keras `conv2d_bn`: convolution, batch norm without scale (unless a bias is used), ReLU. */
  cbn(
    x: SymbolicTensor,
    filters: number,
    kernel: number | [number, number],
    o: ConvBnOptions = {},
  ): SymbolicTensor {
    const useBias = o.useBias ?? false;
    const name = o.name;
    x = ap(
      tf.layers.conv2d({
        filters,
        kernelSize: kernel,
        strides: o.strides ?? 1,
        padding: o.padding ?? 'same',
        useBias,
        name: name ?? this.nm.next('conv2d'),
      }),
      x,
    );
    if (!useBias) {
      x = ap(
        tf.layers.batchNormalization({
          axis: -1,
          scale: false,
          name: name ? `${name}_bn` : this.nm.next('batch_normalization'),
        }),
        x,
      );
    }
    const activation = o.activation === undefined ? 'relu' : o.activation;
    if (activation !== null) {
      x = ap(tf.layers.activation({ activation, name: name ? `${name}_ac` : this.nm.next('activation') }), x);
    }
    return x;
  }

  maxPool(x: SymbolicTensor): SymbolicTensor {
    return ap(
      tf.layers.maxPooling2d({
        poolSize: 3,
        strides: 2,
        padding: 'valid',
        name: this.nm.next('max_pooling2d'),
      }),
      x,
    );
  }

  concat(xs: SymbolicTensor[], name: string): SymbolicTensor {
    return ap(tf.layers.concatenate({ axis: -1, name }), xs);
  }

  /** A tower of {@link cbn} units on `x`, one per [filters, kernel, options] step, built in order. */
  tower(x: SymbolicTensor, ...steps: TowerStep[]): SymbolicTensor {
    return steps.reduce((y, [filters, kernel, o]) => this.cbn(y, filters, kernel, o), x);
  }

  /** The branches of an Inception-ResNet block of the given type. */
  private branches(x: SymbolicTensor, type: 'block35' | 'block17' | 'block8'): SymbolicTensor[] {
    if (type === 'block35') {
      const b0 = this.cbn(x, 32, 1);
      const b1 = this.tower(x, [32, 1], [32, 3]);
      const b2 = this.tower(x, [32, 1], [48, 3], [64, 3]);
      return [b0, b1, b2];
    }
    if (type === 'block17') {
      const b0 = this.cbn(x, 192, 1);
      const b1 = this.tower(x, [128, 1], [160, [1, 7]], [192, [7, 1]]);
      return [b0, b1];
    }
    const b0 = this.cbn(x, 192, 1);
    const b1 = this.tower(x, [192, 1], [224, [1, 3]], [256, [3, 1]]);
    return [b0, b1];
  }

  /** Keras `inception_resnet_block`: branches, 1x1 up-projection, scaled residual, activation. */
  block(
    x: SymbolicTensor,
    scale: number,
    type: 'block35' | 'block17' | 'block8',
    idx: number,
    activation: 'relu' | null = 'relu',
  ): SymbolicTensor {
    const blockName = `${type}_${idx}`;
    const mixed = this.concat(this.branches(x, type), `${blockName}_mixed`);
    const up = this.cbn(mixed, channels(x), 1, {
      activation: null,
      useBias: true,
      name: `${blockName}_conv`,
    });
    const scaleName = this.style === 'legacy' ? blockName : this.nm.next('custom_scale_layer');
    let y = ap(new CustomScaleLayer({ scale, name: scaleName }), [x, up]);
    if (activation !== null) y = ap(tf.layers.activation({ activation, name: `${blockName}_ac` }), y);
    return y;
  }

  stem(input: SymbolicTensor): SymbolicTensor {
    let x = this.tower(input, [32, 3, VALID_STRIDE_2], [32, 3, VALID], [64, 3]);
    x = this.maxPool(x);
    x = this.tower(x, [80, 1, VALID], [192, 3, VALID]);
    return this.maxPool(x);
  }

  /** Mixed 5b (Inception-A). */
  mixed5b(x: SymbolicTensor): SymbolicTensor {
    const b0 = this.cbn(x, 96, 1);
    const b1 = this.tower(x, [48, 1], [64, 5]);
    const b2 = this.tower(x, [64, 1], [96, 3], [96, 3]);
    let bp = ap(
      tf.layers.averagePooling2d({
        poolSize: 3,
        strides: 1,
        padding: 'same',
        name: this.nm.next('average_pooling2d'),
      }),
      x,
    );
    bp = this.cbn(bp, 64, 1);
    return this.concat([b0, b1, b2, bp], 'mixed_5b');
  }

  /** Mixed 6a (Reduction-A). */
  mixed6a(x: SymbolicTensor): SymbolicTensor {
    const b0 = this.cbn(x, 384, 3, VALID_STRIDE_2);
    const b1 = this.tower(x, [256, 1], [256, 3], [384, 3, VALID_STRIDE_2]);
    const bp = this.maxPool(x);
    return this.concat([b0, b1, bp], 'mixed_6a');
  }

  /** Mixed 7a (Reduction-B). */
  mixed7a(x: SymbolicTensor): SymbolicTensor {
    const b0 = this.tower(x, [256, 1], [384, 3, VALID_STRIDE_2]);
    const b1 = this.tower(x, [256, 1], [288, 3, VALID_STRIDE_2]);
    const b2 = this.tower(x, [256, 1], [288, 3], [320, 3, VALID_STRIDE_2]);
    const bp = this.maxPool(x);
    return this.concat([b0, b1, b2, bp], 'mixed_7a');
  }
}

/** Keras `InceptionResNetV2(include_top=False)`; output 'conv_7b_ac' (1536 channels). */
export function buildInceptionResNetV2(opts: BuildOptions = {}): tf.LayersModel {
  const style = opts.autoNaming ?? 'legacy';
  const b = new IrnLayers(new KerasNamer(style), style);
  return kerasModel(opts, 299, 'inception_resnet_v2', (input) => {
    let x = b.mixed5b(b.stem(input));
    for (let i = 1; i <= 10; i++) x = b.block(x, 0.17, 'block35', i);
    x = b.mixed6a(x);
    for (let i = 1; i <= 20; i++) x = b.block(x, 0.1, 'block17', i);
    x = b.mixed7a(x);
    for (let i = 1; i <= 9; i++) x = b.block(x, 0.2, 'block8', i);
    x = b.block(x, 1.0, 'block8', 10, null);
    x = b.cbn(x, 1536, 1, { name: 'conv_7b' });
    return x;
  });
}
