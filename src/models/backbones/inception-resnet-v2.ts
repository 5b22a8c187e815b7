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
import {
  ap,
  channels,
  KerasNamer,
  kerasInput,
  squareShape,
  type BuildOptions,
  type SymbolicTensor,
} from './common.js';

/** Keras `InceptionResNetV2(include_top=False)`; output 'conv_7b_ac' (1536 channels). */
export function buildInceptionResNetV2(opts: BuildOptions = {}): tf.LayersModel {
  const style = opts.autoNaming ?? 'legacy';
  const nm = new KerasNamer(style);
  const input = kerasInput(squareShape(opts, 299));

  const cbn = (
    x: SymbolicTensor,
    filters: number,
    kernel: number | [number, number],
    o: {
      strides?: number;
      padding?: 'same' | 'valid';
      activation?: 'relu' | null;
      useBias?: boolean;
      name?: string;
    } = {},
  ): SymbolicTensor => {
    const useBias = o.useBias ?? false;
    const name = o.name;
    x = ap(
      tf.layers.conv2d({
        filters,
        kernelSize: kernel,
        strides: o.strides ?? 1,
        padding: o.padding ?? 'same',
        useBias,
        name: name ?? nm.next('conv2d'),
      }),
      x,
    );
    if (!useBias) {
      x = ap(
        tf.layers.batchNormalization({
          axis: -1,
          scale: false,
          name: name ? `${name}_bn` : nm.next('batch_normalization'),
        }),
        x,
      );
    }
    const activation = o.activation === undefined ? 'relu' : o.activation;
    if (activation !== null) {
      x = ap(tf.layers.activation({ activation, name: name ? `${name}_ac` : nm.next('activation') }), x);
    }
    return x;
  };
  const maxPool = (x: SymbolicTensor): SymbolicTensor =>
    ap(
      tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid', name: nm.next('max_pooling2d') }),
      x,
    );
  const concat = (xs: SymbolicTensor[], name: string): SymbolicTensor =>
    ap(tf.layers.concatenate({ axis: -1, name }), xs);

  const block = (
    x: SymbolicTensor,
    scale: number,
    type: 'block35' | 'block17' | 'block8',
    idx: number,
    activation: 'relu' | null = 'relu',
  ): SymbolicTensor => {
    let branches: SymbolicTensor[];
    if (type === 'block35') {
      const b0 = cbn(x, 32, 1);
      let b1 = cbn(x, 32, 1);
      b1 = cbn(b1, 32, 3);
      let b2 = cbn(x, 32, 1);
      b2 = cbn(b2, 48, 3);
      b2 = cbn(b2, 64, 3);
      branches = [b0, b1, b2];
    } else if (type === 'block17') {
      const b0 = cbn(x, 192, 1);
      let b1 = cbn(x, 128, 1);
      b1 = cbn(b1, 160, [1, 7]);
      b1 = cbn(b1, 192, [7, 1]);
      branches = [b0, b1];
    } else {
      const b0 = cbn(x, 192, 1);
      let b1 = cbn(x, 192, 1);
      b1 = cbn(b1, 224, [1, 3]);
      b1 = cbn(b1, 256, [3, 1]);
      branches = [b0, b1];
    }
    const blockName = `${type}_${idx}`;
    const mixed = concat(branches, `${blockName}_mixed`);
    const up = cbn(mixed, channels(x), 1, { activation: null, useBias: true, name: `${blockName}_conv` });
    const scaleName = style === 'legacy' ? blockName : nm.next('custom_scale_layer');
    let y = ap(new CustomScaleLayer({ scale, name: scaleName }), [x, up]);
    if (activation !== null) y = ap(tf.layers.activation({ activation, name: `${blockName}_ac` }), y);
    return y;
  };

  // Stem.
  let x = cbn(input, 32, 3, { strides: 2, padding: 'valid' });
  x = cbn(x, 32, 3, { padding: 'valid' });
  x = cbn(x, 64, 3);
  x = maxPool(x);
  x = cbn(x, 80, 1, { padding: 'valid' });
  x = cbn(x, 192, 3, { padding: 'valid' });
  x = maxPool(x);

  // Mixed 5b (Inception-A).
  {
    const b0 = cbn(x, 96, 1);
    let b1 = cbn(x, 48, 1);
    b1 = cbn(b1, 64, 5);
    let b2 = cbn(x, 64, 1);
    b2 = cbn(b2, 96, 3);
    b2 = cbn(b2, 96, 3);
    let bp = ap(
      tf.layers.averagePooling2d({
        poolSize: 3,
        strides: 1,
        padding: 'same',
        name: nm.next('average_pooling2d'),
      }),
      x,
    );
    bp = cbn(bp, 64, 1);
    x = concat([b0, b1, b2, bp], 'mixed_5b');
  }
  for (let i = 1; i <= 10; i++) x = block(x, 0.17, 'block35', i);

  // Mixed 6a (Reduction-A).
  {
    const b0 = cbn(x, 384, 3, { strides: 2, padding: 'valid' });
    let b1 = cbn(x, 256, 1);
    b1 = cbn(b1, 256, 3);
    b1 = cbn(b1, 384, 3, { strides: 2, padding: 'valid' });
    const bp = maxPool(x);
    x = concat([b0, b1, bp], 'mixed_6a');
  }
  for (let i = 1; i <= 20; i++) x = block(x, 0.1, 'block17', i);

  // Mixed 7a (Reduction-B).
  {
    let b0 = cbn(x, 256, 1);
    b0 = cbn(b0, 384, 3, { strides: 2, padding: 'valid' });
    let b1 = cbn(x, 256, 1);
    b1 = cbn(b1, 288, 3, { strides: 2, padding: 'valid' });
    let b2 = cbn(x, 256, 1);
    b2 = cbn(b2, 288, 3);
    b2 = cbn(b2, 320, 3, { strides: 2, padding: 'valid' });
    const bp = maxPool(x);
    x = concat([b0, b1, b2, bp], 'mixed_7a');
  }
  for (let i = 1; i <= 9; i++) x = block(x, 0.2, 'block8', i);
  x = block(x, 1.0, 'block8', 10, null);
  x = cbn(x, 1536, 1, { name: 'conv_7b' });
  return tf.model({ inputs: input, outputs: x, name: opts.name ?? 'inception_resnet_v2' });
}
