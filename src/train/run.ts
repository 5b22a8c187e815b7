/**
 * `polarcad train`: a manifest of prepared polar maps in, a trained, evaluated and documented run
 * directory out, following Hai et al. (2022): stratified 80/20 patient split (seeded), validation
 * carved from the 80% for epoch selection, warm-up (head only, lr 10^-a) then fine-tuning (top k
 * layers, lr 10^-(a+2)), evaluation on the untouched 20%. File formats: docs/training.md.
 *
 * Input: the manifest written by `polarcad prepare` (square, cleaned disc crops, one per view).
 * Raw exports (pages, uncropped images) are refused with a message pointing to `polarcad prepare`.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine/backend.js';
import { FeatureCache } from '../engine/cache.js';
import {
  imageContentHash,
  type FeatureSource,
  type InputLayout,
  type PatientViews,
} from '../engine/features.js';
import { exportToOnnx } from '../engine/onnx/export.js';
import { VIEWS, isView, type Label, type View } from '../domain/views.js';
import { fitTemperature, applyTemperature } from '../evaluate/calibration.js';
import { metricsWithIntervals, type MetricsWithIntervals } from '../evaluate/intervals.js';
import { balanceByAugmentation } from '../ingest/augment.js';
import { loadManifest, type StudyRow } from '../ingest/manifest.js';
import { preparedColormap } from '../ingest/prepare.js';
import { readImage } from '../ingest/readers.js';
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
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, errorMessage } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { seededInit } from './init.js';
import {
  applyWeights,
  predict,
  TrainingSetup,
  trainStages,
  type Example,
  type HistoryRow,
  type StageOutcome,
  type TrainEvent,
} from './trainer.js';

/** Model inputs: one view, the 2x2 AC+NAC tile, or the AC / NAC pair (Apostolopoulos et al. 2020). */
export const INPUT_MODES = [
  'stress_ac',
  'rest_ac',
  'stress_nac',
  'rest_nac',
  'tile2x2',
  'ac',
  'nac',
] as const;
export type InputMode = (typeof INPUT_MODES)[number];

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
  /**
   * Fit a temperature (Guo et al. 2017) on the validation patients' probabilities after training;
   * writes calibration.json and a prob_calibrated column in predictions.csv. Never fitted on test data.
   */
  calibrate?: boolean;
  /** Resolved-options file of an interrupted run: continue it. */
  resume?: boolean;
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

/** Hooks for the CLI. */
export interface TrainRunHooks {
  onEvent?: (e: TrainEvent) => void;
  onWarning?: (message: string) => void;
  shouldStop?: () => boolean;
}

