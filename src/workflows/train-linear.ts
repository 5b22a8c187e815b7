/**
 * `polarcad train --model hybrid|cnn-segments|segment-logistic|pixel-logistic`: a closed-form
 * polar-map model (src/models/linear/polar-model.ts) trained on the manifest's training part,
 * tested on the held-out part (or a separate test manifest) beside the two simple baselines fitted
 * on the same patients, with paired DeLong and McNemar tests; written as a run directory.
 *
 * Data: the same seeded, stratified, patient-level 80/20 split as the two-stage network
 * (Hai et al. 2022), but no validation part is carved out: every choice is made by
 * cross-validation on all training patients, so every training patient is used for fitting.
 * Calibration: the stacker is a logistic regression on out-of-fold logits (Platt scaling of the
 * combination); for a single member, temperature scaling (Guo et al. 2017) is fitted on its
 * out-of-fold probabilities. Neither sees a test patient.
 */
import { resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import type { RgbImage } from '../domain/image.js';
import { VIEWS, type Label, type View } from '../domain/views.js';
import { ece } from '../evaluate/calibration.js';
import {
  BASELINE_RECIPES,
  compareWithBaselines,
  fitBaselines,
  formatComparison,
  type PairedComparison,
} from './baselines.js';
import type { MetricsRow } from '../evaluate/metrics-row.js';
import { clinicalOfRow, loadManifest, type StudyRow } from '../ingest/manifest.js';
import { readImage } from '../ingest/readers.js';
import { stratifiedHoldout } from '../ingest/splits.js';
import {
  fitPolarModel,
  PolarModelPredictor,
  RECIPE_DESCRIPTIONS,
  type LabelledCrops,
  type LinearRecipe,
  type PolarModel,
} from '../models/linear/polar-model.js';
import type { Colormap } from '../polarmap/colormaps.js';
import { resolveColormap } from '../polarmap/custom-colormap.js';
import { preparedColormap } from '../ingest/prepare.js';
import { ColormapRecogniser } from '../polarmap/recognise-colormap.js';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { baselineDir, runFile } from '../rundir/files.js';
import { saveLinearModel } from '../rundir/linear.js';
import { writeRunJson } from '../rundir/run.js';
import { InputError } from '../util/errors.js';
import { callAt } from '../evaluate/metrics.js';

/** Options of {@link trainLinear}. */
export interface TrainLinearOptions {
  readonly manifest: string;
  readonly out: string;
  readonly recipe: LinearRecipe;
  /** backbones of the CNN members (default ['MobileNetV2']; several = a backbone ensemble) and their weights ('imagenet' or a path) */
  readonly backbones?: readonly string[];
  readonly weights?: string;
  /** clinical columns of the manifest fused into the model (`--clinical age,sex`); the model is also fitted without them and both are reported */
  readonly clinical?: readonly string[];
  /** views to use (default: every view that every row has) */
  readonly views?: readonly View[];
  /** colour map name, CSV table or colour-bar image (default: recognised over the training crops) */
  readonly colormap?: string;
  readonly seed?: number;
  readonly testManifest?: string;
  readonly testFraction?: number;
  readonly cacheDir?: string;
  /** recipes fitted on the same patients and shown beside the model with paired tests (default: the two baselines) */
  readonly compareWith?: readonly LinearRecipe[];
}

/** Progress and warnings for the CLI. */
export interface TrainLinearHooks {
  readonly onProgress?: (what: string, done: number, total: number) => void;
  readonly onWarning?: (message: string) => void;
}

/** What {@link trainLinear} returns. */
export interface TrainLinearResult {
  readonly out: string;
  readonly rows: MetricsRow[];
  readonly comparisons: PairedComparison[];
  readonly summary: string;
  /** the saved model (its members record the backbone weights used) */
  readonly model: PolarModel;
}

interface Cohort {
  readonly patients: LabelledCrops[];
  readonly views: View[];
  readonly sha256: string;
  readonly clinicalColumns: readonly string[];
}

function checkClinical(wanted: readonly string[] | undefined, c: Cohort, path: string): void {
  const known = new Set(['age', 'sex', ...c.clinicalColumns]);
  const unknown = (wanted ?? []).filter((n) => !known.has(n));
  if (unknown.length > 0)
    throw new InputError(
      `--clinical: ${path} has no column ${unknown.map((n) => `'${n}'`).join(', ')} (columns: ${[...known].join(', ')})`,
    );
}

function checkRow(row: StudyRow, path: string): Label {
  if (row.label === null)
    throw new InputError(`${path}: row ${row.row} (patient ${row.patientId}): no label`);
  if (row.page !== undefined)
    throw new InputError(
      `${path}: row ${row.row} (patient ${row.patientId}) refers to an export page; polarcad train needs cleaned crops: run \`polarcad prepare ${path} --out DIR\` and train on DIR/manifest.csv`,
    );
  return row.label;
}

/** Read a prepared manifest's crops; the views are those every row has (or the given ones). */
async function loadCohort(
  path: string,
  wanted: readonly View[] | undefined,
  progress?: TrainLinearHooks['onProgress'],
): Promise<Cohort> {
  const m = await loadManifest(path, { requireLabels: true, requireBothClasses: true });
  const views =
    wanted !== undefined ? [...wanted] : VIEWS.filter((v) => m.rows.every((r) => r.views[v] !== undefined));
  if (views.length === 0)
    throw new InputError(`${path}: no view (${VIEWS.join(', ')}) is present in every row`);
  const patients: LabelledCrops[] = [];
  for (const [i, row] of m.rows.entries()) {
    const label = checkRow(row, path);
    const crops: Partial<Record<View, RgbImage>> = {};
    for (const v of views) {
      const p = row.views[v];
      if (p === undefined)
        throw new InputError(`${path}: row ${row.row} (patient ${row.patientId}): column ${v} is empty`);
      const img = await readImage(p);
      if (img.width !== img.height)
        throw new InputError(
          `${p} (row ${row.row}, ${v}) is ${img.width}x${img.height}, not a square polar-map crop; run \`polarcad prepare\` first`,
        );
      crops[v] = img;
    }
    patients.push({ id: row.patientId, label, crops, clinical: clinicalOfRow(row) });
    progress?.('reading maps', i + 1, m.rows.length);
  }
  const clinicalColumns = [
    ...(m.rows.some((r) => r.age !== undefined) ? ['age'] : []),
    ...(m.rows.some((r) => r.sex !== undefined) ? ['sex'] : []),
    ...m.clinicalColumns,
  ];
  return { patients, views, sha256: m.sha256, clinicalColumns };
}

async function colormapFor(
  spec: string | undefined,
  patients: readonly LabelledCrops[],
  manifest: string,
): Promise<{ cm: Colormap; how: string }> {
  if (spec !== undefined) return { cm: await resolveColormap(spec), how: `given (${spec})` };
  const prepared = await preparedColormap(manifest);
  if (prepared !== null) return { cm: prepared.colormap, how: `recorded by prepare (${prepared.source})` };
  const rec = new ColormapRecogniser({});
  for (const p of patients) for (const img of Object.values(p.crops)) rec.add(img);
  const r = rec.result();
  if (r.alsoFits.length > 0)
    throw new InputError(
      `the colour map is ambiguous: ${[r.colormap.name, ...r.alsoFits].join(' and ')} fit the maps equally well; give it with --colormap`,
    );
  return {
    cm: r.colormap,
    how: `recognised over the training maps (${(100 * r.coverage).toFixed(1)}% of disc pixels matched)`,
  };
}

function splitCohort(
  c: Cohort,
  o: TrainLinearOptions,
  seed: number,
): { train: LabelledCrops[]; test: LabelledCrops[] } {
  const split = stratifiedHoldout(
    c.patients.map((p) => ({ id: p.id, label: p.label })),
    {
      seed,
      ...(o.testFraction !== undefined ? { testFraction: o.testFraction } : {}),
    },
  );
  const inTest = new Set(split.test);
  return {
    train: c.patients.filter((p) => !inTest.has(p.id)),
    test: c.patients.filter((p) => inTest.has(p.id)),
  };
}

/** P(CAD) of the test patients (with their clinical values). */
async function predictTest(
  model: PolarModel,
  test: readonly LabelledCrops[],
  cacheDir: string | undefined,
): Promise<number[]> {
  const predictor = await PolarModelPredictor.open(model, cacheDir !== undefined ? { cacheDir } : {});
  try {
    const r = await predictor.predict(
      test.map((p) => p.crops),
      test.map((p) => p.clinical),
    );
    return r.map((p) => p.probability);
  } finally {
    await predictor.dispose();
  }
}

const f3 = (x: number | null): string => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(3));

