/**
 * The experiments of the two papers, run with the multi-stage trainer ({@link trainStages}):
 * - {@link runStrategiesExperiment}: Hai et al. (2022) Table 4 / Figure 4, the six strategies of
 *   `strategies.ts` on one backbone;
 * - {@link runBackbonesExperiment}: Hai et al. Table 3, the two-stage protocol over backbones,
 *   skipping (with a note) those whose ImageNet weights are not on this machine;
 * - {@link runFinetuneDepthExperiment}: Apostolopoulos et al. (2020), VGG16 with their head
 *   (global max pooling, 500, 250, dropout 0.5) and the top n CONVOLUTIONAL layers trainable.
 *
 * Every configuration uses the same seeded split (stratified 80/20 by patient, validation carved
 * from the 80% for best-epoch selection) and is evaluated once on the untouched test part. Each
 * writes a run directory (config.json, history.csv, training-curves.svg/.png, predictions.csv,
 * metrics.json); the experiment writes `<name>.csv`, `<name>.md` and the curves figures.
 */
import { join } from 'node:path';
import { stringify } from '../util/csv.js';
import * as tf from '@tensorflow/tfjs';
import { FeatureCache } from '../engine/cache.js';
import { binaryMetrics } from '../evaluate/metrics.js';
import { addApostolopoulosHead, addHaiHead, APOSTOLOPOULOS_HEAD_LAYERS, HAI_HEAD_LAYERS } from '../models/heads.js';
import { getBackbone, type BackboneSpec } from '../models/table.js';
import { PAPER_BN_POLICY, paperUnfreezeDepth, ruleUnfreezeDepth } from '../models/unfreeze.js';
import { loadBackbone, weightsAvailability, type ResolvedWeights } from '../models/weights/resolve.js';
import { strategyCurves, trainingCurves, writeChart } from '../report/charts/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { examplesOf, inputLayout, loadExperimentData, splitPatients, trainingExamples, type ExperimentData, type ExperimentSplit, type InputKind } from './experiment-data.js';
import { experimentCsv, experimentMarkdown, type ExperimentRow } from './experiment-table.js';
import { seededInit } from './init.js';
import { planStrategy, type StrategyId, type StrategyPlan } from './strategies.js';
import { applyWeights, predict, snapshotWeights, trainStages, TrainingSetup, type Example, type HistoryRow, type StageSpec, type TrainEvent } from './trainer.js';

/** Options shared by the experiments. */
export interface ExperimentCommon {
  readonly manifest: string;
  readonly out: string;
  readonly input: InputKind;
  /** Rotation augmentation: class-balanced training set of this many items. */
  readonly augment?: number;
  readonly seed: number | string;
  readonly epochsScale?: number;
  readonly batchSize?: number;
  /** Micro-batch of stages that train much of the network (default 8). */
  readonly microBatch?: number;
  /** Input side override (default: the backbone table's). */
  readonly inputSize?: number;
  /** Feature cache folder; undefined: features are kept in memory only. */
  readonly cacheDir?: string;
  /** Progress: called with a line of text per stage end and per configuration. */
  readonly log?: (line: string) => void;
  /** Progress bar hook (epochs done / total, label). */
  readonly onProgress?: (label: string, done: number, total: number) => void;
}

/** A trained configuration's record. */
export interface ConfigurationResult {
  readonly row: ExperimentRow;
  readonly history: readonly HistoryRow[];
}

interface Prepared {
  readonly spec: BackboneSpec;
  readonly backbone: tf.LayersModel;
  readonly weights: ResolvedWeights;
  readonly setup: TrainingSetup;
  readonly inputSize: number;
}

