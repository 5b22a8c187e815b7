/**
 * The multi-stage transfer-learning trainer of Hai et al. (2022): a warm-up stage that trains
 * only the classification head on a frozen ImageNet backbone, then a fine-tuning stage with the
 * top k backbone layers unfrozen, each keeping the weights of its best validation epoch
 * ("greedy" selection). Generalised to any list of stages, each with its own unfreeze depth,
 * BatchNormalization policy and per-layer-group learning rates.
 *
 * Speed: the layers below a stage's first trainable layer never change in that stage, so their
 * output (the "frozen frontier", `frozenFrontier`) is computed once per image and augmented copy
 * by ONNX Runtime and the on-disk feature cache ({@link TrainingSetup}), and only the trainable
 * top runs in tfjs each epoch ({@link runSubGraph}).
 *
 * API for other trainers (Hyperband, strategy sweeps): build one {@link TrainingSetup} per
 * backbone and data set (it shares the features across calls), then call {@link trainStages} per
 * configuration; it returns the history, the trained weights and the validation score, and puts
 * the model's backbone back as it found it.
 */
import * as tf from '@tensorflow/tfjs';
import type { Label } from '../domain/views.js';
import type { FeatureCache } from '../engine/cache.js';
import { FeatureExtractor, type FeatureSource, type InputLayout } from '../engine/features.js';
import { accumulateGradients } from '../engine/microbatch.js';
import type { ScalingMode } from '../domain/scaling.js';
import { setTrainableTop, countParams, type BnPolicy } from '../models/unfreeze.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { Adam, type AdamState } from './adam.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { dropoutMaskValues, runSubGraph, subGraph, type SubGraph } from './graph.js';
import { crossEntropy, oneHot } from './loss.js';
import { GradientPool } from './parallel/pool.js';
import { isBetter, type EpochScore } from './selection.js';
import { applyWeights, snapshotWeights, weightKey, type WeightValues } from './weights.js';

export { applyWeights, snapshotWeights, type WeightValues } from './weights.js';

/** One training example: a patient's input (possibly a rotated copy). */
export interface Example {
  id: string;
  label: Label;
  /** Rotation in degrees (0 = the original). */
  angle: number;
  /** Content hash of the source (the feature cache key). */
  key: string;
  /** Loads the source when its features are not cached. */
  load: () => Promise<FeatureSource>;
}

/** Options of {@link TrainingSetup.create}. */
export interface TrainingSetupOptions {
  backboneName: string;
  /** Weights identity for the cache key (see `FeatureExtractorOptions.weightsHash`). */
  weightsId?: string | null;
  inputSize: number;
  scaling: ScalingMode;
  layout: InputLayout;
  cache?: FeatureCache;
  /** ONNX Runtime threads. */
  threads?: number;
}

/** Progress of a feature computation. */
export type FeatureProgressFn = (done: number, total: number, hits: number) => void;

/**
 * Features of examples at cut points, shared across stages and calls: one ONNX Runtime session per
 * cut, an in-memory table per cut in front of the on-disk cache. Valid while the weights below
 * each cut stay those of the model the extractor was made from ({@link trainStages} restores them).
 */
export class TrainingSetup {
  private readonly extractors = new Map<string, FeatureExtractor>();
  private readonly memo = new Map<string, Map<string, Float32Array[]>>();
  /** Number of examples whose features were requested / computed through ONNX Runtime. */
  readonly stats = { requested: 0, extracted: 0 };

  constructor(readonly opts: TrainingSetupOptions) {}

