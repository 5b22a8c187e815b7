/**
 * Normal database (normal limits) for semi-quantitative scoring of the 17-segment polar map.
 * Formulas are documented in docs/scoring.md.
 *
 * Normalisation: every map's 17 segment means are divided by the map's largest segment mean,
 * so the hottest segment of each map is 1 (`normaliseSegments`). Quantitative packages normalise
 * each study to its own myocardial maximum before comparing with normal limits (e.g. the
 * Cedars-Sinai approach, Slomka et al., J Nucl Cardiol 2005;12:66-77); taking the maximum over
 * segment means rather than pixels makes it robust to single hot pixels and JPEG noise.
 *
 * Strata: acquisition state (stress / rest, never pooled), attenuation correction (AC / NAC) and
 * sex (F / M). Attenuation artefacts differ by sex (breast: anterior; diaphragm: inferior) and
 * mostly without AC, hence the stratification. Each of correction and sex may be unknown; a
 * study with an unknown attribute only enters the pooled stratum of that attribute.
 *
 * Fallback: a stratum is used only when it has at least `minStudies` studies with a value for
 * every segment (default 20, for which the relative standard error of an SD estimate is about
 * 1/sqrt(2(n-1)) = 16%). Otherwise the query falls back, in order, to:
 *   (state, correction, sex) -> (state, correction, any sex) -> (state, any correction, sex)
 *   -> (state, any correction, any sex).
 * Sex is pooled before correction because AC/NAC differences are the larger ones.
 */
import { z } from 'zod';
import type { View } from '../domain/views.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, errorMessage } from '../util/errors.js';
import { N_SEGMENTS } from './geometry.js';
import { readNamedInputText } from '../util/read-input.js';

export type Sex = 'F' | 'M';
export type Correction = 'AC' | 'NAC';
export type AcquisitionState = 'stress' | 'rest';

export const NORMAL_DB_FORMAT = 'polarcad-normal-db';
export const NORMAL_DB_VERSION = 1;
export const DEFAULT_MIN_STUDIES = 20;

/** One normal map: its raw (not yet normalised) 17 segment means, index 0 = segment 1. */
export interface NormalSample {
  readonly state: AcquisitionState;
  readonly correction?: Correction;
  readonly sex?: Sex;
  /** 17 raw segment means (e.g. from `segmentMeans`); NaN = segment not measured. */
  readonly segments: ArrayLike<number>;
  /** Study identifier, only for error messages. */
  readonly id?: string;
}

/** Key of a stratum; `null` = pooled over that attribute. */
export interface StratumKey {
  readonly state: AcquisitionState;
  readonly correction: Correction | null;
  readonly sex: Sex | null;
}

/** One stratum's statistics, as stored (JSON-friendly: `null` where undefined). */
export interface Stratum extends StratumKey {
  /** number of studies */
  readonly n: number;
  /** per segment: number of studies with a value for that segment */
  readonly count: readonly number[];
  /** per segment: mean normalised uptake (null if count = 0) */
  readonly mean: readonly (number | null)[];
  /** per segment: sample SD (n - 1 denominator) of normalised uptake (null if count < 2) */
  readonly sd: readonly (number | null)[];
}

export interface NormalDatabase {
  readonly format: typeof NORMAL_DB_FORMAT;
  readonly version: typeof NORMAL_DB_VERSION;
  readonly normalisation: 'max-segment';
  readonly minStudies: number;
  readonly strata: readonly Stratum[];
  /** Name of the colour map the normals' exports were read with (`score` records it); absent in older files. */
  readonly colormap?: string;
}

/** The normal limits chosen for a query. */
export interface NormalLimits {
  /** the stratum actually used */
  readonly stratum: StratumKey;
  /** true if that is not the exact stratum asked for */
  readonly fallback: boolean;
  readonly n: number;
  /** 17 means of normalised uptake */
  readonly mean: Float64Array;
  /** 17 SDs of normalised uptake */
  readonly sd: Float64Array;
}