/** Load a backbone (seeded He init for random weights) and its feature setup. */
async function prepareBackbone(name: string, weights: string, c: ExperimentCommon, cache: FeatureCache | undefined): Promise<Prepared> {
  const spec = getBackbone(name);
  const inputSize = c.inputSize ?? spec.inputSize;
  const loaded = await loadBackbone(spec.name, { weights, inputShape: [inputSize, inputSize, 3] });
  let weightsId: string | undefined;
  if (loaded.weights.source === 'random') {
    seededInit(loaded.model.layers, new Rng(c.seed).fork(`backbone/${spec.name}`), 'he');
    weightsId = `random:he:${String(c.seed)}`;
  } else weightsId = loaded.weights.sha256;
  const setup = new TrainingSetup({ backboneName: spec.name, weightsId, inputSize, scaling: spec.scaling, layout: inputLayout(c.input), cache });
  return { spec, backbone: loaded.model, weights: loaded.weights, setup, inputSize };
}

function scaled(epochs: number, scale: number | undefined): number {
  return Math.max(1, Math.round(epochs * (scale ?? 1)));
}

/** Data, split and examples for one experiment. */
interface Cohort {
  readonly data: ExperimentData;
  readonly split: ExperimentSplit;
  readonly train: Example[];
  readonly validation: Example[];
  readonly test: Example[];
}

async function loadCohort(c: ExperimentCommon): Promise<Cohort> {
  const data = await loadExperimentData(c.manifest, c.input);
  const split = splitPatients(data.patients, c.seed);
  return {
    data,
    split,
    train: trainingExamples(data.patients, split.train, c.augment, new Rng(c.seed).fork('augment')),
    validation: examplesOf(data.patients, split.validation),
    test: examplesOf(data.patients, split.test),
  };
}

/** Describe the stages actually run, e.g. "warmup:10+finetune:3". */
function epochsText(stages: readonly { name: string; epochsRun: number }[]): string {
  return stages.map((s) => `${s.name}:${s.epochsRun}`).join('+');
}

/**
 * Train one configuration (`model` = backbone + head, head seeded here) through `stages`, evaluate
 * it on the test part, write its run directory `runDir`, and restore the model's weights.
 */
