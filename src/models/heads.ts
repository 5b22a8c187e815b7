/**
 * Classification heads put on top of an include_top=False backbone. The head layers get the names
 * Keras would give them in a fresh tf.keras session ('global_average_pooling2d', 'dense', 'dropout',
 * 'dense_1', ...), so a saved model reads like its Keras counterpart.
 */
import * as tf from '@tensorflow/tfjs';
import { ap } from './backbones/common.js';

/** Options of {@link addHaiHead}. */
export interface HaiHeadOptions {
  /** Units of the hidden Dense layer (Hai et al. 2022 publish 256). */
  units?: number;
  /** Dropout rate after the hidden layer (default 0.5). */
  dropout?: number;
  /** Output classes (2: normal / CAD). */
  classes?: number;
}

function backboneOutput(backbone: tf.LayersModel): tf.SymbolicTensor {
  if (backbone.outputs.length !== 1)
    throw new Error(`backbone ${backbone.name} must have exactly one output`);
  return backbone.outputs[0];
}

function checkRate(rate: number, what: string): void {
  if (!(rate >= 0 && rate < 1)) throw new Error(`${what}: dropout rate must be in [0, 1), got ${rate}`);
}

/**
 * Hai et al. (2022) head: GlobalAveragePooling2D -> Dense(units, ReLU) -> Dropout(rate) ->
 * Dense(2, softmax). Returns a new model sharing the backbone's layers (and weights).
 * Head parameters: C*units + units + (units + 1)*classes for a C-channel backbone.
 */
export function addHaiHead(backbone: tf.LayersModel, opts: HaiHeadOptions = {}): tf.LayersModel {
  const units = opts.units ?? 256;
  const rate = opts.dropout ?? 0.5;
  const classes = opts.classes ?? 2;
  if (!Number.isInteger(units) || units < 1)
    throw new Error(`Hai head: units must be a positive integer, got ${units}`);
  checkRate(rate, 'Hai head');
  let x = ap(
    tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }),
    backboneOutput(backbone),
  );
  x = ap(tf.layers.dense({ units, activation: 'relu', name: 'dense' }), x);
  x = ap(tf.layers.dropout({ rate, name: 'dropout' }), x);
  x = ap(tf.layers.dense({ units: classes, activation: 'softmax', name: 'dense_1' }), x);
  return tf.model({ inputs: backbone.inputs, outputs: x, name: `${backbone.name}_hai` });
}

/** Number of layers {@link addHaiHead} appends. */
export const HAI_HEAD_LAYERS = 4;

/**
 * Apostolopoulos et al. (2020) head: GlobalMaxPooling2D -> Dense(500, ReLU) -> Dropout(0.5) ->
 * Dense(250, ReLU) -> Dropout(0.5) -> Dense(2, softmax).
 */
export function addApostolopoulosHead(
  backbone: tf.LayersModel,
  opts: { classes?: number } = {},
): tf.LayersModel {
  const classes = opts.classes ?? 2;
  let x = ap(tf.layers.globalMaxPooling2d({ name: 'global_max_pooling2d' }), backboneOutput(backbone));
  x = ap(tf.layers.dense({ units: 500, activation: 'relu', name: 'dense' }), x);
  x = ap(tf.layers.dropout({ rate: 0.5, name: 'dropout' }), x);
  x = ap(tf.layers.dense({ units: 250, activation: 'relu', name: 'dense_1' }), x);
  x = ap(tf.layers.dropout({ rate: 0.5, name: 'dropout_1' }), x);
  x = ap(tf.layers.dense({ units: classes, activation: 'softmax', name: 'dense_2' }), x);
  return tf.model({ inputs: backbone.inputs, outputs: x, name: `${backbone.name}_apostolopoulos` });
}

/** Number of layers {@link addApostolopoulosHead} appends. */
export const APOSTOLOPOULOS_HEAD_LAYERS = 6;
