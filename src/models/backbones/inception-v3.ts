/**
 * Inception-v3 (Szegedy et al. 2016) as Keras Applications builds it with include_top=False
 * (keras/src/applications/inception_v3.py). Keras leaves most layers unnamed: they get automatic
 * names in creation order ('conv2d_1', 'batch_normalization_1', 'activation_1', 'max_pooling2d_1',
 * 'average_pooling2d_1', 'concatenate_1' with the default legacy naming, as in the published .h5
 * files and the nsfwjs model); only the block outputs are named ('mixed0'..'mixed10', 'mixed9_0',
 * 'mixed9_1'). Batch norms have no gamma (scale=False).
 */
import * as tf from '@tensorflow/tfjs';
import type { BuildOptions, SymbolicTensor } from './common.js';
import { ap, KerasNamer, kerasModel } from './common.js';

/**
 * The layer units of Inception-v3, auto-named by `nm` in creation order: convolution + batch norm
 * (no gamma) + ReLU, 3x3 max / average pooling, channel concatenation.
 */
function inceptionOps(nm: KerasNamer) {
  const cbn = (
    x: SymbolicTensor,
    filters: number,
    rows: number,
    cols: number,
    padding: 'same' | 'valid' = 'same',
    strides = 1,
  ): SymbolicTensor => {
    x = ap(
      tf.layers.conv2d({
        filters,
        kernelSize: [rows, cols],
        strides,
        padding,
        useBias: false,
        name: nm.next('conv2d'),
      }),
      x,
    );
    x = ap(tf.layers.batchNormalization({ axis: -1, scale: false, name: nm.next('batch_normalization') }), x);
    return ap(tf.layers.activation({ activation: 'relu', name: nm.next('activation') }), x);
  };
  const maxPool = (x: SymbolicTensor): SymbolicTensor =>
    ap(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: nm.next('max_pooling2d') }), x);
  const avgPool = (x: SymbolicTensor): SymbolicTensor =>
    ap(
      tf.layers.averagePooling2d({
        poolSize: 3,
        strides: 1,
        padding: 'same',
        name: nm.next('average_pooling2d'),
      }),
      x,
    );
  const concat = (xs: SymbolicTensor[], name?: string): SymbolicTensor =>
    ap(tf.layers.concatenate({ axis: -1, name: name ?? nm.next('concatenate') }), xs);
  return { cbn, maxPool, avgPool, concat };
}

/** Keras `InceptionV3(include_top=False)`; output 'mixed10' (2048 channels). */
export function buildInceptionV3(opts: BuildOptions = {}): tf.LayersModel {
  const { cbn, maxPool, avgPool, concat } = inceptionOps(new KerasNamer(opts.autoNaming));
  return kerasModel(opts, 299, 'inception_v3', (input) => {
    let x = cbn(input, 32, 3, 3, 'valid', 2);
    x = cbn(x, 32, 3, 3, 'valid');
    x = cbn(x, 64, 3, 3);
    x = maxPool(x);
    x = cbn(x, 80, 1, 1, 'valid');
    x = cbn(x, 192, 3, 3, 'valid');
    x = maxPool(x);

    // mixed0..mixed2: 35x35x256/288.
    for (const [i, poolFilters] of [32, 64, 64].entries()) {
      const b1 = cbn(x, 64, 1, 1);
      let b5 = cbn(x, 48, 1, 1);
      b5 = cbn(b5, 64, 5, 5);
      let b3 = cbn(x, 64, 1, 1);
      b3 = cbn(b3, 96, 3, 3);
      b3 = cbn(b3, 96, 3, 3);
      let bp = avgPool(x);
      bp = cbn(bp, poolFilters, 1, 1);
      x = concat([b1, b5, b3, bp], `mixed${i}`);
    }

    // mixed3: 17x17x768.
    {
      const b3 = cbn(x, 384, 3, 3, 'valid', 2);
      let bd = cbn(x, 64, 1, 1);
      bd = cbn(bd, 96, 3, 3);
      bd = cbn(bd, 96, 3, 3, 'valid', 2);
      const bp = maxPool(x);
      x = concat([b3, bd, bp], 'mixed3');
    }

    // mixed4..mixed7: 17x17x768.
    for (const [i, f] of [128, 160, 160, 192].entries()) {
      const b1 = cbn(x, 192, 1, 1);
      let b7 = cbn(x, f, 1, 1);
      b7 = cbn(b7, f, 1, 7);
      b7 = cbn(b7, 192, 7, 1);
      let bd = cbn(x, f, 1, 1);
      bd = cbn(bd, f, 7, 1);
      bd = cbn(bd, f, 1, 7);
      bd = cbn(bd, f, 7, 1);
      bd = cbn(bd, 192, 1, 7);
      let bp = avgPool(x);
      bp = cbn(bp, 192, 1, 1);
      x = concat([b1, b7, bd, bp], `mixed${4 + i}`);
    }

    // mixed8: 8x8x1280.
    {
      let b3 = cbn(x, 192, 1, 1);
      b3 = cbn(b3, 320, 3, 3, 'valid', 2);
      let b7 = cbn(x, 192, 1, 1);
      b7 = cbn(b7, 192, 1, 7);
      b7 = cbn(b7, 192, 7, 1);
      b7 = cbn(b7, 192, 3, 3, 'valid', 2);
      const bp = maxPool(x);
      x = concat([b3, b7, bp], 'mixed8');
    }

    // mixed9, mixed10: 8x8x2048.
    for (let i = 0; i < 2; i++) {
      const b1 = cbn(x, 320, 1, 1);
      let b3 = cbn(x, 384, 1, 1);
      const b3a = cbn(b3, 384, 1, 3);
      const b3b = cbn(b3, 384, 3, 1);
      b3 = concat([b3a, b3b], `mixed9_${i}`);
      let bd = cbn(x, 448, 1, 1);
      bd = cbn(bd, 384, 3, 3);
      const bda = cbn(bd, 384, 1, 3);
      const bdb = cbn(bd, 384, 3, 1);
      bd = concat([bda, bdb]);
      let bp = avgPool(x);
      bp = cbn(bp, 192, 1, 1);
      x = concat([b1, b3, bd, bp], `mixed${9 + i}`);
    }
    return x;
  });
}
