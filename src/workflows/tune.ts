/**
 * `polarcad tune`: Hyperband (Li et al. 2017, {@link hyperband}) over the hyperparameters of
 * Hai et al.'s (2022) head (hidden units, dropout rate, optionally the learning-rate exponent a),
 * each configuration trained as a warm-up stage (backbone frozen) on cached backbone features,
 * so an epoch costs only the head. Scored on the validation part only: the function receives no
 * test examples at all.
 */
import { join } from 'node:path';
import { stringify } from '../util/csv.js';
import type * as tf from '@tensorflow/tfjs';
import { addHaiHead, HAI_HEAD_LAYERS } from '../models/heads.js';
import { hyperbandChart, writeChart } from '../report/charts/index.js';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { FeatureCache } from '../engine/cache.js';
import { frozenFrontier } from '../engine/features.js';
import {
  loadExperimentCohort,
  prepareExperimentBackbone,
  type ExperimentCohort,
  type ExperimentCommon,
  type PreparedBackbone,
} from './experiment.js';
import { getBackbone } from '../models/table.js';
import { Rng } from '../util/rng.js';
import { InputError } from '../util/errors.js';
import {
  DEFAULT_HEAD_SPACE,
  hyperband,
  sampleHeadConfig,
  validateHeadSpace,
  type HeadConfig,
  type HeadSearchSpace,
  type HyperbandData,
  type HyperbandResult,
  type HyperbandTrial,
  type RoundRequest,
  type TrialOutcome,
} from '../train/hyperband.js';
import { seededInit } from '../train/init.js';
import { trainStages, type Example, type TrainingSetup } from '../train/trainer.js';

/** Options of {@link tuneHead}. */
export interface TuneHeadOptions {
  /** Shared features (one per backbone + weights + input). */
  readonly setup: TrainingSetup;
  /** The include_top=False backbone (its weights are not changed). */
  readonly backbone: tf.LayersModel;
  /** The backbone table's learning-rate exponent a (used when the space has none). */
  readonly lrExponent: number;
  /** Training examples (augmented copies allowed), grouped by patient id. */
  readonly train: readonly Example[];
  /** Validation examples: the selection / scoring set. */
  readonly validation: readonly Example[];
  readonly space?: HeadSearchSpace;
  /** R: maximum epochs per configuration (default 100, the warm-up length of Hai et al.). */
  readonly maxEpochs?: number;
  readonly eta?: number;
  readonly batchSize?: number;
  readonly seed: number | string;
  readonly onTrial?: (trial: HyperbandTrial<HeadConfig>, done: number, total: number) => void;
}

function byId(examples: readonly Example[]): Map<string, Example[]> {
  const m = new Map<string, Example[]>();
  for (const e of examples) {
    const l = m.get(e.id);
    if (l === undefined) m.set(e.id, [e]);
    else l.push(e);
  }
  return m;
}

/**
 * Train one head configuration for `epochs` warm-up epochs on `data.train`, keep its best
 * validation epoch (trainer's greedy selection) and return that epoch's validation accuracy and
 * loss. The head is freshly built and seeded from `rng`, and disposed afterwards.
 */
export function headObjective(
  o: TuneHeadOptions,
): (
  config: HeadConfig,
  epochs: number,
  rng: Rng,
  data: HyperbandData,
) => Promise<{ score: number; loss: number }> {
  const trainById = byId(o.train);
  const valById = byId(o.validation);
  const pick = (ids: readonly string[], from: Map<string, Example[]>, what: string): Example[] =>
    ids.flatMap((id) => {
      const l = from.get(id);
      if (l === undefined) throw new Error(`internal: ${what} patient ${id} has no example`);
      return l;
    });
  return async (config, epochs, rng, data) => {
    const model = addHaiHead(o.backbone, { units: config.units, dropout: config.dropout });
    const head = model.layers.slice(-HAI_HEAD_LAYERS);
    try {
      seededInit(head, rng.fork('head'), 'glorot');
      const a = config.lrExponent ?? o.lrExponent;
      const res = await trainStages({
        setup: o.setup,
        model,
        headLayers: HAI_HEAD_LAYERS,
        train: pick(data.train, trainById, 'training'),
        validation: pick(data.validation, valById, 'validation'),
        stages: [{ name: 'warmup', epochs, lr: 10 ** -a, unfreeze: 0 }],
        batchSize: o.batchSize ?? 16,
        seed: rng.fork('train').seed,
      });
      return { score: res.validation.accuracy, loss: res.validation.loss };
    } finally {
      for (const l of head) l.dispose();
    }
  };
}