  /** Features of `examples` at the cut `cut` of `model`: per example, one array per cut layer. */
  async features(
    model: tf.LayersModel,
    cut: readonly string[],
    examples: readonly Example[],
    onProgress?: FeatureProgressFn,
  ): Promise<Float32Array[][]> {
    const ck = cut.join('|');
    let table = this.memo.get(ck);
    if (table === undefined) {
      table = new Map();
      this.memo.set(ck, table);
    }
    const itemKey = (e: Example): string => `${e.key}@${e.angle}`;
    const missing: Example[] = [];
    const seen = new Set<string>();
    for (const e of examples) {
      const k = itemKey(e);
      if (!table.has(k) && !seen.has(k)) {
        seen.add(k);
        missing.push(e);
      }
    }
    this.stats.requested += examples.length;
    if (missing.length > 0) {
      let ex = this.extractors.get(ck);
      if (ex === undefined) {
        ex = await FeatureExtractor.create({
          model,
          backboneName: this.opts.backboneName,
          weightsHash: this.opts.weightsId,
          cutLayers: cut,
          inputSize: this.opts.inputSize,
          scaling: this.opts.scaling,
          layout: this.opts.layout,
          cache: this.opts.cache,
          threads: this.opts.threads,
        });
        this.extractors.set(ck, ex);
      }
      const feats = await ex.getFeatures(
        missing.map((e) => ({ key: e.key, image: e.load, angle: e.angle })),
        { onProgress: (p) => onProgress?.(p.done, p.total, p.hits) },
      );
      this.stats.extracted += missing.length;
      missing.forEach((e, i) => {
        table.set(
          itemKey(e),
          feats.map((f) => {
            const per = f.shape.reduce((a, b) => a * b, 1);
            return f.data.slice(i * per, (i + 1) * per);
          }),
        );
      });
    }
    return examples.map((e) => table.get(itemKey(e)) as Float32Array[]);
  }

  /** Release the ONNX Runtime sessions. */
  async dispose(): Promise<void> {
    for (const ex of this.extractors.values()) await ex.dispose();
    this.extractors.clear();
    this.memo.clear();
  }
}

/** A learning-rate rule for a group of layers. */
export interface LayerLrRule {
  /** Regular expression (source) matched against layer names. */
  layers: string;
  lr: number;
}

/** One training stage. */
export interface StageSpec {
  /** Stage name (history, checkpoint file): 'warmup', 'finetune', ... */
  name: string;
  epochs: number;
  /** Learning rate of every trainable layer not matched by `layerLr`. */
  lr: number;
  /** Top backbone layers made trainable (0 = head only), in `model.layers` order (`setTrainableTop`). */
  unfreeze: number;
  /** Which BatchNormalization layers are trainable (`BnPolicy`; default 'follow'). */
  bnPolicy?: BnPolicy;
  /** Trainable BN layers use batch statistics (default false: inference mode, the Keras fine-tuning convention). */
  trainBn?: boolean;
  /** Per-layer-group learning rates (first matching rule wins). */
  layerLr?: readonly LayerLrRule[];
  /** Stop after this many epochs without a better selection score (default: never). */
  patience?: number;
  /** Keep the best epoch's weights at the end of the stage (default true: Hai et al.'s "greedy"). */
  restoreBest?: boolean;
  /**
   * For a stage after the first: its starting weights (the previous stage's kept weights) compete
   * as "epoch 0" of the selection, so a stage that never beats them on validation hands them on
   * unchanged (default true). False is Hai et al.'s strictly per-stage greedy rule, in which the
   * stage keeps its best epoch even when it is worse than where it started.
   */
  startAsCandidate?: boolean;
}

/** One epoch of one stage. */
export interface HistoryRow {
  stage: string;
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  /** The stage's base learning rate. */
  lr: number;
  seconds: number;
}

/** What happened in one stage. */
export interface StageOutcome {
  name: string;
  /** Epoch whose weights were kept (1-based; the last epoch when restoreBest is off). */
  bestEpoch: number;
  best: EpochScore;
  epochsRun: number;
  epochsPlanned: number;
  stoppedEarly: boolean;
  unfreeze: number;
  bnPolicy: BnPolicy;
  trainBn: boolean;
  /** Index of the first layer run in tfjs and the cut it reads from. */
  firstTrainableLayer: string;
  cut: string[];
  /** Learning rate per layer group actually used: lr -> number of variables. */
  learningRates: { lr: number; variables: number }[];
  trainableParams: number;
  nonTrainableParams: number;
  seconds: number;
  /** Seconds spent computing / reading the frozen features of this stage. */
  featureSeconds: number;
  /** True when this stage was restored complete from a checkpoint. */
  resumed: boolean;
}

/** Events for progress reporting. */
export type TrainEvent =
  | { type: 'features'; stage: string; done: number; total: number; hits: number }
  | { type: 'stage-start'; stage: string; epochs: number; startEpoch: number; unfreeze: number; lr: number }
  | { type: 'epoch'; row: HistoryRow; epochs: number; best: boolean }
  | { type: 'stage-end'; outcome: StageOutcome };