function summaryText(s: {
  o: TrainLinearOptions;
  model: PolarModel;
  colormap: string;
  nTrain: number;
  nTest: number;
  rows: MetricsRow[];
  comparisons: PairedComparison[];
  eceValue: number;
  seconds: number;
}): string {
  const iv = (v: MetricsRow['auc']): string =>
    v === null ? 'n/a' : `${f3(v.estimate)} [${f3(v.lo)}, ${f3(v.hi)}]`;
  const cnns = s.model.members.flatMap((m) => (m.features.kind === 'cnn-segments' ? [m.features] : []));
  const clinical = s.model.members.flatMap((m) =>
    m.features.kind === 'clinical' ? m.features.columns.map((c) => c.name) : [],
  );
  return (
    [
      `polarcad train --model ${s.model.recipe}: ${RECIPE_DESCRIPTIONS[s.model.recipe]}`,
      cnns.length > 0
        ? cnns.map((f) => `backbone: ${f.backbone}; weights: ${f.weightsDescription}`).join('\n')
        : 'no network (a baseline)',
      ...(clinical.length > 0
        ? [
            `clinical variables: ${clinical.join(', ')} (missing values: training mean / no level, with an indicator)`,
          ]
        : []),
      `views: ${s.model.views.join(', ')}; colour map: ${s.colormap}; seed ${String(s.model.trainedOn.seed)}`,
      `data: ${s.nTrain} training patients (all used for fitting; choices by 5-fold CV on them), ${s.nTest} test patients`,
      ...s.model.members.map(
        (m) => `member ${m.name}: C = ${m.C} chosen by ${m.folds}-fold CV (held-out log loss)`,
      ),
      s.model.members.length > 1
        ? `stacker (on out-of-fold logits): ${s.model.stacker.weights.map((w, k) => `${s.model.members[k].name} x ${w.toFixed(3)}`).join(' + ')} + ${s.model.stacker.intercept.toFixed(3)}`
        : 'single member',
      '',
      `test (95% CI)              accuracy                AUC`,
      ...s.rows.map((r) => `${r.name.padEnd(26)} ${iv(r.accuracy).padEnd(23)} ${iv(r.auc)}`),
      ...s.comparisons.map(formatComparison),
      `expected calibration error (10 bins): ${f3(s.eceValue)}`,
      `total ${s.seconds.toFixed(1)} s`,
    ].join('\n') + '\n'
  );
}

