/**
 * `polarcad train`: a manifest of prepared polar maps in, a trained, evaluated and documented run
 * directory out, following Hai et al. (2022): stratified 80/20 patient split (seeded), validation
 * carved from the 80% for epoch selection, warm-up (head only, lr 10^-a) then fine-tuning (top k
 * layers, lr 10^-(a+2)), evaluation on the untouched 20%. File formats: docs/training.md.
 *
 * Input: the manifest written by `polarcad prepare` (square, cleaned disc crops, one per view).
 * Raw exports (pages, uncropped images) are refused with a message pointing to `polarcad prepare`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine/backend.js';
import { FeatureCache } from '../engine/cache.js';
import { imageContentHash } from '../engine/features.js';
import { exportToOnnx } from '../engine/onnx/export.js';
import {
  INPUT_MODES,
  isInputMode,
  layoutOf,
  type FeatureSource,
  type InputMode,
} from '../domain/input-mode.js';
import type { Label } from '../domain/views.js';
import { applyTemperature } from '../evaluate/calibration.js';
import { metricsWithIntervals, type MetricsWithIntervals } from '../evaluate/intervals.js';
import { balanceByAugmentation } from '../ingest/augment.js';
import { loadManifest, type StudyRow } from '../ingest/manifest.js';
import { preparedColormap } from '../ingest/prepare.js';
import { recordColormap, type ColormapRecord } from '../polarmap/colormap-record.js';
import { resolveColormap } from '../polarmap/custom-colormap.js';
import { rowSource } from '../ingest/input-source.js';
import { carveValidation, stratifiedHoldout } from '../ingest/splits.js';
import {
  addApostolopoulosHead,
  addHaiHead,
  APOSTOLOPOULOS_HEAD_LAYERS,
  HAI_HEAD_LAYERS,
} from '../models/heads.js';
import '../models/layers/keras-layers.js';
import { paperUnfreezeDepth, type BnPolicy } from '../models/unfreeze.js';
import { loadBackbone } from '../models/weights/resolve.js';
import { runFile } from '../rundir/files.js';
import { recordOnnxExport, saveModel } from '../rundir/model.js';
import { jsonText, readRunConfig, readRunJson, writeRunJson } from '../rundir/run.js';
import { writeHistory } from '../rundir/tables.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, errorMessage } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { seededInit } from '../train/init.js';
import { planStrategy } from '../train/strategies.js';
import {
  applyWeights,
  predict,
  TrainingSetup,
  trainStages,
  type Example,
  type HistoryRow,
  type StageOutcome,
  type TrainEvent,
} from '../train/trainer.js';
import {
  evaluatedOn,
  metricsFigures,
  temperatureCalibration,
  writeTestPredictions,
  type CalibrationFile,
} from './run-outcome.js';

/** Options of {@link runTraining} (CLI flags of `polarcad train`). */
export interface TrainRunOptions {
  manifest: string;
  backbone: string;
  out: string;
  /** 'imagenet' (default), 'none' or a path. */
  weights?: string;
  input?: InputMode;
  head?: 'hai' | 'apostolopoulos';
  units?: number;
  dropout?: number;
  warmupEpochs?: number;
  finetuneEpochs?: number;
  batchSize?: number;
  /** Top backbone layers unfrozen for fine-tuning (default: Hai et al.'s Table 2 depth). */
  unfreeze?: number;
  /** Unfreeze from this layer to the top. */
  unfreezeFrom?: string;
  /** BN policy for the unfrozen part (default: the backbone's paper policy, or 'follow' with --unfreeze). */
  bnPolicy?: BnPolicy;
  /** Train BN statistics inside the unfrozen part (default false: inference mode). */
  trainBn?: boolean;
  /** Class-balanced rotation augmentation of the training part to this many items (0 = off). */
  augment?: number;
  seed?: number;
  testManifest?: string;
  selectOn?: 'validation' | 'test';
  patience?: number;
  /** Keep the best epoch's weights per stage (default true). */
  restoreBest?: boolean;
  /** Fraction of patients held out for test (default 0.2) and of the rest for validation (default 0.2). */
  testFraction?: number;
  validationFraction?: number;
  /** Override the backbone's input side (tests; only with --weights none). */
  inputSize?: number;
  /** MobileNetV2 width multiplier. */
  alpha?: number;
  /** Feature cache folder (default: the engine's default). */
  cacheDir?: string;
  /** Micro-batch size for gradient accumulation (same loss, gradients and accuracy; less memory). */
  microBatch?: number;
  /** Worker threads for the gradient step (`TrainOptions.workers`; default: this thread). */
  trainWorkers?: number;
  /**
   * Fit a temperature (Guo et al. 2017) on the validation patients' probabilities after training;
   * writes calibration.json and a prob_calibrated column in predictions.csv. Never fitted on test data.
   */
  calibrate?: boolean;
  /** Resolved-options file of an interrupted run: continue it. */
  resume?: boolean;
  /**
   * The exports' colour map given with `--colormap`: a built-in name, a CSV table or a colour-bar
   * image (`resolveColormap`); default: the one `prepare` recorded for the manifest. The network reads the RGB
   * crops as they are; the colour map is recorded with the model (polarcad.json), where `predict`
   * and `serve` read SSS/SRS/SDS with it and warn about studies in another colour map.
   */
  colormap?: string;
  /**
   * Train a fold ensemble of this many members (>= 2) instead of one network
   * (src/workflows/train-ensemble.ts): the training patients in as many stratified folds, member k
   * trained on the other folds and its epochs selected on fold k; P(CAD) the mean of the members'.
   */
  ensemble?: number;
}