/** Options of {@link trainStages}. */
export interface TrainOptions {
  setup: TrainingSetup;
  /** Backbone + head, one input, one softmax output over 2 classes. */
  model: tf.LayersModel;
  /** Number of head layers at the end of `model.layers`. */
  headLayers: number;
  train: readonly Example[];
  /** Examples scored each epoch for best-epoch selection (never the test set by default). */
  validation: readonly Example[];
  stages: readonly StageSpec[];
  batchSize: number;
  seed: number | string;
  /**
   * Fixed micro-batch size (gradient accumulation over slices of each batch). Default: planned once
   * per stage from a one-example memory probe against the engine's budget (`engine/microbatch.ts`),
   * so the whole batch is used when its step fits the wasm heap and it is split transparently when
   * not. Loss, gradients and training accuracy are those of the whole batch (same dropout masks).
   */
  microBatch?: number;
  onEvent?: (e: TrainEvent) => void;
  /** Folder for per-epoch checkpoints; an existing checkpoint there is resumed. */
  checkpointDir?: string;
  /** Polled after every batch; when it returns true the run stops, leaving the last epoch's checkpoint. */
  shouldStop?: () => boolean;
  /**
   * Worker threads for the gradient step (data parallel, `train/parallel/pool.ts`): absent = this
   * thread (the default); N >= 1 = each batch split over N workers, the same losses and weights up
   * to float rounding. Refused for stages with BatchNormalization in training mode.
   */
  workers?: number;
}

/** Result of {@link trainStages}. */
export interface TrainResult {
  history: HistoryRow[];
  stages: StageOutcome[];
  /** Trained values of every weight any stage could change (apply with {@link applyWeights}). */
  weights: WeightValues;
  /** Selection score of the final weights (last stage's kept epoch). */
  validation: EpochScore;
  /** Ids of the examples used for selection (for audit: never test ids by default). */
  selectionIds: string[];
  /** Stopped by `shouldStop` before the end; resume from `checkpointDir`. */
  interrupted: boolean;
  /** First layer index trained by the last stage (predict with {@link predict} from it). */
  lastStart: number;
}

/** Index of the first layer with trainable weights (after `setTrainableTop`). */
function firstTrainable(model: tf.LayersModel): number {
  const i = model.layers.findIndex((l) => l.trainable && l.trainableWeights.length > 0);
  if (i < 0) throw new Error(`model ${model.name} has no trainable weights`);
  return i;
}

function stack(
  rows: readonly Float32Array[][],
  idx: readonly number[],
  j: number,
  shape: readonly number[],
): tf.Tensor {
  const per = shape.reduce((a, b) => a * b, 1);
  const buf = new Float32Array(idx.length * per);
  idx.forEach((r, k) => buf.set(rows[r][j], k * per));
  return tf.tensor(buf, [idx.length, ...shape]);
}

function cutShapes(model: tf.LayersModel, cut: readonly string[]): number[][] {
  return cut.map((n) => {
    const l = model.getLayer(n);
    return l.inboundNodes[0].outputTensors[0].shape.slice(1) as number[];
  });
}

/** Class-1 probabilities of `rows` (cut activations) through sub-graph `g` in inference mode. */
function probabilities(
  g: SubGraph,
  rows: readonly Float32Array[][],
  shapes: readonly number[][],
  batch = 64,
): Float32Array {
  const out = new Float32Array(rows.length);
  for (let b0 = 0; b0 < rows.length; b0 += batch) {
    const idx = Array.from({ length: Math.min(batch, rows.length - b0) }, (_, i) => b0 + i);
    const p = tf.tidy(() => {
      const xs = shapes.map((s, j) => stack(rows, idx, j, s));
      return runSubGraph(g, xs, { release: true }).slice([0, 1], [-1, 1]).dataSync();
    });
    out.set(p, b0);
  }
  return out;
}

/** Loss and accuracy of class-1 probabilities against labels (Keras definitions). */
export function scoreProbabilities(p: ArrayLike<number>, labels: readonly Label[]): EpochScore {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const q = Math.min(1 - 1e-7, Math.max(1e-7, labels[i] === 1 ? p[i] : 1 - p[i]));
    loss -= Math.log(q);
    if ((p[i] > 0.5 ? 1 : 0) === labels[i]) correct++;
  }
  return {
    accuracy: labels.length === 0 ? NaN : correct / labels.length,
    loss: labels.length === 0 ? NaN : loss / labels.length,
  };
}

