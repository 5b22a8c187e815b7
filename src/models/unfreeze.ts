/**
 * Trainable-parameter accounting as Keras counts it, and the choice of how many top layers of a
 * backbone to unfreeze for fine-tuning.
 *
 * Keras rules reproduced: a frozen layer contributes all its weights to the non-trainable count; a
 * trainable BatchNormalization contributes gamma and beta as trainable and its moving mean /
 * variance as non-trainable; Normalization statistics are never trainable. Layer order is the
 * model's `layers` order (depth-sorted, as in Keras 2 functional models). Head layers (the last
 * `headLayers` of a model) are always trainable.
 *
 * Note for training code: tfjs reads trainability when a model is compiled; recompile after
 * {@link setTrainableTop}.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackboneSpec } from './table.js';
import { HAI_HEAD_LAYERS } from './heads.js';

/** Trainable / non-trainable parameter counts, as `model.summary()` reports them in Keras. */
export interface ParamCounts {
  trainable: number;
  nonTrainable: number;
}

function size(w: tf.LayerVariable): number {
  return w.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
}

/** Keras-style parameter counts of a model in its current trainability state. */
export function countParams(model: tf.LayersModel): ParamCounts {
  let trainable = 0;
  let nonTrainable = 0;
  for (const w of model.trainableWeights) trainable += size(w);
  for (const w of model.nonTrainableWeights) nonTrainable += size(w);
  return { trainable, nonTrainable };
}

/** Parameters `layer` would contribute as trainable if it were unfrozen (BN: gamma + beta only). */
export function unfreezableParams(layer: tf.layers.Layer): number {
  const prev = layer.trainable;
  layer.trainable = true;
  const n = layer.trainableWeights.reduce((s, w) => s + size(w), 0);
  layer.trainable = prev;
  return n;
}

/**
 * Make the top `k` backbone layers trainable and freeze the others; the last `headLayers` layers
 * (a classification head) are always trainable. k counts layers below the head, from the top.
 */
export function setTrainableTop(model: tf.LayersModel, k: number, headLayers = 0): void {
  const layers = model.layers;
  const nBackbone = layers.length - headLayers;
  if (!Number.isInteger(k) || k < 0 || k > nBackbone) {
    throw new Error(`unfreeze depth k must be an integer in [0, ${nBackbone}], got ${k}`);
  }
  layers.forEach((layer, i) => {
    layer.trainable = i >= nBackbone - k;
  });
}

/**
 * Cumulative trainable parameters when the top k backbone layers are unfrozen, for k = 0..L
 * (element k). `layers` are the backbone's layers in model order.
 */
export function cumulativeTopParams(layers: readonly tf.layers.Layer[]): number[] {
  const out = [0];
  for (let i = layers.length - 1; i >= 0; i--) out.push(out[out.length - 1] + unfreezableParams(layers[i]));
  return out;
}

/** Result of matching an unfreeze depth to Hai et al. Table 2. */
export interface UnfreezeMatch {
  /** Smallest k whose trainable count is closest to the table (exact when `difference` is 0). */
  k: number;
  /** Largest k with the same trainable count (layers without trainable weights, e.g. pooling). */
  kMax: number;
  /** Trainable parameters of backbone top-k plus the 256-unit Hai head. */
  trainable: number;
  /** Non-trainable parameters of that model. */
  nonTrainable: number;
  /** trainable - paperTrainable (0 = exact). */
  difference: number;
  /** Names of the backbone layers with trainable weights among the top k, top first. */
  unfrozenWithWeights: string[];
}

/** Smallest input side each family's Keras graph accepts (used to build cheaply for counting). */
function smallSide(spec: BackboneSpec): number {
  if (spec.family === 'inception-v3' || spec.family === 'inception-resnet-v2') return 75;
  if (spec.family === 'xception') return 71;
  return 32;
}

/** Hai head (GAP, Dense(units), Dropout, Dense(2)) parameter count on a `featureWidth`-channel backbone. */
export function haiHeadParams(featureWidth: number, units = 256, classes = 2): number {
  return featureWidth * units + units + (units + 1) * classes;
}

/**
 * Find the unfreeze depth k (top k backbone layers trainable, Keras BN accounting) for which the
 * backbone + 256-unit Hai head has the trainable parameter count of Hai et al. (2022), Table 2.
 * Builds the backbone at a small input size (counts do not depend on it) and disposes it.
 */
export function paperUnfreezeDepth(spec: BackboneSpec): UnfreezeMatch {
  const side = smallSide(spec);
  const backbone = spec.build({ inputShape: [side, side, 3] });
  try {
    const layers = backbone.layers;
    const cum = cumulativeTopParams(layers);
    const head = haiHeadParams(spec.featureWidth);
    const total = backbone.countParams() + head;
    let best = 0;
    for (let k = 0; k < cum.length; k++) {
      if (Math.abs(cum[k] + head - spec.paperTrainable) < Math.abs(cum[best] + head - spec.paperTrainable))
        best = k;
    }
    let kMax = best;
    while (kMax + 1 < cum.length && cum[kMax + 1] === cum[best]) kMax++;
    const trainable = cum[best] + head;
    const unfrozenWithWeights: string[] = [];
    for (let i = 0; i < best; i++) {
      const layer = layers[layers.length - 1 - i];
      if (unfreezableParams(layer) > 0) unfrozenWithWeights.push(layer.name);
    }
    return {
      k: best,
      kMax,
      trainable,
      nonTrainable: total - trainable,
      difference: trainable - spec.paperTrainable,
      unfrozenWithWeights,
    };
  } finally {
    backbone.dispose();
  }
}

/**
 * The default rule when no paper depth applies: the largest k with fewer than 1/3 of the
 * backbone's layers AND fewer than 1/3 of its parameters trainable.
 */
export function ruleUnfreezeDepth(backbone: tf.LayersModel): number {
  const layers = backbone.layers;
  const cum = cumulativeTopParams(layers);
  const total = backbone.countParams();
  let k = 0;
  for (let j = 0; j < cum.length; j++) {
    if (j < layers.length / 3 && cum[j] < total / 3) k = j;
  }
  return k;
}

export { HAI_HEAD_LAYERS };