interface Patient {
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

/** calibration.json of a run (read by src/predict/predictor.ts: `temperature`). */
interface CalibrationFile {
  method: string;
  temperature: number;
  fittedOn: 'validation';
  n: number;
  ids: string[];
  nllBefore: number;
  nllAfter: number;
}

function viewsOf(mode: InputMode): View[] {
  if (isView(mode)) return [mode];
  if (mode === 'ac') return ['stress_ac', 'rest_ac'];
  if (mode === 'nac') return ['stress_nac', 'rest_nac'];
  return [...VIEWS];
}

/**
 * Read the images a row needs for `mode`. 'ac' / 'nac' become a 2x2 tile with the pair in both
 * rows (stress left, rest right): the tile layout needs four maps and the papers do not say how a
 * single-correction pair was arranged.
 */
async function loadPatient(row: StudyRow, mode: InputMode, manifestPath: string): Promise<Patient> {
  const label = row.label;
  if (label === null)
    throw new InputError(`${manifestPath}: row ${row.row} (patient ${row.patientId}): no label`);
  if (row.page !== undefined) {
    throw new InputError(
      `${manifestPath}: row ${row.row} (patient ${row.patientId}) refers to an export page; polarcad train needs cleaned crops: run \`polarcad prepare ${manifestPath} --out DIR\` and train on DIR/manifest.csv`,
    );
  }
  const maps: PatientViews = {};
  for (const v of viewsOf(mode)) {
    const p = row.views[v];
    if (p === undefined)
      throw new InputError(
        `${manifestPath}: row ${row.row} (patient ${row.patientId}): column ${v} is empty; --input ${mode} needs it`,
      );
    const img = await readImage(p);
    if (img.width !== img.height) {
      throw new InputError(
        `${p} (row ${row.row}, ${v}) is ${img.width}x${img.height}, not a square polar-map crop; polarcad train expects the output of \`polarcad prepare\` (run it first and train on its manifest.csv)`,
      );
    }
    maps[v] = img;
  }
  let source: FeatureSource;
  if (isView(mode)) source = maps[mode] as FeatureSource;
  else if (mode === 'tile2x2') source = maps;
  else {
    const [s, r] = viewsOf(mode);
    source = { stress_ac: maps[s], rest_ac: maps[r], stress_nac: maps[s], rest_nac: maps[r] };
  }
  return { id: row.patientId, label, key: imageContentHash(source), source };
}

async function loadPatients(path: string, mode: InputMode): Promise<{ patients: Patient[]; sha256: string }> {
  const m = await loadManifest(path, { requireLabels: true, requireBothClasses: true });
  const patients: Patient[] = [];
  for (const row of m.rows) patients.push(await loadPatient(row, mode, path));
  return { patients, sha256: m.sha256 };
}

function toExample(p: Patient, angle = 0): Example {
  return { id: p.id, label: p.label, angle, key: p.key, load: () => Promise.resolve(p.source) };
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new InputError(`${name} must be an integer >= ${min}, got ${v}`);
}

async function saveTfjs(model: tf.LayersModel, dir: string, info: object): Promise<void> {
  const artifacts = await new Promise<tf.io.ModelArtifacts>((res, rej) => {
    model
      .save(
        tf.io.withSaveHandler(async (a) => {
          res(a);
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      )
      .catch(rej);
  });
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
  await writeFileAtomic(join(dir, 'polarcad.json'), JSON.stringify(info, null, 2) + '\n');
  await writeFileAtomic(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'layers-model',
      generatedBy: 'polarcad',
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    }),
  );
}

function fmt(x: number, d = 3): string {
  return Number.isFinite(x) ? x.toFixed(d) : 'n/a';
}

/**
 * Train, evaluate and save one run (see the module comment); with `resume`, continue the run in
 * `out` from its checkpoints using the options saved in its config.json.
 * @throws InputError for bad options or input (naming the file, row or flag).
 */
export async function runTraining(
  given: TrainRunOptions,
  hooks: TrainRunHooks = {},
): Promise<TrainRunResult> {
  const out = resolve(given.out);
  let opts: TrainRunOptions = given;
  if (given.resume === true) {
    let text: string;
    try {
      text = await readFile(join(out, 'config.json'), 'utf8');
    } catch {
      throw new InputError(`--resume ${given.out}: no config.json there; not a polarcad run directory`);
    }
    const cfg = JSON.parse(text) as { options: TrainRunOptions; status?: string };
    if (cfg.status === 'complete')
      throw new InputError(`--resume ${given.out}: this run is already complete`);
    opts = { ...cfg.options, out: given.out, resume: true };
  }
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
  } as TrainRunOptions & typeof DEFAULTS;
  if (!(INPUT_MODES as readonly string[]).includes(o.input))
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
  if (o.unfreeze !== undefined && o.unfreezeFrom !== undefined)
    throw new InputError('give --unfreeze or --unfreeze-from, not both');
  if (o.selectOn !== 'validation' && o.selectOn !== 'test')
    throw new InputError(`--select-on must be validation or test, got '${String(o.selectOn)}'`);
  if (o.inputSize !== undefined && o.weights !== 'none')
    throw new InputError('--input-size can only change the input side with --weights none');
  await initBackend('wasm');
  const seed = o.seed;
  const rng = new Rng(seed);

