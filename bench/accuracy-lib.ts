/**
 * The robustness suite of issue "accuracy": generated cohorts that vary seed, colour map, layout,
 * difficulty, prevalence and size, each with a separate 400-patient test cohort from the same
 * settings (another seed). Every recipe is fitted on the same training patients (the 80% part
 * of `polarcad train`'s seeded split of the training cohort) and evaluated on the test cohort.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { RgbImage } from '../src/domain/image.js';
import { VIEWS, type Label, type View } from '../src/domain/views.js';
import { ece } from '../src/evaluate/calibration.js';
import { metricsWithIntervals } from '../src/evaluate/intervals.js';
import { clinicalOfRow, loadManifest } from '../src/ingest/manifest.js';
import { readImage } from '../src/ingest/readers.js';
import { stratifiedHoldout } from '../src/ingest/splits.js';
import {
  fitPolarModel,
  LINEAR_RECIPES,
  PolarModelPredictor,
  type FitPolarOptions,
  type LabelledCrops,
  type LinearRecipe,
} from '../src/models/linear/polar-model.js';
import type { Colormap } from '../src/polarmap/colormaps.js';
import { ColormapRecogniser } from '../src/polarmap/recognise-colormap.js';
import {
  ContextPool,
  localPath,
  manifestChecksum,
  parseQueueUrl,
  planJob,
  runJobs,
  sharedPath,
  verifyChecksum,
  type JobKind,
} from '../src/workflows/queue/index.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));

/** One cohort's generator settings. */
export interface CohortSettings {
  readonly name: string;
  readonly colormap: 'gray' | 'hot' | 'cool' | 'rainbow';
  readonly layout: 'single' | 'page';
  readonly format: 'png' | 'jpeg';
  readonly difficulty: 'easy' | 'realistic' | 'hard';
  readonly prevalence: number;
  readonly patients: number;
  readonly seed: number;
}

/** Test cohort size and seed offset. */
export const TEST_PATIENTS = 400;
export const TEST_SEED_OFFSET = 1000;

/** The six cohorts (all four colour maps, both layouts, three difficulties, 30-70% CAD, 120-400 patients). */
export const SUITE: readonly CohortSettings[] = [
  {
    name: 'c1',
    colormap: 'rainbow',
    layout: 'single',
    format: 'png',
    difficulty: 'realistic',
    prevalence: 0.51,
    patients: 220,
    seed: 101,
  },
  {
    name: 'c2',
    colormap: 'hot',
    layout: 'page',
    format: 'jpeg',
    difficulty: 'realistic',
    prevalence: 0.3,
    patients: 160,
    seed: 102,
  },
  {
    name: 'c3',
    colormap: 'gray',
    layout: 'single',
    format: 'jpeg',
    difficulty: 'hard',
    prevalence: 0.7,
    patients: 300,
    seed: 103,
  },
  {
    name: 'c4',
    colormap: 'cool',
    layout: 'page',
    format: 'png',
    difficulty: 'easy',
    prevalence: 0.5,
    patients: 120,
    seed: 104,
  },
  {
    name: 'c5',
    colormap: 'rainbow',
    layout: 'page',
    format: 'jpeg',
    difficulty: 'hard',
    prevalence: 0.45,
    patients: 400,
    seed: 105,
  },
  {
    name: 'c6',
    colormap: 'hot',
    layout: 'single',
    format: 'png',
    difficulty: 'realistic',
    prevalence: 0.6,
    patients: 250,
    seed: 106,
  },
];

/** Run the polarcad CLI (this checkout) and return its stdout. */
export async function cli(args: readonly string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/bin.ts'), ...args], {
    cwd: repo,
    maxBuffer: 64 * 2 ** 20,
  });
  return stdout;
}

