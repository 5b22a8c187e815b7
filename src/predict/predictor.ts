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
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { initBackend } from '../engine/backend.js';
import { Explainer, explainInfoFrom } from '../explain/index.js';
import { VIEWS, isView, type View } from '../domain/views.js';
import { SCALING_MODES, type ScalingMode } from '../ingest/preprocess.js';
import '../models/layers/keras-layers.js';
import { getBackbone } from '../models/table.js';
import { loadTfjsFolder } from '../models/weights/tfjs-folder.js';
import type { NormalDatabase } from '../polarmap/normal-database.js';
import { InputError, errorMessage } from '../util/errors.js';
import { readInputText } from '../util/read-input.js';

/** Model inputs (as `polarcad train --input`). */
export const MODEL_INPUTS = [
  'stress_ac',
  'rest_ac',
  'stress_nac',
  'rest_nac',
  'tile2x2',
  'ac',
  'nac',
] as const;
export type ModelInput = (typeof MODEL_INPUTS)[number];

/** `polarcad.json` as predict needs it. */
export const ModelInfoSchema = z
  .object({
    backbone: z.string().min(1),
    inputSize: z.number().int().positive(),
    scaling: z.enum(SCALING_MODES as [ScalingMode, ...ScalingMode[]]),
    classes: z.array(z.string()).min(1).optional(),
    camLayer: z.string().min(1).optional(),
    input: z.enum(MODEL_INPUTS).optional(),
  })
  .passthrough();
export type ModelInfo = z.infer<typeof ModelInfoSchema>;

/** What the reader is told about the model (`GET /api/model`, the page, the report). */
export interface ModelCard {
  readonly backbone: string;
  readonly input: ModelInput;
  readonly inputSize: number;
  readonly scaling: ScalingMode;
  /** Views the model reads. */
  readonly views: readonly View[];
  readonly camLayer: string;
  /** How the heatmap is computed: CAM for a GAP -> Dense head, else Grad-CAM (as `Explainer`'s 'auto'). */
  readonly explanation: 'CAM' | 'Grad-CAM';
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
  readonly input: ModelInput;
  readonly views: readonly View[];
  /** The model split at its CAM layer: backbone in ONNX Runtime, head in tfjs (`explain/index.ts`). */
  readonly explainer: Explainer;
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

/** Views read for each model input. */
export function viewsForInput(input: ModelInput): View[] {
  if (isView(input)) return [input];
  if (input === 'ac') return ['stress_ac', 'rest_ac'];
  if (input === 'nac') return ['stress_nac', 'rest_nac'];
  return [...VIEWS];
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readJson(p: string): Promise<unknown> {
  let text: string;
  try {
    text = await readInputText(p, 'json');
  } catch (e) {
    throw new InputError(`${p}: cannot read (${errorMessage(e)})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new InputError(`${p}: not valid JSON (${errorMessage(e)})`);
  }
}

async function readOptionalJson(p: string): Promise<Record<string, unknown> | null> {
  if (!(await exists(p))) return null;
  const v = await readJson(p);
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const estimate = (v: unknown): number | null =>
  num(v) ?? (typeof v === 'object' && v !== null ? num((v as { estimate?: unknown }).estimate) : null);

/** Where the files of a model are: a run directory or a bare model folder. */
async function locate(path: string): Promise<{ modelDir: string; runDir: string | null }> {
  const abs = resolve(path);
  if (await exists(join(abs, 'model', 'model.json'))) return { modelDir: join(abs, 'model'), runDir: abs };
  if (await exists(join(abs, 'model.json'))) {
    const parent = dirname(abs);
    const isRun = basename(abs) === 'model' && (await exists(join(parent, 'config.json')));
    return { modelDir: abs, runDir: isRun ? parent : null };
  }
  throw new InputError(
    `${abs}: not a polarcad run directory (no model/model.json) or model folder (no model.json)`,
  );
}

/** Everything but the tfjs model that {@link createPredictor} takes from a run directory. */
export interface RunMetadata {
  config?: Record<string, unknown> | null;
  metrics?: Record<string, unknown> | null;
  calibration?: Record<string, unknown> | null;
}

/**
 * Load a model from a `polarcad train` run directory (or a model folder with polarcad.json).
 * @throws InputError when files are missing or malformed, or the model cannot be split at its CAM layer.
 */
export async function loadPredictor(path: string, opts: PredictorOptions = {}): Promise<Predictor> {
  const { modelDir, runDir } = await locate(path);
  const infoPath = join(modelDir, 'polarcad.json');
  if (!(await exists(infoPath)))
    throw new InputError(`${infoPath}: missing; predict needs the preprocessing polarcad train writes there`);
  const parsed = ModelInfoSchema.safeParse(await readJson(infoPath));
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new InputError(`${infoPath}: field "${i.path.join('.') || '(root)'}": ${i.message}`);
  }
  const meta: RunMetadata =
    runDir === null
      ? {}
      : {
          config: await readOptionalJson(join(runDir, 'config.json')),
          metrics: await readOptionalJson(join(runDir, 'metrics.json')),
          calibration: await readOptionalJson(join(runDir, 'calibration.json')),
        };
  await initBackend('wasm');
  const model = await loadTfjsFolder(modelDir);
  try {
    return await createPredictor(model, parsed.data, meta, opts);
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
  await initBackend('wasm');
  const input: ModelInput = info.input ?? 'stress_ac';
  let camLayer = info.camLayer;
  if (camLayer === undefined) {
    try {
      camLayer = getBackbone(info.backbone).camLayer;
    } catch {
      throw new InputError(`polarcad.json: no camLayer and unknown backbone "${info.backbone}"`);
    }
  }
  const shape = model.inputs[0].shape;
  if (shape[1] !== info.inputSize || shape[2] !== info.inputSize) {
    throw new InputError(
      `polarcad.json: inputSize ${info.inputSize} does not match the model input ${shape[1]}x${shape[2]}`,
    );
  }
  const explainer = await Explainer.create(
    model,
    explainInfoFrom({
      ...info,
      camLayer,
      layout: input === 'tile2x2' || input === 'ac' || input === 'nac' ? 'tile2x2' : 'image',
    }),
    opts.threads !== undefined ? { threads: opts.threads } : {},
  );
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
  const card = {
    ...modelCard(info, input, camLayer, meta, threshold, temperature),
    explanation: explainer.split.head.camWeights !== null ? ('CAM' as const) : ('Grad-CAM' as const),
  };
  let disposed = false;
  return {
    info,
    card,
    input,
    views: viewsForInput(input),
    explainer,
    threshold,
    temperature,
    normalDb: opts.normalDb ?? null,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await explainer.dispose();
      model.dispose();
    },
  };
}

function modelCard(
  info: ModelInfo,
  input: ModelInput,
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
    views: viewsForInput(input),
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
