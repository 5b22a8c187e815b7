/**
 * `polarcad evaluate`: a saved model (a `polarcad train` run directory, or its `model/` folder) on
 * a labelled manifest of prepared polar maps. Inference runs in ONNX Runtime on the run's `model/`
 * (the one source of its weights, verified at load) exported to ONNX in memory, with
 * the same input preparation as training (`prepareInput`: layout, resize, per-backbone scaling).
 * The operating threshold is given (`threshold`, default 0.5) or chosen on the run's VALIDATION
 * patients to reach a required sensitivity (`thresholdForSensitivity`), then applied unchanged.
 * Writes OUT/predictions.csv, OUT/metrics.json (`MetricsFile`, one `MetricsRow` with 95% CIs) and
 * OUT/evaluate.json atomically; the report is written by the caller.
 */
import { basename, resolve } from 'node:path';
import { layoutOf, type InputMode } from '../domain/input-mode.js';
import type { Label } from '../domain/views.js';
import { prepareInput } from '../engine/features.js';
import { exportToOnnx } from '../engine/onnx/export.js';
import { OnnxModel } from '../engine/onnx/session.js';
import { loadManifest, type StudyRow } from '../ingest/manifest.js';
import { rowSource } from '../ingest/input-source.js';
import '../models/layers/keras-layers.js';
import { openSavedModel, type SavedModelInfo } from '../rundir/model.js';
import { isEnsembleModel, openEnsemble } from '../rundir/ensemble.js';
import { exportEnsembleToOnnx } from '../engine/onnx/ensemble.js';
import { runFile } from '../rundir/files.js';
import { readRunConfig, writeRunJson, type RunConfig } from '../rundir/run.js';
import { readPredictions, writePredictions } from '../rundir/tables.js';
import { pathExists } from '../util/fs.js';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { metricsWithIntervals } from '../evaluate/intervals.js';
import {
  METRICS_ROW_CSV_COLUMNS,
  metricsFile,
  metricsRowCsvCells,
  metricsRowFromIntervals,
  type MetricsFile,
  type MetricsRow,
} from '../evaluate/metrics-row.js';
import { thresholdForSensitivity } from '../evaluate/metrics.js';
import { guardOverlap, overlapSummary, type Overlap } from '../rundir/overlap.js';
import { subgroupColumns, subgroupRows, type SubgroupRow } from '../evaluate/subgroups.js';
import { compareWithBaselines, type PairedComparison, type RecipeProbabilities } from '../evaluate/paired.js';
import { stringify } from '../util/csv.js';

/** A model ready for inference, with where it came from. */
export interface LoadedModel {
  readonly info: SavedModelInfo & { readonly input: InputMode };
  /** the run directory, when the model is part of one */
  readonly runDir: string | null;
  /** the run's config.json, when present */
  readonly config: RunConfig | null;
  readonly session: OnnxModel;
  /** the members of a fold ensemble (their mean is the session's first output); absent for one network */
  readonly members?: number;
}

/**
 * Open a saved model for batch inference: `path` is a run directory or its `model/` folder. The
 * run's weights are `model/` (verified by `openSavedModel`: checksums, self-check, complete run),
 * exported to ONNX in memory and run by ONNX Runtime.
 * @throws InputError when neither is found or the files are unusable or changed
 */
export async function loadSavedModel(path: string): Promise<LoadedModel> {
  if (await isEnsembleModel(path)) return loadEnsemble(path);
  const { model, info, runDir } = await openSavedModel(path);
  try {
    const config = runDir !== null ? await readRunConfig(runDir) : null;
    const session = await OnnxModel.create(exportToOnnx(model));
    return { info: { ...info, input: info.input ?? 'stress_ac' }, runDir, config, session };
  } finally {
    model.dispose();
  }
}

/**
 * A fold ensemble (`train --ensemble K`) for batch inference: its members (verified by
 * `openEnsemble`) as one ONNX graph whose first output is the mean of the members' probabilities
 * (the graph `export` writes).
 */
async function loadEnsemble(path: string): Promise<LoadedModel> {
  const opened = await openEnsemble(path);
  try {
    const config = opened.runDir !== null ? await readRunConfig(opened.runDir) : null;
    const session = await OnnxModel.create(exportEnsembleToOnnx(opened.members));
    const info = { ...opened.info, input: opened.info.input ?? 'stress_ac' };
    return { info, runDir: opened.runDir, config, session, members: opened.members.length };
  } finally {
    opened.dispose();
  }
}