/** Generate and prepare one part of a cohort under `dataDir` (kept for later runs); returns the prepared manifest. */
export async function ensureCohort(
  c: CohortSettings,
  part: 'train' | 'test',
  dataDir: string,
): Promise<string> {
  const base = join(dataDir, `${c.name}-${part}`);
  const manifest = join(`${base}-prep`, 'manifest.csv');
  if (existsSync(manifest)) return manifest;
  const n = part === 'train' ? c.patients : TEST_PATIENTS;
  const seed = part === 'train' ? c.seed : c.seed + TEST_SEED_OFFSET;
  if (!existsSync(join(`${base}-raw`, 'manifest.csv')))
    await cli([
      'synth',
      '--out',
      `${base}-raw`,
      '--patients',
      String(n),
      '--prevalence',
      String(c.prevalence),
      '--seed',
      String(seed),
      '--colormap',
      c.colormap,
      '--layout',
      c.layout,
      '--format',
      c.format,
      '--difficulty',
      c.difficulty,
      '--workers',
      '1',
      // test patients never share an id with training patients (evaluate's leak guard)
      ...(part === 'test' ? ['--id-prefix', 'T'] : []),
    ]);
  await cli(['prepare', join(`${base}-raw`, 'manifest.csv'), '--out', `${base}-prep`]);
  return manifest;
}

/** A prepared cohort in memory. */
export interface LoadedCohort {
  readonly patients: LabelledCrops[];
  readonly colormap: Colormap;
}

/** Read every crop (and the clinical columns) of a prepared manifest and recognise its colour map over all crops. */
export async function loadCohort(manifest: string): Promise<LoadedCohort> {
  const m = await loadManifest(manifest, { requireLabels: true });
  const rec = new ColormapRecogniser({});
  const patients: LabelledCrops[] = [];
  for (const r of m.rows) {
    const crops: Partial<Record<View, RgbImage>> = {};
    for (const v of VIEWS) {
      const p = r.views[v];
      if (p === undefined) continue;
      crops[v] = await readImage(p);
      rec.add(crops[v]);
    }
    patients.push({ id: r.patientId, label: r.label as Label, crops, clinical: clinicalOfRow(r) });
  }
  return { patients, colormap: rec.result().colormap };
}

/** The training part `polarcad train` uses (its seeded 80/20 split, seed 1). */
export function trainingPart(patients: readonly LabelledCrops[], seed = 1): LabelledCrops[] {
  const split = stratifiedHoldout(
    patients.map((p) => ({ id: p.id, label: p.label })),
    { seed },
  );
  const keep = new Set(split.train);
  return patients.filter((p) => keep.has(p.id));
}

/** Test figures of one recipe on one cohort. */
export interface RecipeFigures {
  readonly accuracy: number;
  readonly accuracyCi: [number, number];
  readonly auc: number;
  readonly aucCi: [number, number];
  readonly ece: number;
  readonly seconds: number;
}

/** Accuracy (Wilson), AUC (stratified bootstrap) and ECE (10 uniform bins) of test predictions. */
export function figures(labels: readonly Label[], probs: readonly number[], seconds: number): RecipeFigures {
  const m = metricsWithIntervals(labels, probs, { seed: 1, resamples: 1000 });
  return {
    accuracy: m.accuracy.estimate,
    accuracyCi: [m.accuracy.lo, m.accuracy.hi],
    auc: m.auc.estimate,
    aucCi: [m.auc.lo, m.auc.hi],
    ece: ece(labels, probs).ece,
    seconds,
  };
}

const f3 = (x: number): string => x.toFixed(3);