  // ---- data
  const { patients, sha256 } = await loadPatients(o.manifest, o.input);
  const byId = new Map(patients.map((p) => [p.id, p]));
  let testPatients: Patient[];
  let trainIds: string[];
  let testSha: string | undefined;
  if (o.testManifest !== undefined) {
    const t = await loadPatients(o.testManifest, o.input);
    testPatients = t.patients;
    testSha = t.sha256;
    const clash = testPatients.filter((p) => byId.has(p.id)).map((p) => p.id);
    if (clash.length > 0)
      throw new InputError(
        `--test-manifest ${o.testManifest}: patient(s) ${clash.slice(0, 5).join(', ')} are also in the training manifest`,
      );
    trainIds = patients.map((p) => p.id).sort();
  } else {
    const split = stratifiedHoldout(patients, { testFraction: o.testFraction, seed });
    trainIds = split.train;
    testPatients = split.test.map((id) => byId.get(id) as Patient);
  }
  const labels = new Map(patients.map((p) => [p.id, p.label]));
  const carved = carveValidation(trainIds, labels, { fraction: o.validationFraction, seed });
  const fitPatients = carved.train.map((id) => byId.get(id) as Patient);
  const valPatients = carved.validation.map((id) => byId.get(id) as Patient);
  const train: Example[] =
    o.augment > 0
      ? balanceByAugmentation(fitPatients, o.augment, rng.fork('augment')).map((a) =>
          toExample(byId.get(a.id) as Patient, a.angle),
        )
      : fitPatients.map((p) => toExample(p));
  const validation = valPatients.map((p) => toExample(p));
  const test = testPatients.map((p) => toExample(p));
  const warnings: string[] = [];
  if (o.selectOn === 'test') {
    const w =
      'WARNING: --select-on test picks the best epochs on the TEST set (the protocol of Hai et al. 2022): the reported test metrics are optimistically biased and leak test information. Recorded in config.json and summary.txt.';
    warnings.push(w);
    hooks.onWarning?.(w);
  }

  // ---- model
  const inputSize = o.inputSize;
  const loaded = await loadBackbone(o.backbone, {
    weights: o.weights,
    ...(inputSize !== undefined ? { inputShape: [inputSize, inputSize, 3] as [number, number, 3] } : {}),
    ...(o.alpha !== undefined ? { alpha: o.alpha } : {}),
  });
  const spec = loaded.spec;
  const side = inputSize ?? spec.inputSize;
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
  seededInit(model.layers.slice(-headLayers), rng.fork('head-init'), 'glorot');
  const nBackbone = model.layers.length - headLayers;

  // ---- unfreeze depth
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
  const a = spec.lrExponent;
  const lr1 = Number(`1e-${a}`);
  const lr2 = Number(`1e-${a + 2}`);
  const stages = [
    {
      name: 'warmup',
      epochs: o.warmupEpochs,
      lr: lr1,
      unfreeze: 0,
      bnPolicy: 'follow' as BnPolicy,
      patience: o.patience,
      restoreBest: o.restoreBest,
    },
    {
      name: 'finetune',
      epochs: o.finetuneEpochs,
      lr: lr2,
      unfreeze: k,
      bnPolicy,
      trainBn: o.trainBn,
      patience: o.patience,
      restoreBest: o.restoreBest,
    },
  ].filter((s) => s.epochs > 0);
  if (stages.length === 0)
    throw new InputError('both --warmup-epochs and --finetune-epochs are 0: nothing to train');