/** State and correction of a polar-map view. */
export function viewAcquisition(view: View): { state: AcquisitionState; correction: Correction } {
  const [state, corr] = view.split('_') as [AcquisitionState, string];
  return { state, correction: corr === 'ac' ? 'AC' : 'NAC' };
}

/**
 * Normalise 17 segment means so that the largest (finite) one is 1: x_s / max_t x_t.
 * NaN entries stay NaN.
 * @throws Error if there is no positive finite segment mean
 */
export function normaliseSegments(segments: ArrayLike<number>): Float64Array {
  if (segments.length !== N_SEGMENTS)
    throw new Error(`expected ${N_SEGMENTS} segment values, got ${segments.length}`);
  let max = -Infinity;
  for (let s = 0; s < N_SEGMENTS; s++)
    if (Number.isFinite(segments[s]) && segments[s] > max) max = segments[s];
  if (!(max > 0)) throw new Error('cannot normalise a map with no positive segment uptake');
  const out = new Float64Array(N_SEGMENTS);
  for (let s = 0; s < N_SEGMENTS; s++) out[s] = Number.isFinite(segments[s]) ? segments[s] / max : Number.NaN;
  return out;
}

function stratumStats(key: StratumKey, rows: readonly Float64Array[]): Stratum {
  const count: number[] = [];
  const mean: (number | null)[] = [];
  const sd: (number | null)[] = [];
  for (let s = 0; s < N_SEGMENTS; s++) {
    let n = 0;
    let sum = 0;
    for (const r of rows) {
      if (Number.isFinite(r[s])) {
        n++;
        sum += r[s];
      }
    }
    const m = n > 0 ? sum / n : null;
    let ss = 0;
    if (m !== null) for (const r of rows) if (Number.isFinite(r[s])) ss += (r[s] - m) ** 2;
    count.push(n);
    mean.push(m);
    sd.push(n >= 2 ? Math.sqrt(ss / (n - 1)) : null);
  }
  return { ...key, n: rows.length, count, mean, sd };
}

/**
 * Build a normal database from normal studies' maps. Every sample is normalised with
 * `normaliseSegments`; then, for every stratum (state x {AC, NAC, pooled} x {F, M, pooled})
 * holding at least one sample, the per-segment mean and sample SD are stored.
 *
 * @throws InputError if a sample does not have 17 segments or cannot be normalised (names the id)
 */
