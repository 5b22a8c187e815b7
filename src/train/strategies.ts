/**
 * The six training strategies compared by Hai et al. (2022), Table 4 and Figure 4, on one backbone:
 *
 *  1. scratch       random weights, every layer trainable, 100 epochs at 10^-a;
 *  2. imagenet-all  ImageNet weights, every layer trainable, 100 epochs at 10^-a;
 *  3. freeze-200    ImageNet weights, the first 200 layers frozen, the rest trainable, 100 epochs at 10^-a;
 *  4. warmup        ImageNet weights, backbone frozen, head trained 100 epochs at 10^-a (stage 1 only);
 *  5. finetune      ImageNet weights, top k layers + head trained 30 epochs at 10^-(a+2) (stage 2 only,
 *                   the head starts from its random initialisation);
 *  6. two-stage     4 then 5 from the best warm-up weights (the paper's method).
 *
 * "First 200 layers" counts `model.layers` of the backbone + head model (Keras' order, InputLayer
 * included), so layers 200.. of the backbone are trainable: k = max(0, L - 200) top backbone
 * layers for an L-layer backbone. A backbone with at most 200 layers (MobileNetV2 has 154) is then
 * entirely frozen and strategy 3 degenerates to a 100-epoch warm-up; the plan says so in its note.
 *
 * BatchNormalization: by default only strategy 1 runs BN in training mode (batch statistics, moving
 * averages updated), as Keras' `fit` does for a freshly built network, whose random layers have no
 * statistics worth keeping; the ImageNet strategies keep BN in inference mode, Keras' transfer
 * learning convention (the ImageNet statistics are kept and a batch of 16 does not overwrite
 * them). `bnTraining` in the context overrides this per plan.
 *
 * This module only PLANS (stages, trainable depth, learning-rate exponents, epochs) and applies a
 * plan's trainability to a model; `experiments.ts` runs the plans with the trainer.
 */
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../util/errors.js';
import { setTrainableTop, type BnPolicy } from '../models/unfreeze.js';

/** Strategy ids, in Hai et al.'s order (1..6). */
export const STRATEGY_IDS = [
  'scratch',
  'imagenet-all',
  'freeze-200',
  'warmup',
  'finetune',
  'two-stage',
] as const;
export type StrategyId = (typeof STRATEGY_IDS)[number];

/** Which stage kind a strategy stage is (for the trainer). */
export type StrategyStageKind = 'warmup' | 'finetune' | 'full';

/** One stage of a strategy. */
export interface StrategyStage {
  readonly name: string;
  readonly kind: StrategyStageKind;
  /** Epochs (after --epochs-scale). */
  readonly epochs: number;
  /** Learning rate = 10^-lrExponent. */
  readonly lrExponent: number;
  /** Number of top BACKBONE layers trainable (the head is always trainable). */
  readonly unfreeze: number;
  /** BatchNormalization policy inside the unfrozen part. */
  readonly bnPolicy: BnPolicy;
  /** Trainable BN layers in training mode (batch statistics), see the module note. */
  readonly trainBn: boolean;
}

/** A planned strategy. */
export interface StrategyPlan {
  readonly id: StrategyId;
  /** 1..6, Hai et al.'s numbering. */
  readonly number: number;
  readonly title: string;
  /** Initial backbone weights. */
  readonly weights: 'imagenet' | 'none';
  readonly stages: readonly StrategyStage[];
  /** Remark (e.g. a degenerate strategy 3). */
  readonly note?: string;
}

/** Inputs of {@link planStrategy}. */
export interface StrategyContext {
  /** Layers of the backbone (`model.layers.length` of the include_top=False model, InputLayer included). */
  readonly backboneLayers: number;
  /** Fine-tuning depth k of the two-stage method (paper's Table 2 depth or the 1/3 rule). */
  readonly finetuneDepth: number;
  /** BN policy of the fine-tuning stage (the backbone's paper policy). */
  readonly finetuneBnPolicy: BnPolicy;
  /** Learning-rate exponent a of the backbone (Hai et al. Table 2). */
  readonly lrExponent: number;
  /** Multiplies every epoch count (rounded, at least 1); default 1. */
  readonly epochsScale?: number;
  /** Epochs of strategies 1-3 (default 100). */
  readonly fullEpochs?: number;
  /** Warm-up epochs (default 100). */
  readonly warmupEpochs?: number;
  /** Fine-tune epochs (default 30). */
  readonly finetuneEpochs?: number;
  /** Layers frozen by strategy 3 (default 200). */
  readonly freezeFirst?: number;
  /** BN in training mode in every stage (default: strategy 1 only, see the module note). */
  readonly bnTraining?: boolean;
}

/**
 * Parse "1,4,6" / "scratch,two-stage" / "all" into strategy ids (InputError naming `option` on unknown names).
 * @example parseStrategies('1,two-stage') // ['scratch', 'two-stage']
 */
