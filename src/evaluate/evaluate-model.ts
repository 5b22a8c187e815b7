/**
 * `polarcad evaluate`: a saved model (a `polarcad train` run directory, or its `model/` folder) on
 * a labelled manifest of prepared polar maps. Inference runs in ONNX Runtime on the run's exported
 * `model.onnx` (or on the tfjs model exported to ONNX in memory when only `model/` is given), with
 * the same input preparation as training (`prepareInput`: layout, resize, per-backbone scaling).
 * The operating threshold is given (`threshold`, default 0.5) or chosen on the run's VALIDATION
 * patients to reach a required sensitivity (`thresholdForSensitivity`), then applied unchanged.
 * Writes OUT/predictions.csv, OUT/metrics.json (`MetricsFile`, one `MetricsRow` with 95% CIs) and
 * OUT/evaluate.json atomically; the report is written by the caller.
 */
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import { VIEWS, isView, type Label, type View } from '../domain/views.js';
import { prepareInput, type FeatureSource, type InputLayout, type PatientViews } from '../engine/features.js';
import { exportToOnnx } from '../engine/onnx/export.js';
import { OnnxModel } from '../engine/onnx/session.js';
import { loadManifest, type StudyRow } from '../ingest/manifest.js';
import { isScalingMode, type ScalingMode } from '../ingest/preprocess.js';
import { readImage } from '../ingest/readers.js';
import '../models/layers/keras-layers.js';
import { loadTfjsFolder } from '../models/weights/tfjs-folder.js';
import { writeDirAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { pathExists, readJsonObject } from '../util/fs.js';
import { metricsWithIntervals } from './intervals.js';
import { metricsFile, metricsRowFromIntervals, type MetricsFile, type MetricsRow } from './metrics-row.js';
import { thresholdForSensitivity } from './metrics.js';

/** What `model/polarcad.json` records about a saved model. */
export interface SavedModelInfo {
  readonly backbone: string;
  readonly inputSize: number;
  readonly scaling: ScalingMode;
  readonly input: string;
}

/** A model ready for inference, with where it came from. */
export interface LoadedModel {
  readonly info: SavedModelInfo;
  /** the run directory, when the model is part of one */
  readonly runDir: string | null;
  /** the run's config.json, when present */
  readonly config: Record<string, unknown> | null;
  /** 'onnx' (model.onnx of the run) or 'tfjs' (model/ exported to ONNX here) */
  readonly source: 'onnx' | 'tfjs';
  readonly session: OnnxModel;
}

/**
 * Open a saved model: `path` is a run directory (model.onnx + model/polarcad.json) or a model
 * folder (model.json + polarcad.json).
 * @throws InputError when neither is found or the files are unusable
 */
export async function loadSavedModel(path: string): Promise<LoadedModel> {
  const p = resolve(path);
  let modelDir: string;
  let runDir: string | null;
  if (await pathExists(join(p, 'model', 'polarcad.json'))) {
    modelDir = join(p, 'model');
    runDir = p;
  } else if (await pathExists(join(p, 'polarcad.json'))) {
    modelDir = p;
    runDir = (await pathExists(join(dirname(p), 'config.json'))) ? dirname(p) : null;
  } else {
    throw new InputError(
      `${path}: not a polarcad model (expected a run directory of \`polarcad train\` with model/polarcad.json, or a model folder with polarcad.json)`,
    );
  }
  const raw = await readJsonObject(join(modelDir, 'polarcad.json'));
  const info: SavedModelInfo = {
    backbone: String(raw.backbone ?? '?'),
    inputSize: Number(raw.inputSize),
    scaling: raw.scaling as ScalingMode,
    input: String(raw.input ?? 'stress_ac'),
  };
  if (!Number.isInteger(info.inputSize) || info.inputSize < 8)
    throw new InputError(
      `${join(modelDir, 'polarcad.json')}: inputSize ${String(raw.inputSize)} is not a valid input side`,
    );
  if (!isScalingMode(info.scaling))
    throw new InputError(`${join(modelDir, 'polarcad.json')}: unknown scaling ${String(raw.scaling)}`);
  const config =
    runDir !== null && (await pathExists(join(runDir, 'config.json')))
      ? await readJsonObject(join(runDir, 'config.json'))
      : null;
  const onnxPath = runDir !== null ? join(runDir, 'model.onnx') : '';
  if (runDir !== null && (await pathExists(onnxPath))) {
    return { info, runDir, config, source: 'onnx', session: await OnnxModel.create(onnxPath) };
  }
  const model = await loadTfjsFolder(modelDir);
  try {
    return { info, runDir, config, source: 'tfjs', session: await OnnxModel.create(exportToOnnx(model)) };
  } finally {
    model.dispose();
  }
}

function viewsFor(mode: string): View[] {
  if (isView(mode)) return [mode];
  if (mode === 'ac') return ['stress_ac', 'rest_ac'];
  if (mode === 'nac') return ['stress_nac', 'rest_nac'];
  if (mode === 'tile2x2') return [...VIEWS];
  throw new InputError(`model input mode "${mode}" is not known`);
}

/** The model input source of a manifest row, as `polarcad train` builds it (src/train/run.ts). */
async function sourceOf(row: StudyRow, mode: string, manifestPath: string): Promise<FeatureSource> {
  if (row.page !== undefined) {
    throw new InputError(
      `${manifestPath}: row ${row.row} (patient ${row.patientId}) refers to an export page; evaluate needs cleaned crops: run \`polarcad prepare ${manifestPath} --out DIR\` and evaluate DIR/manifest.csv`,
    );
  }
  const maps: PatientViews = {};
  for (const v of viewsFor(mode)) {
    const p = row.views[v];
    if (p === undefined)
      throw new InputError(
        `${manifestPath}: row ${row.row} (patient ${row.patientId}): column ${v} is empty; the model's input ${mode} needs it`,
      );
    const img = await readImage(p);
    if (img.width !== img.height)
      throw new InputError(
        `${p} (row ${row.row}, ${v}) is ${img.width}x${img.height}, not a square polar-map crop; run \`polarcad prepare\` first`,
      );
    maps[v] = img;
  }
  if (isView(mode)) return maps[mode] as FeatureSource;
  if (mode === 'tile2x2') return maps;
  const [s, r] = viewsFor(mode);
  return { stress_ac: maps[s], rest_ac: maps[r], stress_nac: maps[s], rest_nac: maps[r] };
}

/** P(CAD) for each row, batched through the session. */
export async function predictRows(
  m: LoadedModel,
  rows: readonly StudyRow[],
  manifestPath: string,
  onProgress?: (done: number, total: number) => void,
): Promise<Float64Array> {
  const { inputSize: n, scaling, input } = m.info;
  const layout: InputLayout = input === 'tile2x2' || input === 'ac' || input === 'nac' ? 'tile2x2' : 'image';
  const per = n * n * 3;
  const out = new Float64Array(rows.length);
  const batch = 8;
  for (let start = 0; start < rows.length; start += batch) {
    const part = rows.slice(start, start + batch);
    const x = new Float32Array(part.length * per);
    for (let i = 0; i < part.length; i++)
      x.set(prepareInput(await sourceOf(part[i], input, manifestPath), 0, layout, n, scaling), i * per);
    const res = await m.session.run(x, [part.length, n, n, 3]);
    const y = res[m.session.outputNames[0]];
    const k = y.dims[y.dims.length - 1];
    for (let i = 0; i < part.length; i++) out[start + i] = k === 1 ? y.data[i] : y.data[i * k + 1];
    onProgress?.(Math.min(rows.length, start + batch), rows.length);
  }
  return out;
}

/** Options of {@link evaluateModel}. */
export interface EvaluateOptions {
  readonly out: string;
  /** fixed threshold (default 0.5 when `sensitivity` is not given) */
  readonly threshold?: number;
  /** choose the threshold on the run's validation patients to reach this sensitivity */
  readonly sensitivity?: number;
  /** bootstrap seed (default 1) and resamples (default 2,000) */
  readonly seed?: number | string;
  readonly resamples?: number;
  readonly onProgress?: (stage: string, done: number, total: number) => void;
}

/** Result of {@link evaluateModel}. */
export interface EvaluateResult {
  readonly out: string;
  readonly row: MetricsRow;
  readonly file: MetricsFile;
  readonly threshold: { readonly value: number; readonly rule: string };
}

/**
 * Evaluate a saved model on a labelled manifest (see the module comment).
 * @throws InputError for a bad model path, manifest, images, options, or a run without validation patients when `sensitivity` is given
 */
export async function evaluateModel(
  modelPath: string,
  manifestPath: string,
  opts: EvaluateOptions,
): Promise<EvaluateResult> {
  if (opts.threshold !== undefined && opts.sensitivity !== undefined)
    throw new InputError('give --threshold or --sensitivity, not both');
  if (opts.threshold !== undefined && !(opts.threshold >= 0 && opts.threshold <= 1))
    throw new InputError(`--threshold must be in [0, 1], got ${opts.threshold}`);
  if (opts.sensitivity !== undefined && !(opts.sensitivity > 0 && opts.sensitivity <= 1))
    throw new InputError(`--sensitivity must be in (0, 1], got ${opts.sensitivity}`);
  const manifest = await loadManifest(manifestPath, { requireLabels: true, requireBothClasses: true });
  const m = await loadSavedModel(modelPath);
  try {
    let threshold = {
      value: opts.threshold ?? 0.5,
      rule: opts.threshold !== undefined ? `fixed at ${opts.threshold}` : 'default 0.5',
    };
    if (opts.sensitivity !== undefined) {
      const resolved = (m.config?.resolved ?? {}) as {
        manifest?: { path?: string };
        split?: { validation?: string[] };
      };
      const valIds = resolved.split?.validation ?? [];
      const trainManifest = resolved.manifest?.path;
      if (m.runDir === null || trainManifest === undefined || valIds.length === 0) {
        throw new InputError(
          `--sensitivity needs the model's run directory with its validation patients (config.json of \`polarcad train\`); ${modelPath} has none. Give --threshold instead`,
        );
      }
      const tm = await loadManifest(trainManifest, { requireLabels: true });
      const want = new Set(valIds);
      const rows = tm.rows.filter((r) => want.has(r.patientId));
      if (rows.length !== valIds.length)
        throw new InputError(
          `${trainManifest}: ${valIds.length - rows.length} of the run's validation patients are missing; cannot choose the threshold on them`,
        );
      const probs = await predictRows(m, rows, trainManifest, (d, t) =>
        opts.onProgress?.('validation', d, t),
      );
      const labels = rows.map((r) => r.label as Label);
      const t = thresholdForSensitivity(labels, Array.from(probs), opts.sensitivity);
      threshold = {
        value: t,
        rule: `chosen on the run's ${rows.length} validation patients for sensitivity >= ${opts.sensitivity}`,
      };
    }
    const probs = await predictRows(m, manifest.rows, manifest.path, (d, t) =>
      opts.onProgress?.('evaluate', d, t),
    );
    const labels = manifest.rows.map((r) => r.label as Label);
    const seed = opts.seed ?? 1;
    const name = m.info.backbone.toLowerCase();
    const description = `${m.info.backbone}, input ${m.info.input}${m.runDir ? ` (run ${basename(m.runDir)})` : ''}`;
    const mw = metricsWithIntervals(labels, Array.from(probs), {
      threshold: threshold.value,
      seed: `${String(seed)}/evaluate`,
      resamples: opts.resamples,
    });
    const row = metricsRowFromIntervals(
      {
        name,
        description,
        kind: 'model',
        evaluatedOn: `manifest ${basename(manifest.path)} (${labels.length} patients)`,
      },
      mw,
    );
    const file = metricsFile({
      command: 'evaluate',
      manifest: { path: manifest.path, sha256: manifest.sha256 },
      protocol: 'external',
      seed,
      rows: [row],
    });
    const weights = ((m.config?.resolved ?? {}) as { weights?: unknown }).weights ?? null;
    const out = resolve(opts.out);
    await writeDirAtomic(out, 'evaluate', async (tmp) => {
      await writeFile(
        join(tmp, 'predictions.csv'),
        stringify(
          manifest.rows.map((r, i) => [
            r.patientId,
            labels[i],
            probs[i],
            probs[i] >= threshold.value ? 1 : 0,
          ]),
          { header: true, columns: ['patient_id', 'label', 'prob', 'predicted'] },
        ),
      );
      await writeFile(join(tmp, 'metrics.json'), `${JSON.stringify(file, null, 2)}\n`);
      const info = {
        polarcad: 'evaluate',
        name,
        description,
        model: resolve(modelPath),
        run: m.runDir,
        inference:
          m.source === 'onnx'
            ? "ONNX Runtime on the run's model.onnx"
            : 'ONNX Runtime on model/ exported to ONNX',
        backbone: m.info.backbone,
        input: m.info.input,
        weights,
        manifest: { path: manifest.path, sha256: manifest.sha256 },
        threshold,
      };
      await writeFile(join(tmp, 'evaluate.json'), `${JSON.stringify(info, null, 2)}\n`);
    });
    return { out, row, file, threshold };
  } finally {
    await m.session.dispose();
  }
}
