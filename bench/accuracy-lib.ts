/**
 * The robustness suite of issue "accuracy": generated cohorts that vary seed, colour map, layout,
 * difficulty, prevalence and size, each with a separate 400-patient test cohort from the same
 * settings (another seed). Every recipe is fitted on the same training patients (the 80% part
 * of `polarcad train`'s seeded split of the training cohort) and evaluated on the test cohort.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { RgbImage } from '../src/domain/image.js';
import { VIEWS, type Label, type View } from '../src/domain/views.js';
import { ece } from '../src/evaluate/calibration.js';
import { metricsWithIntervals } from '../src/evaluate/intervals.js';
import { clinicalOfRow, loadManifest } from '../src/ingest/manifest.js';
import { readImage } from '../src/ingest/readers.js';
import { stratifiedHoldout } from '../src/ingest/splits.js';
import type { LabelledCrops } from '../src/models/linear/polar-model.js';
import type { Colormap } from '../src/polarmap/colormaps.js';
import { ColormapRecogniser } from '../src/polarmap/recognise-colormap.js';

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