interface StageMeta {
  stage: string;
  epochsDone: number;
  complete: boolean;
  bestEpoch: number;
  best: EpochScore | null;
  wait: number;
  stoppedEarly: boolean;
  history: HistoryRow[];
  adam: { step: number; keys: string[] };
  seconds: number;
}

function validateStage(s: StageSpec, nBackbone: number): void {
  const where = `stage '${s.name}'`;
  if (!/^[A-Za-z0-9_-]+$/.test(s.name))
    throw new InputError(`${where}: name must be letters, digits, _ or -`);
  if (!Number.isInteger(s.epochs) || s.epochs < 0)
    throw new InputError(`${where}: epochs must be a non-negative integer, got ${s.epochs}`);
  if (!(s.lr > 0 && Number.isFinite(s.lr)))
    throw new InputError(`${where}: learning rate must be positive, got ${s.lr}`);
  if (!Number.isInteger(s.unfreeze) || s.unfreeze < 0 || s.unfreeze > nBackbone) {
    throw new InputError(
      `${where}: unfreeze depth must be an integer in [0, ${nBackbone}], got ${s.unfreeze}`,
    );
  }
  if (s.patience !== undefined && (!Number.isInteger(s.patience) || s.patience < 1))
    throw new InputError(`${where}: patience must be a positive integer, got ${s.patience}`);
  for (const r of s.layerLr ?? []) {
    try {
      new RegExp(r.layers);
    } catch {
      throw new InputError(`${where}: layer group pattern '${r.layers}' is not a regular expression`);
    }
    if (!(r.lr > 0))
      throw new InputError(
        `${where}: learning rate of layer group '${r.layers}' must be positive, got ${r.lr}`,
      );
  }
}

function validateTrainOptions(o: TrainOptions, nBackbone: number): void {
  if (o.train.length === 0) throw new InputError('training set is empty');
  if (o.validation.length === 0)
    throw new InputError('validation set is empty (needed for best-epoch selection)');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new InputError(`batch size must be a positive integer, got ${o.batchSize}`);
  if (o.microBatch !== undefined && (!Number.isInteger(o.microBatch) || o.microBatch < 1))
    throw new InputError(`micro-batch size must be a positive integer, got ${o.microBatch}`);
  if (o.stages.length === 0) throw new InputError('no training stage given');
  const names = new Set<string>();
  for (const s of o.stages) {
    validateStage(s, nBackbone);
    if (names.has(s.name)) throw new InputError(`stage name '${s.name}' used twice`);
    names.add(s.name);
  }
}

/** What `trainStages` accumulates over its stages. */
interface RunState {
  readonly history: HistoryRow[];
  readonly outcomes: StageOutcome[];
  interrupted: boolean;
  finalScore: EpochScore;
  readonly root: Rng;
  /** The gradient step's worker threads ({@link TrainOptions.workers}), or null: this thread. */
  pool: GradientPool | null;
}

/** The frozen features of one stage: cut activations of the training and validation examples. */
interface StageData {
  readonly shapes: number[][];
  readonly trainRows: Float32Array[][];
  readonly valRows: Float32Array[][];
  readonly featureSeconds: number;
}

/** The trainable variables of one stage, their learning rates and the optimiser. */
interface StageOptimizer {
  readonly adam: Adam;
  readonly params: { key: string; variable: tf.Variable; lr: number }[];
  readonly keys: string[];
  readonly varList: tf.Variable[];
  readonly learningRates: { lr: number; variables: number }[];
}

/** Everything one stage's epochs share; `microBatch` is planned on the stage's first step. */
interface StageContext {
  readonly o: TrainOptions;
  readonly stage: StageSpec;
  readonly g: SubGraph;
  readonly part: tf.layers.Layer[];
  readonly data: StageData;
  readonly opt: StageOptimizer;
  readonly trainLabels: Label[];
  readonly valLabels: Label[];
  microBatch: number | undefined;
  readonly pool: GradientPool | null;
}

