/**
 * What a report shows, read from the folders polarcad commands write: a `polarcad train` run,
 * an experiment folder (`polarcad experiment ...`: a table CSV and `runs/<name>/`), a
 * `polarcad score` folder, a `polarcad evaluate` folder, a `polarcad cv` folder, or a demo folder
 * (`demo.json` naming the others). Every network row is recomputed from its per-patient
 * `predictions.csv` with 95% intervals (Wilson; stratified bootstrap for AUC and F1; seeded), so all
 * rows of a report are computed the same way. Semi-quantitative rows come from `polarcad score`'s
 * `metrics.json` (`MetricsRow`s, Apostolopoulos et al. 2020 Table 2 layout).
 */
import { access, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Label } from '../domain/views.js';
import { metricsWithIntervals } from '../evaluate/intervals.js';
import type { MetricsFile, MetricsRow } from '../evaluate/metrics-row.js';
import { commonPatients, pairedTests, pairVerdict, probsFor, type RunPair } from '../evaluate/paired.js';
import { metricsRowFromIntervals, storedRows } from '../evaluate/metrics-row.js';
import { loadManifest } from '../ingest/manifest.js';
import type { SubgroupRow } from '../evaluate/subgroups.js';
import { readRunJson } from '../rundir/run.js';
import {
  readCsv,
  readHistory,
  readPredictions,
  type HistoryPoint,
  type PatientPrediction,
} from '../rundir/tables.js';

export { readHistory, readPredictions, type HistoryPoint, type PatientPrediction } from '../rundir/tables.js';
import { InputError, errorMessage } from '../util/errors.js';
import { pathExists, readJsonObject } from '../util/fs.js';

/** A trained network evaluated on labelled patients. */
export interface NetworkResult {
  readonly name: string;
  readonly description: string;
  /** folder it was read from */
  readonly dir: string;
  readonly predictions: readonly PatientPrediction[];
  readonly row: MetricsRow;
  readonly history: readonly HistoryPoint[];
  /** kept epoch per stage */
  readonly selected: readonly { stage: string; epoch: number }[];
  /** weights provenance (`ResolvedWeights`) when recorded */
  readonly weights?: { readonly source: string; readonly description: string };
  /** where best epochs were selected: 'validation' or 'test' (leaks) */
  readonly selectOn?: string;
  readonly backbone?: string;
  readonly input?: string;
  /** the manifest the network was trained on, when recorded */
  readonly manifest?: string;
  /** train / validation / test ids, when recorded */
  readonly split?: {
    readonly train: readonly string[];
    readonly validation: readonly string[];
    readonly test: readonly string[];
  };
  /** stage plan (name, epochs, lr, unfreeze) when recorded */
  readonly stages?: readonly { name: string; epochs: number; lr: number; unfreeze: number }[];
  /** a closed-form run (`polarcad train --model hybrid|cnn-segments|segment-logistic|pixel-logistic`) */
  readonly closedForm?: ClosedFormInfo;
  /** a baseline fitted and tested beside the named model in its run (metrics.json `rows`) */
  readonly baselineOf?: string;
  /** what a fold ensemble is (`train --ensemble K`; metrics.json `model`) */
  readonly ensemble?: string;
}

/** What a closed-form run records about its model (config.json, model/linear-model.json). */
export interface ClosedFormInfo {
  readonly recipe: string;
  /** members of the stacked model, e.g. cnn-segments, segment-logistic */
  readonly members: readonly string[];
  /** how the probabilities were calibrated, when recorded */
  readonly calibration?: string;
  /** the colour map the model reads, and how it was chosen */
  readonly colormap?: string;
}

/** Paired tests of the report's models on their common patients (src/evaluate/paired.ts). */
export interface PairedSection {
  readonly title: string;
  readonly patients: number;
  readonly pairs: readonly RunPair[];
  /** one plain sentence per pair of the first model: does it beat the other one */
  readonly verdicts: readonly string[];
}

/** A table of rows to compare (backbones, strategies, depths, semi-quantitative rules). */
export interface ComparisonTable {
  readonly title: string;
  readonly rows: readonly MetricsRow[];
  readonly notes: readonly string[];
}

/** Per-fold figures of a cross-validation. */
export interface CvFold {
  readonly fold: number;
  readonly n: number;
  readonly threshold: number;
  readonly accuracy: number | null;
  readonly sensitivity: number | null;
  readonly specificity: number | null;
  readonly auc: number | null;
  readonly epochs: string;
}

/** Cross-validation summary (cv.json). */
export interface CvSummary {
  readonly k: number;
  readonly folds: readonly CvFold[];
  readonly mean: Readonly<Record<string, { mean: number | null; sd: number | null }>>;
  readonly protocol: string;
}