/** Hyperband over the head on cached warm-up features (see the module note). */
export async function tuneHead(o: TuneHeadOptions): Promise<HyperbandResult<HeadConfig>> {
  const space = o.space ?? DEFAULT_HEAD_SPACE;
  validateHeadSpace(space);
  const train = [...new Set(o.train.map((e) => e.id))];
  const validation = [...new Set(o.validation.map((e) => e.id))];
  if (validation.length === 0) throw new InputError('tune: the validation part is empty');
  return hyperband<HeadConfig>({
    maxResource: o.maxEpochs ?? 100,
    eta: o.eta ?? 3,
    seed: o.seed,
    data: { train, validation },
    sample: (rng) => sampleHeadConfig(space, rng),
    evaluate: headObjective(o),
    onTrial: o.onTrial,
  });
}

/** Columns of trials.csv. */
export const TRIAL_COLUMNS = [
  'bracket',
  'round',
  'config_id',
  'units',
  'dropout',
  'lr_exponent',
  'epochs',
  'val_accuracy',
  'val_loss',
  'seconds',
] as const;

/** The trial table as CSV ({@link TRIAL_COLUMNS}; lr_exponent is the one used). */
export function trialsCsv(trials: readonly HyperbandTrial<HeadConfig>[], defaultA: number): string {
  return stringify([
    [...TRIAL_COLUMNS],
    ...trials.map((t) => [
      t.bracket,
      t.round,
      t.configId,
      t.config.units,
      t.config.dropout,
      t.config.lrExponent ?? defaultA,
      t.epochs,
      t.score,
      t.loss,
      t.seconds.toFixed(3),
    ]),
  ]);
}

/** What {@link writeTuneOutputs} needs besides the result. */
export interface TuneReportInfo {
  readonly backbone: string;
  readonly weights: string;
  readonly manifest: string;
  readonly manifestSha256: string;
  readonly input: string;
  readonly seed: number | string;
  readonly defaultLrExponent: number;
  readonly space: HeadSearchSpace;
  readonly split: { train: number; validation: number; test: number };
  readonly featureSeconds: number;
}

/** Write trials.csv, best.json, hyperband.svg/.png and summary.txt into `dir`; returns the summary text. */
export async function writeTuneOutputs(
  dir: string,
  res: HyperbandResult<HeadConfig>,
  info: TuneReportInfo,
): Promise<string> {
  const a = info.defaultLrExponent;
  await writeFileAtomic(join(dir, 'trials.csv'), trialsCsv(res.trials, a));
  const best = res.best;
  const bestConfig = {
    units: best.config.units,
    dropout: best.config.dropout,
    lrExponent: best.config.lrExponent ?? a,
    lr: 10 ** -(best.config.lrExponent ?? a),
  };
  await writeFileAtomic(
    join(dir, 'best.json'),
    `${JSON.stringify(
      {
        config: bestConfig,
        epochs: best.epochs,
        validation: { accuracy: best.score, loss: best.loss },
        trial: { bracket: best.bracket, round: best.round, configId: best.configId },
        hyperband: {
          maxEpochs: res.maxResource,
          eta: res.eta,
          sMax: res.sMax,
          trials: res.trials.length,
          totalEpochs: res.totalEpochs,
          seconds: res.seconds,
          plan: res.plan,
        },
        scoredOn: 'validation',
        backbone: info.backbone,
        weights: info.weights,
        input: info.input,
        manifest: info.manifest,
        manifestSha256: info.manifestSha256,
        seed: info.seed,
        space: info.space,
        split: info.split,
      },
      null,
      2,
    )}\n`,
  );
  const chartTrials = res.trials.map((t) => ({
    config: {
      units: t.config.units,
      dropout: Number(t.config.dropout.toFixed(3)),
      ...(t.config.lrExponent !== undefined ? { a: Number(t.config.lrExponent.toFixed(3)) } : {}),
    },
    epochs: t.epochs,
    score: Number.isFinite(t.score) ? t.score : 0,
    bracket: t.bracket,
  }));
  await writeChart(
    hyperbandChart(chartTrials, {
      title: `Hyperband: ${info.backbone} head (${info.input})`,
      subtitle: `R = ${res.maxResource} epochs, eta = ${res.eta}, ${res.trials.length} trials`,
    }),
    join(dir, 'hyperband'),
  );
  const lines = [
    `Hyperband (Li et al. 2017) over the Hai et al. (2022) head on ${info.backbone} (${info.weights}), input ${info.input}`,
    `manifest ${info.manifest} (sha256 ${info.manifestSha256.slice(0, 12)}), seed ${String(info.seed)}`,
    `patients: ${info.split.train} train, ${info.split.validation} validation (scoring), ${info.split.test} test (held out, never used)`,
    `R = ${res.maxResource} epochs, eta = ${res.eta}, s_max = ${res.sMax}: ${res.trials.length} trials, ${res.totalEpochs} head epochs in ${res.seconds.toFixed(1)} s (+ ${info.featureSeconds.toFixed(1)} s features)`,
    `best: units ${bestConfig.units}, dropout ${bestConfig.dropout.toFixed(3)}, a ${bestConfig.lrExponent} (lr ${bestConfig.lr.toExponential(1)}) at ${best.epochs} epochs: validation accuracy ${(100 * best.score).toFixed(1)}%, loss ${best.loss.toFixed(4)}`,
  ];
  const summary = `${lines.join('\n')}\n`;
  await writeFileAtomic(join(dir, 'summary.txt'), summary);
  return summary;
}

