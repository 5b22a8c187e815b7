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
import { runFile } from '../rundir/files.js';
import { writeHistory, writePredictions } from '../rundir/tables.js';
import type { Label } from '../domain/views.js';
import { layoutOf } from '../domain/input-mode.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FeatureCache } from '../engine/cache.js';
import { callAt } from '../evaluate/metrics.js';
import { metricsWithIntervals } from '../evaluate/intervals.js';
import {
  addApostolopoulosHead,
  addHaiHead,
  APOSTOLOPOULOS_HEAD_LAYERS,
  HAI_HEAD_LAYERS,
} from '../models/heads.js';
import { getBackbone, type BackboneSpec } from '../models/table.js';
import { PAPER_BN_POLICY, paperUnfreezeDepth, ruleUnfreezeDepth } from '../models/unfreeze.js';
import { loadBackbone, weightsAvailability, type ResolvedWeights } from '../models/weights/resolve.js';
import { strategyCurves, trainingCurves, writeChart } from '../report/charts/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import {
  examplesOf,
  loadExperimentData,
  splitPatients,
  trainingExamples,
  type ExperimentData,
  type ExperimentSplit,
  type InputKind,
} from '../train/experiment-data.js';
import {
  experimentCsv,
  experimentMarkdown,
  METRIC_COLUMNS,
  type ExperimentRow,
} from '../train/experiment-table.js';
import { seededInit } from '../train/init.js';
import { planStrategy, type StrategyId, type StrategyPlan } from '../train/strategies.js';
import {
  applyWeights,
  predict,
  snapshotWeights,
  trainStages,
  TrainingSetup,
  type Example,
  type HistoryRow,
  type StageSpec,
  type TrainEvent,
} from '../train/trainer.js';

/** The options of an experiment that decide its results (and the manifest they are computed from). */
export interface ExperimentSettings {
  readonly manifest: string;
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
}

/** Where the work of an experiment runs and how it reports (nothing here changes a result). */
export interface ExperimentHooks {
  /** Feature cache folder; undefined: features are kept in memory only. */
  readonly cacheDir?: string;
  /** Progress: called with a line of text per stage end and per configuration. */
  readonly log?: (line: string) => void;
  /** Progress bar hook (epochs or jobs done / total, label, optional detail such as jobs running). */
  readonly onProgress?: (label: string, done: number, total: number, detail?: string) => void;
  /**
   * Worker threads for the gradient step of every configuration (`TrainOptions.workers`, data
   * parallel; the same result up to float rounding); undefined: this thread.
   */
  readonly trainWorkers?: number;
}