/**
 * The training and test patients: a stratified held-out part of the cohort, or the whole cohort and
 * a separate test manifest (no patient in both), with how the test set is described.
 */
async function trainAndTest(
  cohort: Cohort,
  o: TrainLinearOptions,
  seed: number,
  progress: TrainLinearHooks['onProgress'],
): Promise<{ train: LabelledCrops[]; test: LabelledCrops[]; evaluatedOn: string }> {
  if (o.testManifest === undefined) {
    const { train, test } = splitCohort(cohort, o, seed);
    return { train, test, evaluatedOn: `held-out test part (${test.length} patients, seed ${seed})` };
  }
  const t = await loadCohort(o.testManifest, cohort.views, progress);
  const ids = new Set(cohort.patients.map((p) => p.id));
  const clash = t.patients.filter((p) => ids.has(p.id)).map((p) => p.id);
  if (clash.length > 0)
    throw new InputError(
      `--test-manifest ${o.testManifest}: patient(s) ${clash.slice(0, 5).join(', ')} are also in the training manifest`,
    );
  return {
    train: cohort.patients,
    test: t.patients,
    evaluatedOn: `test manifest ${resolve(o.testManifest)} (${t.patients.length} patients)`,
  };
}

/** predictions.csv of the test patients, with a probability column per baseline. */
function predictionsCsv(
  test: readonly LabelledCrops[],
  probs: readonly number[],
  baselines: readonly { name: string; probs: readonly number[] }[],
): string {
  const header = [
    'patient_id',
    'label',
    'prob',
    'predicted',
    'split',
    ...baselines.map((b) => `prob_${b.name.replace('-', '_')}`),
  ];
  const lines = test.map((p, i) => [
    p.id,
    p.label,
    probs[i],
    callAt(probs[i]),
    'test',
    ...baselines.map((b) => b.probs[i]),
  ]);
  return stringify(lines, { header: true, columns: header });
}

/** Everything a closed-form run directory holds (see {@link writeLinearRun}). */
interface LinearRunContents {
  readonly o: TrainLinearOptions;
  readonly seed: number;
  readonly cohort: Cohort;
  readonly colormap: string;
  readonly colormapSource: string;
  readonly train: readonly LabelledCrops[];
  readonly test: readonly LabelledCrops[];
  readonly model: PolarModel;
  readonly probs: readonly number[];
  readonly baselines: Awaited<ReturnType<typeof fitBaselines>>;
  readonly rows: MetricsRow[];
  readonly comparisons: PairedComparison[];
  readonly eceValue: number;
  readonly summary: string;
  readonly evaluatedOn: string;
  readonly seconds: number;
}