/** Outcome of {@link runTraining}. */
export interface TrainRunResult {
  out: string;
  interrupted: boolean;
  stages: StageOutcome[];
  history: HistoryRow[];
  metrics?: MetricsWithIntervals;
  summary?: string;
}

/** A fold ensemble's member starts or ends (src/workflows/train-ensemble.ts). */
export type MemberEvent =
  | {
      type: 'member-start';
      /** 1-based */
      member: number;
      members: number;
      trainedOn: number;
      selectedOn: number;
      /** seconds left for the whole ensemble, from the members done so far (null before the first) */
      etaSeconds: number | null;
    }
  | { type: 'member-end'; member: number; members: number; seconds: number; selectionAccuracy: number };

/** Hooks for the CLI. */
export interface TrainRunHooks {
  onEvent?: (e: TrainEvent) => void;
  /** a fold ensemble's members (`ensemble`) */
  onMember?: (e: MemberEvent) => void;
  onWarning?: (message: string) => void;
  shouldStop?: () => boolean;
}

export interface Patient {
  id: string;
  label: Label;
  key: string;
  source: FeatureSource;
}

const DEFAULTS = {
  weights: 'imagenet',
  input: 'stress_ac' as InputMode,
  head: 'hai' as 'hai' | 'apostolopoulos',
  units: 256,
  dropout: 0.5,
  warmupEpochs: 100,
  finetuneEpochs: 30,
  batchSize: 16,
  augment: 0,
  seed: 1,
  selectOn: 'validation' as 'validation' | 'test',
  restoreBest: true,
  testFraction: 0.2,
  validationFraction: 0.2,
  trainBn: false,
  calibrate: false,
};

/** A labelled patient of the manifest and its model input source (`src/ingest/input-source.ts`). */
async function loadPatient(row: StudyRow, mode: InputMode, manifestPath: string): Promise<Patient> {
  const label = row.label;
  if (label === null)
    throw new InputError(`${manifestPath}: row ${row.row} (patient ${row.patientId}): no label`);
  const source = await rowSource(row, mode, {
    manifestPath,
    command: 'train',
    requiredBy: `--input ${mode}`,
  });
  return { id: row.patientId, label, key: imageContentHash(source), source };
}

export async function loadPatients(
  path: string,
  mode: InputMode,
): Promise<{ patients: Patient[]; sha256: string }> {
  const m = await loadManifest(path, { requireLabels: true, requireBothClasses: true });
  const patients: Patient[] = [];
  for (const row of m.rows) patients.push(await loadPatient(row, mode, path));
  return { patients, sha256: m.sha256 };
}

export function toExample(p: Patient, angle = 0): Example {
  return { id: p.id, label: p.label, angle, key: p.key, load: () => Promise.resolve(p.source) };
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new InputError(`${name} must be an integer >= ${min}, got ${v}`);
}

/** A fresh sibling folder for a new run when `out` already holds a complete run (else `out`). */
export async function workDirFor(out: string): Promise<string> {
  const cfg = await readRunConfig(out).catch(() => null);
  if (cfg?.status !== 'complete') return out;
  return join(dirname(out), `.${basename(out)}.${process.pid}.${randomBytes(4).toString('hex')}.partial`);
}