/** Table 1 of Hai et al. (2022): the patients by class. */
export interface DatasetSummary {
  readonly manifest: string;
  readonly patients: number;
  readonly byClass: Readonly<Record<'cad' | 'normal', ClassSummary>>;
  /** patients per part and class, when a split is known */
  readonly split?: Readonly<Record<'train' | 'validation' | 'test', { cad: number; normal: number }>>;
}

export interface ClassSummary {
  readonly n: number;
  readonly male: number;
  readonly female: number;
  readonly sexUnknown: number;
  readonly ageMean: number | null;
  readonly ageSd: number | null;
  readonly ageMin: number | null;
  readonly ageMax: number | null;
}

/** A class-activation heatmap of one test patient (heatmaps/index.json). */
export interface HeatmapItem {
  readonly id: string;
  readonly outcome: 'TP' | 'FP' | 'FN' | 'TN';
  readonly prob: number;
  /** PNG bytes */
  readonly png: Uint8Array;
  readonly caption: string;
}

/** Continuous semi-quantitative scores per test patient (scores.csv), for ROC curves. */
export interface ScoreCurve {
  readonly name: string;
  readonly labels: readonly Label[];
  readonly scores: readonly number[];
  /** the rule threshold on this score (e.g. SSS >= 4) */
  readonly ruleThreshold?: number;
}

/** Everything a report shows. */
export interface ReportData {
  readonly title: string;
  /** what kind of folder(s) were read */
  readonly kinds: readonly string[];
  readonly dir: string;
  readonly networks: readonly NetworkResult[];
  /** rows of `polarcad score` (rules and continuous scores) */
  readonly semiquant: readonly MetricsRow[];
  readonly semiquantNote?: string;
  readonly scoreCurves: readonly ScoreCurve[];
  readonly comparisons: readonly ComparisonTable[];
  readonly cv?: CvSummary;
  readonly dataset?: DatasetSummary;
  /** null: no explanation output in the folder */
  readonly heatmaps: readonly HeatmapItem[] | null;
  /** why a run's heatmaps could not be made (e.g. its manifest's images have moved) */
  readonly heatmapNote?: string;
  /** threshold rule of an evaluation (e.g. "sensitivity 0.9 on validation") */
  readonly thresholdRule?: string;
  readonly notes: readonly string[];
  readonly warnings: readonly string[];
  /** free facts shown at the top (e.g. the demo's timing) */
  readonly facts: readonly (readonly [string, string])[];
  /** paired DeLong / McNemar tests of the models on common patients, when there are 2 or more */
  readonly paired?: PairedSection;
  /** an evaluation's results by subgroup (`evaluate --by`: sex, categorical clinical columns), with intervals */
  readonly subgroups?: readonly SubgroupRow[];
  /** why paired tests are absent although several models are shown */
  readonly pairedNote?: string;
}

const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strArr = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/**
 * A network's `MetricsRow`, recomputed from its predictions at `threshold` with 95% intervals
 * (bootstrap seeded by `seed`, 2,000 resamples).
 */
export function networkRow(
  meta: { name: string; description: string; evaluatedOn: string },
  predictions: readonly PatientPrediction[],
  threshold: number,
  seed: number | string,
): MetricsRow {
  const m = metricsWithIntervals(
    predictions.map((p) => p.label),
    predictions.map((p) => p.prob),
    { threshold, seed: `${String(seed)}/report/${meta.name}` },
  );
  return metricsRowFromIntervals({ ...meta, kind: 'model' }, m);
}

/**
 * The row `dir` stored in its metrics.json (`storedRows`: the intervals computed once, when
 * the run or evaluation was written, the same numbers its summary printed), named by `meta`; a
 * recomputation (`networkRow`) only for a folder that stored none or stored other patients.
 * @example const row = await storedOrRecomputed('runs/a', meta, predictions, 0.5, 1);
 */
export async function storedOrRecomputed(
  dir: string,
  meta: { name: string; description: string; evaluatedOn: string },
  predictions: readonly PatientPrediction[],
  threshold: number,
  seed: number | string,
  index = 0,
): Promise<MetricsRow> {
  const stored = storedRows(await readRunJson(dir, 'metrics'), { ...meta, kind: 'model' })?.[index];
  if (stored !== undefined && stored.n === predictions.length && stored.threshold === threshold)
    return { ...stored, ...meta, kind: 'model' };
  return networkRow(meta, predictions, threshold, seed);
}

function stagesOf(v: unknown): { name: string; epochs: number; lr: number; unfreeze: number }[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.map((s) => {
    const o = obj(s);
    return {
      name: String(o.name ?? ''),
      epochs: Number(o.epochs ?? o.epochsRun ?? NaN),
      lr: Number(o.lr ?? NaN),
      unfreeze: Number(o.unfreeze ?? 0),
    };
  });
}