/** The stage's progress and the weights of its best epoch so far. */
interface Selection {
  meta: StageMeta;
  best: WeightValues | null;
}

/**
 * Train `model` through `stages` on `train`, selecting each stage's epoch on `validation`
 * (accuracy, ties to lower loss: {@link isBetter}). Each stage starts from the previous stage's kept
 * weights. At the end the model's weights are put back as they were before the call (so the
 * setup's features stay valid); the trained values are in `result.weights`.
 * @throws InputError for a bad stage, an empty training or validation set.
 */
export async function trainStages(o: TrainOptions): Promise<TrainResult> {
  const { model, headLayers } = o;
  validateTrainOptions(o, model.layers.length - headLayers);
  const trainability = model.layers.map((l) => l.trainable);
  // everything any stage may change, to restore at the end
  const starts = o.stages.map((s) => {
    setTrainableTop(model, s.unfreeze, headLayers, s.bnPolicy ?? 'follow');
    return firstTrainable(model);
  });
  const changeable = model.layers.slice(Math.min(...starts));
  const initial = snapshotWeights(changeable);
  const run: RunState = {
    history: [],
    outcomes: [],
    interrupted: false,
    finalScore: { accuracy: NaN, loss: NaN },
    root: new Rng(o.seed),
    pool: null,
  };
  try {
    if (o.workers !== undefined)
      run.pool = await GradientPool.start({ model, headLayers, stages: o.stages, workers: o.workers });
    for (const [si, stage] of o.stages.entries()) {
      await runStage(o, stage, si, starts[si], run);
      if (run.interrupted) break;
    }
    return {
      history: run.history,
      stages: run.outcomes,
      weights: snapshotWeights(changeable),
      validation: run.finalScore,
      selectionIds: o.validation.map((e) => e.id),
      interrupted: run.interrupted,
      lastStart: starts[starts.length - 1],
    };
  } finally {
    await run.pool?.close();
    applyWeights(model, initial);
    model.layers.forEach((l, i) => (l.trainable = trainability[i]));
  }
}

/** One stage: resumed whole from a complete checkpoint, or trained epoch by epoch. */
async function runStage(
  o: TrainOptions,
  stage: StageSpec,
  si: number,
  start: number,
  run: RunState,
): Promise<void> {
  const { model, headLayers } = o;
  setTrainableTop(model, stage.unfreeze, headLayers, stage.bnPolicy ?? 'follow');
  const g = subGraph(model, start, headLayers);
  const part = model.layers.slice(start);
  const counts = countParams(model);
  const ckpt =
    o.checkpointDir === undefined ? null : await loadCheckpoint<StageMeta>(o.checkpointDir, stage.name);
  if (ckpt !== null && ckpt.meta.complete) {
    applyWeights(model, ckpt.arrays);
    run.history.push(...ckpt.meta.history);
    run.finalScore = ckpt.meta.best ?? { accuracy: NaN, loss: NaN };
    endStage(o, run, stageOutcome(stage, g, model, ckpt.meta, counts, [], 0, true));
    return;
  }
  const data = await stageFeatures(o, stage, g);
  const opt = stageOptimizer(part, stage);
  const sel: Selection =
    ckpt === null
      ? { meta: freshMeta(stage.name, opt.keys), best: null }
      : resumeStage(model, ckpt, opt.adam);
  const ctx: StageContext = {
    o,
    stage,
    g,
    part,
    data,
    opt,
    trainLabels: o.train.map((e) => e.label),
    valLabels: o.validation.map((e) => e.label),
    microBatch: o.microBatch,
    pool: run.pool,
  };
  const restoreBest = stage.restoreBest ?? true;
  if (ckpt === null && si > 0 && restoreBest && (stage.startAsCandidate ?? true)) {
    // epoch 0: the weights this stage starts from
    sel.meta.best = scoreProbabilities(probabilities(g, data.valRows, data.shapes), ctx.valLabels);
    sel.meta.bestEpoch = 0;
    sel.best = snapshotWeights(part);
  }
  o.onEvent?.({
    type: 'stage-start',
    stage: stage.name,
    epochs: stage.epochs,
    startEpoch: sel.meta.epochsDone + 1,
    unfreeze: stage.unfreeze,
    lr: stage.lr,
  });
  const stageT0 = performance.now() - sel.meta.seconds * 1000;
  await run.pool?.beginStage({
    name: stage.name,
    start,
    unfreeze: stage.unfreeze,
    bnPolicy: stage.bnPolicy ?? 'follow',
    part,
    params: opt.params,
    rows: data.trainRows,
    shapes: data.shapes,
    labels: ctx.trainLabels,
    dropouts: g.dropouts,
    microBatch: ctx.microBatch,
    trainBn: stage.trainBn ?? false,
  });
  for (let epoch = sel.meta.epochsDone + 1; epoch <= stage.epochs && !sel.meta.stoppedEarly; epoch++) {
    if (!(await runEpoch(ctx, sel, epoch, run.root, stageT0))) {
      opt.adam.dispose();
      run.interrupted = true;
      return;
    }
  }
  await completeStage(ctx, sel, stageT0);
  run.history.push(...sel.meta.history);
  run.finalScore = sel.meta.best ?? { accuracy: NaN, loss: NaN };
  endStage(
    o,
    run,
    stageOutcome(stage, g, model, sel.meta, counts, opt.learningRates, data.featureSeconds, false),
  );
}