export function parseStrategies(text: string, option = '--strategies'): StrategyId[] {
  if (text.trim() === 'all') return [...STRATEGY_IDS];
  const out: StrategyId[] = [];
  for (const raw of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const byNumber = /^[1-6]$/.test(raw) ? STRATEGY_IDS[Number(raw) - 1] : undefined;
    const id = byNumber ?? (STRATEGY_IDS as readonly string[]).find((s) => s === raw);
    if (id === undefined)
      throw new InputError(`${option}: unknown strategy "${raw}" (use 1-6 or ${STRATEGY_IDS.join(', ')})`);
    if (!out.includes(id as StrategyId)) out.push(id as StrategyId);
  }
  if (out.length === 0) throw new InputError(`${option}: no strategy given`);
  return out;
}

function scaled(epochs: number, scale: number): number {
  return Math.max(1, Math.round(epochs * scale));
}

/** Check the context's numbers (InputError for the user's options, Error for a caller's bug). */
function checkContext(ctx: StrategyContext): void {
  const scale = ctx.epochsScale ?? 1;
  if (!(scale > 0 && Number.isFinite(scale)))
    throw new InputError(`--epochs-scale must be a positive number, got ${scale}`);
  const L = ctx.backboneLayers;
  if (!Number.isInteger(L) || L < 2)
    throw new Error(`planStrategy: backboneLayers must be an integer >= 2, got ${L}`);
  const k = ctx.finetuneDepth;
  if (!Number.isInteger(k) || k < 0 || k > L)
    throw new Error(`planStrategy: finetuneDepth must be an integer in [0, ${L}], got ${k}`);
  const first = ctx.freezeFirst ?? 200;
  if (!Number.isInteger(first) || first < 1)
    throw new InputError(`--freeze-first must be a whole number >= 1, got ${first}`);
}

/** The stages every strategy is made of: warm-up, fine-tune, and one stage over the top `unfreeze` layers. */
function stagesOf(id: StrategyId, ctx: StrategyContext) {
  const scale = ctx.epochsScale ?? 1;
  const a = ctx.lrExponent;
  const trainBn = ctx.bnTraining ?? id === 'scratch';
  const fullEpochs = scaled(ctx.fullEpochs ?? 100, scale);
  const warm: StrategyStage = {
    name: 'warmup',
    kind: 'warmup',
    epochs: scaled(ctx.warmupEpochs ?? 100, scale),
    lrExponent: a,
    unfreeze: 0,
    bnPolicy: 'follow',
    trainBn,
  };
  const fine: StrategyStage = {
    name: 'finetune',
    kind: 'finetune',
    epochs: scaled(ctx.finetuneEpochs ?? 30, scale),
    lrExponent: a + 2,
    unfreeze: ctx.finetuneDepth,
    bnPolicy: ctx.finetuneBnPolicy,
    trainBn,
  };
  const full = (unfreeze: number): StrategyStage => ({
    name: 'full',
    kind: unfreeze === 0 ? 'warmup' : 'full',
    epochs: fullEpochs,
    lrExponent: a,
    unfreeze,
    bnPolicy: 'follow',
    trainBn,
  });
  return { warm, fine, full, fullEpochs };
}

/**
 * The stages, trainable depths, learning rates and epochs of strategy `id` (see the module note).
 * @example planStrategy('two-stage', { backboneLayers: 154, finetuneDepth: 20, finetuneBnPolicy: 'follow', lrExponent: 3 }).stages.map((s) => s.epochs) // [100, 30]
 */
export function planStrategy(id: StrategyId, ctx: StrategyContext): StrategyPlan {
  checkContext(ctx);
  const L = ctx.backboneLayers;
  const k = ctx.finetuneDepth;
  const { warm, fine, full, fullEpochs } = stagesOf(id, ctx);
  const plan = (title: string, stages: StrategyStage[], note?: string): StrategyPlan => ({
    id,
    number: STRATEGY_IDS.indexOf(id) + 1,
    title,
    weights: id === 'scratch' ? 'none' : 'imagenet',
    stages,
    ...(note !== undefined ? { note } : {}),
  });
  switch (id) {
    case 'scratch':
      return plan('From scratch (random weights), all layers trainable', [full(L)]);
    case 'imagenet-all':
      return plan('ImageNet weights, all layers trainable', [full(L)]);
    case 'freeze-200': {
      const first = ctx.freezeFirst ?? 200;
      const top = Math.max(0, L - first);
      const note =
        top === 0
          ? `the backbone has ${L} layers (<= ${first}): every backbone layer is frozen, so this equals a ${fullEpochs}-epoch warm-up`
          : undefined;
      return plan(`ImageNet weights, first ${first} layers frozen`, [full(top)], note);
    }
    case 'warmup':
      return plan('Warm-up only (backbone frozen, head trained)', [warm]);
    case 'finetune':
      return plan(`Fine-tune only (top ${k} layers + head, no warm-up)`, [fine]);
    case 'two-stage':
      return plan(`Warm-up then fine-tune (top ${k} layers)`, [warm, fine]);
  }
}

/**
 * Set the trainability of `model` (backbone + a head of `headLayers` layers) for `stage`: its top
 * `unfreeze` backbone layers under its BN policy, the head always trainable.
 */
export function applyStageTrainability(
  model: tf.LayersModel,
  stage: StrategyStage,
  headLayers: number,
): void {
  setTrainableTop(model, stage.unfreeze, headLayers, stage.bnPolicy);
}
