/**
 * The clinical scenario of one synthetic patient: demographics, "angiography" (lesions), normal
 * variants, confounders, attenuation and acquisition counts. Pure sampling, no pixels; the
 * phantom (phantom.ts) turns a scenario into uptake fields. Parameters are documented in docs/synth.md.
 */
import type { Label } from '../domain/views.js';
import type { Vessel } from '../polarmap/territories.js';
import type { Rng } from '../util/rng.js';
import type { Difficulty, Lesion, LesionKind, LesionSite, PatientProfile } from './types.js';
import type { LesionWarp } from './territory-field.js';

/** How often the hard cases occur, and the noise / attenuation scale, per difficulty. */
export interface DifficultyProfile {
  /** fraction of CAD patients with only mild single-vessel disease */
  readonly mildSingleVessel: number;
  /** fraction of CAD patients with balanced three-vessel disease (no relative defect) */
  readonly balanced: number;
  /** fraction of normal patients with an LBBB-like septal reduction (stress and rest) */
  readonly lbbb: number;
  /** multiplies the count density (higher = less noise) */
  readonly countScale: number;
  /** multiplies attenuation depths */
  readonly attenuationScale: number;
}

export const DIFFICULTY_PROFILES: Readonly<Record<Difficulty, DifficultyProfile>> = {
  easy: { mildSingleVessel: 0, balanced: 0, lbbb: 0, countScale: 2, attenuationScale: 0.6 },
  realistic: { mildSingleVessel: 0.15, balanced: 0.04, lbbb: 0.05, countScale: 1, attenuationScale: 1 },
  hard: { mildSingleVessel: 0.3, balanced: 0.1, lbbb: 0.12, countScale: 0.6, attenuationScale: 1.25 },
};

/** A lesion together with the shape of its defect. */
export interface LesionPlan extends Lesion {
  readonly warp: LesionWarp;
  /** distal lesions: outer normalised radius of the defect (it covers r < radialCut) */
  readonly radialCut: number;
}

/** Normal-LV pattern parameters (all fractions of uptake). */
export interface NormalPattern {
  readonly apicalThinning: number;
  readonly membranousSeptum: number;
  readonly lateralBoost: number;
  /** fractional drop at the very rim (base) */
  readonly rimFalloff: number;
  /** normalised radius where the rim falloff is half way */
  readonly rimStart: number;
  /** low-frequency heterogeneity: harmonics (k, amplitude, phase) and blobs */
  readonly harmonics: readonly { k: number; amp: number; phase: number; radial: number }[];
  readonly blobs: readonly { r: number; theta: number; sigma: number; amp: number }[];
}

/** A smooth attenuation shadow (NAC): a fractional reduction over an angular window. */
export interface AttenuationShadow {
  readonly centre: number;
  readonly halfWidth: number;
  readonly depth: number;
  /** radial weighting: 'broad' (breast, whole wall) or 'basal' (diaphragm, stronger at the base) */
  readonly radial: 'broad' | 'basal';
}