function selectedOf(v: unknown): { stage: string; epoch: number }[] {
  if (!Array.isArray(v)) return [];
  return v
    .map((s) => obj(s))
    .filter((o) => typeof o.name === 'string' && typeof o.bestEpoch === 'number')
    .map((o) => ({ stage: o.name as string, epoch: o.bestEpoch as number }));
}

/** The backbone weights of a closed-form run's CNN member(s), from model/linear-model.json. */
async function closedFormWeights(
  dir: string,
): Promise<{ members: string[]; weights?: { source: string; description: string } }> {
  const file = join(dir, 'model', 'linear-model.json');
  if (!(await pathExists(file))) return { members: [] };
  const model = await readJsonObject(file);
  const members = (Array.isArray(model.members) ? model.members : []).map((m) => obj(m));
  const cnn = members.map((m) => obj(m.features)).filter((f) => f.kind === 'cnn-segments');
  const descriptions = cnn.map((f) => `${String(f.backbone)}: ${String(f.weightsDescription ?? f.weights)}`);
  return {
    members: members.map((m) => String(m.name ?? '?')),
    ...(cnn.length > 0
      ? {
          weights: {
            source: cnn.some((f) => /embedded|nsfwjs/i.test(String(f.weightsDescription ?? '')))
              ? 'embedded'
              : 'file',
            description: descriptions.join('; '),
          },
        }
      : {}),
  };
}

/**
 * The baselines a closed-form run fitted and tested beside its model on the same patients
 * (metrics.json `rows[1..]`, predictions.csv `prob_<name>`), as networks of their own, so the
 * report shows their rows, ROC curves and paired tests.
 */
async function closedFormBaselines(model: NetworkResult): Promise<NetworkResult[]> {
  const stored = storedRows(await readRunJson(model.dir, 'metrics'), {
    name: model.name,
    description: model.description,
    kind: 'model',
    evaluatedOn: model.row.evaluatedOn,
  });
  const out: NetworkResult[] = [];
  for (const row of (stored ?? []).slice(1)) {
    const column = `prob_${row.name.replace('-', '_')}`;
    let predictions: PatientPrediction[];
    try {
      predictions = await readPredictions(join(model.dir, 'predictions.csv'), { prob: column });
    } catch {
      continue; // an older run without the column: its row is still in metrics.json
    }
    out.push({
      name: row.name,
      description: row.description,
      dir: model.dir,
      predictions,
      row: { ...row, evaluatedOn: model.row.evaluatedOn },
      history: [],
      selected: [],
      selectOn: 'validation',
      baselineOf: model.name,
    });
  }
  return out;
}

/** A `polarcad train` run directory (config.json with `polarcad: 'train'`). */
export async function loadTrainRun(dir: string, name?: string): Promise<NetworkResult> {
  const cfg = await readJsonObject(join(dir, 'config.json'));
  if (cfg.status !== 'complete')
    throw new InputError(
      `${dir}: the training run is not complete (status ${String(cfg.status)}); resume it with \`polarcad train --resume ${dir}\``,
    );
  const resolved = obj(cfg.resolved);
  const metrics = (await pathExists(join(dir, 'metrics.json')))
    ? await readJsonObject(join(dir, 'metrics.json'))
    : {};
  const threshold = typeof metrics.threshold === 'number' ? metrics.threshold : 0.5;
  const predictions = await readPredictions(join(dir, 'predictions.csv'));
  // a closed-form run (`train --model hybrid|...`) records its recipe as `model`
  const recipe = cfg.polarcad === 'train' ? undefined : str(cfg.model);
  const backbone = str(resolved.backbone) ?? recipe ?? 'network';
  const options = obj(cfg.options);
  const seedOf = (v: unknown): number | string | undefined =>
    typeof v === 'number' || typeof v === 'string' ? v : undefined;
  const seed = seedOf(resolved.seed) ?? seedOf(options.seed) ?? 1;
  const selection = obj(resolved.selection);
  const selectOn = str(selection.on) ?? 'validation';
  const evaluatedOn = `${str(metrics.evaluatedOn) ?? 'held-out test split'}${selectOn === 'test' ? ' (epochs selected on this test set: optimistic)' : ''}`;
  const input = str(resolved.input);
  const rowName = name ?? backbone.toLowerCase();
  const closed = recipe !== undefined ? await closedFormWeights(dir) : undefined;
  const weights = closed !== undefined ? obj(closed.weights) : obj(resolved.weights);
  const split = obj(resolved.split);
  // a closed-form run records its training manifest among its options
  const manifest =
    str(obj(resolved.manifest).path) ?? (recipe !== undefined ? str(options.manifest) : undefined);
  const stored =
    recipe !== undefined
      ? storedRows(metrics, { name: rowName, description: '', kind: 'model', evaluatedOn })
      : null;
  const description =
    recipe !== undefined
      ? `${recipe} (closed-form model): ${stored?.[0]?.description ?? recipe}`
      : `${backbone}${input ? `, input ${input}` : ''}, warm-up + fine-tune`;
  return {
    name: rowName,
    description,
    dir,
    predictions,
    row: await storedOrRecomputed(
      dir,
      {
        name: rowName,
        description: recipe !== undefined ? description : `${backbone} (polarcad train)`,
        evaluatedOn,
      },
      predictions,
      threshold,
      seed,
    ),
    history: await readHistory(join(dir, 'history.csv')),
    selected: selectedOf(cfg.stages),
    ...(typeof weights.description === 'string'
      ? { weights: { source: String(weights.source ?? 'unknown'), description: weights.description } }
      : {}),
    selectOn,
    backbone,
    ...(str(metrics.model) !== undefined ? { ensemble: str(metrics.model) } : {}),
    ...(input ? { input } : {}),
    ...(manifest !== undefined ? { manifest } : {}),
    split: { train: strArr(split.train), validation: strArr(split.validation), test: strArr(split.test) },
    ...(stagesOf(resolved.stages) ? { stages: stagesOf(resolved.stages) } : {}),
    ...(recipe !== undefined
      ? {
          closedForm: {
            recipe,
            members: closed?.members ?? [],
            ...(str(cfg.calibration) ? { calibration: str(cfg.calibration) } : {}),
            ...(str(resolved.colormap)
              ? {
                  colormap: `${String(resolved.colormap)}${str(resolved.colormapSource) ? `, ${String(resolved.colormapSource)}` : ''}`,
                }
              : {}),
          },
        }
      : {}),
  };
}