export function buildNormalDatabase(
  samples: readonly NormalSample[],
  opts: { minStudies?: number } = {},
): NormalDatabase {
  const minStudies = opts.minStudies ?? DEFAULT_MIN_STUDIES;
  if (!Number.isInteger(minStudies) || minStudies < 2) {
    throw new InputError(`normal database: minStudies must be an integer >= 2, got ${minStudies}`);
  }
  const normalised = samples.map((s, i) => {
    try {
      return normaliseSegments(s.segments);
    } catch (e) {
      throw new InputError(`normal database: study ${s.id ?? `#${i + 1}`}: ${errorMessage(e)}`, { cause: e });
    }
  });
  const strata: Stratum[] = [];
  for (const state of ['stress', 'rest'] as const) {
    for (const correction of ['AC', 'NAC', null] as const) {
      for (const sex of ['F', 'M', null] as const) {
        const rows = normalised.filter(
          (_, i) =>
            samples[i].state === state &&
            (correction === null || samples[i].correction === correction) &&
            (sex === null || samples[i].sex === sex),
        );
        if (rows.length > 0) strata.push(stratumStats({ state, correction, sex }, rows));
      }
    }
  }
  return {
    format: NORMAL_DB_FORMAT,
    version: NORMAL_DB_VERSION,
    normalisation: 'max-segment',
    minStudies,
    strata,
  };
}

function usable(s: Stratum, minStudies: number): boolean {
  return s.count.every((c) => c >= minStudies) && s.sd.every((v) => v !== null);
}

/**
 * The normal limits for a study: the first usable stratum in the fallback order
 * (state, correction, sex) -> (state, correction, *) -> (state, *, sex) -> (state, *, *),
 * skipping steps whose attribute is unknown.
 *
 * @throws InputError if no stratum of that state has enough studies
 */
export function normalLimits(
  db: NormalDatabase,
  query: { state: AcquisitionState; correction?: Correction; sex?: Sex },
): NormalLimits {
  const c = query.correction ?? null;
  const x = query.sex ?? null;
  const order: [Correction | null, Sex | null][] = [
    [c, x],
    [c, null],
    [null, x],
    [null, null],
  ];
  for (const [correction, sex] of order) {
    const s = db.strata.find((t) => t.state === query.state && t.correction === correction && t.sex === sex);
    if (s && usable(s, db.minStudies)) {
      return {
        stratum: { state: s.state, correction: s.correction, sex: s.sex },
        fallback: correction !== c || sex !== x,
        n: s.n,
        mean: Float64Array.from(s.mean, (v) => v ?? Number.NaN),
        sd: Float64Array.from(s.sd, (v) => v ?? Number.NaN),
      };
    }
  }
  throw new InputError(
    `normal database: no ${query.state} stratum has at least ${db.minStudies} normal studies for every segment ` +
      `(asked for correction ${c ?? 'any'}, sex ${x ?? 'any'})`,
  );
}

const seg17 = <T extends z.ZodType>(t: T) => z.array(t).length(N_SEGMENTS);

const stratumSchema = z.object({
  state: z.enum(['stress', 'rest']),
  correction: z.enum(['AC', 'NAC']).nullable(),
  sex: z.enum(['F', 'M']).nullable(),
  n: z.number().int().nonnegative(),
  count: seg17(z.number().int().nonnegative()),
  mean: seg17(z.number().finite().nullable()),
  sd: seg17(z.number().finite().nonnegative().nullable()),
});

const databaseSchema = z.object({
  format: z.literal(NORMAL_DB_FORMAT),
  version: z.literal(NORMAL_DB_VERSION),
  normalisation: z.literal('max-segment'),
  minStudies: z.number().int().min(2),
  strata: z.array(stratumSchema),
  colormap: z.string().min(1).optional(),
});

/**
 * Validate a parsed JSON value as a normal database.
 * @param source file name for error messages
 * @throws InputError listing every schema problem with its JSON path
 */
export function parseNormalDatabase(value: unknown, source: string): NormalDatabase {
  const r = databaseSchema.safeParse(value);
  if (!r.success) {
    const problems = r.error.issues.map(
      (i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`,
    );
    throw new InputError(`normal database ${source}: invalid\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return r.data as NormalDatabase;
}

/**
 * The warning for scoring maps read in colour map `name` against a normal database fitted with
 * another one (its recorded `colormap`), or null when they agree or the database records none.
 * The normal limits are relative uptakes read through one table: another table shifts every segment.
 * @example normalDbColormapWarning(db, 'rainbow') // 'the maps are read in rainbow, but the normal database was fitted with hot maps: ...'
 */
export function normalDbColormapWarning(db: NormalDatabase, name: string): string | null {
  if (db.colormap === undefined || db.colormap === name) return null;
  return `the maps are read in ${name}, but the normal database was fitted with ${db.colormap} maps: SSS/SRS/SDS may be wrong (give --colormap ${db.colormap} if the exports are in it, or use a normal database fitted with ${name} maps)`;
}

/** JSON text of a normal database (pretty-printed). */
export function normalDatabaseToJson(db: NormalDatabase): string {
  return `${JSON.stringify(db, null, 2)}\n`;
}

/** Write a normal database to a JSON file atomically. */
export async function saveNormalDatabase(path: string, db: NormalDatabase): Promise<void> {
  await writeFileAtomic(path, normalDatabaseToJson(db));
}

/** Read and validate a normal database JSON file. */
export async function loadNormalDatabase(path: string): Promise<NormalDatabase> {
  const text = await readNamedInputText('normal database', path, 'json');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`normal database ${path}: not valid JSON (${errorMessage(e)})`, { cause: e });
  }
  return parseNormalDatabase(value, path);
}