export interface Scenario extends PatientProfile {
  readonly lesions: readonly LesionPlan[];
  readonly variants: readonly string[];
  readonly normal: NormalPattern;
  /** LBBB-like septal reduction (stress, rest), 0 if absent */
  readonly lbbb: { readonly stress: number; readonly rest: number; readonly centre: number };
  /** balanced three-vessel disease: global stress reduction, 0 if absent */
  readonly balancedDepth: number;
  readonly attenuation: readonly AttenuationShadow[];
  /** fraction of the attenuation that survives attenuation correction */
  readonly acResidual: number;
  /** per-acquisition scale of the attenuation (positioning differs a little between stress and rest) */
  readonly attenuationJitter: { readonly stress: number; readonly rest: number };
  /** expected counts per pixel at the hottest myocardium of a 128-pixel map */
  readonly countDensity: { readonly stress: number; readonly rest: number };
  readonly studyDate: string;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * Peak stress defect depth (fractional uptake loss) caused by a diameter stenosis of `s` percent.
 * Below ~50% a stenosis is not flow-limiting; the loss grows steeply above 70% (the classic
 * Gould coronary-flow-reserve curve, here a simple power law reaching ~0.6 at 99%).
 */
export function stressDepthOfStenosis(s: number): number {
  const x = clamp((s - 45) / 54, 0, 1);
  return 0.62 * Math.pow(x, 1.3);
}

function pickVessels(rng: Rng, n: number): Vessel[] {
  // LAD disease is the most common, then RCA, then LCx
  const weights: [Vessel, number][] = [
    ['LAD', 0.45],
    ['RCA', 0.32],
    ['LCx', 0.23],
  ];
  const chosen: Vessel[] = [];
  while (chosen.length < n) {
    const pool = weights.filter(([v]) => !chosen.includes(v));
    const total = pool.reduce((a, [, w]) => a + w, 0);
    let u = rng.next() * total;
    let pick = pool[pool.length - 1][0];
    for (const [v, w] of pool) {
      if (u < w) {
        pick = v;
        break;
      }
      u -= w;
    }
    chosen.push(pick);
  }
  return chosen;
}

function planLesion(rng: Rng, vessel: Vessel, mild: boolean): LesionPlan {
  const site: LesionSite = mild ? 'distal' : rng.bool(0.55) ? 'proximal' : 'distal';
  const kind: LesionKind = !mild && rng.bool(0.25) ? 'scar' : 'ischaemia';
  const stenosis = Math.round(
    mild ? rng.uniform(50, 66) : kind === 'scar' ? rng.uniform(80, 99.9) : rng.uniform(62, 99),
  );
  let stressDepth: number;
  let restDepth: number;
  if (kind === 'scar') {
    // fixed defect, often with peri-infarct ischaemia (stress a little deeper): "mixed"
    restDepth = rng.uniform(0.3, 0.62);
    stressDepth = restDepth + rng.uniform(0, 0.15);
  } else {
    stressDepth = stressDepthOfStenosis(stenosis) * rng.uniform(0.8, 1.2);
    if (mild) stressDepth = clamp(stressDepth, 0.05, 0.14);
    restDepth = stressDepth * rng.uniform(0, 0.15);
  }
  const warp: LesionWarp = {
    shiftDeg: rng.normal(0, mild ? 12 : 7),
    widthScale: mild
      ? rng.uniform(0.45, 0.75)
      : kind === 'scar'
        ? rng.uniform(0.6, 0.95)
        : rng.uniform(0.8, 1.05),
  };
  return {
    vessel,
    stenosis,
    site,
    kind,
    stressDepth: clamp(stressDepth, 0, 0.85),
    restDepth: clamp(restDepth, 0, 0.85),
    warp,
    radialCut: mild ? rng.uniform(0.42, 0.58) : rng.uniform(0.55, 0.7),
  };
}

function normalPattern(rng: Rng): NormalPattern {
  const harmonics = [1, 2, 3, 4].map((k) => ({
    k,
    amp: rng.uniform(0, 0.022 / Math.sqrt(k)),
    phase: rng.uniform(0, 2 * Math.PI),
    radial: rng.uniform(-1, 1),
  }));
  const blobs = Array.from({ length: rng.int(2, 4) }, () => ({
    r: rng.uniform(0.2, 0.95),
    theta: rng.uniform(0, 360),
    sigma: rng.uniform(0.1, 0.22),
    amp: rng.uniform(-0.05, 0.04),
  }));
  return {
    apicalThinning: rng.uniform(0, 0.18),
    membranousSeptum: rng.uniform(0.03, 0.16),
    lateralBoost: rng.uniform(0, 0.1),
    rimFalloff: rng.uniform(0.12, 0.3),
    rimStart: rng.uniform(0.9, 0.95),
    harmonics,
    blobs,
  };
}

function isoDate(rng: Rng): string {
  const start = Date.UTC(2016, 0, 4);
  const d = new Date(start + rng.int(0, 8 * 365) * 86400000);
  return d.toISOString().slice(0, 10);
}

/** Sample the scenario of one patient with the given label. */
export function sampleScenario(rng: Rng, label: Label, difficulty: Difficulty): Scenario {
  const prof = DIFFICULTY_PROFILES[difficulty];
  // CAD patients are older and more often men (typical referral population)
  const sex: 'F' | 'M' = rng.bool(label === 1 ? 0.68 : 0.45) ? 'M' : 'F';
  const age = Math.round(clamp(rng.normal(label === 1 ? 65 : 58, 9.5), 32, 89));
  const bmi = round1(clamp(rng.normal(28.5, 5), 18, 48));
  const variants: string[] = [];
  const normal = normalPattern(rng);
  if (normal.apicalThinning > 0.09) variants.push('apical_thinning');
  if (normal.membranousSeptum > 0.1) variants.push('membranous_septum');
  if (normal.lateralBoost > 0.06) variants.push('bright_lateral');

  let lesions: LesionPlan[] = [];
  let balancedDepth = 0;
  if (label === 1) {
    const u = rng.next();
    if (u < prof.balanced) {
      balancedDepth = rng.uniform(0.25, 0.45);
      lesions = (['LAD', 'LCx', 'RCA'] as const).map((vessel) => ({
        vessel,
        stenosis: Math.round(rng.uniform(75, 95)),
        site: 'proximal' as const,
        kind: 'ischaemia' as const,
        stressDepth: balancedDepth + rng.uniform(-0.02, 0.02),
        restDepth: 0,
        warp: { shiftDeg: 0, widthScale: 1 },
        radialCut: 1,
      }));
      variants.push('balanced_3vd');
    } else if (u < prof.balanced + prof.mildSingleVessel) {
      lesions = [planLesion(rng, pickVessels(rng, 1)[0], true)];
      variants.push('mild_single_vessel');
    } else {
      const v = rng.next();
      const n = v < 0.5 ? 1 : v < 0.8 ? 2 : 3;
      lesions = pickVessels(rng, n).map((vessel) => planLesion(rng, vessel, false));
    }
  }

  let lbbb = { stress: 0, rest: 0, centre: 270 };
  if (label === 0 && rng.bool(prof.lbbb)) {
    const d = rng.uniform(0.12, 0.26);
    lbbb = { stress: d, rest: d * rng.uniform(0.85, 1), centre: rng.normal(268, 6) };
    variants.push('lbbb');
  }

  const attenuation: AttenuationShadow[] = [];
  const bmiTerm = (bmi - 25) * 0.011;
  const s = prof.attenuationScale;
  if (sex === 'F') {
    if (rng.bool(0.88)) {
      const depth = clamp((0.07 + bmiTerm + rng.normal(0, 0.03)) * rng.uniform(0.6, 1.4) * s, 0.01, 0.38);
      attenuation.push({ centre: rng.normal(8, 14), halfWidth: rng.uniform(45, 75), depth, radial: 'broad' });
      if (depth > 0.05) variants.push('breast_attenuation');
    }
    if (rng.bool(0.25)) {
      const depth = clamp((0.04 + bmiTerm * 0.5 + rng.normal(0, 0.02)) * s, 0.01, 0.2);
      attenuation.push({
        centre: rng.normal(180, 8),
        halfWidth: rng.uniform(40, 60),
        depth,
        radial: 'basal',
      });
      if (depth > 0.05) variants.push('diaphragm_attenuation');
    }
  } else {
    if (rng.bool(0.85)) {
      const depth = clamp((0.08 + bmiTerm + rng.normal(0, 0.03)) * s, 0.01, 0.32);
      attenuation.push({
        centre: rng.normal(180, 10),
        halfWidth: rng.uniform(45, 70),
        depth,
        radial: 'basal',
      });
      if (depth > 0.05) variants.push('diaphragm_attenuation');
    }
  }

  const cs = prof.countScale;
  return {
    label,
    sex,
    age,
    bmi,
    lesions,
    variants,
    normal,
    lbbb,
    balancedDepth,
    attenuation,
    acResidual: rng.uniform(0.05, 0.15),
    attenuationJitter: { stress: rng.uniform(0.92, 1.08), rest: rng.uniform(0.92, 1.08) },
    // 1-day protocol: rest low dose, stress ~3x dose, but shorter stress acquisitions: ~1.5x counts
    countDensity: { stress: rng.uniform(45, 95) * cs, rest: rng.uniform(30, 65) * cs },
    studyDate: isoDate(rng),
  };
}