/** Options of {@link runTune} (`polarcad tune`). */
export interface RunTuneOptions extends Omit<ExperimentCommon, 'epochsScale' | 'runner'> {
  readonly backbone: string;
  /** 'imagenet' (default), 'none' or a path. */
  readonly weights?: string;
  readonly space?: HeadSearchSpace;
  readonly maxEpochs?: number;
  readonly eta?: number;
  readonly onTrial?: (trial: HyperbandTrial<HeadConfig>, done: number, total: number) => void;
  /** Who runs each round's trials (default: one after another in this process; `--queue`: a job queue). */
  readonly runner?: TrialRunner;
}

/** The options of a tuning run that decide a trial's outcome, besides the trial itself. */
export type TuneSettings = Pick<
  RunTuneOptions,
  'manifest' | 'input' | 'augment' | 'seed' | 'batchSize' | 'inputSize' | 'backbone' | 'weights'
>;

/** One Hyperband trial: plain data (a queued job carries it as it is). */
export interface TuneTrialUnit {
  readonly config: HeadConfig;
  readonly epochs: number;
  /** The seed of the trial's own random stream (Hyperband's `rng.seed`). */
  readonly rngSeed: string;
}

/** Runs one Hyperband round's trials and gives their outcomes back in order. */
export type TrialRunner = (batch: {
  readonly settings: TuneSettings;
  readonly cohort: ExperimentCohort;
  readonly trials: readonly TuneTrialUnit[];
}) => Promise<TrialOutcome[]>;

/**
 * What the trials of one tuning run share: the cohort, the backbone and its warm-up features
 * (computed once). Opened by the in-process run and by a queue worker alike.
 */
export class TuneContext {
  private readonly objective: ReturnType<typeof headObjective>;
  private readonly data: HyperbandData;

  private constructor(
    readonly cohort: ExperimentCohort,
    readonly prepared: PreparedBackbone,
    readonly featureSeconds: number,
    batchSize: number | undefined,
  ) {
    const o: TuneHeadOptions = {
      setup: prepared.setup,
      backbone: prepared.backbone,
      lrExponent: prepared.spec.lrExponent,
      train: cohort.train,
      validation: cohort.validation,
      batchSize,
      seed: 0, // unused by the objective (each trial brings its own stream)
    };
    this.objective = headObjective(o);
    this.data = hyperbandData(cohort);
  }

  /**
   * Load the backbone of `s` and compute the warm-up features of the training and validation
   * patients once (`cohort`: when already loaded).
   * @example const ctx = await TuneContext.open(settings); try { await ctx.runTrial(trial) } finally { await ctx.dispose() }
   */
  static async open(
    s: TuneSettings & Pick<RunTuneOptions, 'cacheDir' | 'onProgress'>,
    cohort?: ExperimentCohort,
  ): Promise<TuneContext> {
    const c = cohort ?? (await loadExperimentCohort(s));
    const cache = s.cacheDir === undefined ? undefined : new FeatureCache({ dir: s.cacheDir });
    const p = await prepareExperimentBackbone(s.backbone, s.weights ?? 'imagenet', s, cache);
    try {
      const t0 = performance.now();
      const probe = addHaiHead(p.backbone);
      try {
        const start = probe.layers.length - HAI_HEAD_LAYERS + 1; // the first Dense (GAP has no weights)
        await p.setup.features(
          probe,
          frozenFrontier(probe, start),
          [...c.train, ...c.validation],
          (done, total) => s.onProgress?.('features', done, total),
        );
      } finally {
        for (const l of probe.layers.slice(-HAI_HEAD_LAYERS)) l.dispose();
      }
      return new TuneContext(c, p, (performance.now() - t0) / 1000, s.batchSize);
    } catch (e) {
      await p.setup.dispose();
      p.backbone.dispose();
      throw e;
    }
  }

