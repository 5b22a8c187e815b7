/**
 * Semi-quantitative scoring of SPECT MPI polar maps on the AHA 17-segment model.
 * Every formula is documented here and in docs/scoring.md.
 *
 * - 5-point segment score (0 normal, 1 equivocal / mildly reduced, 2 moderately reduced,
 *   3 severely reduced, 4 absent uptake; Cerqueira et al., Circulation 2002;105:539-542) from
 *   the deviation below the normal mean in SD units.
 * - Summed scores SSS, SRS, SDS (Berman et al., J Am Coll Cardiol 1993;22:1455-1464;
 *   Hachamovitch et al., Circulation 1998;97:535-543), percent myocardium, per-territory sums.
 * - A simplified total perfusion deficit (after Slomka et al., J Nucl Cardiol 2005;12:66-77).
 * - The decision rules `ruleSss4` and `ruleApostolopoulos` (Apostolopoulos et al. 2020).
 */
import type { UptakeMap } from '../domain/image.js';
import { InputError } from '../util/errors.js';
import { N_SEGMENTS, type SegmentId, segmentLabels } from './geometry.js';
import {
  type Correction,
  type NormalDatabase,
  type NormalLimits,
  type Sex,
  normalLimits,
  normaliseSegments,
} from './normal-database.js';
import { segmentMeans } from './read-uptake.js';
import {
  DEFAULT_TERRITORIES,
  type TerritoryMap,
  VESSELS,
  type Vessel,
  validateTerritories,
} from './territories.js';

/** Largest possible summed score: 17 segments x score 4. */
export const MAX_SUMMED_SCORE = 4 * N_SEGMENTS;

/** Score of a segment that could not be scored (no valid pixels or no normal limit). */
export const UNSCORED = -1;

/**
 * Lower z boundaries (z = (normal mean - uptake) / SD) of scores 1-4:
 *   z < equivocal -> 0; equivocal <= z < moderate -> 1; moderate <= z < severe -> 2;
 *   severe <= z < absent -> 3; z >= absent -> 4.
 */
export interface ZThresholds {
  readonly equivocal: number;
  readonly moderate: number;
  readonly severe: number;
  readonly absent: number;
}

export interface ScoringOptions {
  /** z cut-offs, default `DEFAULT_Z_THRESHOLDS` */
  readonly thresholds?: Partial<ZThresholds>;
  /** normalised uptake below this scores 4 whatever its z (default 0.35) */
  readonly absentFloor?: number;
  /** SDs below this are raised to it before computing z (default 0.02) */
  readonly sdFloor?: number;
  /**
   * Normal limit of the perfusion deficit, in SD below the mean: L = mean - k * SD
   * (default: the `equivocal` z threshold, so a deficit starts where score 1 starts).
   */
  readonly deficitLimitSd?: number;
}

/**
 * Default z cut-offs 2 / 3 / 4 / 5.5. Under a normal distribution the one-sided rates of a
 * normal segment reaching them are 2.3%, 0.13%, 0.003% and 2e-8: score 1 is an equivocal
 * finding a normal study shows in about one segment in 40, scores >= 2 are beyond chance.
 * Published SD criteria for abnormality lie between about 2 and 3 SD below the normal mean;
 * the upper cut-offs spread the remaining range so that a segment at half the normal mean
 * (typical SDs 0.05-0.08 of peak) scores 3-4.
 */
export const DEFAULT_Z_THRESHOLDS: ZThresholds = { equivocal: 2, moderate: 3, severe: 4, absent: 5.5 };
/** Normalised uptake below 35% of the hottest segment counts as absent (score 4). */
export const DEFAULT_ABSENT_FLOOR = 0.35;
/** Guards against near-zero SDs of small or synthetic normal databases. */
export const DEFAULT_SD_FLOOR = 0.02;

interface ResolvedOptions {
  readonly t: ZThresholds;
  readonly absentFloor: number;
  readonly sdFloor: number;
  readonly deficitLimitSd: number;
}

/**
 * Fill in defaults and check the options.
 * @throws InputError naming the option if thresholds are not finite and strictly increasing
 */