/** A run directory written by an experiment (`runs/<name>/`: config.json with `name`, stages.json). */
async function loadExperimentRun(dir: string, rowName: string, description: string): Promise<NetworkResult> {
  const cfg = await readJsonObject(join(dir, 'config.json'));
  const predictions = await readPredictions(join(dir, 'predictions.csv'));
  const stagesJson = (await pathExists(join(dir, 'stages.json')))
    ? (JSON.parse(await readFile(join(dir, 'stages.json'), 'utf8')) as unknown)
    : [];
  const weights = obj(cfg.weights);
  const seed = typeof cfg.seed === 'number' || typeof cfg.seed === 'string' ? cfg.seed : 1;
  const split = obj(cfg.split);
  return {
    name: rowName,
    description,
    dir,
    predictions,
    row: networkRow(
      { name: rowName, description, evaluatedOn: 'held-out test split' },
      predictions,
      0.5,
      seed,
    ),
    history: await readHistory(join(dir, 'history.csv')),
    selected: selectedOf(stagesJson),
    ...(typeof weights.description === 'string'
      ? { weights: { source: String(weights.source ?? 'unknown'), description: weights.description } }
      : {}),
    selectOn: str(cfg.selectedOn) ?? 'validation',
    ...(str(cfg.backbone) ? { backbone: str(cfg.backbone) } : {}),
    ...(str(cfg.input) ? { input: str(cfg.input) } : {}),
    ...(str(cfg.manifest) ? { manifest: str(cfg.manifest) } : {}),
    split: { train: strArr(split.train), validation: strArr(split.validation), test: strArr(split.test) },
    ...(stagesOf(cfg.stages) ? { stages: stagesOf(cfg.stages) } : {}),
  };
}

/** Experiment table files and their titles. */
const EXPERIMENT_TABLES: readonly (readonly [string, string])[] = [
  ['backbones.csv', 'Backbones, two-stage transfer learning (Hai et al. 2022, Table 3)'],
  ['strategies.csv', 'Training strategies (Hai et al. 2022, Table 4)'],
  ['finetune-depth.csv', 'Trainable top convolutional layers (Apostolopoulos et al. 2020)'],
];

interface Accum {
  kinds: string[];
  networks: NetworkResult[];
  semiquant: MetricsRow[];
  semiquantNote?: string;
  scoreCurves: ScoreCurve[];
  comparisons: ComparisonTable[];
  cv?: CvSummary;
  manifest?: string;
  heatmaps: HeatmapItem[] | null;
  thresholdRule?: string;
  notes: string[];
  warnings: string[];
  facts: [string, string][];
  subgroups: SubgroupRow[];
}

function empty(): Accum {
  return {
    kinds: [],
    networks: [],
    semiquant: [],
    scoreCurves: [],
    comparisons: [],
    heatmaps: null,
    notes: [],
    warnings: [],
    facts: [],
    subgroups: [],
  };
}