/** The markdown table of docs/accuracy.md: per recipe, the mean over cohorts, then each cohort. */
export function markdownTable(
  results: Readonly<Record<string, Readonly<Record<string, RecipeFigures>>>>,
  recipes: readonly string[],
): string {
  const cohorts = Object.keys(results);
  const head = `| recipe | mean accuracy | mean AUC | mean ECE | mean s/run | ${cohorts.map((c) => `${c} acc / AUC / ECE`).join(' | ')} |`;
  const sep = `|${' --- |'.repeat(5 + cohorts.length)}`;
  const rows = recipes.map((r) => {
    const per = cohorts.map((c) => results[c][r]).filter((x): x is RecipeFigures => x !== undefined);
    const mean = (k: 'accuracy' | 'auc' | 'ece' | 'seconds'): number =>
      per.reduce((s, x) => s + x[k], 0) / per.length;
    const cells = cohorts.map((c) => {
      const x = results[c][r];
      return x === undefined
        ? 'n/a'
        : `${f3(x.accuracy)} [${f3(x.accuracyCi[0])}, ${f3(x.accuracyCi[1])}] / ${f3(x.auc)} [${f3(x.aucCi[0])}, ${f3(x.aucCi[1])}] / ${f3(x.ece)}`;
    });
    return `| ${r} | ${f3(mean('accuracy'))} | ${f3(mean('auc'))} | ${f3(mean('ece'))} | ${mean('seconds').toFixed(0)} | ${cells.join(' | ')} |`;
  });
  return [head, sep, ...rows].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Units of the suite (one recipe x cohort), in this process or as jobs on the queue (docs/queue.md)

/** The paper's two-stage network (`polarcad train --model cnn`), the old default. */
export const OLD = 'cnn (two-stage, stress AC: old default)';

/**
 * The same network as a fold ensemble of 5 (`--ensemble 5`, docs/training.md): the old default's
 * flags plus `--ensemble 5`; run only on the cohorts named in POLARCAD_SUITE_ENSEMBLE (5 trainings).
 */
export const OLD_ENSEMBLE = 'cnn, fold ensemble of 5 (--ensemble 5)';

/**
 * Variants of the default recipe measured beside it: a backbone ensemble, clinical variables,
 * stacker selection, and the regularisation study (docs/accuracy.md, "Regularisation (item 7)").
 */
export const VARIANTS: readonly {
  readonly name: string;
  readonly recipe: LinearRecipe;
  readonly options: Partial<FitPolarOptions>;
}[] = [
  {
    name: 'hybrid, MobileNetV2+InceptionV3 ensemble',
    recipe: 'hybrid',
    options: { backbones: ['MobileNetV2', 'InceptionV3'] },
  },
  { name: 'hybrid + clinical (age, sex)', recipe: 'hybrid', options: { clinical: ['age', 'sex'] } },
  { name: 'hybrid, stacker selects members by CV', recipe: 'hybrid', options: { stacking: 'select' } },
  { name: 'hybrid + rotation augmentation (±10°)', recipe: 'hybrid', options: { rotations: [-10, 10] } },
  { name: 'hybrid + label smoothing (0.1)', recipe: 'hybrid', options: { labelSmoothing: 0.1 } },
  { name: 'hybrid + mixup (alpha 0.2)', recipe: 'hybrid', options: { mixupAlpha: 0.2 } },
];

/**
 * Names chosen by an environment selector: unset = all of `names`, '0' = none, else a list
 * separated by '|' (names may contain commas), each of which must be one of `names`.
 * @example selectNames('hybrid|pixel-logistic', LINEAR_RECIPES, 'POLARCAD_SUITE_LINEAR') // ['hybrid', 'pixel-logistic']
 */
export function selectNames(value: string | undefined, names: readonly string[], what: string): string[] {
  if (value === undefined) return [...names];
  if (value === '0') return [];
  const picked = value.split('|').map((s) => s.trim());
  for (const p of picked)
    if (!names.includes(p)) throw new Error(`${what}: unknown name "${p}" (known: ${names.join(' | ')})`);
  return names.filter((n) => picked.includes(n));
}

/**
 * Merge a run's figures into the previous results: every cohort and recipe not rerun keeps its
 * previous figures, so a partial run (some cohorts, some recipes) wipes nothing else.
 */
export function mergeResults(
  previous: Readonly<Record<string, Readonly<Record<string, RecipeFigures>>>>,
  fresh: readonly { cohort: string; recipe: string; figures: RecipeFigures }[],
): Record<string, Record<string, RecipeFigures>> {
  const out: Record<string, Record<string, RecipeFigures>> = {};
  for (const [c, r] of Object.entries(previous)) out[c] = { ...r };
  for (const f of fresh) out[f.cohort] = { ...(out[f.cohort] ?? {}), [f.recipe]: f.figures };
  return out;
}

/** A suite entry's recipe and fitting options: a closed-form recipe by name or one of {@link VARIANTS}. */
function closedForm(name: string): { recipe: LinearRecipe; options: Partial<FitPolarOptions> } | undefined {
  const recipe = LINEAR_RECIPES.find((r) => r === name);
  if (recipe !== undefined) return { recipe, options: {} };
  return VARIANTS.find((v) => v.name === name);
}

/** One unit of the suite: one recipe fitted on one cohort's training part, tested on its test cohort. */
export interface AccuracyUnit {
  readonly cohort: string;
  /** One of LINEAR_RECIPES, a {@link VARIANTS} name, {@link OLD} or {@link OLD_ENSEMBLE}. */
  readonly recipe: string;
  readonly trainManifest: string;
  readonly testManifest: string;
  /** The suite's data folder (the old default's run directories are written there). */
  readonly dataDir: string;
}

async function oldDefault(
  u: AccuracyUnit,
  extra: readonly string[] = [],
  tag = 'old',
): Promise<RecipeFigures> {
  const t0 = performance.now();
  const runDir = join(u.dataDir, `${u.cohort}-${tag}`);
  await cli([
    'train',
    u.trainManifest,
    '--backbone',
    'MobileNetV2',
    '--model',
    'cnn',
    '--out',
    runDir,
    ...extra,
    '--quiet',
  ]);
  const evalDir = join(u.dataDir, `${u.cohort}-${tag}-eval`);
  await cli(['evaluate', runDir, u.testManifest, '--out', evalDir, '--no-report']);
  const seconds = (performance.now() - t0) / 1000;
  const rows = (await readFile(join(evalDir, 'predictions.csv'), 'utf8')).trim().split('\n');
  const head = rows[0].split(',');
  const li = head.indexOf('label');
  const pi = head.indexOf('prob');
  const parsed = rows.slice(1).map((r) => r.split(','));
  return figures(
    parsed.map((c) => (c[li] === '1' || c[li] === 'CAD' ? 1 : 0)),
    parsed.map((c) => Number(c[pi])),
    seconds,
  );
}

/** A cohort's training and test parts, loaded once for all its recipes. */
export interface AccuracyCohorts {
  readonly train: LoadedCohort;
  readonly test: LoadedCohort;
}

/** Load the two parts of a unit's cohort. */
export async function loadAccuracyCohorts(u: AccuracyUnit): Promise<AccuracyCohorts> {
  return { train: await loadCohort(u.trainManifest), test: await loadCohort(u.testManifest) };
}

/**
 * Run one unit: fit the recipe on the training part of `polarcad train`'s split, predict the test
 * cohort, and compute its figures (the same function in this process and on a queue worker).
 * @example const f = await runAccuracyUnit(unit, await loadAccuracyCohorts(unit))
 */
export async function runAccuracyUnit(u: AccuracyUnit, c: AccuracyCohorts): Promise<RecipeFigures> {
  if (u.recipe === OLD) return oldDefault(u);
  if (u.recipe === OLD_ENSEMBLE) return oldDefault(u, ['--ensemble', '5'], 'old-ensemble5');
  const entry = closedForm(u.recipe);
  if (entry === undefined) throw new Error(`accuracy suite: unknown recipe "${u.recipe}"`);
  const t0 = performance.now();
  const { model } = await fitPolarModel(trainingPart(c.train.patients), {
    recipe: entry.recipe,
    views: [...VIEWS],
    colormap: c.train.colormap,
    seed: 1,
    ...entry.options,
  });
  const predictor = await PolarModelPredictor.open(model);
  const probs = (
    await predictor.predict(
      c.test.patients.map((p) => p.crops),
      c.test.patients.map((p) => p.clinical),
    )
  ).map((p) => p.probability);
  await predictor.dispose();
  return figures(
    c.test.patients.map((p) => p.label),
    probs,
    (performance.now() - t0) / 1000,
  );
}

/** BullMQ job name (and id prefix) of a unit of the accuracy suite. */
export const ACCURACY_JOB = 'accuracy-unit';

const accuracySchema = z.object({
  format: z.literal(1),
  cohort: z.string(),
  recipe: z.string(),
  /** Relative to the suite's folder (the workers' --shared-dir). */
  trainManifest: z.string(),
  testManifest: z.string(),
  trainChecksum: z.string(),
  testChecksum: z.string(),
});

/** What an accuracy job carries. */
export type AccuracyJobData = z.infer<typeof accuracySchema>;

/**
 * A unit of the suite as a job kind (run by `node --import tsx bench/accuracy-worker.ts`): the
 * id hashes the cohort, the recipe and the two parts' data checksums.
 */
export const accuracyKind: JobKind<AccuracyJobData, RecipeFigures> = {
  name: ACCURACY_JOB,
  format: 1,
  schema: accuracySchema,
  idInputs: ({ cohort, recipe, trainChecksum, testChecksum }) => ({
    cohort,
    recipe,
    trainChecksum,
    testChecksum,
  }),
  label: (d) => `accuracy/${d.cohort}/${d.recipe}`,
  open(env) {
    const pool = new ContextPool<AccuracyCohorts>(env.keep, () => Promise.resolve());
    return {
      async run(job) {
        if (env.sharedDir === undefined)
          throw new Error("accuracy jobs need the worker's --shared-dir (the suite's data folder)");
        const unit: AccuracyUnit = {
          cohort: job.cohort,
          recipe: job.recipe,
          trainManifest: localPath(job.trainManifest, env.sharedDir),
          testManifest: localPath(job.testManifest, env.sharedDir),
          dataDir: env.sharedDir,
        };
        await verifyChecksum(unit.trainManifest, job.trainChecksum, manifestChecksum, env.sharedDir);
        await verifyChecksum(unit.testManifest, job.testChecksum, manifestChecksum, env.sharedDir);
        return pool.with(
          [job.trainChecksum, job.testChecksum],
          () => loadAccuracyCohorts(unit),
          (c) => runAccuracyUnit(unit, c),
        );
      },
      dispose: () => pool.dispose(),
    };
  },
};

/**
 * Run the suite's units: with POLARCAD_QUEUE=redis://… as jobs on that queue (workers:
 * `node --import tsx bench/accuracy-worker.ts --queue URL --shared-dir SUITE_DIR`), else here,
 * one after another. Figures in the units' order.
 * @example const figs = await runAccuracyUnits(units, process.env['POLARCAD_QUEUE'])
 */
export async function runAccuracyUnits(
  units: readonly AccuracyUnit[],
  queue: string | undefined,
  log: (line: string) => void = () => {},
): Promise<RecipeFigures[]> {
  if (queue === undefined || queue === '') {
    const out: RecipeFigures[] = [];
    let loaded = null as { key: string; cohorts: AccuracyCohorts } | null;
    for (const u of units) {
      const key = `${u.trainManifest}\n${u.testManifest}`;
      if (loaded?.key !== key) loaded = { key, cohorts: await loadAccuracyCohorts(u) };
      out.push(await runAccuracyUnit(u, loaded.cohorts));
      log(`${u.cohort} ${u.recipe}: ${JSON.stringify(out[out.length - 1])}`);
    }
    return out;
  }
  const checksums = new Map<string, string>();
  const checksum = async (p: string): Promise<string> => {
    const had = checksums.get(p);
    if (had !== undefined) return had;
    const c = await manifestChecksum(p);
    checksums.set(p, c);
    return c;
  };
  const jobs = [];
  for (const u of units)
    jobs.push(
      planJob(accuracyKind, {
        format: 1,
        cohort: u.cohort,
        recipe: u.recipe,
        trainManifest: sharedPath(u.trainManifest, u.dataDir),
        testManifest: sharedPath(u.testManifest, u.dataDir),
        trainChecksum: await checksum(u.trainManifest),
        testChecksum: await checksum(u.testManifest),
      }),
    );
  return runJobs(accuracyKind, jobs, {
    url: parseQueueUrl(queue),
    log,
    onProgress: (p) =>
      log(`accuracy suite: ${p.done}/${p.total} done, ${p.running} running, ${p.failed} failed`),
  });
}