export function resolveScoringOptions(opts: ScoringOptions = {}): ResolvedOptions {
  const t: ZThresholds = { ...DEFAULT_Z_THRESHOLDS, ...opts.thresholds };
  const names = ['equivocal', 'moderate', 'severe', 'absent'] as const;
  for (const n of names) {
    if (!Number.isFinite(t[n]))
      throw new InputError(`scoring option thresholds.${n} must be a number, got ${t[n]}`);
  }
  for (let i = 1; i < names.length; i++) {
    if (!(t[names[i]] > t[names[i - 1]])) {
      throw new InputError(
        `scoring option thresholds.${names[i]} (${t[names[i]]}) must be greater than thresholds.${names[i - 1]} (${t[names[i - 1]]})`,
      );
    }
  }
  const absentFloor = opts.absentFloor ?? DEFAULT_ABSENT_FLOOR;
  const sdFloor = opts.sdFloor ?? DEFAULT_SD_FLOOR;
  const deficitLimitSd = opts.deficitLimitSd ?? t.equivocal;
  if (!(absentFloor >= 0 && absentFloor < 1))
    throw new InputError(`scoring option absentFloor must be in [0, 1), got ${absentFloor}`);
  if (!(sdFloor > 0)) throw new InputError(`scoring option sdFloor must be > 0, got ${sdFloor}`);
  if (!(deficitLimitSd >= 0))
    throw new InputError(`scoring option deficitLimitSd must be >= 0, got ${deficitLimitSd}`);
  return { t, absentFloor, sdFloor, deficitLimitSd };
}

/** 5-point score of one segment from its z and its normalised uptake `x`. */
export function scoreFromZ(z: number, x: number, opts: ScoringOptions = {}): number {
  const { t, absentFloor } = resolveScoringOptions(opts);
  if (!Number.isFinite(z) || !Number.isFinite(x)) return UNSCORED;
  if (x < absentFloor || z >= t.absent) return 4;
  if (z >= t.severe) return 3;
  if (z >= t.moderate) return 2;
  if (z >= t.equivocal) return 1;
  return 0;
}

/** Scoring of one polar map (stress or rest) against its normal limits. */
export interface MapScoring {
  readonly limits: NormalLimits;
  /** 17 normalised segment uptakes (x_s / max_t x_t) */
  readonly normalised: Float64Array;
  /** 17 z values, z_s = (mean_s - x_s) / max(SD_s, sdFloor); NaN if unscored */
  readonly z: Float64Array;
  /** 17 scores 0-4, `UNSCORED` (-1) where the segment has no value */
  readonly scores: Int8Array;
  /** sum of the scored segments */
  readonly summed: number;
  /** number of unscored segments */
  readonly unscored: number;
  /** summed / 68 * 100 */
  readonly percentMyocardium: number;
  /** segment-based total perfusion deficit, percent of myocardium (see `perfusionDeficit`) */
  readonly deficit: number;
}

/**
 * Score one map: normalise its raw segment means (`normaliseSegments`), compute
 * z_s = (mean_s - x_s) / max(SD_s, sdFloor) and the 5-point score of each segment.
 *
 * @param segments 17 raw segment means, index 0 = segment 1 (NaN = not measured)
 */
export function scoreMap(
  segments: ArrayLike<number>,
  limits: NormalLimits,
  opts: ScoringOptions = {},
): MapScoring {
  const o = resolveScoringOptions(opts);
  const normalised = normaliseSegments(segments);
  const z = new Float64Array(N_SEGMENTS);
  const scores = new Int8Array(N_SEGMENTS);
  for (let s = 0; s < N_SEGMENTS; s++) {
    z[s] = (limits.mean[s] - normalised[s]) / Math.max(limits.sd[s], o.sdFloor);
    scores[s] = scoreFromZ(z[s], normalised[s], opts);
    if (scores[s] === UNSCORED) z[s] = Number.NaN;
  }
  const summed = summedScore(scores);
  return {
    limits,
    normalised,
    z,
    scores,
    summed,
    unscored: scores.filter((v) => v === UNSCORED).length,
    percentMyocardium: percentMyocardium(summed),
    deficit: perfusionDeficit(normalised, limits, opts),
  };
}

/** Sum of the 17 segment scores, ignoring `UNSCORED` entries. */
export function summedScore(scores: ArrayLike<number>): number {
  if (scores.length !== N_SEGMENTS) throw new Error(`expected ${N_SEGMENTS} scores, got ${scores.length}`);
  let sum = 0;
  for (let s = 0; s < N_SEGMENTS; s++) if (scores[s] >= 0) sum += scores[s];
  return sum;
}