async function loadScoreDir(dir: string, acc: Accum): Promise<void> {
  const file = (await readJsonObject(join(dir, 'metrics.json'))) as unknown as MetricsFile;
  if (file.format !== 'polarcad-metrics' || !Array.isArray(file.rows))
    throw new InputError(`${join(dir, 'metrics.json')}: not a polarcad metrics file`);
  acc.kinds.push('score');
  acc.semiquant.push(...file.rows);
  acc.semiquantNote = file.rows[0]?.evaluatedOn;
  acc.manifest ??= file.manifest?.path;
  if (await pathExists(join(dir, 'scores.csv'))) {
    const rows = (await readCsv(join(dir, 'scores.csv'))).filter((r) => r.split === 'test');
    for (const [col, name, rule] of [
      ['sss_ac', 'SSS (AC)', 4],
      ['tpd_stress_ac', 'stress TPD (AC)', undefined],
    ] as const) {
      const ok = rows.filter((r) => r[col] !== undefined && r[col] !== '');
      if (ok.length === 0) continue;
      const labels = ok.map((r) => (r.label.toLowerCase() === 'cad' || r.label === '1' ? 1 : 0) as Label);
      if (new Set(labels).size < 2) continue;
      acc.scoreCurves.push({
        name,
        labels,
        scores: ok.map((r) => Number(r[col])),
        ...(rule !== undefined ? { ruleThreshold: rule } : {}),
      });
    }
  }
}

async function loadHeatmaps(dir: string): Promise<HeatmapItem[] | null> {
  const index = join(dir, 'heatmaps', 'index.json');
  if (!(await pathExists(index))) return null;
  const j = await readJsonObject(index);
  const items = Array.isArray(j.items) ? j.items : [];
  const out: HeatmapItem[] = [];
  for (const [i, it] of items.entries()) {
    const o = obj(it);
    const outcome = str(o.outcome);
    const file = str(o.file);
    if (outcome !== 'TP' && outcome !== 'FP' && outcome !== 'FN' && outcome !== 'TN')
      throw new InputError(`${index}: items[${i}].outcome must be TP, FP, FN or TN`);
    if (file === undefined || file.includes('..'))
      throw new InputError(`${index}: items[${i}].file must be a file name inside heatmaps/`);
    out.push({
      id: String(o.id ?? ''),
      outcome,
      prob: Number(o.prob ?? NaN),
      png: new Uint8Array(await readFile(join(dir, 'heatmaps', file))),
      caption: String(o.caption ?? ''),
    });
  }
  return out;
}

/** A `polarcad cv` folder: its out-of-fold predictions as one network, and the folds. */
async function loadCvDir(dir: string, acc: Accum): Promise<void> {
  const c = await readJsonObject(join(dir, 'cv.json'));
  acc.kinds.push('cv');
  const predictions = await readPredictions(join(dir, 'predictions.csv'));
  const threshold = typeof c.threshold === 'number' ? c.threshold : 0.5;
  const name = str(c.name) ?? 'cv';
  const protocol = str(c.protocol) ?? 'k-fold cross-validation';
  acc.networks.push({
    name,
    description: str(c.description) ?? name,
    dir,
    predictions,
    row: await storedOrRecomputed(
      dir,
      {
        name,
        description: str(c.description) ?? name,
        evaluatedOn: `all patients, out of fold (${protocol})`,
      },
      predictions,
      threshold,
      str(c.seed) ?? Number(c.seed ?? 1),
    ),
    history: [],
    selected: [],
    ...(obj(c.weights).description
      ? {
          weights: {
            source: String(obj(c.weights).source),
            description: String(obj(c.weights).description),
          },
        }
      : {}),
    selectOn: 'validation',
    ...(str(c.backbone) ? { backbone: str(c.backbone) } : {}),
  });
  acc.cv = {
    k: Number(c.k),
    protocol,
    folds: (Array.isArray(c.folds) ? c.folds : []).map((f) => f as CvFold),
    mean: obj(c.mean) as CvSummary['mean'],
  };
  acc.manifest ??= str(obj(c.manifest).path);
}