async function trainAndEvaluate(
  name: string,
  description: string,
  prepared: Prepared,
  model: tf.LayersModel,
  headLayers: number,
  stages: StageSpec[],
  cohort: Cohort,
  c: ExperimentCommon,
  runDir: string,
  relDir: string,
  extraConfig: Record<string, unknown>,
): Promise<ConfigurationResult> {
  const head = model.layers.slice(-headLayers);
  seededInit(head, new Rng(c.seed).fork(`head/${name}`), 'glorot');
  const total = stages.reduce((a, s) => a + s.epochs, 0);
  let done = 0;
  const onEvent = (e: TrainEvent): void => {
    if (e.type === 'epoch') c.onProgress?.(`${name} ${e.row.stage}`, ++done, total);
    if (e.type === 'stage-end') c.log?.(`${name}: stage ${e.outcome.name} ${e.outcome.epochsRun} epochs, best epoch ${e.outcome.bestEpoch} (val acc ${(100 * e.outcome.best.accuracy).toFixed(1)}%), ${e.outcome.trainableParams} trainable params, ${e.outcome.seconds.toFixed(1)} s`);
  };
  const t0 = performance.now();
  const res = await trainStages({
    setup: prepared.setup,
    model,
    headLayers,
    train: cohort.train,
    validation: cohort.validation,
    stages,
    batchSize: c.batchSize ?? 16,
    seed: new Rng(c.seed).fork(`train/${name}`).seed,
    ...(stages.some((s) => s.unfreeze > 0) ? { microBatch: c.microBatch ?? 8 } : {}),
    onEvent,
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  // evaluate the kept weights on the test part, then put the model back
  const before = snapshotWeights(model.layers.slice(res.lastStart));
  applyWeights(model, res.weights);
  let probs: Float32Array;
  try {
    probs = await predict(prepared.setup, model, headLayers, res.lastStart, cohort.test);
  } finally {
    applyWeights(model, before);
  }
  const labels = cohort.test.map((e) => e.label);
  const m = binaryMetrics(labels, Array.from(probs));
  const last = res.stages[res.stages.length - 1];
  const metrics = { accuracy: m.accuracy, auc: m.auc, specificity: m.specificity, sensitivity: m.sensitivity, precision: m.precision, f1: m.f1 };
  await writeRunDir(runDir, {
    config: {
      name,
      description,
      backbone: prepared.spec.name,
      weights: prepared.weights,
      inputSize: prepared.inputSize,
      input: c.input,
      augment: c.augment ?? null,
      manifest: cohort.data.manifest.path,
      manifestSha256: cohort.data.manifest.sha256,
      seed: c.seed,
      batchSize: c.batchSize ?? 16,
      stages,
      split: cohort.split,
      selectedOn: 'validation',
      ...extraConfig,
    },
    history: res.history,
    stages: res.stages,
    metrics: { ...m, trainSeconds },
    predictions: cohort.test.map((e, i) => ({ id: e.id, label: e.label, prob: probs[i] })),
    selected: res.stages.map((s) => ({ stage: s.name, epoch: s.bestEpoch })),
    title: `${name}: ${description}`,
  });
  return {
    row: { name, description, metrics, trainSeconds, trainable: last?.trainableParams, epochs: epochsText(res.stages), runDir: relDir },
    history: res.history,
  };
}

interface RunDirContent {
  config: Record<string, unknown>;
  history: readonly HistoryRow[];
  stages: readonly unknown[];
  metrics: Record<string, unknown>;
  predictions: readonly { id: string; label: number; prob: number }[];
  selected: readonly { stage: string; epoch: number }[];
  title: string;
}

async function writeRunDir(dir: string, r: RunDirContent): Promise<void> {
  const json = (x: unknown): string => `${JSON.stringify(x, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
  await writeFileAtomic(join(dir, 'config.json'), json(r.config));
  await writeFileAtomic(join(dir, 'stages.json'), json(r.stages));
  await writeFileAtomic(join(dir, 'metrics.json'), json(r.metrics));
  await writeFileAtomic(
    join(dir, 'history.csv'),
    stringify([['stage', 'epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr', 'seconds'], ...r.history.map((h) => [h.stage, h.epoch, h.loss, Number.isNaN(h.accuracy) ? '' : h.accuracy, h.valLoss, h.valAccuracy, h.lr, h.seconds.toFixed(3)])]),
  );
  await writeFileAtomic(join(dir, 'predictions.csv'), stringify([['patient_id', 'label', 'prob', 'predicted', 'split'], ...r.predictions.map((p) => [p.id, p.label, p.prob, p.prob >= 0.5 ? 1 : 0, 'test'])]));
  if (r.history.length > 0) {
    const rows = r.history.map((h) => ({ stage: h.stage, epoch: h.epoch, loss: h.loss, accuracy: Number.isNaN(h.accuracy) ? h.valAccuracy : h.accuracy, valLoss: h.valLoss, valAccuracy: h.valAccuracy }));
    await writeChart(trainingCurves(rows, { selected: r.selected, title: r.title }), join(dir, 'training-curves'));
  }
}

/** Validation accuracy and loss per epoch of each configuration, one epoch axis per run (stages concatenated). */
async function writeCurves(dir: string, base: string, results: readonly ConfigurationResult[], title: string): Promise<string[]> {
  const runs = results.filter((r) => r.history.length > 0);
  if (runs.length === 0) return [];
  const points = (r: ConfigurationResult, key: 'valAccuracy' | 'valLoss') => r.history.map((h, i) => ({ epoch: i + 1, value: h[key] })).filter((p) => Number.isFinite(p.value));
  const acc = await writeChart(strategyCurves(runs.map((r) => ({ name: r.row.name, points: points(r, 'valAccuracy') })), { title, subtitle: 'validation accuracy per epoch (stages one after another)' }), join(dir, `${base}-accuracy`));
  const loss = await writeChart(
    strategyCurves(runs.map((r) => ({ name: r.row.name, points: points(r, 'valLoss') })), { title, metric: 'Validation loss', format: '.2f', higherIsBetter: false, subtitle: 'validation loss per epoch' }),
    join(dir, `${base}-loss`),
  );
  return [acc.svgPath, loss.svgPath];
}

async function writeTable(dir: string, base: string, rows: readonly ExperimentRow[], title: string, notes: readonly string[]): Promise<void> {
  await writeFileAtomic(join(dir, `${base}.csv`), experimentCsv(rows));
  await writeFileAtomic(join(dir, `${base}.md`), experimentMarkdown(rows, title, notes));
}

function cacheOf(c: ExperimentCommon): FeatureCache | undefined {
  return c.cacheDir === undefined ? undefined : new FeatureCache({ dir: c.cacheDir });
}

function splitNote(cohort: Cohort, c: ExperimentCommon): string {
  return `seed ${String(c.seed)}; patients: ${cohort.split.train.length} train (${cohort.train.length} images${c.augment ? ` after rotation augmentation to ${c.augment}` : ''}), ${cohort.split.validation.length} validation (epoch selection), ${cohort.split.test.length} test (metrics)`;
}

// ---------------------------------------------------------------------------------------------
// Strategies

/** Options of {@link runStrategiesExperiment}. */
export interface StrategiesOptions extends ExperimentCommon {
  readonly backbone: string;
  readonly strategies: readonly StrategyId[];
  /** Layers frozen by strategy 3 (default 200). */
  readonly freezeFirst?: number;
}

/** Result of an experiment. */
export interface ExperimentResult {
  readonly rows: readonly ExperimentRow[];
  readonly tableCsv: string;
  readonly tableMd: string;
  readonly figures: readonly string[];
}

/** The fine-tuning depth of the two-stage method for `spec` (Table 2 depth, else the 1/3 rule). */
function finetuneDepth(spec: BackboneSpec, backbone: tf.LayersModel): { k: number; bnPolicy: 'follow' | 'always' | 'never' } {
  if (PAPER_BN_POLICY[spec.name] !== undefined) {
    const m = paperUnfreezeDepth(spec);
    return { k: m.k, bnPolicy: m.bnPolicy };
  }
  return { k: ruleUnfreezeDepth(backbone), bnPolicy: 'follow' };
}

function toStageSpecs(plan: StrategyPlan): StageSpec[] {
  return plan.stages.map((s) => ({ name: s.name, epochs: s.epochs, lr: 10 ** -s.lrExponent, unfreeze: s.unfreeze, bnPolicy: s.bnPolicy }));
}

/** Hai et al.'s six strategies on one backbone (Table 4 and Figure 4). */
export async function runStrategiesExperiment(o: StrategiesOptions): Promise<ExperimentResult> {
  const cohort = await loadCohort(o);
  const cache = cacheOf(o);
  const spec = getBackbone(o.backbone);
  const prepared = new Map<string, Prepared>();
  const rows: ExperimentRow[] = [];
  const results: ConfigurationResult[] = [];
  const notes: string[] = [splitNote(cohort, o)];
  try {
    for (const id of o.strategies) {
      const weightsKind = id === 'scratch' ? 'none' : 'imagenet';
      let p = prepared.get(weightsKind);
      if (p === undefined) {
        p = await prepareBackbone(spec.name, weightsKind, o, cache);
        prepared.set(weightsKind, p);
      }
      const depth = finetuneDepth(spec, p.backbone);
      const plan = planStrategy(id, {
        backboneLayers: p.backbone.layers.length,
        finetuneDepth: depth.k,
        finetuneBnPolicy: depth.bnPolicy,
        lrExponent: spec.lrExponent,
        epochsScale: o.epochsScale,
        freezeFirst: o.freezeFirst,
      });
      if (plan.note) notes.push(`strategy ${plan.number} (${id}): ${plan.note}`);
      const model = addHaiHead(p.backbone);
      try {
        const r = await trainAndEvaluate(`${plan.number}-${id}`, plan.title, p, model, HAI_HEAD_LAYERS, toStageSpecs(plan), cohort, o, join(o.out, 'runs', id), `runs/${id}`, { strategy: plan });
        const row = { ...r.row, note: plan.note ? 'degenerate, see notes' : undefined };
        rows.push(row);
        results.push({ row, history: r.history });
      } finally {
        for (const l of model.layers.slice(-HAI_HEAD_LAYERS)) l.dispose();
      }
    }
    notes.push(`weights: ${[...prepared.values()].map((p) => p.weights.description).join('; ')}`);
    await writeTable(o.out, 'strategies', rows, `Training strategies, ${spec.name} (Hai et al. 2022, Table 4)`, notes);
    const figures = await writeCurves(o.out, 'strategies-curves', results, `Training strategies, ${spec.name}`);
    return { rows, tableCsv: join(o.out, 'strategies.csv'), tableMd: join(o.out, 'strategies.md'), figures };
  } finally {
    for (const p of prepared.values()) {
      await p.setup.dispose();
      p.backbone.dispose();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backbones

/** Options of {@link runBackbonesExperiment}. */
export interface BackbonesOptions extends ExperimentCommon {
  readonly backbones: readonly string[];
  /** 'imagenet' (default: skip backbones without weights) or 'none' (random init for all). */
  readonly weights?: 'imagenet' | 'none';
}

/** The two-stage protocol over several backbones (Hai et al. Table 3). */
export async function runBackbonesExperiment(o: BackbonesOptions): Promise<ExperimentResult> {
  const specs = o.backbones.map((b) => getBackbone(b));
  const cohort = await loadCohort(o);
  const cache = cacheOf(o);
  const rows: ExperimentRow[] = [];
  const results: ConfigurationResult[] = [];
  const notes: string[] = [splitNote(cohort, o)];
  for (const spec of specs) {
    const weights = o.weights ?? 'imagenet';
    if (weights === 'imagenet') {
      const avail = await weightsAvailability(spec.name, o.inputSize !== undefined ? { inputSize: o.inputSize } : {});
      if (avail.source === 'unavailable') {
        o.log?.(`${spec.name}: skipped, ${avail.description}`);
        rows.push({ name: spec.name, description: `${spec.name}, two-stage`, note: `skipped: no ImageNet weights (${avail.description})` });
        continue;
      }
    }
    const p = await prepareBackbone(spec.name, weights, o, cache);
    const model = addHaiHead(p.backbone);
    try {
      const depth = finetuneDepth(spec, p.backbone);
      const plan = planStrategy('two-stage', { backboneLayers: p.backbone.layers.length, finetuneDepth: depth.k, finetuneBnPolicy: depth.bnPolicy, lrExponent: spec.lrExponent, epochsScale: o.epochsScale });
      const r = await trainAndEvaluate(spec.name, `${spec.name}, ${plan.title.toLowerCase()}, ${p.weights.source} weights`, p, model, HAI_HEAD_LAYERS, toStageSpecs(plan), cohort, o, join(o.out, 'runs', spec.name), `runs/${spec.name}`, { strategy: plan });
      rows.push(r.row);
      results.push(r);
      notes.push(`${spec.name} weights: ${p.weights.description}`);
    } finally {
      await p.setup.dispose();
      model.dispose();
    }
  }
  await writeTable(o.out, 'backbones', rows, 'Backbones, two-stage transfer learning (Hai et al. 2022, Table 3)', notes);
  const figures = await writeCurves(o.out, 'backbones-curves', results, 'Backbones, two-stage');
  return { rows, tableCsv: join(o.out, 'backbones.csv'), tableMd: join(o.out, 'backbones.md'), figures };
}

// ---------------------------------------------------------------------------------------------
// Fine-tune depth (Apostolopoulos et al. 2020)

/** Options of {@link runFinetuneDepthExperiment}. */
export interface FinetuneDepthOptions extends ExperimentCommon {
  /** Numbers of top convolutional layers trainable (default 0, 1, 4, 8, 12, 16). */
  readonly depths: readonly number[];
  /** 'imagenet' (default; refused with the weights message when absent) or 'none'. */
  readonly weights?: string;
  /** Backbone (default VGG16). */
  readonly backbone?: string;
  /** Training epochs (default 100, scaled by epochsScale). */
  readonly epochs?: number;
  /** Learning-rate exponent (default: the backbone table's a). */
  readonly lrExponent?: number;
}

/** Default depths of Apostolopoulos et al.'s sweep. */
export const DEFAULT_FINETUNE_DEPTHS: readonly number[] = [0, 1, 4, 8, 12, 16];

/**
 * The unfreeze depth k (top backbone layers, `model.layers` order) that makes the top `n`
 * convolutional layers trainable (and everything above them); `n` larger than the number of
 * convolutional layers unfreezes all of them.
 */
export function convDepthToUnfreeze(backbone: tf.LayersModel, n: number): { k: number; convLayers: number; trainableConv: number } {
  if (!Number.isInteger(n) || n < 0) throw new InputError(`--depths: each depth must be a whole number >= 0, got ${n}`);
  const layers = backbone.layers;
  const convIdx = layers.map((l, i) => [l.getClassName(), i] as const).filter(([c]) => c === 'Conv2D' || c === 'DepthwiseConv2D' || c === 'SeparableConv2D').map(([, i]) => i);
  const m = Math.min(n, convIdx.length);
  if (m === 0) return { k: 0, convLayers: convIdx.length, trainableConv: 0 };
  const first = convIdx[convIdx.length - m];
  return { k: layers.length - first, convLayers: convIdx.length, trainableConv: m };
}

/** Apostolopoulos et al.'s sweep of trainable top convolutional layers (VGG16, their head). */
export async function runFinetuneDepthExperiment(o: FinetuneDepthOptions): Promise<ExperimentResult> {
  const name = o.backbone ?? 'VGG16';
  const spec = getBackbone(name);
  const weights = o.weights ?? 'imagenet';
  const cohort = await loadCohort(o);
  const p = await prepareBackbone(spec.name, weights, o, cacheOf(o));
  const model = addApostolopoulosHead(p.backbone);
  const rows: ExperimentRow[] = [];
  const results: ConfigurationResult[] = [];
  const notes: string[] = [splitNote(cohort, o), `weights: ${p.weights.description}`, 'head: global max pooling, Dense(500, ReLU), Dropout(0.5), Dense(250, ReLU), Dropout(0.5), Dense(2, softmax) (Apostolopoulos et al. 2020)'];
  const a = o.lrExponent ?? spec.lrExponent;
  const epochs = scaled(o.epochs ?? 100, o.epochsScale);
  try {
    for (const n of o.depths) {
      const d = convDepthToUnfreeze(p.backbone, n);
      if (d.trainableConv < n) notes.push(`depth ${n}: ${spec.name} (include_top=False) has ${d.convLayers} convolutional layers; all ${d.trainableConv} trainable`);
      const stage: StageSpec = { name: 'train', epochs, lr: 10 ** -a, unfreeze: d.k, bnPolicy: 'follow' };
      const r = await trainAndEvaluate(`conv-${n}`, `top ${d.trainableConv} conv layers trainable (${d.k} layers)`, p, model, APOSTOLOPOULOS_HEAD_LAYERS, [stage], cohort, o, join(o.out, 'runs', `conv-${n}`), `runs/conv-${n}`, { trainableConvLayers: d.trainableConv, unfreeze: d.k, head: 'apostolopoulos' });
      rows.push(r.row);
      results.push(r);
    }
    await writeTable(o.out, 'finetune-depth', rows, `Trainable top convolutional layers, ${spec.name} (Apostolopoulos et al. 2020)`, notes);
    const figures = await writeCurves(o.out, 'finetune-depth-curves', results, `Trainable convolutional layers, ${spec.name}`);
    return { rows, tableCsv: join(o.out, 'finetune-depth.csv'), tableMd: join(o.out, 'finetune-depth.md'), figures };
  } finally {
    await p.setup.dispose();
    model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Tune data (shared with `polarcad tune`)

export { loadCohort as loadExperimentCohort, prepareBackbone as prepareExperimentBackbone };
export type { Cohort as ExperimentCohort, Prepared as PreparedBackbone };