/** Percent of the myocardium abnormal: summed score / 68 * 100 (68 = 17 segments x 4). */
export function percentMyocardium(summed: number): number {
  return (summed / MAX_SUMMED_SCORE) * 100;
}

export interface SummedScores {
  /** summed stress score */
  readonly sss: number;
  /** summed rest score */
  readonly srs: number;
  /** summed difference score, standard clinical definition SSS - SRS (may be negative) */
  readonly sds: number;
  /**
   * Segmental difference score, sum over segments of max(0, stress_s - rest_s): ischaemia
   * only, so a segment worse at rest (reverse redistribution, rest artefact) cannot cancel
   * ischaemia elsewhere. Reported alongside; rules use `sds`. Segments unscored in either
   * state are skipped.
   */
  readonly sdsSegmental: number;
}

/** SSS, SRS, SDS = SSS - SRS and the segmental SDS from 17 stress and 17 rest scores. */
export function summedScores(stress: ArrayLike<number>, rest: ArrayLike<number>): SummedScores {
  const sss = summedScore(stress);
  const srs = summedScore(rest);
  let sdsSegmental = 0;
  for (let s = 0; s < N_SEGMENTS; s++) {
    if (stress[s] >= 0 && rest[s] >= 0) sdsSegmental += Math.max(0, stress[s] - rest[s]);
  }
  return { sss, srs, sds: sss - srs, sdsSegmental };
}

/**
 * Summed score per coronary territory (LAD, LCx, RCA): the sum of the scores of the territory's
 * segments (unscored skipped).
 * @throws Error if the territory map does not assign each segment to exactly one vessel
 */
export function territoryScores(
  scores: ArrayLike<number>,
  territories: TerritoryMap = DEFAULT_TERRITORIES,
): Record<Vessel, number> {
  const problems = validateTerritories(territories);
  if (problems.length > 0) throw new Error(`invalid territory map: ${problems.join('; ')}`);
  const out = { LAD: 0, LCx: 0, RCA: 0 } as Record<Vessel, number>;
  for (const v of VESSELS) {
    for (const s of territories[v] as readonly SegmentId[]) if (scores[s - 1] >= 0) out[v] += scores[s - 1];
  }
  return out;
}

/**
 * Fractional deficit of normalised uptake `x` below the normal limit L = mean - k * SD
 * (k = `deficitLimitSd`, SD floored at `sdFloor`): clamp((L - x) / L, 0, 1). 0 at or above the
 * limit, 1 for no uptake. NaN if x, mean or SD is not finite or L <= 0.
 */
export function fractionalDeficit(x: number, mean: number, sd: number, opts: ScoringOptions = {}): number {
  const o = resolveScoringOptions(opts);
  const limit = mean - o.deficitLimitSd * Math.max(sd, o.sdFloor);
  if (!Number.isFinite(x) || !Number.isFinite(limit) || limit <= 0) return Number.NaN;
  return Math.min(1, Math.max(0, (limit - x) / limit));
}

/**
 * Simplified total perfusion deficit (after Slomka et al. 2005), segment-based:
 *   TPD = 100 * (1 / S) * sum_s d_s,   d_s = fractionalDeficit(x_s, mean_s, SD_s),
 * over the S segments with a value. Equal segment weights follow the AHA design, in which the
 * 17 segments split the myocardium about 35% basal, 35% mid, 30% apical (Cerqueira 2002).
 * It combines extent and severity: 100% = no uptake anywhere, 1/17 = 5.9% = one segment empty.
 */
export function perfusionDeficit(
  normalised: ArrayLike<number>,
  limits: NormalLimits,
  opts: ScoringOptions = {},
): number {
  let sum = 0;
  let n = 0;
  for (let s = 0; s < N_SEGMENTS; s++) {
    const d = fractionalDeficit(normalised[s], limits.mean[s], limits.sd[s], opts);
    if (Number.isFinite(d)) {
      sum += d;
      n++;
    }
  }
  return n === 0 ? Number.NaN : (100 * sum) / n;
}

/**
 * Pixel-based simplified total perfusion deficit: like `perfusionDeficit`, but each segment's
 * deficit is the mean of the pixel deficits d_p = fractionalDeficit(x_p / M, mean_s, SD_s) over
 * its valid pixels, where M is the map's largest segment mean (the same normalisation as the
 * normal database). A defect covering part of a segment thus counts by its area (extent) times
 * its depth (severity):
 *   TPD = 100 * (1 / S) * sum_s (1 / |P_s|) * sum_{p in P_s} d_p.
 */