/** Replace the complete run in `out` by the complete run in `work` (the old one removed last). */
export async function swapInto(work: string, out: string): Promise<void> {
  const old = `${work}.old`;
  await rename(out, old);
  await rename(work, out);
  await rm(old, { recursive: true, force: true });
}

export function fmt(x: number, d = 3): string {
  return Number.isFinite(x) ? x.toFixed(d) : 'n/a';
}

export type Resolved = TrainRunOptions & typeof DEFAULTS;

/** The options of a run: `given`, or with `resume` those saved in its config.json; defaults filled. */
export async function resolveOptions(
  given: TrainRunOptions,
  out: string,
): Promise<{ opts: TrainRunOptions; o: Resolved }> {
  let opts: TrainRunOptions = given;
  if (given.resume === true) {
    const cfg = await readRunConfig(out);
    if (cfg === null)
      throw new InputError(`--resume ${given.out}: no config.json there; not a polarcad run directory`);
    if (cfg.status === 'complete')
      throw new InputError(`--resume ${given.out}: this run is already complete`);
    opts = { ...(cfg.options as unknown as TrainRunOptions), out: given.out, resume: true };
  }
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
  } as Resolved;
  checkOptions(o);
  if (o.colormap !== undefined) await resolveColormap(o.colormap); // a bad --colormap fails before training
  return { opts, o };
}

/** Refuse inconsistent options (each message names its flag). */
function checkOptions(o: Resolved): void {
  if (!isInputMode(o.input))
    throw new InputError(`--input must be one of ${INPUT_MODES.join(', ')}, got '${o.input}'`);
  if (o.head !== 'hai' && o.head !== 'apostolopoulos')
    throw new InputError(`--head must be hai or apostolopoulos, got '${String(o.head)}'`);
  checkInt('--units', o.units, 1);
  if (!(o.dropout >= 0 && o.dropout < 1))
    throw new InputError(`--dropout must be in [0, 1), got ${o.dropout}`);
  checkInt('--warmup-epochs', o.warmupEpochs, 0);
  checkInt('--finetune-epochs', o.finetuneEpochs, 0);
  checkInt('--batch-size', o.batchSize, 1);
  checkInt('--augment', o.augment, 0);
  checkInt('--seed', o.seed, 0);
  if (o.microBatch !== undefined) checkInt('--micro-batch', o.microBatch, 1);
  if (o.trainWorkers !== undefined) checkInt('--train-workers', o.trainWorkers, 1);
  if (o.unfreeze !== undefined && o.unfreezeFrom !== undefined)
    throw new InputError('give --unfreeze or --unfreeze-from, not both');
  if (o.selectOn !== 'validation' && o.selectOn !== 'test')
    throw new InputError(`--select-on must be validation or test, got '${String(o.selectOn)}'`);
  if (o.inputSize !== undefined && o.weights !== 'none')
    throw new InputError('--input-size can only change the input side with --weights none');
  if (o.ensemble !== undefined) {
    checkInt('--ensemble', o.ensemble, 2);
    if (o.selectOn === 'test')
      throw new InputError(
        '--ensemble selects each member on its own fold: it cannot be combined with --select-on test',
      );
  }
}

/** The patients of a run and its three parts (Hai et al. 2022: stratified, seeded). */
export interface RunData {
  sha256: string;
  testSha: string | undefined;
  carved: { train: string[]; validation: string[] };
  testPatients: Patient[];
  train: Example[];
  validation: Example[];
  test: Example[];
}

/** The patients of a run split into its training and test parts (before validation is carved). */
export interface TrainTestSplit {
  sha256: string;
  testSha: string | undefined;
  byId: Map<string, Patient>;
  /** training patients (sorted ids): everything but the test part */
  trainIds: string[];
  testPatients: Patient[];
}

/** Load the manifest(s) and hold out the test part (or take the test manifest). */
export async function splitTrainTest(o: Resolved): Promise<TrainTestSplit> {
  const { patients, sha256 } = await loadPatients(o.manifest, o.input);
  const byId = new Map(patients.map((p) => [p.id, p]));
  if (o.testManifest !== undefined) {
    const t = await loadPatients(o.testManifest, o.input);
    const clash = t.patients.filter((p) => byId.has(p.id)).map((p) => p.id);
    if (clash.length > 0)
      throw new InputError(
        `--test-manifest ${o.testManifest}: patient(s) ${clash.slice(0, 5).join(', ')} are also in the training manifest`,
      );
    const trainIds = patients.map((p) => p.id).sort();
    return { sha256, testSha: t.sha256, byId, trainIds, testPatients: t.patients };
  }
  const split = stratifiedHoldout(patients, { testFraction: o.testFraction, seed: o.seed });
  const testPatients = split.test.map((id) => byId.get(id) as Patient);
  return { sha256, testSha: undefined, byId, trainIds: split.train, testPatients };
}