function endStage(o: TrainOptions, run: RunState, outcome: StageOutcome): void {
  run.outcomes.push(outcome);
  o.onEvent?.({ type: 'stage-end', outcome });
}

/** The frozen features of the stage's cut, computed (or read from the cache) once per example. */
async function stageFeatures(o: TrainOptions, stage: StageSpec, g: SubGraph): Promise<StageData> {
  const t0 = performance.now();
  const shapes = cutShapes(o.model, g.cut);
  const all = [...o.train, ...o.validation];
  const rows = await o.setup.features(o.model, g.cut, all, (done, total, hits) =>
    o.onEvent?.({ type: 'features', stage: stage.name, done, total, hits }),
  );
  return {
    shapes,
    trainRows: rows.slice(0, o.train.length),
    valRows: rows.slice(o.train.length),
    featureSeconds: (performance.now() - t0) / 1000,
  };
}

/** Variables of the stage's trainable layers, each at its layer group's learning rate, and Adam. */
function stageOptimizer(part: readonly tf.layers.Layer[], stage: StageSpec): StageOptimizer {
  const rules = (stage.layerLr ?? []).map((r) => ({ re: new RegExp(r.layers), lr: r.lr }));
  const params = part.flatMap((l) =>
    l.trainableWeights.map((w) => ({
      key: weightKey(l, w),
      variable: w.read() as tf.Variable,
      lr: rules.find((r) => r.re.test(l.name))?.lr ?? stage.lr,
    })),
  );
  const lrCounts = new Map<number, number>();
  for (const p of params) lrCounts.set(p.lr, (lrCounts.get(p.lr) ?? 0) + 1);
  return {
    adam: new Adam(params),
    params,
    keys: params.map((p) => p.key),
    varList: params.map((p) => p.variable),
    learningRates: [...lrCounts.entries()].map(([lr, variables]) => ({ lr, variables })),
  };
}

function freshMeta(stage: string, keys: string[]): StageMeta {
  return {
    stage,
    epochsDone: 0,
    complete: false,
    bestEpoch: 0,
    best: null,
    wait: 0,
    stoppedEarly: false,
    history: [],
    adam: { step: 0, keys },
    seconds: 0,
  };
}

/** Continue an interrupted stage: its current and best weights and Adam's moments. */
function resumeStage(
  model: tf.LayersModel,
  ckpt: { meta: StageMeta; arrays: ReadonlyMap<string, Float32Array> },
  adam: Adam,
): Selection {
  const cur: WeightValues = new Map();
  const best: WeightValues = new Map();
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  for (const [k, a] of ckpt.arrays) {
    if (k.startsWith('current:')) cur.set(k.slice(8), a);
    else if (k.startsWith('best:')) best.set(k.slice(5), a);
    else if (k.startsWith('adam-m:')) m[k.slice(7)] = a;
    else if (k.startsWith('adam-v:')) v[k.slice(7)] = a;
  }
  applyWeights(model, cur);
  adam.setState({ step: ckpt.meta.adam.step, m, v } satisfies AdamState);
  return { meta: ckpt.meta, best: best.size === 0 ? null : best };
}