/** A `polarcad evaluate` folder: the patients the run never saw as one network (the others apart). */
async function loadEvaluateDir(dir: string, acc: Accum): Promise<void> {
  const e = await readJsonObject(join(dir, 'evaluate.json'));
  acc.kinds.push('evaluate');
  const all = await readPredictions(join(dir, 'predictions.csv'));
  // --allow-overlap: the patients the run saw are reported apart (split train/selection)
  const unseen = all.filter((p) => p.split === undefined || p.split === 'unseen');
  const predictions = unseen.length > 0 ? unseen : all;
  const overlapWarning = str(obj(e.overlap).warning);
  if (overlapWarning !== undefined) {
    acc.warnings.push(overlapWarning);
    // the patients the run saw, apart from the others (evaluate --allow-overlap)
    const stored = storedRows(await readRunJson(dir, 'metrics'), {
      name: '',
      description: '',
      kind: 'model',
      evaluatedOn: '',
    });
    if (stored !== null && stored.length > 1)
      acc.comparisons.push({
        title: 'Patients the run never saw, and those it trained or selected on (optimistic)',
        rows: stored,
        notes: [overlapWarning],
      });
  }
  const threshold = Number(obj(e.threshold).value ?? 0.5);
  const name = str(e.name) ?? 'model';
  const evaluatedOn = `manifest ${basename(str(obj(e.manifest).path) ?? '?')} (${predictions.length} patients${predictions.length < all.length ? ' the run never saw' : ''})`;
  let base: NetworkResult | undefined;
  const run = str(e.run);
  if (run !== undefined && (await pathExists(join(run, 'config.json')))) {
    try {
      base = await loadTrainRun(run);
    } catch {
      base = undefined;
    }
  }
  acc.networks.push({
    ...(base ?? { history: [], selected: [] }),
    name,
    description: str(e.description) ?? name,
    dir,
    predictions,
    row: await storedOrRecomputed(
      dir,
      { name, description: str(e.description) ?? name, evaluatedOn },
      predictions,
      threshold,
      1,
    ),
    ...(str(obj(e.manifest).path) ? { manifest: str(obj(e.manifest).path) } : {}),
    split: { train: [], validation: [], test: [] },
    ...(obj(e.weights).description
      ? {
          weights: {
            source: String(obj(e.weights).source),
            description: String(obj(e.weights).description),
          },
        }
      : {}),
  });
  acc.thresholdRule = str(obj(e.threshold).rule);
  acc.subgroups.push(...(await storedSubgroups(dir)));
  acc.manifest ??= str(obj(e.manifest).path);
  acc.heatmaps ??= await loadHeatmaps(dir);
}

/**
 * The subgroup rows an evaluation stored in its metrics.json (`subgroups`, src/evaluate/subgroups.ts:
 * the intervals computed once, by `evaluate`); none when absent.
 * @throws InputError when `subgroups` is present but not a list of `{ column, value, row }`
 */
async function storedSubgroups(dir: string): Promise<SubgroupRow[]> {
  const raw = (await readRunJson(dir, 'metrics'))?.subgroups;
  if (raw === undefined) return [];
  const ok = (g: unknown): g is SubgroupRow =>
    typeof obj(g).column === 'string' &&
    typeof obj(g).value === 'string' &&
    typeof obj(obj(g).row).name === 'string' &&
    typeof obj(obj(g).row).n === 'number';
  if (!Array.isArray(raw) || !raw.every(ok))
    throw new InputError(`${join(dir, 'metrics.json')}: "subgroups" is not a list of { column, value, row }`);
  return raw;
}

/** The experiment tables of a folder (backbones.csv, ...), each a comparison; false when there is none. */
async function loadExperimentTables(dir: string, acc: Accum): Promise<boolean> {
  let found = false;
  for (const [file, title] of EXPERIMENT_TABLES) {
    if (!(await pathExists(join(dir, file)))) continue;
    found = true;
    acc.kinds.push(`experiment ${file.replace(/\.csv$/, '')}`);
    const rows = await readCsv(join(dir, file));
    const tableRows: MetricsRow[] = [];
    const notes: string[] = [];
    for (const r of rows) {
      const runDir = r.run_dir ?? '';
      if (runDir === '' || !(await pathExists(join(dir, runDir, 'predictions.csv')))) {
        notes.push(`${r.name}: ${r.note || 'no run directory'}`);
        continue;
      }
      const n = await loadExperimentRun(join(dir, runDir), r.name, r.description);
      acc.networks.push(n);
      tableRows.push(n.row);
      acc.manifest ??= n.manifest;
    }
    const md = join(dir, file.replace(/\.csv$/, '.md'));
    if (await pathExists(md)) {
      for (const line of (await readFile(md, 'utf8')).split('\n'))
        if (line.startsWith('- ')) notes.push(line.slice(2));
    }
    acc.comparisons.push({ title, rows: tableRows, notes });
  }
  return found;
}

/**
 * Read one folder into `acc`; `main`: the report's own folder (not a `--with` one), whose
 * closed-form run also brings its baselines.
 */
