/**
 * Xception (Chollet 2017) as Keras Applications builds it with include_top=False
 * (keras/src/applications/xception.py). The residual 1x1 convolutions, their batch norms and the
 * residual additions are unnamed in Keras and get automatic names ('conv2d_1', 'batch_normalization_1',
 * 'add_1', ...) in Keras' creation order, reproduced here.
 */
import * as tf from '@tensorflow/tfjs';
import type { BuildOptions, SymbolicTensor } from './common.js';
import { ap, KerasNamer, kerasModel, reluLayer } from './common.js';

/** Keras `Xception(include_top=False)`; output 'block14_sepconv2_act' (2048 channels). */
export function buildXception(opts: BuildOptions = {}): tf.LayersModel {
  const nm = new KerasNamer(opts.autoNaming);
  return kerasModel(opts, 299, 'xception', (input) => {
    const bn = (name?: string): tf.layers.Layer =>
      tf.layers.batchNormalization({ axis: -1, name: name ?? nm.next('batch_normalization') });
    const act = reluLayer;
    const sep = (filters: number, name: string): tf.layers.Layer =>
      tf.layers.separableConv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, name });
    const residualConv = (x: SymbolicTensor, filters: number): SymbolicTensor => {
      const r = ap(
        tf.layers.conv2d({
          filters,
          kernelSize: 1,
          strides: 2,
          padding: 'same',
          useBias: false,
          name: nm.next('conv2d'),
        }),
        x,
      );
      return ap(bn(), r);
    };
    const pool = (name: string): tf.layers.Layer =>
      tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name });
    const add = (): tf.layers.Layer => tf.layers.add({ name: nm.next('add') });
    /**
     * Block `b` of the entry flow (2-4) or the exit flow (13): ReLU (not in block 2), separable
     * convolution to f1, batch norm, ReLU, separable convolution to f2, batch norm, max pooling,
     * plus the strided 1x1 convolution of the block's input.
     */
    const downBlock = (x: SymbolicTensor, b: number, f1: number, f2: number): SymbolicTensor => {
      const residual = residualConv(x, f2);
      if (b !== 2) x = ap(act(`block${b}_sepconv1_act`), x);
      x = ap(sep(f1, `block${b}_sepconv1`), x);
      x = ap(bn(`block${b}_sepconv1_bn`), x);
      x = ap(act(`block${b}_sepconv2_act`), x);
      x = ap(sep(f2, `block${b}_sepconv2`), x);
      x = ap(bn(`block${b}_sepconv2_bn`), x);
      x = ap(pool(`block${b}_pool`), x);
      return ap(add(), [x, residual]);
    };

    let x = ap(
      tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, useBias: false, name: 'block1_conv1' }),
      input,
    );
    x = ap(bn('block1_conv1_bn'), x);
    x = ap(act('block1_conv1_act'), x);
    x = ap(tf.layers.conv2d({ filters: 64, kernelSize: 3, useBias: false, name: 'block1_conv2' }), x);
    x = ap(bn('block1_conv2_bn'), x);
    x = ap(act('block1_conv2_act'), x);

    // Entry flow blocks 2-4 (block 2 has no leading ReLU).
    const entry: [number, number][] = [
      [2, 128],
      [3, 256],
      [4, 728],
    ];
    for (const [b, f] of entry) x = downBlock(x, b, f, f);

    // Middle flow: blocks 5-12.
    for (let i = 0; i < 8; i++) {
      const residual = x;
      const p = `block${i + 5}`;
      for (let j = 1; j <= 3; j++) {
        x = ap(act(`${p}_sepconv${j}_act`), x);
        x = ap(sep(728, `${p}_sepconv${j}`), x);
        x = ap(bn(`${p}_sepconv${j}_bn`), x);
      }
      x = ap(add(), [x, residual]);
    }

    // Exit flow.
    x = downBlock(x, 13, 728, 1024);

    x = ap(sep(1536, 'block14_sepconv1'), x);
    x = ap(bn('block14_sepconv1_bn'), x);
    x = ap(act('block14_sepconv1_act'), x);
    x = ap(sep(2048, 'block14_sepconv2'), x);
    x = ap(bn('block14_sepconv2_bn'), x);
    x = ap(act('block14_sepconv2_act'), x);
    return x;
  });
}
