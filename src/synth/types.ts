/**
 * Public types of the synthetic cohort generator (a digital phantom of a nuclear-cardiology
 * department with ground truth for every image). See docs/synth.md.
 */
import type { UptakeMap } from '../domain/image.js';
import type { Label, View } from '../domain/views.js';
import type { SummedScores } from '../polarmap/scoring.js';
import type { Vessel } from '../polarmap/territories.js';

export const DIFFICULTIES = ['easy', 'realistic', 'hard'] as const;
export type Difficulty = (typeof DIFFICULTIES)[number];

export interface CohortOptions {
  /** number of patients (>= 1) */
  readonly patients: number;
  /** fraction with CAD, in [0, 1]; default 0.51 (111/218 in Hai et al. 2022) */
  readonly prevalence?: number;
  readonly seed: number | string;
  /** how often the hard cases occur and how noisy the studies are; default 'realistic' */
  readonly difficulty?: Difficulty;
  /** side of every UptakeMap in pixels; default 128 */
  readonly mapSize?: number;
  /** first letters of every patient id (default 'P': P0001, P0002, ...); another prefix makes a second cohort whose ids cannot clash with the first */
  readonly idPrefix?: string;
}

export type LesionSite = 'proximal' | 'distal';
/** 'ischaemia' = reversible (stress defect, rest (nearly) normal); 'scar' = fixed (both). */
export type LesionKind = 'ischaemia' | 'scar';

/** One "angiographic" finding and the perfusion defect it causes. */
export interface Lesion {
  readonly vessel: Vessel;
  /** diameter stenosis, percent (50-99) */
  readonly stenosis: number;
  readonly site: LesionSite;
  readonly kind: LesionKind;
  /** peak fractional reduction of uptake in the defect core, at stress and at rest (0..1) */
  readonly stressDepth: number;
  readonly restDepth: number;
}

/**
 * Ground truth of one patient.
 * - `uptake[view][k]`: mean relative uptake of segment k+1 in the noise-free, un-blurred map of
 *   that view (attenuation included for NAC), normalised to that map's maximum.
 * - `scores[view][k]`: the true 5-point score (0 normal .. 4 absent) of segment k+1: the relative
 *   perfusion loss caused by disease (and by non-flow-limiting confounders such as LBBB) against
 *   the same patient without them, thresholds in docs/synth.md. Attenuation is not a perfusion
 *   defect, so it does not raise scores; balanced three-vessel disease scores 0 by construction.
 * - `sss`, `srs`, `sds`: summed stress / rest / difference scores of the AC maps.
 */
export interface PatientTruth extends Pick<SummedScores, 'sss' | 'srs' | 'sds'> {
  readonly uptake: Readonly<Record<View, readonly number[]>>;
  readonly scores: Readonly<Record<View, readonly number[]>>;
}

/** Who a synthetic patient is: diagnosis and demographics, drawn with the scenario. */
export interface PatientProfile {
  readonly label: Label;
  readonly sex: 'F' | 'M';
  readonly age: number;
  readonly bmi: number;
}

export interface SyntheticPatient extends PatientProfile {
  /** 'P0001', 'P0002', ... */
  readonly id: string;
  readonly lesions: readonly Lesion[];
  /** normal variants and confounders applied, e.g. 'apical_thinning', 'breast_attenuation', 'lbbb' */
  readonly variants: readonly string[];
  /** the final reconstructed maps: attenuation (NAC), Poisson noise, smoothing, normalised to max */
  readonly maps: Readonly<Record<View, UptakeMap>>;
  readonly truth: PatientTruth;
  /** a fictitious but reproducible study date, YYYY-MM-DD */
  readonly studyDate: string;
  /** nominal total counts of the stress and rest acquisitions (the noise level scales as 1/sqrt) */
  readonly counts: { readonly stress: number; readonly rest: number };
}

export interface Cohort {
  readonly patients: readonly SyntheticPatient[];
  /** the options used, with defaults filled in */
  readonly options: Required<CohortOptions>;
}
