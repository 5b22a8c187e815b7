/**
 * A small synthetic cohort written to disk and prepared, the fixture of the end-to-end tests
 * (score, semi-quantitative reading, evaluate, cv): `ROOT/cohort` (raw images, manifest.csv,
 * ground_truth.csv) and `ROOT/prep` (the output of `prepare`).
 */
import { join } from 'node:path';
import { prepare, type PrepareOptions } from '../../src/ingest/prepare.js';
import { getColormap, type BuiltinColormapName } from '../../src/polarmap/colormaps.js';
import { generateCohort, writeCohort, type Cohort } from '../../src/synth/index.js';

export interface PreparedCohortOptions {
  readonly patients: number;
  readonly seed: number;
  readonly colormap: BuiltinColormapName;
  /** segment grid drawn over the maps (removed again by `prepare`) */
  readonly grid: boolean;
  /** side of the single-map images */
  readonly canvas: number;
  /** options of `prepare` (its `out` is `ROOT/prep`) */
  readonly prepare?: Omit<PrepareOptions, 'out'>;
}

export interface PreparedCohort {
  readonly cohort: Cohort;
  /** ROOT/cohort/manifest.csv */
  readonly rawManifest: string;
  /** ROOT/prep */
  readonly prepared: string;
  /** ROOT/prep/manifest.csv */
  readonly manifest: string;
}

/**
 * The tiny stress-AC cohort the CNN run tests train on: 20 easy patients, grey maps without a grid,
 * 96 px images prepared to 64 px crops (spread `{ ...TINY_STRESS_AC, patients: 40 }` to vary it).
 */
export const TINY_STRESS_AC: PreparedCohortOptions = {
  patients: 20,
  seed: 7,
  colormap: 'gray',
  grid: false,
  canvas: 96,
  prepare: { size: 64, views: ['stress_ac'] },
};

/** Generate an easy cohort of single-map PNGs (map size 64) under `root` and prepare it. */
export async function writePreparedCohort(root: string, o: PreparedCohortOptions): Promise<PreparedCohort> {
  const cohort = generateCohort({ patients: o.patients, seed: o.seed, mapSize: 64, difficulty: 'easy' });
  await writeCohort(cohort, join(root, 'cohort'), {
    layout: 'single',
    format: 'png',
    colormap: getColormap(o.colormap),
    grid: o.grid,
    canvas: o.canvas,
  });
  const rawManifest = join(root, 'cohort', 'manifest.csv');
  const prepared = join(root, 'prep');
  await prepare(rawManifest, { ...o.prepare, out: prepared });
  return { cohort, rawManifest, prepared, manifest: join(prepared, 'manifest.csv') };
}