/** The training examples of `ids`: each patient once, or class-balanced rotations with `augment`. */
export function trainingExamples(
  o: Resolved,
  ids: readonly string[],
  byId: Map<string, Patient>,
  rng: Rng,
): Example[] {
  const fitPatients = ids.map((id) => byId.get(id) as Patient);
  return o.augment > 0
    ? balanceByAugmentation(fitPatients, o.augment, rng).map((a) =>
        toExample(byId.get(a.id) as Patient, a.angle),
      )
    : fitPatients.map((p) => toExample(p));
}

/** Load the manifest(s), split the patients, augment the training part. */
async function loadRunData(o: Resolved, rng: Rng): Promise<RunData> {
  const { sha256, testSha, byId, trainIds, testPatients } = await splitTrainTest(o);
  const labels = new Map([...byId.values()].map((p) => [p.id, p.label]));
  const carved = carveValidation(trainIds, labels, { fraction: o.validationFraction, seed: o.seed });
  const train = trainingExamples(o, carved.train, byId, rng.fork('augment'));
  const validation = carved.validation.map((id) => toExample(byId.get(id) as Patient));
  const test = testPatients.map((p) => toExample(p));
  return { sha256, testSha, carved, testPatients, train, validation, test };
}

/** The network of a run: backbone (weights resolved, seeded) + head (seeded). */
export interface RunModel {
  loaded: Awaited<ReturnType<typeof loadBackbone>>;
  side: number;
  model: tf.LayersModel;
  headLayers: number;
  nBackbone: number;
  weightsId: string;
}

/**
 * The network of a run. `member` (a fold ensemble's member number) seeds the head apart; the
 * backbone's initialisation stays the run's, so every member shares the frozen part (and its cached
 * features).
 */
export async function buildRunModel(o: Resolved, rng: Rng, member?: number): Promise<RunModel> {
  const seed = o.seed;
  const inputSize = o.inputSize;
  const loaded = await loadBackbone(o.backbone, {
    weights: o.weights,
    ...(inputSize !== undefined ? { inputShape: [inputSize, inputSize, 3] as [number, number, 3] } : {}),
    ...(o.alpha !== undefined ? { alpha: o.alpha } : {}),
  });
  const side = inputSize ?? loaded.spec.inputSize;
  const backbone = loaded.model;
  let weightsId: string;
  if (loaded.weights.source === 'random') {
    seededInit(backbone.layers, rng.fork('backbone-init'), 'he');
    weightsId = `random-he:${seed}`;
  } else weightsId = loaded.weights.sha256 ?? 'unknown';
  const model =
    o.head === 'hai'
      ? addHaiHead(backbone, { units: o.units, dropout: o.dropout })
      : addApostolopoulosHead(backbone);
  const headLayers = o.head === 'hai' ? HAI_HEAD_LAYERS : APOSTOLOPOULOS_HEAD_LAYERS;
  seededInit(
    model.layers.slice(-headLayers),
    rng.fork(member === undefined ? 'head-init' : `head-init/member-${member}`),
    'glorot',
  );
  const nBackbone = model.layers.length - headLayers;

  return { loaded, side, model, headLayers, nBackbone, weightsId };
}

/** The fine-tuning depth: --unfreeze, --unfreeze-from, or Hai et al.'s Table 2 depth. */
export function chooseUnfreeze(
  o: Resolved,
  net: RunModel,
): { k: number; bnPolicy: BnPolicy; unfreezeRule: string } {
  const { model, nBackbone } = net;
  const spec = net.loaded.spec;
  let k: number;
  let bnPolicy: BnPolicy;
  let unfreezeRule: string;
  if (o.unfreeze !== undefined) {
    checkInt('--unfreeze', o.unfreeze, 0);
    if (o.unfreeze > nBackbone - 1)
      throw new InputError(
        `--unfreeze ${o.unfreeze}: ${spec.name} has ${nBackbone - 1} layers below the head (input layer excluded)`,
      );
    k = o.unfreeze;
    bnPolicy = o.bnPolicy ?? 'follow';
    unfreezeRule = `--unfreeze ${k}`;
  } else if (o.unfreezeFrom !== undefined) {
    const idx = model.layers.slice(0, nBackbone).findIndex((l) => l.name === o.unfreezeFrom);
    if (idx < 1)
      throw new InputError(`--unfreeze-from: ${spec.name} has no backbone layer named '${o.unfreezeFrom}'`);
    k = nBackbone - idx;
    bnPolicy = o.bnPolicy ?? 'follow';
    unfreezeRule = `--unfreeze-from ${o.unfreezeFrom}`;
  } else {
    const m = paperUnfreezeDepth(spec, o.bnPolicy);
    k = m.k;
    bnPolicy = m.bnPolicy;
    unfreezeRule = `Hai et al. (2022) Table 2 depth for ${spec.name} (trainable count difference ${m.difference})`;
  }
  return { k, bnPolicy, unfreezeRule };
}

