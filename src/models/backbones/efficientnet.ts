/**
 * EfficientNet-B0/B4/B7 (Tan & Le 2019) as Keras Applications builds them with include_top=False
 * (keras/src/applications/efficientnet.py): input stem Rescaling(1/255) -> Normalization ->
 * Rescaling(1/sqrt(ImageNet SD)) (the last one only with ImageNet weights in Keras; on by default
 * here), then 'stem_conv_pad', 'stem_conv', MBConv blocks 'block1a_' ... with squeeze-excitation and
 * (weightless) stochastic-depth Dropout layers '{block}drop', and 'top_conv' / 'top_bn' /
 * 'top_activation'. Swish is tfjs' built-in 'swish' activation. The EfficientNet .h5 files were
 * saved by tf.keras 2.x, so automatic names default to the 'tf2' style ('rescaling',
 * 'normalization', 'rescaling_1').
 */
import * as tf from '@tensorflow/tfjs';
import { Normalization, Rescaling } from '../layers/keras-layers.js';
import type { BuildOptions, SymbolicTensor } from './common.js';
import { ap, correctPad, KerasNamer, kerasModel } from './common.js';

/** ImageNet per-channel standard deviation (RGB), as in Keras efficientnet.py. */
export const IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225] as const;

interface BlockArgs {
  kernelSize: number;
  repeats: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  idSkip: boolean;
  strides: number;
  seRatio: number;
}

/** Keras DEFAULT_BLOCKS_ARGS (B0 stages). */
const DEFAULT_BLOCKS_ARGS: readonly BlockArgs[] = [
  {
    kernelSize: 3,
    repeats: 1,
    filtersIn: 32,
    filtersOut: 16,
    expandRatio: 1,
    idSkip: true,
    strides: 1,
    seRatio: 0.25,
  },
  {
    kernelSize: 3,
    repeats: 2,
    filtersIn: 16,
    filtersOut: 24,
    expandRatio: 6,
    idSkip: true,
    strides: 2,
    seRatio: 0.25,
  },
  {
    kernelSize: 5,
    repeats: 2,
    filtersIn: 24,
    filtersOut: 40,
    expandRatio: 6,
    idSkip: true,
    strides: 2,
    seRatio: 0.25,
  },
  {
    kernelSize: 3,
    repeats: 3,
    filtersIn: 40,
    filtersOut: 80,
    expandRatio: 6,
    idSkip: true,
    strides: 2,
    seRatio: 0.25,
  },
  {
    kernelSize: 5,
    repeats: 3,
    filtersIn: 80,
    filtersOut: 112,
    expandRatio: 6,
    idSkip: true,
    strides: 1,
    seRatio: 0.25,
  },
  {
    kernelSize: 5,
    repeats: 4,
    filtersIn: 112,
    filtersOut: 192,
    expandRatio: 6,
    idSkip: true,
    strides: 2,
    seRatio: 0.25,
  },
  {
    kernelSize: 3,
    repeats: 1,
    filtersIn: 192,
    filtersOut: 320,
    expandRatio: 6,
    idSkip: true,
    strides: 1,
    seRatio: 0.25,
  },
];

/** EfficientNet options: the common ones plus the ImageNet SD rescaling switch. */
export interface EfficientNetOptions extends BuildOptions {
  /** Add Keras' Rescaling(1/sqrt(SD)) after Normalization (Keras does with weights='imagenet'). Default true. */
  imagenetStdRescaling?: boolean;
}

/**
 * Conv2D without bias (default 'same', stride 1) -> BatchNormalization -> swish, named
 * `${prefix}conv`, `${prefix}bn` and `${prefix}activation` (the stem, expansion and top units).
 */
function convBnSwish(
  x: SymbolicTensor,
  prefix: string,
  filters: number,
  kernelSize: number,
  o: { strides?: number; padding?: 'same' | 'valid' } = {},
): SymbolicTensor {
  const conv = tf.layers.conv2d({
    filters,
    kernelSize,
    ...(o.strides !== undefined ? { strides: o.strides } : {}),
    padding: o.padding ?? 'same',
    useBias: false,
    name: `${prefix}conv`,
  });
  x = ap(conv, x);
  x = ap(tf.layers.batchNormalization({ axis: -1, name: `${prefix}bn` }), x);
  return ap(tf.layers.activation({ activation: 'swish', name: `${prefix}activation` }), x);
}