  // ---- config.json (written first; a resumed run must match it)
  const config = {
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
  const configText = (c: object): string =>
    JSON.stringify(c, (_k, v: unknown) => (v === undefined ? undefined : v), 2) + '\n';
  const ckptDir = join(out, 'checkpoints');
  if (o.resume === true) {
    const prev = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as { resolved: unknown };
    if (JSON.stringify(prev.resolved) !== JSON.stringify(JSON.parse(configText(config)).resolved)) {
      throw new InputError(
        `--resume ${given.out}: the data or the resolved configuration changed since the run started (compare config.json); start a new run`,
      );
    }
  } else {
    await rm(ckptDir, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    await writeFileAtomic(join(out, 'config.json'), configText(config));
  }

  // ---- train
  const setup = new TrainingSetup({
    backboneName: spec.name,
    weightsId,
    inputSize: side,
    scaling: spec.scaling,
    layout:
      o.input === 'tile2x2' || o.input === 'ac' || o.input === 'nac'
        ? 'tile2x2'
        : ('image' satisfies InputLayout),
    cache: new FeatureCache({
      ...(o.cacheDir !== undefined ? { dir: o.cacheDir } : {}),
      onWarning: hooks.onWarning,
    }),
  });
  try {
    const t0 = performance.now();
    const result = await trainStages({
      setup,
      model,
      headLayers,
      train,
      validation: o.selectOn === 'test' ? test : validation,
      stages,
      batchSize: o.batchSize,
      seed,
      microBatch: o.microBatch,
      checkpointDir: ckptDir,
      onEvent: hooks.onEvent,
      shouldStop: hooks.shouldStop,
    });
    if (result.interrupted) return { out, interrupted: true, stages: result.stages, history: result.history };
    applyWeights(model, result.weights);
    const probs = await predict(setup, model, headLayers, result.lastStart, test);
    const testLabels = test.map((e) => e.label);
    const metrics = metricsWithIntervals(testLabels, Array.from(probs), { seed: `${seed}/metrics` });
    let calibration: CalibrationFile | null = null;
    if (o.calibrate) {
      // Temperature scaling (Guo et al. 2017) on the carved validation patients only (never test),
      // scored by the final model exactly as the trainer scores them for selection.
      if (validation.length === 0)
        throw new InputError('--calibrate: no validation patients to fit the temperature on');
      const valProbs = Array.from(await predict(setup, model, headLayers, result.lastStart, validation));
      const fit = fitTemperature(
        validation.map((e) => e.label),
        valProbs,
        { from: 'probs' },
      );
      calibration = {
        method: 'temperature scaling (Guo et al. 2017), golden-section search on log T',
        temperature: fit.temperature,
        fittedOn: 'validation',
        n: validation.length,
        ids: validation.map((e) => e.id),
        nllBefore: fit.nllBefore,
        nllAfter: fit.nllAfter,
      };
    }
    const calibrated =
      calibration === null
        ? null
        : applyTemperature(Array.from(probs), calibration.temperature, { from: 'probs' });
    const seconds = (performance.now() - t0) / 1000;

    // ---- outputs
    await writeFileAtomic(
      join(out, 'history.csv'),
      stringify(
        result.history.map((r) => [
          r.stage,
          r.epoch,
          r.loss,
          r.accuracy,
          r.valLoss,
          r.valAccuracy,
          r.lr,
          r.seconds,
        ]),
        { header: true, columns: ['stage', 'epoch', 'loss', 'acc', 'val_loss', 'val_acc', 'lr', 'seconds'] },
      ),
    );
    const predictions = test.map((e, i) => [
      e.id,
      e.label,
      probs[i],
      probs[i] >= 0.5 ? 1 : 0,
      'test',
      ...(calibrated === null ? [] : [calibrated[i]]),
    ]);
    await writeFileAtomic(
      join(out, 'predictions.csv'),
      stringify(predictions, {
        header: true,
        columns: [
          'patient_id',
          'label',
          'prob',
          'predicted',
          'split',
          ...(calibrated === null ? [] : ['prob_calibrated']),
        ],
      }),
    );
    if (calibration !== null)
      await writeFileAtomic(join(out, 'calibration.json'), JSON.stringify(calibration, null, 2) + '\n');
    const m = metrics.metrics;
    const metricsJson = {
      evaluatedOn:
        o.testManifest === undefined ? 'held-out test split' : `test manifest ${resolve(o.testManifest)}`,
      n: m.n,
      threshold: m.threshold,
      accuracy: metrics.accuracy,
      auc: metrics.auc,
      sensitivity: metrics.sensitivity,
      specificity: metrics.specificity,
      precision: metrics.precision,
      f1: metrics.f1,
      confusion: { tp: m.tp, fp: m.fp, tn: m.tn, fn: m.fn },
      selectionLeaksTest: o.selectOn === 'test',
    };
    await writeFileAtomic(join(out, 'metrics.json'), JSON.stringify(metricsJson, null, 2) + '\n');
    const info = {
      backbone: spec.name,
      inputSize: side,
      scaling: spec.scaling,
      classes: ['normal', 'cad'],
      camLayer: spec.camLayer,
      input: o.input,
      colormap: await preparedColormap(o.manifest), // the crops' colour map: predict/serve warn on others
    };
    await saveTfjs(model, join(out, 'model'), info);
    await writeFileAtomic(join(out, 'model.onnx'), exportToOnnx(model));
    await writeCurves(out, result.history, result.stages, hooks.onWarning);
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
    await writeFileAtomic(join(out, 'summary.txt'), summary);
    await writeFileAtomic(
      join(out, 'config.json'),
      configText({
        ...config,
        status: 'complete',
        stages: result.stages,
        seconds,
        selectionIds: result.selectionIds,
        calibrated: calibration !== null,
        temperature: calibration?.temperature ?? null,
      }),
    );
    await rm(ckptDir, { recursive: true, force: true });
    return { out, interrupted: false, stages: result.stages, history: result.history, metrics, summary };
  } finally {
    await setup.dispose();
    model.dispose();
  }
}

async function writeCurves(
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
    await render.writeChart(spec, join(out, 'training-curves'));
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