async function loadOne(dir: string, acc: Accum, depth = 0, main = false): Promise<void> {
  if (await pathExists(join(dir, 'demo.json'))) {
    const d = await readJsonObject(join(dir, 'demo.json'));
    acc.kinds.push('demo');
    for (const k of ['train', 'evaluate', 'score']) {
      const sub = str(d[k]);
      if (sub !== undefined) await loadOne(resolve(dir, sub), acc, depth + 1);
    }
    for (const [k, v] of Object.entries(obj(d.facts))) acc.facts.push([k, String(v)]);
    for (const n of strArr(d.notes)) acc.notes.push(n);
    return;
  }
  if (await pathExists(join(dir, 'cv.json'))) {
    await loadCvDir(dir, acc);
    return;
  }
  if (await pathExists(join(dir, 'evaluate.json'))) {
    await loadEvaluateDir(dir, acc);
    return;
  }
  if (await pathExists(join(dir, 'score.json'))) {
    await loadScoreDir(dir, acc);
    return;
  }
  if (await pathExists(join(dir, 'config.json'))) {
    const cfg = await readJsonObject(join(dir, 'config.json'));
    if (cfg.polarcad === 'train' || (cfg.command === 'train' && typeof cfg.model === 'string')) {
      acc.kinds.push('train');
      const n = await loadTrainRun(dir);
      acc.networks.push(n);
      if (main && n.closedForm !== undefined) acc.networks.push(...(await closedFormBaselines(n)));
      acc.manifest ??= n.manifest;
      acc.heatmaps ??= await loadHeatmaps(dir);
      if (n.selectOn === 'test')
        acc.warnings.push(
          `${n.name}: best epochs were selected on the TEST set (--select-on test, the protocol of Hai et al. 2022); its test figures are optimistically biased.`,
        );
      return;
    }
  }
  if (await loadExperimentTables(dir, acc)) return;
  if (depth === 0) {
    throw new InputError(
      `${dir}: not a polarcad output folder (expected config.json of \`polarcad train\`, score.json, evaluate.json, cv.json, demo.json, or an experiment table such as backbones.csv)`,
    );
  }
  throw new InputError(`${dir}: not a polarcad output folder`);
}

function mean(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function sd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs) as number;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/**
 * Table 1 of Hai et al. (2022) from a manifest: patients per class, sex, age (mean, SD, range),
 * and, when `split` is given, patients per part and class.
 */
export async function summariseDataset(
  manifestPath: string,
  split?: { train: readonly string[]; validation: readonly string[]; test: readonly string[] },
): Promise<DatasetSummary> {
  const m = await loadManifest(manifestPath, { checkFiles: false });
  const cls = (label: Label): ClassSummary => {
    const rows = m.rows.filter((r) => r.label === label);
    const ages = rows
      .map((r) => r.age)
      .filter((a): a is number => typeof a === 'number' && Number.isFinite(a));
    return {
      n: rows.length,
      male: rows.filter((r) => r.sex === 'M').length,
      female: rows.filter((r) => r.sex === 'F').length,
      sexUnknown: rows.filter((r) => r.sex === undefined).length,
      ageMean: mean(ages),
      ageSd: sd(ages),
      ageMin: ages.length ? Math.min(...ages) : null,
      ageMax: ages.length ? Math.max(...ages) : null,
    };
  };
  const labelOf = new Map(m.rows.map((r) => [r.patientId, r.label]));
  const count = (ids: readonly string[]): { cad: number; normal: number } => ({
    cad: ids.filter((id) => labelOf.get(id) === 1).length,
    normal: ids.filter((id) => labelOf.get(id) === 0).length,
  });
  const hasSplit = split !== undefined && split.train.length + split.test.length > 0;
  return {
    manifest: m.path,
    patients: m.rows.length,
    byClass: { cad: cls(1), normal: cls(0) },
    ...(hasSplit
      ? { split: { train: count(split.train), validation: count(split.validation), test: count(split.test) } }
      : {}),
  };
}

/**
 * Networks with unique names (tables and charts key rows by name): a repeated name (two runs of
 * the same backbone, `report A --with B`) gets its folder's name, then a number.
 * @example uniqueNames([a, b]).map((n) => n.name) // ['mobilenetv2', 'mobilenetv2 (runB)']
 */
export function uniqueNames<
  T extends { readonly name: string; readonly dir: string; readonly row: MetricsRow },
>(nets: readonly T[]): T[] {
  const used = new Set<string>();
  return nets.map((n) => {
    let name = n.name;
    if (used.has(name)) name = `${n.name} (${basename(n.dir)})`;
    for (let k = 2; used.has(name); k++) name = `${n.name} (${basename(n.dir)}, ${k})`;
    used.add(name);
    return name === n.name ? n : { ...n, name, row: { ...n.row, name } };
  });
}

/** Options of {@link loadReportData}. */
export interface LoadReportOptions {
  /** more folders to put in the same report (e.g. a `polarcad score` folder beside a training run) */
  readonly with?: readonly string[];
  readonly title?: string;
}

