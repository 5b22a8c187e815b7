/**
 * `generateCohort`: a seeded, in-memory synthetic cohort with ground truth for every map.
 */
import type { UptakeMap } from '../domain/image.js';
import { VIEW_PARTS, VIEWS, type Label, type View } from '../domain/views.js';
import { Rng } from '../util/rng.js';
import { phantomFields, type PhantomFields } from './phantom.js';
import { polarGrid, type PolarGrid } from './polar-grid.js';
import { reconstruct } from './recon.js';
import { sampleScenario, type Scenario } from './scenario.js';
import { computeTruth } from './truth.js';
import {
  DIFFICULTIES,
  type Cohort,
  type CohortOptions,
  type Lesion,
  type SyntheticPatient,
} from './types.js';

/** Default CAD prevalence: 111 of the 218 patients of Hai et al. (2022). */
export const DEFAULT_PREVALENCE = 0.51;
export const DEFAULT_MAP_SIZE = 128;
/** nominal study counts per unit of count density (counts per pixel at the maximum of a 128 map) */
export const NOMINAL_COUNTS_PER_DENSITY = 10000;

/** Fill in defaults and check the options; throws RangeError naming the bad field. */
export function resolveCohortOptions(opts: CohortOptions): Required<CohortOptions> {
  const o: Required<CohortOptions> = {
    patients: opts.patients,
    prevalence: opts.prevalence ?? DEFAULT_PREVALENCE,
    seed: opts.seed,
    difficulty: opts.difficulty ?? 'realistic',
    mapSize: opts.mapSize ?? DEFAULT_MAP_SIZE,
    idPrefix: opts.idPrefix ?? 'P',
  };
  if (!Number.isInteger(o.patients) || o.patients < 1)
    throw new RangeError(`patients: must be a whole number >= 1, got ${o.patients}`);
  if (!(o.prevalence >= 0 && o.prevalence <= 1))
    throw new RangeError(`prevalence: must be in [0, 1], got ${o.prevalence}`);
  if (!DIFFICULTIES.includes(o.difficulty))
    throw new RangeError(`difficulty: must be one of ${DIFFICULTIES.join(', ')}, got ${o.difficulty}`);
  if (!Number.isInteger(o.mapSize) || o.mapSize < 16 || o.mapSize > 1024)
    throw new RangeError(`mapSize: must be a whole number in [16, 1024], got ${o.mapSize}`);
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,15}$/.test(o.idPrefix))
    throw new RangeError(
      `idPrefix: must be 1-16 letters, digits, '_' or '-' starting with a letter, got "${o.idPrefix}"`,
    );
  return o;
}

/** 'P0001' style identifiers, zero-padded to at least 4 digits. */
export function patientId(index: number, total: number, prefix = 'P'): string {
  return `${prefix}${String(index + 1).padStart(Math.max(4, String(total).length), '0')}`;
}

/**
 * The labels of a cohort: exactly round(patients * prevalence) CAD patients, in a seeded random order.
 */
export function cohortLabels(rng: Rng, patients: number, prevalence: number): Label[] {
  const nCad = Math.round(patients * prevalence);
  const labels: Label[] = Array.from({ length: patients }, (_, i) => (i < nCad ? 1 : 0));
  return rng.shuffle(labels);
}

/** The random stream, scenario and noise-free fields of patient `index` (shared with the volume writer). */
export function patientPhantom(
  seed: number | string,
  index: number,
  label: Label,
  opts: Required<CohortOptions>,
): { rng: Rng; scenario: Scenario; grid: PolarGrid; fields: PhantomFields } {
  const rng = new Rng(seed).fork(`patient/${index}`);
  const scenario = sampleScenario(rng.fork('scenario'), label, opts.difficulty);
  const grid = polarGrid(opts.mapSize);
  return { rng, scenario, grid, fields: phantomFields(grid, scenario) };
}

/**
 * Generate one patient. Each patient has its own random streams (forked from the cohort seed by
 * index), so patient i is the same whatever the cohort size, given the same label.
 */
export function generatePatient(
  seed: number | string,
  index: number,
  total: number,
  label: Label,
  opts: Required<CohortOptions>,
): SyntheticPatient {
  const { rng, scenario: s, grid, fields } = patientPhantom(seed, index, label, opts);
  const maps = {} as Record<View, UptakeMap>;
  for (const view of VIEWS) {
    const phase = VIEW_PARTS[view].phase;
    maps[view] = reconstruct(grid, fields.views[view], s.countDensity[phase], rng.fork(`noise/${view}`)).map;
  }
  // nominal acquisition counts (proportional to the count density, independent of the defects)
  const counts = {
    stress: Math.round(s.countDensity.stress * NOMINAL_COUNTS_PER_DENSITY),
    rest: Math.round(s.countDensity.rest * NOMINAL_COUNTS_PER_DENSITY),
  };
  const lesions: Lesion[] = s.lesions.map((l) => ({
    vessel: l.vessel,
    stenosis: l.stenosis,
    site: l.site,
    kind: l.kind,
    stressDepth: Math.round(l.stressDepth * 1000) / 1000,
    restDepth: Math.round(l.restDepth * 1000) / 1000,
  }));
  return {
    id: patientId(index, total, opts.idPrefix),
    label,
    sex: s.sex,
    age: s.age,
    bmi: s.bmi,
    lesions,
    variants: s.variants,
    maps,
    truth: computeTruth(grid, fields),
    studyDate: s.studyDate,
    counts,
  };
}

/** A seeded synthetic cohort, entirely in memory. Pure: same options, same cohort. */
export function generateCohort(opts: CohortOptions): Cohort {
  const o = resolveCohortOptions(opts);
  const labels = cohortLabels(new Rng(o.seed).fork('labels'), o.patients, o.prevalence);
  const patients = labels.map((label, i) => generatePatient(o.seed, i, o.patients, label, o));
  return { patients, options: o };
}