/**
 * One epoch: a shuffled pass over the training rows, the validation score, the epoch selection
 * and the checkpoint. Returns false when `shouldStop` interrupted it.
 */
async function runEpoch(
  ctx: StageContext,
  sel: Selection,
  epoch: number,
  root: Rng,
  stageT0: number,
): Promise<boolean> {
  const { o, stage, g, data } = ctx;
  const e0 = performance.now();
  const rng = root.fork(`${stage.name}/${epoch}`);
  const order = rng.shuffle(data.trainRows.map((_, i) => i));
  let lossSum = 0;
  let correct = 0;
  for (let b0 = 0; b0 < order.length; b0 += o.batchSize) {
    const step = await trainBatch(ctx, order.slice(b0, b0 + o.batchSize), rng);
    lossSum += step.lossSum;
    correct += step.correct;
    if (o.shouldStop?.() === true) return false;
  }
  const val = scoreProbabilities(probabilities(g, data.valRows, data.shapes), ctx.valLabels);
  const row: HistoryRow = {
    stage: stage.name,
    epoch,
    loss: lossSum / order.length,
    accuracy: correct / order.length,
    valLoss: val.loss,
    valAccuracy: val.accuracy,
    lr: stage.lr,
    seconds: (performance.now() - e0) / 1000,
  };
  const improved = selectEpoch(ctx, sel, row, val);
  sel.meta.seconds = (performance.now() - stageT0) / 1000;
  o.onEvent?.({ type: 'epoch', row, epochs: stage.epochs, best: improved });
  if (o.checkpointDir !== undefined)
    await saveStage(o.checkpointDir, sel.meta, ctx.part, sel.best, ctx.opt.adam);
  return true;
}

/** Keep the epoch's weights when it beats the best so far; count patience. Returns whether it did. */
function selectEpoch(ctx: StageContext, sel: Selection, row: HistoryRow, val: EpochScore): boolean {
  const meta = sel.meta;
  meta.history.push(row);
  const improved = meta.best === null || isBetter(val, meta.best);
  if (improved) {
    meta.best = val;
    meta.bestEpoch = row.epoch;
    meta.wait = 0;
    sel.best = snapshotWeights(ctx.part);
  } else meta.wait++;
  meta.epochsDone = row.epoch;
  if (ctx.stage.patience !== undefined && meta.wait >= ctx.stage.patience) meta.stoppedEarly = true;
  return improved;
}

/**
 * One optimiser step on the rows `idx` (dropout masks drawn from `rng`), in micro-batches when the
 * batch does not fit. Returns the batch's summed loss and its correctly classified count.
 */
async function trainBatch(
  ctx: StageContext,
  idx: readonly number[],
  rng: Rng,
): Promise<{ lossSum: number; correct: number }> {
  const { g, trainLabels } = ctx;
  const maskValues = dropoutMaskValues(g, idx.length, () => rng.next());
  // loss, gradients and class-1 probabilities of the batch: on worker threads or here
  const step =
    ctx.pool !== null ? await ctx.pool.step(idx, maskValues) : await localStep(ctx, idx, maskValues);
  ctx.opt.adam.applyGradients(step.grads);
  tf.dispose(Object.values(step.grads));
  let correct = 0;
  idx.forEach((i, k) => (correct += (step.probs[k] > 0.5 ? 1 : 0) === trainLabels[i] ? 1 : 0));
  return { lossSum: step.loss * idx.length, correct };
}