/** Write the run directory atomically: the model, its baselines, predictions, metrics, summary and config. */
async function writeLinearRun(out: string, r: LinearRunContents): Promise<void> {
  const { o, model, baselines, rows } = r;
  const saveOpts = o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {};
  await writeDirAtomic(out, 'train', async (dir) => {
    await saveLinearModel(runFile(dir, 'model'), model, saveOpts);
    for (const b of baselines) await saveLinearModel(baselineDir(dir, b.name), b.model, saveOpts);
    await writeFileAtomic(runFile(dir, 'predictions'), predictionsCsv(r.test, r.probs, baselines));
    const main = rows[0];
    await writeRunJson(dir, 'metrics', {
      evaluatedOn: r.evaluatedOn,
      n: main.n,
      threshold: 0.5,
      accuracy: main.accuracy,
      auc: main.auc,
      sensitivity: main.sensitivity,
      specificity: main.specificity,
      precision: main.precision,
      f1: main.f1,
      confusion: main.confusion,
      ece: r.eceValue,
      selectionLeaksTest: false,
      rows,
      comparisons: r.comparisons,
    });
    await writeFileAtomic(runFile(dir, 'summary'), r.summary);
    await writeRunJson(dir, 'config', {
      status: 'complete',
      command: 'train',
      model: o.recipe,
      options: { ...o, seed: r.seed },
      resolved: {
        views: r.cohort.views,
        colormap: r.colormap,
        colormapSource: r.colormapSource,
        manifest: { path: resolve(o.manifest), sha256: r.cohort.sha256 },
        split: { train: r.train.map((p) => p.id), validation: [], test: r.test.map((p) => p.id) },
      },
      calibrated: true,
      calibration:
        model.members.length > 1
          ? 'stacker on out-of-fold logits'
          : 'temperature on out-of-fold probabilities',
      temperature: model.temperature,
      seconds: r.seconds,
    });
  });
}

/**
 * Train a closed-form polar-map model and write its run directory (see the module comment).
 * @example
 * await trainLinear({ manifest: 'prepared/manifest.csv', out: 'runs/hybrid', recipe: 'hybrid' });
 */
export async function trainLinear(
  o: TrainLinearOptions,
  hooks: TrainLinearHooks = {},
): Promise<TrainLinearResult> {
  const t0 = performance.now();
  const seed = o.seed ?? 1;
  const cohort = await loadCohort(o.manifest, o.views, hooks.onProgress);
  const { train, test, evaluatedOn } = await trainAndTest(cohort, o, seed, hooks.onProgress);
  checkClinical(o.clinical, cohort, o.manifest);
  const { cm, how } = await colormapFor(o.colormap, train, o.manifest);
  const fitOpts = {
    views: cohort.views,
    colormap: cm,
    seed,
    ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
  };
  const fitAndPredict = async (clinical: readonly string[] | undefined): Promise<[PolarModel, number[]]> => {
    const { model } = await fitPolarModel(train, {
      ...fitOpts,
      recipe: o.recipe,
      ...(o.backbones !== undefined ? { backbones: o.backbones } : {}),
      ...(o.weights !== undefined ? { weights: o.weights } : {}),
      ...(clinical !== undefined ? { clinical } : {}),
      ...(hooks.onProgress !== undefined ? { onProgress: hooks.onProgress } : {}),
    });
    return [model, await predictTest(model, test, o.cacheDir)];
  };
  const withClinical = o.clinical !== undefined && o.clinical.length > 0;
  const [model, probs] = await fitAndPredict(withClinical ? o.clinical : undefined);
  hooks.onProgress?.('baselines', 0, 1);
  const baselines = await fitBaselines(
    train,
    test.map((p) => p.crops),
    {
      ...fitOpts,
      recipes: (o.compareWith ?? BASELINE_RECIPES).filter((r) => r !== o.recipe),
      ...(o.weights !== undefined ? { weights: o.weights } : {}),
    },
  );
  // the same recipe without the clinical variables, so that their contribution is measured
  if (withClinical) {
    const [imagesOnly, imagesOnlyProbs] = await fitAndPredict(undefined);
    baselines.unshift({ name: `${o.recipe}-images-only`, probs: imagesOnlyProbs, model: imagesOnly });
  }
  hooks.onProgress?.('baselines', 1, 1);
  const labels = test.map((p) => p.label);
  const { rows, comparisons } = compareWithBaselines(
    labels,
    { name: o.recipe, description: RECIPE_DESCRIPTIONS[o.recipe], probs },
    baselines,
    {
      evaluatedOn,
      seed,
      descriptions: {
        ...RECIPE_DESCRIPTIONS,
        [`${o.recipe}-images-only`]: `${o.recipe} without the clinical variables (images only)`,
      },
    },
  );
  const eceValue = ece(labels, probs).ece;
  const seconds = (performance.now() - t0) / 1000;
  const summary = summaryText({
    o,
    model,
    colormap: `${cm.name}, ${how}`,
    nTrain: train.length,
    nTest: test.length,
    rows,
    comparisons,
    eceValue,
    seconds,
  });
  const out = resolve(o.out);
  await writeLinearRun(out, {
    o,
    seed,
    cohort,
    colormap: cm.name,
    colormapSource: how,
    train,
    test,
    model,
    probs,
    baselines,
    rows,
    comparisons,
    eceValue,
    summary,
    evaluatedOn,
    seconds,
  });
  return { out, rows, comparisons, summary, model };
}