/**
 * Read everything a report shows from `dir` (and `opts.with`).
 * @throws InputError when a folder is not a polarcad output folder or a file in it is malformed
 */
export async function loadReportData(dir: string, opts: LoadReportOptions = {}): Promise<ReportData> {
  const root = resolve(dir);
  try {
    await access(root);
  } catch {
    throw new InputError(`${dir}: no such folder`);
  }
  const acc = empty();
  await loadOne(root, acc, 0, true);
  for (const w of opts.with ?? []) await loadOne(resolve(w), acc);
  acc.networks = uniqueNames(acc.networks);
  const paired = pairedSection(acc.networks);
  const primary = acc.networks[0];
  let dataset: DatasetSummary | undefined;
  const manifest = primary?.manifest ?? acc.manifest;
  if (manifest !== undefined) {
    try {
      dataset = await summariseDataset(manifest, acc.cv ? undefined : primary?.split);
    } catch (e) {
      acc.warnings.push(`data set table not available: ${errorMessage(e)}`);
    }
  }
  // every network and the semi-quantitative rows in one comparison table (Apostolopoulos et al. 2020, Table 2)
  const comparisons = [...acc.comparisons];
  const inTables = new Set(comparisons.flatMap((t) => t.rows.map((r) => r.name)));
  const loose = acc.networks.filter((n) => !inTables.has(n.name)).map((n) => n.row);
  if (acc.semiquant.length > 0 || loose.length > 1 || (loose.length > 0 && comparisons.length > 0)) {
    comparisons.unshift({
      title:
        acc.semiquant.length > 0 ? 'Networks and the semi-quantitative analysis, side by side' : 'Networks',
      rows: [...loose, ...acc.semiquant],
      notes:
        acc.semiquant.length > 0
          ? [
              `semi-quantitative rows: ${acc.semiquantNote ?? ''}`,
              'continuous scores (kind "score") have an AUC only; a threshold on them is a rule, reported as its own row',
            ]
          : [],
    });
  }
  for (const n of acc.networks) {
    if (n.selectOn === 'test' && !acc.warnings.some((w) => w.startsWith(`${n.name}:`))) {
      acc.warnings.push(
        `${n.name}: best epochs were selected on the TEST set (--select-on test, the protocol of Hai et al. 2022); its test figures are optimistically biased.`,
      );
    }
  }
  return {
    title: opts.title ?? `polarcad report: ${basename(root)}`,
    kinds: acc.kinds,
    dir: root,
    networks: acc.networks,
    semiquant: acc.semiquant,
    ...(acc.semiquantNote ? { semiquantNote: acc.semiquantNote } : {}),
    scoreCurves: acc.scoreCurves,
    comparisons,
    ...(acc.cv ? { cv: acc.cv } : {}),
    ...(dataset ? { dataset } : {}),
    heatmaps: acc.heatmaps,
    ...(acc.thresholdRule ? { thresholdRule: acc.thresholdRule } : {}),
    notes: acc.notes,
    warnings: acc.warnings,
    facts: acc.facts,
    ...('pairs' in paired ? { paired } : {}),
    ...(acc.subgroups.length > 0 ? { subgroups: acc.subgroups } : {}),
    ...('note' in paired && (opts.with?.length ?? 0) > 0 ? { pairedNote: paired.note } : {}),
  };
}

/** Every pair when there are at most this many models; beyond, the first model against each other. */
const ALL_PAIRS_UP_TO = 4;

/**
 * Paired tests of the report's models on their common patients (the computation of
 * `polarcad compare`, src/evaluate/paired.ts), with a plain sentence per pair of the first model;
 * `note` says why there are none.
 */
function pairedSection(nets: readonly NetworkResult[]): PairedSection | { note: string } {
  if (nets.length < 2) return { note: 'one model only' };
  let common: { ids: string[]; labels: Label[] };
  try {
    common = commonPatients(nets);
  } catch (e) {
    return { note: `paired tests not computed: ${errorMessage(e)}` };
  }
  const { ids, labels } = common;
  const pairs = pairedTests(
    labels,
    nets.map((n) => ({
      name: n.name,
      probs: probsFor(n.predictions, ids),
      threshold: n.row.threshold ?? 0.5,
    })),
    nets.length <= ALL_PAIRS_UP_TO ? 'all' : 'first',
  );
  const first = nets[0];
  const baselines = nets.some((n) => n.baselineOf === first.name);
  return {
    title: baselines
      ? `${first.name} beside its baselines: paired tests on the same ${ids.length} test patients`
      : `Paired tests on the ${ids.length} test patients common to ${nets.length} models`,
    patients: ids.length,
    pairs,
    verdicts: pairs.filter((p) => p.a === first.name).map((p) => pairVerdict(p, ids.length)),
  };
}
