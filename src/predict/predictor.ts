/**
 * A loaded model ready to explain studies: loaded once, used for every study (CLI and server).
 *
 * The model is split at its CAM layer by the `Explainer` of `explain/index.ts`: the backbone part
 * (input .. CAM layer) runs in ONNX Runtime, the head runs eagerly in tfjs for the exact Grad-CAM
 * gradient (Selvaraju et al. 2017), so one prediction with its explanation costs one backbone
 * forward pass plus a forward and backward pass through the few head layers.
 *
 * What is read from a run directory of `polarcad train` (docs/training.md):
 *   model/model.json, weights      the tfjs layers model
 *   model/polarcad.json            preprocessing: backbone, inputSize, scaling, camLayer, input
 *   config.json                    weights provenance, training data (counts only are shown)
 *   metrics.json                   test metrics; `threshold` = the operating threshold (default 0.5)
 *   calibration.json (optional)    `{ "temperature": T }` fitted on validation data (Guo et al.
 *                                  2017); also read from metrics.json `calibration.temperature`
 * A bare model folder (model.json + polarcad.json) works too, with threshold 0.5 and no calibration.
 */
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine/backend.js';
import { Explainer, explainInfoFrom } from '../explain/index.js';
import { layoutOf, viewsOf, type InputMode } from '../domain/input-mode.js';
import type { View } from '../domain/views.js';
import type { ScalingMode } from '../domain/scaling.js';
import '../models/layers/keras-layers.js';
import { getBackbone } from '../models/table.js';
import type { NormalDatabase } from '../polarmap/normal-database.js';
import { openSavedModel, type SavedModelInfo } from '../rundir/model.js';
import { isLinearModel, openLinearModel } from '../rundir/linear.js';
import { isEnsembleModel, openEnsemble } from '../rundir/ensemble.js';
import type { PolarModelPredictor } from '../models/linear/polar-model.js';
import { readRunMetadata, type RunMetadata } from '../rundir/run.js';
import { InputError } from '../util/errors.js';

export type { RunMetadata } from '../rundir/run.js';

/** `polarcad.json` of the model (`src/rundir/model.ts`). */
export type ModelInfo = SavedModelInfo;

/** What the reader is told about the model (`GET /api/model`, the page, the report). */
export interface ModelCard {
  readonly backbone: string;
  /** the input mode of a CNN, or the recipe of a closed-form model ('hybrid', ...) */
  readonly input: string;
  readonly inputSize: number;
  readonly scaling: ScalingMode;
  /** Views the model reads. */
  readonly views: readonly View[];
  readonly camLayer: string;
  /** How the heatmap is computed: CAM for a GAP -> Dense head, else Grad-CAM (as `Explainer`'s 'auto'). */
  readonly explanation: 'CAM' | 'Grad-CAM' | 'segment evidence';
  /** Where the initial weights came from (plain language), if recorded. */
  readonly weights: string | null;
  /** Shown when the initial weights were the embedded nsfwjs ones (not ImageNet). */
  readonly weightsDisclaimer: string | null;
  /** Training data: counts and the manifest's SHA-256 (no paths, no patient ids). */
  readonly trainingData: {
    readonly train: number;
    readonly validation: number;
    readonly test: number;
    readonly manifestSha256: string | null;
  } | null;
  /** Test-set metrics of the run, if recorded. */
  readonly testMetrics: {
    readonly auc: number | null;
    readonly sensitivity: number | null;
    readonly specificity: number | null;
    readonly accuracy: number | null;
    readonly n: number | null;
    readonly evaluatedOn: string | null;
  } | null;
  readonly threshold: number;
  /** Temperature of the calibration, null when uncalibrated. */
  readonly temperature: number | null;
  readonly intendedUse: string;
  /** What the model is when it is not one network (a fold ensemble: how many members, trained on what); else null. */
  readonly ensemble?: string | null;
}

/** The intended-use statement shown with every result. */
export const INTENDED_USE =
  'A second reader for nuclear-medicine physicians reading SPECT myocardial perfusion polar maps: it gives the probability of coronary artery disease a trained model assigns to a study and where it looked. It is not a diagnosis and not a medical device; research software, validated only on the data described here.';

const EMBEDDED_DISCLAIMER =
  'The backbone started from the weights embedded with polarcad (the nsfwjs models): ImageNet-initialised, then retrained by their authors on an unrelated 5-class image task and quantised to 8 bits. They are not ImageNet weights, and results are not comparable with the published ImageNet transfer-learning results.';

/** A loaded model. */
export interface Predictor {
  readonly info: ModelInfo;
  readonly card: ModelCard;
  readonly input: InputMode;
  readonly views: readonly View[];
  /** CNN: the model split at its CAM layer: backbone in ONNX Runtime, head in tfjs (`explain/index.ts`); null for a closed-form model. */
  readonly explainer: Explainer | null;
  /**
   * Every network of the model: `[explainer]` for one CNN, the K members of a fold ensemble
   * (`train --ensemble K`; P(CAD) and heatmap are the members' means, `explainMembers`), none for a
   * closed-form model.
   */
  readonly explainers: readonly Explainer[];
  /** Closed-form model (`train --model hybrid|...`): its opened predictor; null for a CNN. */
  readonly linear: PolarModelPredictor | null;
  readonly threshold: number;
  readonly temperature: number | null;
  readonly normalDb: NormalDatabase | null;
  /** Releases the ONNX session and the tfjs weights. */
  dispose(): Promise<void>;
}