function block(
  inputs: SymbolicTensor,
  dropRate: number,
  name: string,
  a: Omit<BlockArgs, 'repeats'>,
): SymbolicTensor {
  const act = 'swish';
  const filters = a.filtersIn * a.expandRatio;
  let x = inputs;
  if (a.expandRatio !== 1) {
    x = convBnSwish(x, `${name}expand_`, filters, 1);
  }
  let pad: 'same' | 'valid' = 'same';
  if (a.strides === 2) {
    x = ap(tf.layers.zeroPadding2d({ padding: correctPad(x, a.kernelSize), name: `${name}dwconv_pad` }), x);
    pad = 'valid';
  }
  x = ap(
    tf.layers.depthwiseConv2d({
      kernelSize: a.kernelSize,
      strides: a.strides,
      padding: pad,
      useBias: false,
      name: `${name}dwconv`,
    }),
    x,
  );
  x = ap(tf.layers.batchNormalization({ axis: -1, name: `${name}bn` }), x);
  x = ap(tf.layers.activation({ activation: act, name: `${name}activation` }), x);
  if (a.seRatio > 0 && a.seRatio <= 1) {
    const filtersSe = Math.max(1, Math.trunc(a.filtersIn * a.seRatio));
    let se = ap(tf.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }), x);
    se = ap(tf.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }), se);
    se = ap(
      tf.layers.conv2d({
        filters: filtersSe,
        kernelSize: 1,
        padding: 'same',
        activation: act,
        name: `${name}se_reduce`,
      }),
      se,
    );
    se = ap(
      tf.layers.conv2d({
        filters,
        kernelSize: 1,
        padding: 'same',
        activation: 'sigmoid',
        name: `${name}se_expand`,
      }),
      se,
    );
    x = ap(tf.layers.multiply({ name: `${name}se_excite` }), [x, se]);
  }
  x = ap(
    tf.layers.conv2d({
      filters: a.filtersOut,
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      name: `${name}project_conv`,
    }),
    x,
  );
  x = ap(tf.layers.batchNormalization({ axis: -1, name: `${name}project_bn` }), x);
  if (a.idSkip && a.strides === 1 && a.filtersIn === a.filtersOut) {
    if (dropRate > 0) {
      // Keras: Dropout(drop_rate, noise_shape=(None, 1, 1, 1)); inactive at inference, no weights.
      x = ap(
        tf.layers.dropout({
          rate: dropRate,
          noiseShape: [null, 1, 1, 1] as unknown as number[],
          name: `${name}drop`,
        }),
        x,
      );
    }
    x = ap(tf.layers.add({ name: `${name}add` }), [x, inputs]);
  }
  return x;
}

function buildEfficientNet(
  width: number,
  depth: number,
  native: number,
  name: string,
  opts: EfficientNetOptions,
): tf.LayersModel {
  const nm = new KerasNamer(opts.autoNaming ?? 'tf2');
  const divisor = 8;
  const dropConnectRate = 0.2;
  const roundFilters = (f: number): number => {
    const filters = f * width;
    let n = Math.max(divisor, Math.floor(Math.trunc(filters + divisor / 2) / divisor) * divisor);
    if (n < 0.9 * filters) n += divisor;
    return Math.trunc(n);
  };
  const roundRepeats = (r: number): number => Math.ceil(depth * r);

  return kerasModel(opts, native, name, (input) => {
    let x = ap(new Rescaling({ scale: 1 / 255, name: nm.next('rescaling') }), input);
    x = ap(new Normalization({ axis: -1, name: nm.next('normalization') }), x);
    if (opts.imagenetStdRescaling ?? true) {
      x = ap(
        new Rescaling({
          scale: IMAGENET_STDDEV_RGB.map((s) => 1 / Math.sqrt(s)),
          name: nm.next('rescaling'),
        }),
        x,
      );
    }
    x = ap(tf.layers.zeroPadding2d({ padding: correctPad(x, 3), name: 'stem_conv_pad' }), x);
    x = convBnSwish(x, 'stem_', roundFilters(32), 3, { strides: 2, padding: 'valid' });

    const total = DEFAULT_BLOCKS_ARGS.reduce((s, a) => s + roundRepeats(a.repeats), 0);
    let b = 0;
    DEFAULT_BLOCKS_ARGS.forEach((args, i) => {
      const a = {
        ...args,
        filtersIn: roundFilters(args.filtersIn),
        filtersOut: roundFilters(args.filtersOut),
      };
      const reps = roundRepeats(args.repeats);
      for (let j = 0; j < reps; j++) {
        if (j > 0) {
          a.strides = 1;
          a.filtersIn = a.filtersOut;
        }
        x = block(x, (dropConnectRate * b) / total, `block${i + 1}${String.fromCharCode(j + 97)}_`, a);
        b += 1;
      }
    });
    x = convBnSwish(x, 'top_', roundFilters(1280), 1);
    return x;
  });
}

/** Keras `EfficientNetB0(include_top=False)`: width 1.0, depth 1.0, 224 px; output 'top_activation' (1280). */
export function buildEfficientNetB0(opts: EfficientNetOptions = {}): tf.LayersModel {
  return buildEfficientNet(1.0, 1.0, 224, 'efficientnetb0', opts);
}
/** Keras `EfficientNetB4(include_top=False)`: width 1.4, depth 1.8, 380 px; output 'top_activation' (1792). */
export function buildEfficientNetB4(opts: EfficientNetOptions = {}): tf.LayersModel {
  return buildEfficientNet(1.4, 1.8, 380, 'efficientnetb4', opts);
}
/** Keras `EfficientNetB7(include_top=False)`: width 2.0, depth 3.1, 600 px; output 'top_activation' (2560). */
export function buildEfficientNetB7(opts: EfficientNetOptions = {}): tf.LayersModel {
  return buildEfficientNet(2.0, 3.1, 600, 'efficientnetb7', opts);
}
