/**
 * Trainable-parameter accounting as Keras counts it, and the choice of how many top layers of a
 * backbone to unfreeze for fine-tuning.
 *
 * Keras rules reproduced: a frozen layer contributes all its weights to the non-trainable count; a
 * trainable BatchNormalization contributes gamma and beta as trainable and its moving mean /
 * variance as non-trainable; Normalization statistics are never trainable. Layer order is the
 * model's `layers` order, which equals Keras' own order (depth-sorted, ties by discovery index;
 * see `layer-order.ts`). Head layers (the last `headLayers` of a model) are always trainable.
 *
 * Batch normalisation policy ({@link BnPolicy}): which BatchNormalization layers are trainable
 * when the top k layers are. Hai et al. (2022) Table 2 is reproduced exactly for all 15 backbones
 * only with a per-backbone policy ({@link PAPER_BN_POLICY}; docs/backbones.md).
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

/**
 * Which BatchNormalization layers are trainable when the top k backbone layers are:
 * - 'follow': those among the top k, like every other layer (`layer.trainable` for the top k);
 * - 'always': every BN layer of the backbone, wherever it is (the rest of the bottom frozen);
 * - 'never': none (BN layers stay frozen, also among the top k: the Keras fine-tuning guide's
 *   advice).
 */
export type BnPolicy = 'follow' | 'always' | 'never';

/** The BN policies, in the order {@link paperUnfreezeDepth} reports them. */
export const BN_POLICIES: readonly BnPolicy[] = ['follow', 'always', 'never'];

/**
 * The BN policy under which Hai et al. (2022) Table 2's trainable count is reproduced exactly,
 * per backbone (found by exhaustive search, docs/backbones.md; asserted by
 * test/models/unfreeze.test.ts). Each backbone with BN layers matches under exactly one policy, and
 * under no layer order for the others (`topCutSums`). VGG has no BN layers ('follow').
 */
export const PAPER_BN_POLICY: Readonly<Record<string, BnPolicy>> = Object.freeze({
  VGG16: 'follow',
  VGG19: 'follow',
  Xception: 'always',
  MobileNetV2: 'follow',
  EfficientNetB0: 'follow',
  EfficientNetB4: 'always',
  EfficientNetB7: 'follow',
  InceptionV3: 'never',
  InceptionResNetV2: 'never',
  DenseNet121: 'always',
  DenseNet169: 'always',
  DenseNet201: 'follow',
  ResNet50V2: 'follow',
  ResNet101V2: 'follow',
  ResNet152V2: 'follow',
});

/** Whether `layer` is a BatchNormalization layer. */
export function isBatchNorm(layer: tf.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

/** Parameters `layer` would contribute as trainable if it were unfrozen (BN: gamma + beta only). */
export function unfreezableParams(layer: tf.layers.Layer): number {
  const prev = layer.trainable;
  layer.trainable = true;
  const n = layer.trainableWeights.reduce((s, w) => s + size(w), 0);
  layer.trainable = prev;
  return n;
}

/** Whether a backbone layer is trainable under `policy`, given whether it is among the top k. */
function trainableUnder(layer: tf.layers.Layer, inTop: boolean, policy: BnPolicy): boolean {
  if (isBatchNorm(layer) && policy !== 'follow') return policy === 'always';
  return inTop;
}

/**
 * Make the top `k` backbone layers trainable and freeze the others; the last `headLayers` layers
 * (a classification head) are always trainable. k counts layers below the head, from the top, in
 * `model.layers` order (= Keras' order). `bnPolicy` decides the BatchNormalization layers
 * ({@link BnPolicy}; default 'follow': BN treated like any layer).
 */
export function setTrainableTop(
  model: tf.LayersModel,
  k: number,
  headLayers = 0,
  bnPolicy: BnPolicy = 'follow',
): void {
  const layers = model.layers;
  const nBackbone = layers.length - headLayers;
  if (!Number.isInteger(k) || k < 0 || k > nBackbone) {
    throw new Error(`unfreeze depth k must be an integer in [0, ${nBackbone}], got ${k}`);
  }
  layers.forEach((layer, i) => {
    layer.trainable = i >= nBackbone ? true : trainableUnder(layer, i >= nBackbone - k, bnPolicy);
  });
}

/**
 * Trainable parameters of the backbone when the top k layers are unfrozen under `bnPolicy`, for
 * k = 0..L (element k). `layers` are the backbone's layers in model order.
 */
export function cumulativeTopParams(
  layers: readonly tf.layers.Layer[],
  bnPolicy: BnPolicy = 'follow',
): number[] {
  const alwaysBn =
    bnPolicy === 'always' ? layers.filter(isBatchNorm).reduce((s, l) => s + unfreezableParams(l), 0) : 0;
  const out = [alwaysBn];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    const add = isBatchNorm(layer) && bnPolicy !== 'follow' ? 0 : unfreezableParams(layer);
    out.push(out[out.length - 1] + add);
  }
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
  /** Names of the backbone layers among the top k that have trainable weights, top first. */
  unfrozenWithWeights: string[];
  /** The BatchNormalization policy used. */
  bnPolicy: BnPolicy;
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

/** Build `spec`'s backbone at the smallest input its graph accepts (parameter counts do not depend on it). */
export function buildForCounting(spec: BackboneSpec): tf.LayersModel {
  const side = smallSide(spec);
  return spec.build({ inputShape: [side, side, 3] });
}

/**
 * Find the unfreeze depth k (top k backbone layers trainable, Keras BN accounting, BN layers
 * under `bnPolicy`) for which `backbone` (built from `spec`) + the 256-unit Hai head has the
 * trainable parameter count of Hai et al. (2022), Table 2. Does not dispose `backbone`.
 */
export function matchUnfreezeDepth(
  backbone: tf.LayersModel,
  spec: BackboneSpec,
  bnPolicy: BnPolicy,
): UnfreezeMatch {
  const layers = backbone.layers;
  const cum = cumulativeTopParams(layers, bnPolicy);
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
    if (unfreezableParams(layer) > 0 && trainableUnder(layer, true, bnPolicy))
      unfrozenWithWeights.push(layer.name);
  }
  return {
    k: best,
    kMax,
    trainable,
    nonTrainable: total - trainable,
    difference: trainable - spec.paperTrainable,
    unfrozenWithWeights,
    bnPolicy,
  };
}

/**
 * {@link matchUnfreezeDepth} on a freshly built (small-input) backbone, disposed afterwards. The
 * policy defaults to the backbone's {@link PAPER_BN_POLICY} ('follow' for a backbone not in it).
 */
export function paperUnfreezeDepth(
  spec: BackboneSpec,
  bnPolicy: BnPolicy = PAPER_BN_POLICY[spec.name] ?? 'follow',
): UnfreezeMatch {
  const backbone = buildForCounting(spec);
  try {
    return matchUnfreezeDepth(backbone, spec, bnPolicy);
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