export function perfusionDeficitMap(
  map: UptakeMap,
  limits: NormalLimits,
  valid?: Uint8Array,
  opts: ScoringOptions = {},
): number {
  const means = segmentMeans(map, valid);
  let max = -Infinity;
  for (const m of means) if (Number.isFinite(m) && m > max) max = m;
  if (!(max > 0)) return Number.NaN;
  const labels = segmentLabels(map.size);
  const sum = new Float64Array(N_SEGMENTS);
  const count = new Float64Array(N_SEGMENTS);
  for (let p = 0; p < labels.length; p++) {
    const l = labels[p];
    if (l === 0 || (valid && valid[p] === 0)) continue;
    const d = fractionalDeficit(map.data[p] / max, limits.mean[l - 1], limits.sd[l - 1], opts);
    if (Number.isFinite(d)) {
      sum[l - 1] += d;
      count[l - 1]++;
    }
  }
  let total = 0;
  let n = 0;
  for (let s = 0; s < N_SEGMENTS; s++) {
    if (count[s] > 0) {
      total += sum[s] / count[s];
      n++;
    }
  }
  return n === 0 ? Number.NaN : (100 * total) / n;
}

/** Abnormal (CAD) if SSS >= 4: the usual cut-off between normal (< 4) and abnormal scans. */
export function ruleSss4(s: { readonly sss: number }): boolean {
  return s.sss >= 4;
}

/**
 * The rule of Apostolopoulos et al. (2020): with attenuation correction, abnormal if SSS > 0
 * and SDS > 0; without, abnormal if SSS > 3 and SDS > 1 (SDS = SSS - SRS).
 */
export function ruleApostolopoulos(
  s: { readonly sss: number; readonly sds: number },
  correction: Correction,
): boolean {
  return correction === 'AC' ? s.sss > 0 && s.sds > 0 : s.sss > 3 && s.sds > 1;
}

export interface StudyScoringInput {
  /** 17 raw stress segment means (index 0 = segment 1) */
  readonly stress: ArrayLike<number>;
  /** 17 raw rest segment means */
  readonly rest: ArrayLike<number>;
  readonly correction: Correction;
  readonly sex?: Sex;
}

export interface StudyScoring extends SummedScores {
  readonly correction: Correction;
  readonly stress: MapScoring;
  readonly rest: MapScoring;
  /** percent myocardium of SSS, SRS and SDS (the last may be negative) */
  readonly percent: { readonly stress: number; readonly rest: number; readonly ischaemic: number };
  readonly territories: {
    readonly stress: Record<Vessel, number>;
    readonly rest: Record<Vessel, number>;
    /** per vessel, stress - rest */
    readonly difference: Record<Vessel, number>;
  };
  readonly rules: { readonly sss4: boolean; readonly apostolopoulos: boolean };
}

/**
 * Score a rest/stress pair of one correction (AC or NAC): normal limits from `db` for the
 * study's state, correction and sex (with fallback), segment scores, summed scores, percent
 * myocardium, territory sums, segment-based deficits and both decision rules.
 */
export function scoreStudy(
  input: StudyScoringInput,
  db: NormalDatabase,
  opts: ScoringOptions & { territories?: TerritoryMap } = {},
): StudyScoring {
  const q = { correction: input.correction, sex: input.sex };
  const stress = scoreMap(input.stress, normalLimits(db, { state: 'stress', ...q }), opts);
  const rest = scoreMap(input.rest, normalLimits(db, { state: 'rest', ...q }), opts);
  const sums = summedScores(stress.scores, rest.scores);
  const tStress = territoryScores(stress.scores, opts.territories);
  const tRest = territoryScores(rest.scores, opts.territories);
  const difference = { LAD: 0, LCx: 0, RCA: 0 } as Record<Vessel, number>;
  for (const v of VESSELS) difference[v] = tStress[v] - tRest[v];
  return {
    correction: input.correction,
    stress,
    rest,
    ...sums,
    percent: {
      stress: percentMyocardium(sums.sss),
      rest: percentMyocardium(sums.srs),
      ischaemic: percentMyocardium(sums.sds),
    },
    territories: { stress: tStress, rest: tRest, difference },
    rules: { sss4: ruleSss4(sums), apostolopoulos: ruleApostolopoulos(sums, input.correction) },
  };
}