/** The gradient step on this thread, in micro-batches when the batch does not fit. */
async function localStep(
  ctx: StageContext,
  idx: readonly number[],
  maskValues: readonly Float32Array[],
): Promise<{ loss: number; grads: tf.NamedTensorMap; probs: ArrayLike<number> }> {
  const { g, data, trainLabels } = ctx;
  const n = idx.length;
  const xs = data.shapes.map((s, j) => stack(data.trainRows, idx, j, s));
  const y = oneHot(idx.map((i) => trainLabels[i]));
  const masks = maskValues.map((buf, k) => tf.tensor(buf, [n, g.dropouts[k].width]));
  const nx = xs.length;
  const trainBn = ctx.stage.trainBn ?? false;
  // class-1 probabilities of every call, in call order: the micro-batches cover the batch
  // in order, so the last n values are the batch's (a memory probe would come first)
  const probsOut: number[] = [];
  const res = await accumulateGradients(
    (ins) => {
      const mm = new Map(g.dropouts.map((d, k) => [d.name, ins[nx + 1 + k]]));
      const p = runSubGraph(g, ins.slice(0, nx), { bnTraining: trainBn, masks: mm });
      probsOut.push(...tf.tidy(() => p.slice([0, 1], [-1, 1]).dataSync()));
      return crossEntropy(p, ins[nx]);
    },
    [...xs, y, ...masks],
    n,
    { microBatch: ctx.microBatch, varList: ctx.opt.varList },
  );
  ctx.microBatch ??= res.microBatch;
  const loss = (await res.value.data())[0];
  tf.dispose([res.value, ...xs, y, ...masks]);
  return { loss, grads: res.grads, probs: probsOut.slice(probsOut.length - n) };
}

/** Keep the best epoch's weights (or the last epoch's), mark the stage complete and checkpoint it. */
async function completeStage(ctx: StageContext, sel: Selection, stageT0: number): Promise<void> {
  const { o, stage, part } = ctx;
  const meta = sel.meta;
  const restoreBest = stage.restoreBest ?? true;
  if (restoreBest && sel.best !== null) applyWeights(o.model, sel.best);
  if (!restoreBest) {
    meta.bestEpoch = meta.epochsDone;
    const last = meta.history[meta.history.length - 1];
    if (last !== undefined) meta.best = { accuracy: last.valAccuracy, loss: last.valLoss };
  }
  meta.complete = true;
  meta.seconds = (performance.now() - stageT0) / 1000;
  ctx.opt.adam.dispose();
  if (o.checkpointDir !== undefined)
    await saveCheckpoint(o.checkpointDir, stage.name, meta, snapshotWeights(part));
}

async function saveStage(
  dir: string,
  meta: StageMeta,
  part: readonly tf.layers.Layer[],
  best: WeightValues | null,
  adam: Adam,
): Promise<void> {
  const arrays: WeightValues = new Map();
  for (const [k, v] of snapshotWeights(part)) arrays.set(`current:${k}`, v);
  if (best !== null) for (const [k, v] of best) arrays.set(`best:${k}`, v);
  const st = adam.getState();
  for (const [k, v] of Object.entries(st.m)) arrays.set(`adam-m:${k}`, v);
  for (const [k, v] of Object.entries(st.v)) arrays.set(`adam-v:${k}`, v);
  await saveCheckpoint(
    dir,
    meta.stage,
    { ...meta, adam: { step: st.step, keys: Object.keys(st.m) } },
    arrays,
  );
}

function stageOutcome(
  stage: StageSpec,
  g: SubGraph,
  model: tf.LayersModel,
  meta: StageMeta,
  counts: { trainable: number; nonTrainable: number },
  learningRates: { lr: number; variables: number }[],
  featureSeconds: number,
  resumed: boolean,
): StageOutcome {
  return {
    name: stage.name,
    bestEpoch: meta.bestEpoch,
    best: meta.best ?? { accuracy: NaN, loss: NaN },
    epochsRun: meta.epochsDone,
    epochsPlanned: stage.epochs,
    stoppedEarly: meta.stoppedEarly,
    unfreeze: stage.unfreeze,
    bnPolicy: stage.bnPolicy ?? 'follow',
    trainBn: stage.trainBn ?? false,
    firstTrainableLayer: model.layers[g.start].name,
    cut: g.cut,
    learningRates,
    trainableParams: counts.trainable,
    nonTrainableParams: counts.nonTrainable,
    seconds: meta.seconds,
    featureSeconds,
    resumed,
  };
}

/**
 * Class-1 probabilities of `examples` from the model's CURRENT weights (apply the trained ones
 * first), computed from the features at the cut before layer `start` (the part below it must hold
 * the setup's original weights) in inference mode.
 */
export async function predict(
  setup: TrainingSetup,
  model: tf.LayersModel,
  headLayers: number,
  start: number,
  examples: readonly Example[],
): Promise<Float32Array> {
  const g = subGraph(model, start, headLayers);
  const rows = await setup.features(model, g.cut, examples);
  return probabilities(g, rows, cutShapes(model, g.cut));
}