/**
 * `--sensitivity` for a fold ensemble: the threshold chosen on its out-of-fold predictions (each
 * training patient by the member that did not train on it; out-of-fold.csv), never on test patients.
 */
async function ensembleThreshold(
  m: LoadedModel,
  modelPath: string,
  sensitivity: number,
): Promise<{ value: number; rule: string }> {
  const file = m.runDir === null ? null : runFile(m.runDir, 'outOfFold');
  if (file === null || !(await pathExists(file)))
    throw new InputError(
      `--sensitivity needs the fold ensemble's run directory with its out-of-fold predictions (out-of-fold.csv); ${modelPath} has none. Give --threshold instead`,
    );
  const oof = await readPredictions(file);
  const value = thresholdForSensitivity(
    oof.map((r) => r.label),
    oof.map((r) => r.prob),
    sensitivity,
  );
  return {
    value,
    rule: `chosen on the ensemble's ${oof.length} out-of-fold predictions of its training patients for sensitivity >= ${sensitivity}`,
  };
}

/** P(CAD) for each row, batched through the session. */
export async function predictRows(
  m: LoadedModel,
  rows: readonly StudyRow[],
  manifestPath: string,
  onProgress?: (done: number, total: number) => void,
): Promise<Float64Array> {
  const { inputSize: n, scaling, input } = m.info;
  const layout = layoutOf(input);
  const ctx = { manifestPath, command: 'evaluate' as const, requiredBy: `the model's input ${input}` };
  const per = n * n * 3;
  const out = new Float64Array(rows.length);
  const batch = 8;
  for (let start = 0; start < rows.length; start += batch) {
    const part = rows.slice(start, start + batch);
    const x = new Float32Array(part.length * per);
    for (let i = 0; i < part.length; i++)
      x.set(prepareInput(await rowSource(part[i], input, ctx), 0, layout, n, scaling), i * per);
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
  /** evaluate patients the run trained or selected on, reported apart (default: refuse them) */
  readonly allowOverlap?: boolean;
  /** categorical columns to report subgroups by (default: `sex` when the manifest has it) */
  readonly by?: readonly string[];
  readonly onProgress?: (stage: string, done: number, total: number) => void;
}

/** Result of {@link evaluateModel}. */
export interface EvaluateResult {
  readonly out: string;
  /** the headline row: the patients the run never saw (the seen ones when there are no others) */
  readonly row: MetricsRow;
  /** every row: the unseen patients, then the seen ones (`NAME_seen`) when `--allow-overlap` */
  readonly rows: readonly MetricsRow[];
  /** the sentence naming the seen patients, when any */
  readonly overlapWarning?: string;
  /** the headline patients by subgroup (`by`), with intervals */
  readonly subgroups: readonly SubgroupRow[];
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
  subgroupColumns(manifest, opts.by); // a bad --by fails before inference
  const m = await loadSavedModel(modelPath);
  try {
    const overlap = await guardOverlap(m.runDir, manifest, opts);
    let threshold = {
      value: opts.threshold ?? 0.5,
      rule: opts.threshold !== undefined ? `fixed at ${opts.threshold}` : 'default 0.5',
    };
    if (opts.sensitivity !== undefined && m.members !== undefined)
      threshold = await ensembleThreshold(m, modelPath, opts.sensitivity);
    else if (opts.sensitivity !== undefined) {
      const resolved = m.config?.resolved ?? {};
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
    const ens = m.members === undefined ? '' : `-ensemble${m.members}`;
    const name = `${m.info.backbone.toLowerCase()}${ens}`;
    const description = `${m.info.backbone}${m.members === undefined ? '' : ` fold ensemble of ${m.members} members (mean probability)`}, input ${m.info.input}${m.runDir ? ` (run ${basename(m.runDir)})` : ''}`;
    return await writeEvaluation(manifest, labels, Array.from(probs), threshold, opts, {
      name,
      description,
      info: {
        model: resolve(modelPath),
        run: m.runDir,
        inference:
          m.members === undefined
            ? 'ONNX Runtime on model/ (checksums and self-check verified) exported to ONNX'
            : `ONNX Runtime on model/'s ${m.members} members (checksums and self-checks verified) exported as one graph averaging their probabilities`,
        backbone: m.info.backbone,
        input: m.info.input,
        weights: m.config?.resolved?.weights ?? null,
      },
      overlap,
    });
  } finally {
    await m.session.dispose();
  }
}

/** What an evaluation reports about the model (recorded in evaluate.json). */
export interface EvaluatedModel {
  readonly name: string;
  readonly description: string;
  readonly info: Readonly<Record<string, unknown>>;
  /** the manifest patients the run saw (`guardOverlap`), null when unknown */
  readonly overlap?: Overlap | null;
  /**
   * other models' probabilities for the same manifest rows (a closed-form run's baselines), shown
   * beside the model on the same patients with paired DeLong/McNemar tests
   */
  readonly beside?: readonly (RecipeProbabilities & { readonly description: string })[];
}

/** The rows of `model.beside` and their paired tests against the model, on the patients `idx`. */
function besideRows(
  model: EvaluatedModel,
  idx: readonly number[],
  labels: readonly Label[],
  probs: readonly number[],
  o: { threshold: number; seed: string; evaluatedOn: string },
): { rows: MetricsRow[]; comparisons: PairedComparison[] } {
  const others = model.beside ?? [];
  if (others.length === 0) return { rows: [], comparisons: [] };
  const pick = <T>(p: readonly T[]): T[] => idx.map((i) => p[i]);
  const r = compareWithBaselines(
    pick(labels),
    { name: model.name, description: model.description, probs: pick(probs) },
    others.map((b) => ({ name: b.name, probs: pick(b.probs) })),
    {
      evaluatedOn: o.evaluatedOn,
      seed: o.seed,
      threshold: o.threshold,
      descriptions: Object.fromEntries(others.map((b) => [b.name, b.description])),
    },
  );
  // the model's own row is the one computed above (one interval per figure)
  return { rows: r.rows.slice(1), comparisons: r.comparisons };
}

/** The manifest an evaluation read. */
interface EvaluatedManifest {
  readonly path: string;
  readonly sha256: string;
  readonly rows: readonly StudyRow[];
  readonly clinicalColumns: readonly string[];
}

/** The scores of one evaluation: labels, probabilities and the threshold, in manifest order. */
interface Scores {
  readonly labels: readonly Label[];
  readonly probs: readonly number[];
  readonly threshold: { readonly value: number; readonly rule: string };
}

/**
 * The metrics rows: the patients the run never saw (all of them when it saw none), then, when
 * there are any, those it trained or selected on (`<name>_seen`, optimistic).
 */
function evaluationRows(
  manifest: EvaluatedManifest,
  s: Scores,
  opts: EvaluateOptions,
  model: EvaluatedModel,
  seen: ReadonlyMap<string, string>,
): MetricsRow[] {
  const seed = opts.seed ?? 1;
  const evaluatedOn = `manifest ${basename(manifest.path)}`;
  const part = (
    keep: (id: string) => boolean,
    suffix: string,
    meta: { name: string; description: string; evaluatedOn: string },
  ): MetricsRow | null => {
    const idx = manifest.rows.map((r, i) => (keep(r.patientId) ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) return null;
    const mw = metricsWithIntervals(
      idx.map((i) => s.labels[i]),
      idx.map((i) => s.probs[i]),
      { threshold: s.threshold.value, seed: `${String(seed)}/evaluate${suffix}`, resamples: opts.resamples },
    );
    return metricsRowFromIntervals(
      { ...meta, evaluatedOn: `${meta.evaluatedOn} (${idx.length} patients)`, kind: 'model' },
      mw,
    );
  };
  return [
    part((id) => !seen.has(id), '', {
      name: model.name,
      description: model.description,
      evaluatedOn: seen.size > 0 ? `${evaluatedOn}, patients the run never saw` : evaluatedOn,
    }),
    part((id) => seen.has(id), '/seen', {
      name: `${model.name}_seen`,
      description: `${model.description}: patients the run trained or selected on (optimistic)`,
      evaluatedOn: `${evaluatedOn}, patients the run trained or selected on`,
    }),
  ].filter((r): r is MetricsRow => r !== null);
}

/** subgroups.csv: one row per subgroup, each figure with its interval. */
function subgroupsCsv(subgroups: readonly SubgroupRow[]): string {
  return stringify(
    subgroups.map((g) => [g.column, g.value, g.row.n, g.row.positives, ...metricsRowCsvCells(g.row)]),
    { header: true, columns: ['column', 'value', 'n', 'cad', ...METRICS_ROW_CSV_COLUMNS] },
  );
}

/** evaluate.json: the model, the manifest, the threshold and what the run had seen of it. */
function evaluateRecord(
  manifest: EvaluatedManifest,
  threshold: Scores['threshold'],
  model: EvaluatedModel,
  seen: ReadonlyMap<string, string>,
  overlapWarning: string | undefined,
): Record<string, unknown> {
  return {
    polarcad: 'evaluate',
    name: model.name,
    description: model.description,
    ...model.info,
    manifest: { path: manifest.path, sha256: manifest.sha256 },
    threshold,
    ...(model.overlap
      ? {
          overlap: {
            run: model.overlap.runDir,
            patients: seen.size,
            of: manifest.rows.length,
            sameManifest: model.overlap.sameManifest,
            train: [...seen].filter(([, s]) => s === 'train').map(([id]) => id),
            selection: [...seen].filter(([, s]) => s === 'selection').map(([id]) => id),
            ...(overlapWarning !== undefined ? { warning: overlapWarning } : {}),
          },
        }
      : {}),
  };
}

/**
 * Metrics with intervals of `probs` on the manifest's patients at `threshold`, written as an
 * evaluation folder (predictions.csv, metrics.json, evaluate.json), atomically. Shared by every
 * kind of model.
 */
export async function writeEvaluation(
  manifest: EvaluatedManifest,
  labels: readonly Label[],
  probs: readonly number[],
  threshold: { readonly value: number; readonly rule: string },
  opts: EvaluateOptions,
  model: EvaluatedModel,
): Promise<EvaluateResult> {
  const seed = opts.seed ?? 1;
  const seen = model.overlap?.seen ?? new Map<string, string>();
  const rows = evaluationRows(manifest, { labels, probs, threshold }, opts, model, seen);
  const row = rows[0];
  // subgroups of the headline patients (those the run never saw, when there are any)
  const headline = manifest.rows
    .map((r, i) => i)
    .filter((i) =>
      seen.size > 0 && seen.size < manifest.rows.length ? !seen.has(manifest.rows[i].patientId) : true,
    );
  const beside = besideRows(model, headline, labels, probs, {
    threshold: threshold.value,
    seed: `${String(seed)}/evaluate`,
    evaluatedOn: row.evaluatedOn,
  });
  rows.push(...beside.rows);
  const subgroups = subgroupRows(manifest.rows, labels, probs, headline, subgroupColumns(manifest, opts.by), {
    threshold: threshold.value,
    seed,
    ...(opts.resamples !== undefined ? { resamples: opts.resamples } : {}),
    name: row.name,
    evaluatedOn: row.evaluatedOn,
  });
  const overlapWarning =
    model.overlap && seen.size > 0
      ? `${overlapSummary(model.overlap, manifest.path)}; they are reported apart (${model.name}_seen), their figures are optimistic`
      : undefined;
  const file = metricsFile({
    command: 'evaluate',
    manifest: { path: manifest.path, sha256: manifest.sha256 },
    protocol: 'external',
    seed,
    rows,
    ...(beside.comparisons.length > 0 ? { comparisons: beside.comparisons } : {}),
  });
  const out = resolve(opts.out);
  await writeDirAtomic(out, 'evaluate', async (tmp) => {
    await writePredictions(
      runFile(tmp, 'predictions'),
      manifest.rows.map((r, i) => ({
        id: r.patientId,
        label: labels[i],
        prob: probs[i],
        predicted: probs[i] >= threshold.value ? 1 : 0,
        ...(seen.size > 0 ? { split: seen.get(r.patientId) ?? 'unseen' } : {}),
      })),
    );
    await writeRunJson(tmp, 'metrics', subgroups.length > 0 ? { ...file, subgroups } : file);
    if (subgroups.length > 0) await writeFileAtomic(runFile(tmp, 'subgroups'), subgroupsCsv(subgroups));
    await writeRunJson(tmp, 'evaluate', evaluateRecord(manifest, threshold, model, seen, overlapWarning));
  });
  return {
    out,
    row,
    rows,
    file,
    threshold,
    subgroups,
    ...(overlapWarning !== undefined ? { overlapWarning } : {}),
  };
}