/** The warm-up / fine-tune stages of the two-stage recipe (`planStrategy`, Hai et al. 2022). */
export function planStages(o: Resolved, m: RunModel, u: { k: number; bnPolicy: BnPolicy }) {
  const plan = planStrategy('two-stage', {
    backboneLayers: Math.max(2, m.nBackbone - 1),
    finetuneDepth: u.k,
    finetuneBnPolicy: u.bnPolicy,
    lrExponent: m.loaded.spec.lrExponent,
  });
  const [warm, fine] = plan.stages;
  const lr1 = Number(`1e-${warm.lrExponent}`);
  const lr2 = Number(`1e-${fine.lrExponent}`);
  const stages = [
    {
      name: warm.name,
      epochs: o.warmupEpochs,
      lr: lr1,
      unfreeze: warm.unfreeze,
      bnPolicy: warm.bnPolicy,
      patience: o.patience,
      restoreBest: o.restoreBest,
    },
    {
      name: fine.name,
      epochs: o.finetuneEpochs,
      lr: lr2,
      unfreeze: fine.unfreeze,
      bnPolicy: fine.bnPolicy,
      trainBn: o.trainBn,
      patience: o.patience,
      restoreBest: o.restoreBest,
    },
  ].filter((s) => s.epochs > 0);
  if (stages.length === 0)
    throw new InputError('both --warmup-epochs and --finetune-epochs are 0: nothing to train');
  return { stages, lr1, lr2, a: m.loaded.spec.lrExponent };
}

/** Everything a run decided before training: data, network, depth, stages. */
export interface RunPlan {
  opts: TrainRunOptions;
  o: Resolved;
  d: RunData;
  net: RunModel;
  u: { k: number; bnPolicy: BnPolicy; unfreezeRule: string };
  plan: ReturnType<typeof planStages>;
}