  /**
   * Train and score one trial (the unit of work of the in-process run and of a queue worker).
   * @example await ctx.runTrial({ config: { units: 128, dropout: 0.3 }, epochs: 4, rngSeed: '1/bracket2/round0/config0' })
   */
  async runTrial(t: TuneTrialUnit): Promise<TrialOutcome> {
    const t0 = performance.now();
    const out = await this.objective(t.config, t.epochs, new Rng(t.rngSeed), this.data);
    return { ...out, seconds: (performance.now() - t0) / 1000 };
  }

  async dispose(): Promise<void> {
    await this.prepared.setup.dispose();
    this.prepared.backbone.dispose();
  }
}

/** The patients Hyperband hands the objective: training and validation ids, in example order. */
function hyperbandData(cohort: ExperimentCohort): HyperbandData {
  return {
    train: [...new Set(cohort.train.map((e) => e.id))],
    validation: [...new Set(cohort.validation.map((e) => e.id))],
  };
}

/**
 * `polarcad tune`: split the manifest as `train`/the experiments do (the test part is set aside
 * and never used), compute the warm-up features once, run Hyperband over the head, and write
 * trials.csv, best.json, hyperband.svg/.png and summary.txt into `out` (atomically, as a whole).
 * With a `runner` (a queue), each round's trials are sent out together and this process computes
 * no features.
 * @example const { summary } = await runTune({ manifest: 'prep/manifest.csv', out: 'tune', input: 'stress_ac', seed: 1, backbone: 'MobileNetV2' })
 */
export async function runTune(
  o: RunTuneOptions,
): Promise<{ result: HyperbandResult<HeadConfig>; summary: string }> {
  const space = o.space ?? DEFAULT_HEAD_SPACE;
  validateHeadSpace(space);
  const cohort = await loadExperimentCohort(o);
  const data = hyperbandData(cohort);
  if (data.validation.length === 0) throw new InputError('tune: the validation part is empty');
  let ctx: TuneContext | undefined;
  let described: { weights: string; lrExponent: number; featureSeconds: number };
  if (o.runner === undefined) {
    ctx = await TuneContext.open(o, cohort);
    described = {
      weights: ctx.prepared.weights.description,
      lrExponent: ctx.prepared.spec.lrExponent,
      featureSeconds: ctx.featureSeconds,
    };
  } else {
    const p = await prepareExperimentBackbone(o.backbone, o.weights ?? 'imagenet', o, undefined);
    described = { weights: p.weights.description, lrExponent: p.spec.lrExponent, featureSeconds: 0 };
    await p.setup.dispose();
    p.backbone.dispose();
  }
  try {
    const settings: TuneSettings = {
      manifest: o.manifest,
      input: o.input,
      seed: o.seed,
      backbone: o.backbone,
      ...(o.augment !== undefined ? { augment: o.augment } : {}),
      ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      ...(o.inputSize !== undefined ? { inputSize: o.inputSize } : {}),
      ...(o.weights !== undefined ? { weights: o.weights } : {}),
    };
    const runRound = async (requests: readonly RoundRequest<HeadConfig>[]): Promise<TrialOutcome[]> => {
      const trials = requests.map((q) => ({ config: q.config, epochs: q.epochs, rngSeed: q.rng.seed }));
      if (o.runner !== undefined) return o.runner({ settings, cohort, trials });
      const outs: TrialOutcome[] = [];
      for (const t of trials) outs.push(await (ctx as TuneContext).runTrial(t));
      return outs;
    };
    const result = await hyperband<HeadConfig>({
      maxResource: o.maxEpochs ?? 100,
      eta: o.eta ?? 3,
      seed: o.seed,
      data,
      sample: (rng) => sampleHeadConfig(space, rng),
      evaluate: async (config, epochs, rng) =>
        (await runRound([{ config, epochs, rng, bracket: 0, round: 0, configIndex: 0 }]))[0],
      evaluateRound: runRound,
      onTrial: (t, done, total) => {
        o.onProgress?.('hyperband', done, total);
        o.onTrial?.(t, done, total);
      },
    });
    const summary = await writeDirAtomic(o.out, 'tune', (tmp) =>
      writeTuneOutputs(tmp, result, {
        backbone: getBackbone(o.backbone).name,
        weights: described.weights,
        manifest: cohort.data.manifest.path,
        manifestSha256: cohort.data.manifest.sha256,
        input: o.input,
        seed: o.seed,
        defaultLrExponent: described.lrExponent,
        space,
        split: {
          train: cohort.split.train.length,
          validation: cohort.split.validation.length,
          test: cohort.split.test.length,
        },
        featureSeconds: described.featureSeconds,
      }),
    );
    return { result, summary };
  } finally {
    await ctx?.dispose();
  }
}