/** Options shared by the experiments. */
export interface ExperimentCommon extends ExperimentSettings, ExperimentHooks {
  readonly out: string;
  /** Who runs the configurations (default {@link runUnitsInProcess}; `--queue`: a job queue). */
  readonly runner?: UnitRunner;
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

/** Settings and hooks without the output folder: what loading data and training need. */
type RunSettings = ExperimentSettings & ExperimentHooks;

/** Load a backbone (seeded He init for random weights) and its feature setup. */
async function prepareBackbone(
  name: string,
  weights: string,
  c: RunSettings,
  cache: FeatureCache | undefined,
): Promise<Prepared> {
  const spec = getBackbone(name);
  const inputSize = c.inputSize ?? spec.inputSize;
  const loaded = await loadBackbone(spec.name, { weights, inputShape: [inputSize, inputSize, 3] });
  let weightsId: string | undefined;
  if (loaded.weights.source === 'random') {
    seededInit(loaded.model.layers, new Rng(c.seed).fork(`backbone/${spec.name}`), 'he');
    weightsId = `random:he:${String(c.seed)}`;
  } else weightsId = loaded.weights.sha256;
  const setup = new TrainingSetup({
    backboneName: spec.name,
    weightsId,
    inputSize,
    scaling: spec.scaling,
    layout: layoutOf(c.input),
    cache,
  });
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

async function loadCohort(c: ExperimentSettings): Promise<Cohort> {
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

/**
 * The checksum of an experiment's data: the manifest's bytes and, per patient, its label and the
 * sha256 of the image files the input kind reads. Equal checksums: the same examples.
 * @example cohortChecksum((await loadExperimentCohort(settings)).data) // '3fa1…'
 */
export function cohortChecksum(data: ExperimentData): string {
  const h = createHash('sha256').update(`manifest:${data.manifest.sha256};input:${data.input};`);
  for (const p of data.patients) h.update(`${p.id}:${p.label}:${p.example.key};`);
  return h.digest('hex');
}

/** Describe the stages actually run, e.g. "warmup:10+finetune:3". */
function epochsText(stages: readonly { name: string; epochsRun: number }[]): string {
  return stages.map((s) => `${s.name}:${s.epochsRun}`).join('+');
}

/** A trained configuration: its table row, history and the content of its run directory. */
interface Trained extends ConfigurationResult {
  readonly runDir: RunDirContent;
}

/**
 * Train one configuration (`model` = backbone + head, head seeded here) through `stages`, evaluate
 * it on the test part and restore the model's weights; the run directory `relDir` is described,
 * not written (see {@link writeRunDir}).
 */
async function trainAndEvaluate(
  name: string,
  description: string,
  prepared: Prepared,
  model: tf.LayersModel,
  headLayers: number,
  stages: StageSpec[],
  cohort: Cohort,
  c: RunSettings,
  relDir: string,
  extraConfig: Record<string, unknown>,
): Promise<Trained> {
  const head = model.layers.slice(-headLayers);
  seededInit(head, new Rng(c.seed).fork(`head/${name}`), 'glorot');
  const total = stages.reduce((a, s) => a + s.epochs, 0);
  let done = 0;
  const onEvent = (e: TrainEvent): void => {
    if (e.type === 'epoch') c.onProgress?.(`${name} ${e.row.stage}`, ++done, total);
    if (e.type === 'stage-end')
      c.log?.(
        `${name}: stage ${e.outcome.name} ${e.outcome.epochsRun} epochs, best epoch ${e.outcome.bestEpoch} (val acc ${(100 * e.outcome.best.accuracy).toFixed(1)}%), ${e.outcome.trainableParams} trainable params, ${e.outcome.seconds.toFixed(1)} s`,
      );
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
    ...(c.trainWorkers !== undefined ? { workers: c.trainWorkers } : {}),
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
  const withCi = metricsWithIntervals(labels, Array.from(probs), { seed: `${String(c.seed)}/${name}` });
  const m = withCi.metrics;
  const last = res.stages[res.stages.length - 1];
  const intervals = Object.fromEntries(
    METRIC_COLUMNS.map((k) => [k, { lo: withCi[k].lo, hi: withCi[k].hi }]),
  );
  const metrics = {
    accuracy: m.accuracy,
    auc: m.auc,
    specificity: m.specificity,
    sensitivity: m.sensitivity,
    precision: m.precision,
    f1: m.f1,
  };
  const runDir: RunDirContent = {
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
    metrics: { ...m, intervals, trainSeconds },
    predictions: cohort.test.map((e, i) => ({ id: e.id, label: e.label, prob: probs[i] })),
    selected: res.stages.map((s) => ({ stage: s.name, epoch: s.bestEpoch })),
    title: `${name}: ${description}`,
  };
  return {
    row: {
      name,
      description,
      metrics,
      intervals,
      trainSeconds,
      trainable: last?.trainableParams,
      epochs: epochsText(res.stages),
      runDir: relDir,
    },
    history: res.history,
    runDir,
  };
}

/** What a configuration's run directory holds (config.json, history, predictions, metrics, curves). */
export interface RunDirContent {
  readonly config: Record<string, unknown>;
  readonly history: readonly HistoryRow[];
  readonly stages: readonly unknown[];
  readonly metrics: Record<string, unknown>;
  readonly predictions: readonly { id: string; label: number; prob: number }[];
  readonly selected: readonly { stage: string; epoch: number }[];
  readonly title: string;
}

async function writeRunDir(dir: string, r: RunDirContent): Promise<void> {
  const json = (x: unknown): string =>
    `${JSON.stringify(x, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
  await writeFileAtomic(runFile(dir, 'config'), json(r.config));
  await writeFileAtomic(join(dir, 'stages.json'), json(r.stages));
  await writeFileAtomic(runFile(dir, 'metrics'), json(r.metrics));
  await writeHistory(runFile(dir, 'history'), r.history);
  await writePredictions(
    runFile(dir, 'predictions'),
    r.predictions.map((p) => ({
      id: p.id,
      label: p.label as Label,
      prob: p.prob,
      predicted: callAt(p.prob),
      split: 'test',
    })),
  );
  if (r.history.length > 0) {
    const rows = r.history.map((h) => ({
      stage: h.stage,
      epoch: h.epoch,
      loss: h.loss,
      accuracy: Number.isNaN(h.accuracy) ? h.valAccuracy : h.accuracy,
      valLoss: h.valLoss,
      valAccuracy: h.valAccuracy,
    }));
    await writeChart(
      trainingCurves(rows, { selected: r.selected, title: r.title }),
      join(dir, 'training-curves'),
    );
  }
}

/** Validation accuracy and loss per epoch of each configuration, one epoch axis per run (stages concatenated). */
async function writeCurves(
  dir: string,
  base: string,
  results: readonly ConfigurationResult[],
  title: string,
): Promise<string[]> {
  const runs = results.filter((r) => r.history.length > 0);
  if (runs.length === 0) return [];
  const points = (r: ConfigurationResult, key: 'valAccuracy' | 'valLoss') =>
    r.history.map((h, i) => ({ epoch: i + 1, value: h[key] })).filter((p) => Number.isFinite(p.value));
  const acc = await writeChart(
    strategyCurves(
      runs.map((r) => ({ name: r.row.name, points: points(r, 'valAccuracy') })),
      { title, subtitle: 'validation accuracy per epoch (stages one after another)' },
    ),
    join(dir, `${base}-accuracy`),
  );
  const loss = await writeChart(
    strategyCurves(
      runs.map((r) => ({ name: r.row.name, points: points(r, 'valLoss') })),
      {
        title,
        metric: 'Validation loss',
        format: '.2f',
        higherIsBetter: false,
        subtitle: 'validation loss per epoch',
      },
    ),
    join(dir, `${base}-loss`),
  );
  return [acc.svgPath, loss.svgPath];
}

/**
 * Write an experiment's table `base`.csv and `base`.md (titled `titles.table`, with `notes`) and
 * its validation curves (`base`-curves, titled `titles.curves`) into `dir`; returns the
 * experiment's result naming them.
 */
async function writeExperiment(
  dir: string,
  base: string,
  rows: readonly ExperimentRow[],
  results: readonly ConfigurationResult[],
  titles: { readonly table: string; readonly curves: string },
  notes: readonly string[],
): Promise<ExperimentResult> {
  const tableCsv = join(dir, `${base}.csv`);
  const tableMd = join(dir, `${base}.md`);
  await writeFileAtomic(tableCsv, experimentCsv(rows));
  await writeFileAtomic(tableMd, experimentMarkdown(rows, titles.table, notes));
  const figures = await writeCurves(dir, `${base}-curves`, results, titles.curves);
  return { rows, tableCsv, tableMd, figures };
}

/** The note naming the weights the configurations used. */
function weightsNote(results: readonly UnitResult[]): string {
  return `weights: ${unique(results.map((r) => r.weights)).join('; ')}`;
}

function cacheOf(c: ExperimentHooks): FeatureCache | undefined {
  return c.cacheDir === undefined ? undefined : new FeatureCache({ dir: c.cacheDir });
}

function splitNote(cohort: Cohort, c: ExperimentSettings): string {
  return `seed ${String(c.seed)}; patients: ${cohort.split.train.length} train (${cohort.train.length} images${c.augment ? ` after rotation augmentation to ${c.augment}` : ''}), ${cohort.split.validation.length} validation (epoch selection), ${cohort.split.test.length} test (metrics)`;
}

/** The fine-tuning depth of the two-stage method for `spec` (Table 2 depth, else the 1/3 rule). */
function finetuneDepth(
  spec: BackboneSpec,
  backbone: tf.LayersModel,
): { k: number; bnPolicy: 'follow' | 'always' | 'never' } {
  if (PAPER_BN_POLICY[spec.name] !== undefined) {
    const m = paperUnfreezeDepth(spec);
    return { k: m.k, bnPolicy: m.bnPolicy };
  }
  return { k: ruleUnfreezeDepth(backbone), bnPolicy: 'follow' };
}

function toStageSpecs(plan: StrategyPlan): StageSpec[] {
  return plan.stages.map((s) => ({
    name: s.name,
    epochs: s.epochs,
    lr: 10 ** -s.lrExponent,
    unfreeze: s.unfreeze,
    bnPolicy: s.bnPolicy,
    trainBn: s.trainBn,
  }));
}

// ---------------------------------------------------------------------------------------------
// Units: one configuration of an experiment, the same function in this process and on a worker

/** One configuration of an experiment: plain data (a queued job carries it as it is). */
export type ExperimentUnit =
  | {
      readonly experiment: 'strategies';
      readonly backbone: string;
      readonly strategy: StrategyId;
      /** Layers frozen by strategy 3 (default 200). */
      readonly freezeFirst?: number;
      /** BN in training mode (default: strategy 1 only, `strategies.ts`). */
      readonly bnTraining?: boolean;
    }
  | {
      readonly experiment: 'backbones';
      readonly backbone: string;
      readonly weights: 'imagenet' | 'none';
    }
  | {
      readonly experiment: 'finetune-depth';
      readonly backbone: string;
      readonly weights: string;
      /** Trainable top convolutional layers. */
      readonly depth: number;
      /** Training epochs before the epochs scale. */
      readonly epochs: number;
      readonly lrExponent?: number;
    };

/** What one configuration gives back: its row, history, run directory and notes for the table. */
export interface UnitResult extends ConfigurationResult {
  readonly runDir: RunDirContent;
  /** Notes of this configuration for the table (e.g. a degenerate strategy). */
  readonly notes: readonly string[];
  /** The backbone weights' provenance. */
  readonly weights: string;
}

/**
 * The data and loaded backbones the configurations of one experiment share: loaded once per
 * process (the in-process run, or a worker taking jobs of the same sweep one after another).
 */
export class ExperimentContext {
  private readonly prepared = new Map<string, Prepared>();

  private constructor(
    readonly settings: RunSettings,
    readonly cohort: Cohort,
    private readonly cache: FeatureCache | undefined,
  ) {}

  /**
   * Open the context of `settings` (loads the manifest; `cohort` when already loaded).
   * @example const ctx = await ExperimentContext.open(settings); try { await runExperimentUnit(ctx, unit) } finally { await ctx.dispose() }
   */
  static async open(settings: RunSettings, cohort?: Cohort): Promise<ExperimentContext> {
    return new ExperimentContext(settings, cohort ?? (await loadCohort(settings)), cacheOf(settings));
  }

  /** The backbone `name` with `weights`, loaded on first use; at most two are kept loaded. */
  async backbone(name: string, weights: string): Promise<Prepared> {
    const key = `${name}\n${weights}`;
    const had = this.prepared.get(key);
    if (had !== undefined) return had;
    for (const [k, p] of this.prepared)
      if (this.prepared.size >= 2) {
        this.prepared.delete(k);
        await disposePrepared(p);
      }
    const p = await prepareBackbone(name, weights, this.settings, this.cache);
    this.prepared.set(key, p);
    return p;
  }

  /** Release every loaded backbone. */
  async dispose(): Promise<void> {
    for (const p of this.prepared.values()) await disposePrepared(p);
    this.prepared.clear();
  }
}

async function disposePrepared(p: Prepared): Promise<void> {
  await p.setup.dispose();
  p.backbone.dispose();
}

/**
 * Train and evaluate one configuration of an experiment: the unit of work of the in-process run
 * and of a queue worker alike. Writes nothing; the caller writes the run directory.
 * @example const r = await runExperimentUnit(ctx, { experiment: 'strategies', backbone: 'MobileNetV2', strategy: 'warmup' })
 */
export async function runExperimentUnit(ctx: ExperimentContext, unit: ExperimentUnit): Promise<UnitResult> {
  const s = ctx.settings;
  const spec = getBackbone(unit.backbone);
  if (unit.experiment === 'finetune-depth') {
    const p = await ctx.backbone(spec.name, unit.weights);
    const n = unit.depth;
    const d = convDepthToUnfreeze(p.backbone, n);
    const a = unit.lrExponent ?? spec.lrExponent;
    const stage: StageSpec = {
      name: 'train',
      epochs: scaled(unit.epochs, s.epochsScale),
      lr: 10 ** -a,
      unfreeze: d.k,
      bnPolicy: 'follow',
    };
    const model = addApostolopoulosHead(p.backbone);
    try {
      const r = await trainAndEvaluate(
        `conv-${n}`,
        `top ${d.trainableConv} conv layers trainable (${d.k} layers)`,
        p,
        model,
        APOSTOLOPOULOS_HEAD_LAYERS,
        [stage],
        ctx.cohort,
        s,
        `runs/conv-${n}`,
        { trainableConvLayers: d.trainableConv, unfreeze: d.k, head: 'apostolopoulos' },
      );
      const notes =
        d.trainableConv < n
          ? [
              `depth ${n}: ${spec.name} (include_top=False) has ${d.convLayers} convolutional layers; all ${d.trainableConv} trainable`,
            ]
          : [];
      return { ...r, notes, weights: p.weights.description };
    } finally {
      for (const l of model.layers.slice(-APOSTOLOPOULOS_HEAD_LAYERS)) l.dispose();
    }
  }
  const weightsKind =
    unit.experiment === 'backbones' ? unit.weights : unit.strategy === 'scratch' ? 'none' : 'imagenet';
  const p = await ctx.backbone(spec.name, weightsKind);
  const depth = finetuneDepth(spec, p.backbone);
  const plan = planStrategy(unit.experiment === 'strategies' ? unit.strategy : 'two-stage', {
    backboneLayers: p.backbone.layers.length,
    finetuneDepth: depth.k,
    finetuneBnPolicy: depth.bnPolicy,
    lrExponent: spec.lrExponent,
    epochsScale: s.epochsScale,
    ...(unit.experiment === 'strategies'
      ? { freezeFirst: unit.freezeFirst, bnTraining: unit.bnTraining }
      : {}),
  });
  const model = addHaiHead(p.backbone);
  try {
    if (unit.experiment === 'backbones') {
      const r = await trainAndEvaluate(
        spec.name,
        `${spec.name}, ${plan.title.toLowerCase()}, ${p.weights.source} weights`,
        p,
        model,
        HAI_HEAD_LAYERS,
        toStageSpecs(plan),
        ctx.cohort,
        s,
        `runs/${spec.name}`,
        { strategy: plan },
      );
      return {
        ...r,
        notes: [`${spec.name} weights: ${p.weights.description}`],
        weights: p.weights.description,
      };
    }
    const id = unit.strategy;
    const r = await trainAndEvaluate(
      `${plan.number}-${id}`,
      plan.title,
      p,
      model,
      HAI_HEAD_LAYERS,
      toStageSpecs(plan),
      ctx.cohort,
      s,
      `runs/${id}`,
      { strategy: plan },
    );
    return {
      ...r,
      row: { ...r.row, note: plan.note ? 'degenerate, see notes' : undefined },
      notes: [
        ...(plan.note ? [`strategy ${plan.number} (${id}): ${plan.note}`] : []),
        `strategy ${plan.number} (${id}): BatchNormalization in ${bnModeText(plan, s)}`,
      ],
      weights: p.weights.description,
    };
  } finally {
    for (const l of model.layers.slice(-HAI_HEAD_LAYERS)) l.dispose();
  }
}

/** The configurations of one experiment, with its loaded data, handed to a {@link UnitRunner}. */
export interface UnitBatch {
  readonly common: ExperimentCommon;
  readonly cohort: Cohort;
  readonly units: readonly ExperimentUnit[];
}

/** Runs the configurations of an experiment and gives their results back in the units' order. */
export type UnitRunner = (batch: UnitBatch) => Promise<UnitResult[]>;

/**
 * The embedded runner: every configuration in this process, one after another.
 * @example const results = await runUnitsInProcess({ common, cohort, units })
 */
export const runUnitsInProcess: UnitRunner = async ({ common, cohort, units }) => {
  const ctx = await ExperimentContext.open(common, cohort);
  try {
    const results: UnitResult[] = [];
    for (const u of units) results.push(await runExperimentUnit(ctx, u));
    return results;
  } finally {
    await ctx.dispose();
  }
};

async function runUnits(
  common: ExperimentCommon,
  cohort: Cohort,
  units: ExperimentUnit[],
): Promise<UnitResult[]> {
  const results = await (common.runner ?? runUnitsInProcess)({ common, cohort, units });
  for (const r of results) await writeRunDir(join(common.out, r.row.runDir ?? r.row.name), r.runDir);
  return results;
}

/** Run one unit per value of a swept setting (`unitOf` builds it); the results and their rows, in order. */
async function runSweep<T>(
  common: ExperimentCommon,
  cohort: Cohort,
  values: readonly T[],
  unitOf: (value: T) => ExperimentUnit,
): Promise<{ results: UnitResult[]; rows: ExperimentRow[] }> {
  const results = await runUnits(common, cohort, values.map(unitOf));
  return { results, rows: results.map((r) => r.row) };
}

const unique = (xs: readonly string[]): string[] => [...new Set(xs)];

// ---------------------------------------------------------------------------------------------
// Strategies

/** Options of {@link runStrategiesExperiment}. */
export interface StrategiesOptions extends ExperimentCommon {
  readonly backbone: string;
  readonly strategies: readonly StrategyId[];
  /** Layers frozen by strategy 3 (default 200). */
  readonly freezeFirst?: number;
  /** Strategies whose trainable BN layers use batch statistics (default: scratch only). */
  readonly bnTraining?: readonly StrategyId[];
}

/** How a strategy's BN layers ran, for the table's notes. */
function bnModeText(plan: StrategyPlan, s: RunSettings): string {
  if (!plan.stages.some((st) => st.trainBn)) return 'inference mode (moving averages kept)';
  const micro = s.microBatch ?? 8;
  const shard = Math.ceil((s.batchSize ?? 16) / (s.trainWorkers ?? 1));
  const workers = s.trainWorkers !== undefined ? `, ${s.trainWorkers} workers` : '';
  return `training mode: statistics of up to ${Math.min(micro, shard)} examples per forward call (micro-batch ${micro}${workers}), moving averages updated`;
}

/** Result of an experiment. */
export interface ExperimentResult {
  readonly rows: readonly ExperimentRow[];
  readonly tableCsv: string;
  readonly tableMd: string;
  readonly figures: readonly string[];
}

/** Hai et al.'s six strategies on one backbone (Table 4 and Figure 4). */
export async function runStrategiesExperiment(o: StrategiesOptions): Promise<ExperimentResult> {
  const cohort = await loadCohort(o);
  const spec = getBackbone(o.backbone);
  const { results, rows } = await runSweep(o, cohort, o.strategies, (strategy) => ({
    experiment: 'strategies',
    backbone: spec.name,
    strategy,
    ...(o.freezeFirst !== undefined ? { freezeFirst: o.freezeFirst } : {}),
    ...(o.bnTraining !== undefined ? { bnTraining: o.bnTraining.includes(strategy) } : {}),
  }));
  const notes = [splitNote(cohort, o), ...results.flatMap((r) => r.notes), weightsNote(results)];
  const titles = {
    table: `Training strategies, ${spec.name} (Hai et al. 2022, Table 4)`,
    curves: `Training strategies, ${spec.name}`,
  };
  return writeExperiment(o.out, 'strategies', rows, results, titles, notes);
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
  const weights = o.weights ?? 'imagenet';
  const plan: (ExperimentRow | ExperimentUnit)[] = [];
  for (const spec of specs) {
    if (weights === 'imagenet') {
      const avail = await weightsAvailability(
        spec.name,
        o.inputSize !== undefined ? { inputSize: o.inputSize } : {},
      );
      if (avail.source === 'unavailable') {
        o.log?.(`${spec.name}: skipped, ${avail.description}`);
        plan.push({
          name: spec.name,
          description: `${spec.name}, two-stage`,
          note: `skipped: no ImageNet weights (${avail.description})`,
        });
        continue;
      }
    }
    plan.push({ experiment: 'backbones', backbone: spec.name, weights });
  }
  const isUnit = (x: ExperimentRow | ExperimentUnit): x is ExperimentUnit => 'experiment' in x;
  const results = await runUnits(o, cohort, plan.filter(isUnit));
  let next = 0;
  const rows = plan.map((x) => (isUnit(x) ? results[next++].row : x));
  const notes = [splitNote(cohort, o), ...results.flatMap((r) => r.notes)];
  const titles = {
    table: 'Backbones, two-stage transfer learning (Hai et al. 2022, Table 3)',
    curves: 'Backbones, two-stage',
  };
  return writeExperiment(o.out, 'backbones', rows, results, titles, notes);
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

/** A depth of the sweep: a whole number of convolutional layers >= 0. @throws InputError naming `--depths` */
function checkDepth(n: number): void {
  if (!Number.isInteger(n) || n < 0)
    throw new InputError(`--depths: each depth must be a whole number >= 0, got ${n}`);
}

/**
 * The unfreeze depth k (top backbone layers, `model.layers` order) that makes the top `n`
 * convolutional layers trainable (and everything above them); `n` larger than the number of
 * convolutional layers unfreezes all of them.
 */
export function convDepthToUnfreeze(
  backbone: tf.LayersModel,
  n: number,
): { k: number; convLayers: number; trainableConv: number } {
  checkDepth(n);
  const layers = backbone.layers;
  const convIdx = layers
    .map((l, i) => [l.getClassName(), i] as const)
    .filter(([c]) => c === 'Conv2D' || c === 'DepthwiseConv2D' || c === 'SeparableConv2D')
    .map(([, i]) => i);
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
  o.depths.forEach(checkDepth);
  const { results, rows } = await runSweep(o, cohort, o.depths, (depth) => ({
    experiment: 'finetune-depth',
    backbone: spec.name,
    weights,
    depth,
    epochs: o.epochs ?? 100,
    ...(o.lrExponent !== undefined ? { lrExponent: o.lrExponent } : {}),
  }));
  const notes: string[] = [
    splitNote(cohort, o),
    weightsNote(results),
    'head: global max pooling, Dense(500, ReLU), Dropout(0.5), Dense(250, ReLU), Dropout(0.5), Dense(2, softmax) (Apostolopoulos et al. 2020)',
    ...results.flatMap((r) => r.notes),
  ];
  const titles = {
    table: `Trainable top convolutional layers, ${spec.name} (Apostolopoulos et al. 2020)`,
    curves: `Trainable convolutional layers, ${spec.name}`,
  };
  return writeExperiment(o.out, 'finetune-depth', rows, results, titles, notes);
}

// ---------------------------------------------------------------------------------------------
// Tune data (shared with `polarcad tune`)

export { loadCohort as loadExperimentCohort, prepareBackbone as prepareExperimentBackbone };
export type { Cohort as ExperimentCohort, Prepared as PreparedBackbone };