/** config.json of a run (written first; a resumed run must match its `resolved` part). */
export function runConfig(r: RunPlan) {
  const { opts, o } = r;
  const seed = o.seed;
  const { sha256, testSha, carved, testPatients } = r.d;
  const { loaded, side, model, headLayers, nBackbone, weightsId } = r.net;
  const spec = loaded.spec;
  const { k, bnPolicy, unfreezeRule } = r.u;
  const { stages, lr1, lr2, a } = r.plan;
  return {
    polarcad: 'train',
    status: 'running',
    options: {
      ...opts,
      manifest: resolve(o.manifest),
      testManifest: o.testManifest === undefined ? undefined : resolve(o.testManifest),
      out: undefined,
      resume: undefined,
    },
    resolved: {
      seed,
      manifest: { path: resolve(o.manifest), sha256 },
      testManifest: o.testManifest === undefined ? null : { path: resolve(o.testManifest), sha256: testSha },
      backbone: spec.name,
      inputSize: side,
      scaling: spec.scaling,
      input: o.input,
      weights: loaded.weights,
      weightsId,
      head: {
        type: o.head,
        units: o.head === 'hai' ? o.units : 500,
        dropout: o.head === 'hai' ? o.dropout : 0.5,
        layers: model.layers.slice(-headLayers).map((l) => l.name),
      },
      unfreeze: {
        k,
        bnPolicy,
        rule: unfreezeRule,
        firstUnfrozen: k > 0 ? model.layers[nBackbone - k].name : null,
        trainBn: o.trainBn,
      },
      learningRates: { exponentA: a, warmup: lr1, finetune: lr2 },
      stages,
      batchSize: o.batchSize,
      microBatch: o.microBatch ?? null,
      optimizer: { name: 'Adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
      selection: {
        on: o.selectOn,
        rule: 'highest accuracy, ties to lower loss, then earlier epoch',
        leaksTest: o.selectOn === 'test',
      },
      augment: o.augment,
      split: {
        testFraction: o.testManifest === undefined ? o.testFraction : null,
        validationFraction: o.validationFraction,
        train: carved.train,
        validation: carved.validation,
        test: testPatients.map((p) => p.id),
      },
    },
  };
}

/**
 * The folder the run is written to: the run itself when resuming (its resolved configuration must
 * not have changed), else `out`, or a sibling when `out` holds a complete run (never in place).
 */
export async function openRunDir(
  given: TrainRunOptions,
  out: string,
  resume: boolean,
  config: object,
): Promise<string> {
  const work = resume ? out : await workDirFor(out);
  const ckptDir = runFile(work, 'checkpoints');
  if (resume) {
    const prev = await readRunJson(out, 'config');
    if (
      JSON.stringify(prev?.resolved) !==
      JSON.stringify((JSON.parse(jsonText(config)) as { resolved: unknown }).resolved)
    ) {
      throw new InputError(
        `--resume ${given.out}: the data or the resolved configuration changed since the run started (compare config.json); start a new run`,
      );
    }
  } else {
    await rm(ckptDir, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    await writeRunJson(work, 'config', config);
  }
  return work;
}

/** Temperature scaling (Guo et al. 2017) fitted on the validation patients only (never test). */
async function fitCalibration(
  setup: TrainingSetup,
  net: RunModel,
  lastStart: number,
  validation: Example[],
): Promise<CalibrationFile> {
  const { model, headLayers } = net;
  const result = { lastStart };
  // Temperature scaling (Guo et al. 2017) on the carved validation patients only (never test),
  // scored by the final model exactly as the trainer scores them for selection.
  if (validation.length === 0)
    throw new InputError('--calibrate: no validation patients to fit the temperature on');
  const valProbs = Array.from(await predict(setup, model, headLayers, result.lastStart, validation));
  return temperatureCalibration(
    validation.map((e, i) => ({ id: e.id, label: e.label, prob: valProbs[i] })),
    'validation',
  );
}

/** What a finished training produced, before it is written. */
interface RunOutcome {
  result: Awaited<ReturnType<typeof trainStages>>;
  probs: Float32Array | Float64Array;
  metrics: MetricsWithIntervals;
  calibration: CalibrationFile | null;
  calibrated: number[] | null;
  seconds: number;
  warnings: string[];
}

/**
 * The colour-map fields of a CNN's polarcad.json: `colormap` (its name, as before), `colormapTable`
 * (name and rows: a user table needs no file later) and `colormapSource` (given with --colormap, or
 * prepare's: given / recognised there); none when neither is known.
 */
export async function cnnRunColormap(
  o: Resolved,
): Promise<{ colormap?: string; colormapTable?: ColormapRecord; colormapSource?: string }> {
  if (o.colormap !== undefined) {
    const table = recordColormap(await resolveColormap(o.colormap));
    return { colormap: table.name, colormapTable: table, colormapSource: 'given' };
  }
  const prepared = await preparedColormap(o.manifest);
  if (prepared === null) return {};
  const table = recordColormap(prepared.colormap);
  return { colormap: table.name, colormapTable: table, colormapSource: `prepared (${prepared.source})` };
}

/** Write every file of the finished run into `work`, config.json (status complete) last. */
async function writeRunFiles(
  work: string,
  r: RunPlan,
  config: object,
  x: RunOutcome,
  hooks: TrainRunHooks,
): Promise<string> {
  const { o } = r;
  const { train, validation, test } = r.d;
  const { loaded, side, model } = r.net;
  const spec = loaded.spec;
  const { k, bnPolicy, unfreezeRule } = r.u;
  const { lr1, lr2 } = r.plan;
  const colormap = await cnnRunColormap(o);
  const { result, probs, metrics, calibration, calibrated, seconds, warnings } = x;
  await writeHistory(runFile(work, 'history'), result.history);
  await writeTestPredictions(work, test, probs, calibrated);
  if (calibration !== null) await writeRunJson(work, 'calibration', calibration);
  const metricsJson = {
    evaluatedOn: evaluatedOn(o.testManifest),
    ...metricsFigures(metrics),
    selectionLeaksTest: o.selectOn === 'test',
  };
  await writeRunJson(work, 'metrics', metricsJson);
  const info = {
    backbone: spec.name,
    inputSize: side,
    scaling: spec.scaling,
    classes: ['normal', 'cad'],
    camLayer: spec.camLayer,
    input: o.input,
    ...colormap, // the crops' colour map: predict/serve score with it and warn on others
  };
  await saveModel(runFile(work, 'model'), model, info);
  await recordOnnxExport(work, exportToOnnx(model));
  await writeCurves(work, result.history, result.stages, hooks.onWarning);
  const summary = summaryText({
    spec: spec.name,
    o,
    loaded: loaded.weights.description,
    k,
    bnPolicy,
    unfreezeRule,
    lr1,
    lr2,
    result,
    metrics,
    seconds,
    warnings,
    nTrain: train.length,
    nVal: validation.length,
    nTest: test.length,
    calibration,
  });
  await writeFileAtomic(runFile(work, 'summary'), summary);
  await writeRunJson(work, 'config', {
    ...config,
    status: 'complete',
    stages: result.stages,
    seconds,
    selectionIds: result.selectionIds,
    calibrated: calibration !== null,
    temperature: calibration?.temperature ?? null,
  });
  return summary;
}

/**
 * Train, evaluate and save one run (see the module comment): options -> data -> network ->
 * fine-tuning depth -> the two-stage recipe (`planStrategy`, Hai et al. 2022) -> `trainStages` ->
 * test metrics (and calibration) -> the run directory (src/rundir). With `resume`, continue the
 * run in `out` from its checkpoints using the options saved in its config.json.
 * @throws InputError for bad options or input (naming the file, row or flag).
 * @example await runTraining({ manifest: 'prep/manifest.csv', backbone: 'MobileNetV2', out: 'runs/mnv2' })
 */
export async function runTraining(
  given: TrainRunOptions,
  hooks: TrainRunHooks = {},
): Promise<TrainRunResult> {
  const out = resolve(given.out);
  const { opts, o } = await resolveOptions(given, out);
  if (o.ensemble !== undefined) {
    const { runEnsembleTraining } = await import('./train-ensemble.js');
    return runEnsembleTraining(opts, o, out, hooks);
  }
  await initBackend('wasm');
  const rng = new Rng(o.seed);
  const d = await loadRunData(o, rng);
  const warnings: string[] = [];
  if (o.selectOn === 'test') {
    const w =
      'WARNING: --select-on test picks the best epochs on the TEST set (the protocol of Hai et al. 2022): the reported test metrics are optimistically biased and leak test information. Recorded in config.json and summary.txt.';
    warnings.push(w);
    hooks.onWarning?.(w);
  }
  const net = await buildRunModel(o, rng);
  const u = chooseUnfreeze(o, net);
  const r: RunPlan = { opts, o, d, net, u, plan: planStages(o, net, u) };
  const config = runConfig(r);
  const work = await openRunDir(given, out, o.resume === true, config);
  const ckptDir = runFile(work, 'checkpoints');
  const spec = net.loaded.spec;
  const setup = new TrainingSetup({
    backboneName: spec.name,
    weightsId: net.weightsId,
    inputSize: net.side,
    scaling: spec.scaling,
    layout: layoutOf(o.input),
    cache: new FeatureCache({
      ...(o.cacheDir !== undefined ? { dir: o.cacheDir } : {}),
      onWarning: hooks.onWarning,
    }),
  });
  try {
    const t0 = performance.now();
    const result = await trainStages({
      setup,
      model: net.model,
      headLayers: net.headLayers,
      train: d.train,
      validation: o.selectOn === 'test' ? d.test : d.validation,
      stages: r.plan.stages,
      batchSize: o.batchSize,
      seed: o.seed,
      microBatch: o.microBatch,
      ...(o.trainWorkers !== undefined ? { workers: o.trainWorkers } : {}),
      checkpointDir: ckptDir,
      onEvent: hooks.onEvent,
      shouldStop: hooks.shouldStop,
    });
    if (result.interrupted)
      return { out: work, interrupted: true, stages: result.stages, history: result.history };
    applyWeights(net.model, result.weights);
    const probs = await predict(setup, net.model, net.headLayers, result.lastStart, d.test);
    const metrics = metricsWithIntervals(
      d.test.map((e) => e.label),
      Array.from(probs),
      { seed: `${o.seed}/metrics` },
    );
    const calibration = o.calibrate ? await fitCalibration(setup, net, result.lastStart, d.validation) : null;
    const calibrated =
      calibration === null
        ? null
        : applyTemperature(Array.from(probs), calibration.temperature, { from: 'probs' });
    const seconds = (performance.now() - t0) / 1000;
    const outcome = { result, probs, metrics, calibration, calibrated, seconds, warnings };
    const summary = await writeRunFiles(work, r, config, outcome, hooks);
    await rm(ckptDir, { recursive: true, force: true });
    if (work !== out) await swapInto(work, out);
    return { out, interrupted: false, stages: result.stages, history: result.history, metrics, summary };
  } finally {
    await setup.dispose();
    net.model.dispose();
  }
}

export async function writeCurves(
  out: string,
  history: HistoryRow[],
  stages: StageOutcome[],
  onWarning?: (m: string) => void,
): Promise<void> {
  try {
    const charts =
      (await import('../report/charts/training.js')) as typeof import('../report/charts/training.js');
    const render =
      (await import('../report/charts/render.js')) as typeof import('../report/charts/render.js');
    const spec = charts.trainingCurves(
      history.map((r) => ({
        stage: r.stage,
        epoch: r.epoch,
        loss: r.loss,
        accuracy: Number.isFinite(r.accuracy) ? r.accuracy : 0,
        valLoss: r.valLoss,
        valAccuracy: r.valAccuracy,
      })),
      { selected: stages.map((s) => ({ stage: s.name, epoch: s.bestEpoch })), title: 'Training curves' },
    );
    await render.writeChart(spec, runFile(out, 'curves'));
  } catch (e) {
    onWarning?.(`training curves not written: ${errorMessage(e)}`);
  }
}

function summaryText(s: {
  spec: string;
  o: TrainRunOptions & typeof DEFAULTS;
  loaded: string;
  k: number;
  bnPolicy: BnPolicy;
  unfreezeRule: string;
  lr1: number;
  lr2: number;
  result: { stages: StageOutcome[] };
  metrics: MetricsWithIntervals;
  seconds: number;
  warnings: string[];
  nTrain: number;
  nVal: number;
  nTest: number;
  calibration: CalibrationFile | null;
}): string {
  const iv = (i: { estimate: number; lo: number; hi: number }): string =>
    `${fmt(i.estimate)} [${fmt(i.lo)}, ${fmt(i.hi)}]`;
  const lines = [
    `polarcad train: ${s.spec}, input ${s.o.input}, head ${s.o.head}, seed ${s.o.seed}`,
    `weights: ${s.loaded}`,
    `data: ${s.nTrain} training items, ${s.nVal} validation patients, ${s.nTest} test patients`,
    `unfreeze: top ${s.k} layers, BN policy ${s.bnPolicy}, BN ${s.o.trainBn ? 'training' : 'inference'} mode (${s.unfreezeRule})`,
    `learning rates: warm-up ${s.lr1}, fine-tune ${s.lr2}`,
    `best-epoch selection on: ${s.o.selectOn}`,
    ...s.warnings,
    ...s.result.stages.map(
      (st) =>
        `stage ${st.name}: kept epoch ${st.bestEpoch}${st.bestEpoch === 0 ? ' (its starting weights: no epoch beat them on validation)' : ''} of ${st.epochsRun} run (${st.epochsPlanned} planned${st.stoppedEarly ? ', stopped early' : ''}), selection acc ${fmt(st.best.accuracy)} loss ${fmt(st.best.loss)}, trainable params ${st.trainableParams}, ${fmt(st.seconds, 1)} s (+${fmt(st.featureSeconds, 1)} s features)`,
    ),
    `test (95% CI): accuracy ${iv(s.metrics.accuracy)}, AUC ${iv(s.metrics.auc)}, sensitivity ${iv(s.metrics.sensitivity)}, specificity ${iv(s.metrics.specificity)}, precision ${iv(s.metrics.precision)}, F1 ${iv(s.metrics.f1)}`,
    `confusion: TP ${s.metrics.metrics.tp}, FP ${s.metrics.metrics.fp}, TN ${s.metrics.metrics.tn}, FN ${s.metrics.metrics.fn}`,
    s.calibration === null
      ? 'calibration: none (probabilities uncalibrated)'
      : `calibration: temperature ${fmt(s.calibration.temperature, 4)} fitted on ${s.calibration.n} validation patients (NLL ${fmt(s.calibration.nllBefore, 4)} -> ${fmt(s.calibration.nllAfter, 4)}); predictions.csv prob_calibrated`,
    `total ${fmt(s.seconds, 1)} s`,
  ];
  return lines.join('\n') + '\n';
}