/** Options of {@link loadPredictor} and {@link createPredictor}. */
export interface PredictorOptions {
  /** ONNX Runtime intra-op threads (default: every core). */
  threads?: number;
  /** A normal database for SSS/SRS/SDS. */
  normalDb?: NormalDatabase;
  /** Override the operating threshold. */
  threshold?: number;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const estimate = (v: unknown): number | null =>
  num(v) ?? (typeof v === 'object' && v !== null ? num((v as { estimate?: unknown }).estimate) : null);

/**
 * Load a model from a `polarcad train` run directory (or a model folder with polarcad.json),
 * verified by `openSavedModel` (checksums, self-check, complete run).
 * @throws InputError when files are missing, malformed or changed, or the model cannot be split at its CAM layer.
 */
export async function loadPredictor(path: string, opts: PredictorOptions = {}): Promise<Predictor> {
  if (await isLinearModel(path)) return loadLinearPredictor(path, opts);
  if (await isEnsembleModel(path)) return loadEnsemblePredictor(path, opts);
  const { model, info, runDir } = await openSavedModel(path);
  try {
    const meta: RunMetadata = runDir === null ? {} : await readRunMetadata(runDir);
    return await createPredictor(model, info, meta, opts);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * A predictor from an in-memory model (its layers are kept; `dispose` disposes the model).
 * `info` as in polarcad.json; `meta` the run's config / metrics / calibration JSON, when known.
 */
export async function createPredictor(
  model: tf.LayersModel,
  info: ModelInfo,
  meta: RunMetadata = {},
  opts: PredictorOptions = {},
): Promise<Predictor> {
  return cnnPredictor([model], info, meta, opts, null);
}

/** The CAM layer of `info` (or of its backbone's table row). */
function camLayerOf(info: ModelInfo): string {
  if (info.camLayer !== undefined) return info.camLayer;
  try {
    return getBackbone(info.backbone).camLayer;
  } catch {
    throw new InputError(`polarcad.json: no camLayer and unknown backbone "${info.backbone}"`);
  }
}

/** The operating threshold and calibration temperature of a run (metrics.json, calibration.json). */
function thresholdAndTemperature(
  meta: RunMetadata,
  opts: PredictorOptions,
): { threshold: number; temperature: number | null } {
  const metrics = meta.metrics ?? null;
  const calibration = meta.calibration ?? null;
  const threshold =
    opts.threshold ?? num(metrics?.['operatingThreshold']) ?? num(metrics?.['threshold']) ?? 0.5;
  if (!(threshold > 0 && threshold < 1))
    throw new InputError(`operating threshold must be in (0, 1), got ${threshold}`);
  const calib = metrics?.['calibration'];
  const temperature =
    num(calibration?.['temperature']) ??
    (typeof calib === 'object' && calib !== null
      ? num((calib as { temperature?: unknown }).temperature)
      : null);
  if (temperature !== null && !(temperature > 0))
    throw new InputError(`calibration temperature must be positive, got ${temperature}`);
  return { threshold, temperature };
}

/**
 * A predictor of one or more networks of the same backbone and input (a fold ensemble's members:
 * `ensemble` says what it is); each split at its CAM layer by its own `Explainer`.
 */
async function cnnPredictor(
  models: readonly tf.LayersModel[],
  info: ModelInfo,
  meta: RunMetadata,
  opts: PredictorOptions,
  ensemble: string | null,
): Promise<Predictor> {
  await initBackend('wasm');
  const input: InputMode = info.input ?? 'stress_ac';
  const camLayer = camLayerOf(info);
  for (const model of models) {
    const shape = model.inputs[0].shape;
    if (shape[1] !== info.inputSize || shape[2] !== info.inputSize) {
      throw new InputError(
        `polarcad.json: inputSize ${info.inputSize} does not match the model input ${shape[1]}x${shape[2]}`,
      );
    }
  }
  const explainers: Explainer[] = [];
  try {
    for (const model of models)
      explainers.push(
        await Explainer.create(
          model,
          explainInfoFrom({ ...info, camLayer, layout: layoutOf(input) }),
          opts.threads !== undefined ? { threads: opts.threads } : {},
        ),
      );
  } catch (e) {
    for (const ex of explainers) await ex.dispose();
    throw e;
  }
  const { threshold, temperature } = thresholdAndTemperature(meta, opts);
  const card = {
    ...modelCard(info, input, camLayer, meta, threshold, temperature),
    explanation: explainers[0].split.head.camWeights !== null ? ('CAM' as const) : ('Grad-CAM' as const),
    ensemble,
  };
  let disposed = false;
  return {
    info,
    card,
    input,
    views: viewsOf(input),
    explainer: explainers[0],
    explainers,
    linear: null,
    threshold,
    temperature,
    normalDb: opts.normalDb ?? null,
    async dispose() {
      if (disposed) return;
      disposed = true;
      for (const ex of explainers) await ex.dispose();
      for (const model of models) model.dispose();
    },
  };
}

/** A predictor of a fold ensemble (src/rundir/ensemble.ts: checksums and self-checks of it and of every member). */
async function loadEnsemblePredictor(path: string, opts: PredictorOptions): Promise<Predictor> {
  const opened = await openEnsemble(path);
  try {
    const meta: RunMetadata = opened.runDir === null ? {} : await readRunMetadata(opened.runDir);
    const m = opened.info.ensemble.members;
    const what = `fold ensemble of ${m.length} networks (each trained on ${m.map((x) => x.trainedOn).join('/')} patients, epochs selected on its own fold); P(CAD) and heatmap are the members' means`;
    return await cnnPredictor(opened.members, opened.info, meta, opts, what);
  } catch (e) {
    opened.dispose();
    throw e;
  }
}

function modelCard(
  info: ModelInfo,
  input: InputMode,
  camLayer: string,
  meta: RunMetadata,
  threshold: number,
  temperature: number | null,
): Omit<ModelCard, 'explanation'> {
  const resolved = (meta.config?.['resolved'] ?? null) as Record<string, unknown> | null;
  const weights = (resolved?.['weights'] ?? null) as { source?: unknown; description?: unknown } | null;
  const split = (resolved?.['split'] ?? null) as {
    train?: unknown;
    validation?: unknown;
    test?: unknown;
  } | null;
  const manifest = (resolved?.['manifest'] ?? null) as { sha256?: unknown } | null;
  const len = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  const m = meta.metrics ?? null;
  return {
    backbone: info.backbone,
    input,
    inputSize: info.inputSize,
    scaling: info.scaling,
    views: viewsOf(input),
    camLayer,
    weights: typeof weights?.description === 'string' ? weights.description : null,
    weightsDisclaimer: weights?.source === 'embedded' ? EMBEDDED_DISCLAIMER : null,
    trainingData:
      split === null
        ? null
        : {
            train: len(split.train),
            validation: len(split.validation),
            test: len(split.test),
            manifestSha256: typeof manifest?.sha256 === 'string' ? manifest.sha256 : null,
          },
    testMetrics:
      m === null
        ? null
        : {
            auc: estimate(m['auc']),
            sensitivity: estimate(m['sensitivity']),
            specificity: estimate(m['specificity']),
            accuracy: estimate(m['accuracy']),
            n: num(m['n']),
            evaluatedOn:
              typeof m['evaluatedOn'] === 'string'
                ? m['evaluatedOn'].startsWith('test manifest')
                  ? 'a separate test manifest'
                  : m['evaluatedOn']
                : null,
          },
    threshold,
    temperature,
    intendedUse: INTENDED_USE,
  };
}

/** A predictor of a closed-form model (src/rundir/linear.ts: checksums, self-check, complete run). */
async function loadLinearPredictor(path: string, opts: PredictorOptions): Promise<Predictor> {
  const opened = await openLinearModel(path);
  const meta: RunMetadata = opened.runDir === null ? {} : await readRunMetadata(opened.runDir);
  const m = opened.predictor.model;
  const threshold = opts.threshold ?? num(meta.metrics?.['threshold']) ?? 0.5;
  if (!(threshold > 0 && threshold < 1))
    throw new InputError(`operating threshold must be in (0, 1), got ${threshold}`);
  const cnns = m.members.flatMap((x) => (x.features.kind === 'cnn-segments' ? [x.features] : []));
  const cnn = cnns[0];
  const base = modelCard(
    {
      backbone: cnns.length > 0 ? cnns.map((f) => f.backbone).join('+') : 'none',
      inputSize: cnn?.kind === 'cnn-segments' ? cnn.inputSize : 0,
      scaling: 'raw',
    } as ModelInfo,
    m.views.length === 1 ? (m.views[0] as InputMode) : 'tile2x2',
    cnn?.kind === 'cnn-segments' ? `${cnn.layer} (segment-pooled)` : 'none',
    meta,
    threshold,
    m.temperature,
  );
  const card: ModelCard = {
    ...base,
    input: m.recipe,
    views: m.views,
    explanation: 'segment evidence',
    weights: cnns.length > 0 ? [...new Set(cnns.map((f) => f.weightsDescription))].join('; ') : null,
    weightsDisclaimer:
      cnn?.kind === 'cnn-segments' && cnn.weightsDescription.startsWith('embedded')
        ? EMBEDDED_DISCLAIMER
        : null,
  };
  let disposed = false;
  return {
    info: {
      backbone: card.backbone,
      inputSize: card.inputSize,
      scaling: 'raw',
      kind: 'linear',
      colormap: m.colormap.name,
    } as ModelInfo,
    card,
    input: m.views.length === 1 ? (m.views[0] as InputMode) : 'tile2x2',
    views: m.views,
    explainer: null,
    explainers: [],
    linear: opened.predictor,
    threshold,
    temperature: m.temperature,
    normalDb: opts.normalDb ?? null,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await opened.predictor.dispose();
    },
  };
}
