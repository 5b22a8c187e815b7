/**
 * The digital phantom: turns a `Scenario` into noise-free relative-uptake fields, one per view,
 * on the inside pixels of a `PolarGrid`. Everything is multiplicative on a normal LV pattern:
 *
 *   F(view) = N(r, theta) * P(phase) * A(view)
 *
 * N = normal pattern and variants, P = perfusion (coronary lesions, LBBB, balanced disease) at
 * stress or rest, A = attenuation (full in NAC, a small residual after AC). Parameters: docs/synth.md.
 */
import { VIEW_PARTS, type Phase, type View } from '../domain/views.js';
import { DEFAULT_TERRITORIES } from '../polarmap/territories.js';
import { angularWindow, type PolarGrid, sigmoid } from './polar-grid.js';
import type { AttenuationShadow, NormalPattern, Scenario } from './scenario.js';
import { territoryMembership, territoryShape } from './territory-field.js';

/** The fields of one patient (Float64Array over `grid.inside`). */
export interface PhantomFields {
  /** F(view): what the scanner would see without noise or blur */
  readonly views: Readonly<Record<View, Float64Array>>;
  /** the same patient without disease or LBBB (reference for the true scores) */
  readonly reference: Readonly<Record<View, Float64Array>>;
}

const DEG = Math.PI / 180;

/** N(r, theta): the normal LV with its variants and heterogeneity. */
export function normalField(grid: PolarGrid, p: NormalPattern): Float64Array {
  const n = grid.r.length;
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const r = grid.r[k];
    const t = grid.theta[k];
    const u = r * Math.sin(t * DEG);
    const v = -r * Math.cos(t * DEG);
    let f = 1;
    // apical thinning: the apex is anatomically thinner (partial-volume effect)
    f *= 1 - p.apicalThinning * Math.exp(-((r / 0.3) ** 2));
    // membranous septum: lower uptake of the basal septum (segments 2-3)
    f *= 1 - p.membranousSeptum * sigmoid((r - 0.78) / 0.04) * angularWindow(t, 268, 42, 10);
    // brighter lateral wall (it is closest to the camera orbit's best arc and thickest)
    f *= 1 + p.lateralBoost * angularWindow(t, 95, 50, 20) * (0.5 + 0.5 * sigmoid((r - 0.3) / 0.1));
    // falloff at the very rim: the base (valve plane) is partially sampled
    f *= 1 - p.rimFalloff * sigmoid((r - p.rimStart) / 0.025);
    // mild heterogeneity: low-order angular harmonics and a few soft blobs
    let h = 0;
    for (const hm of p.harmonics)
      h += hm.amp * Math.cos(hm.k * t * DEG + hm.phase) * (1 + hm.radial * (r - 0.5));
    for (const b of p.blobs) {
      const bu = b.r * Math.sin(b.theta * DEG);
      const bv = -b.r * Math.cos(b.theta * DEG);
      const d2 = (u - bu) ** 2 + (v - bv) ** 2;
      h += b.amp * Math.exp(-d2 / (2 * b.sigma * b.sigma));
    }
    out[k] = f * (1 + h);
  }
  return out;
}

/** P(phase): perfusion multiplier from lesions, balanced disease and LBBB. */
export function perfusionField(grid: PolarGrid, s: Scenario, phase: Phase): Float64Array {
  const n = grid.r.length;
  const out = new Float64Array(n).fill(1);
  if (s.balancedDepth > 0) {
    // balanced three-vessel disease: a global reduction at stress, with only tiny (<3%) relative
    // differences between territories, so normalising to the maximum hides it
    if (phase === 'stress') {
      const shapes = s.lesions.map((l) => territoryShape(l.vessel, DEFAULT_TERRITORIES));
      const jitter = s.lesions.map((l) => s.balancedDepth - l.stressDepth);
      for (let k = 0; k < n; k++) {
        let j = 0;
        for (let i = 0; i < shapes.length; i++)
          j += jitter[i] * territoryMembership(shapes[i], grid.r[k], grid.theta[k]);
        out[k] = (1 - s.balancedDepth) * (1 + j);
      }
    }
  } else {
    for (const l of s.lesions) {
      const depth = phase === 'stress' ? l.stressDepth : l.restDepth;
      if (depth <= 0) continue;
      const shape = territoryShape(l.vessel, DEFAULT_TERRITORIES);
      for (let k = 0; k < n; k++) {
        const r = grid.r[k];
        const radial = l.site === 'proximal' ? 1 : sigmoid((l.radialCut - r) / 0.045);
        if (radial < 1e-4) continue;
        const m = territoryMembership(shape, r, grid.theta[k], l.warp);
        out[k] *= 1 - depth * m * radial;
      }
    }
  }
  const lb = phase === 'stress' ? s.lbbb.stress : s.lbbb.rest;
  if (lb > 0) {
    for (let k = 0; k < n; k++) {
      const r = grid.r[k];
      const w =
        angularWindow(grid.theta[k], s.lbbb.centre, 50, 12) *
        sigmoid((r - 0.28) / 0.05) *
        (1 - 0.5 * sigmoid((r - 0.85) / 0.04));
      out[k] *= 1 - lb * w;
    }
  }
  return out;
}

function shadowWeight(sh: AttenuationShadow, r: number, theta: number): number {
  const ang = angularWindow(theta, sh.centre, sh.halfWidth, sh.radial === 'broad' ? 18 : 15);
  const rad = sh.radial === 'broad' ? sigmoid((r - 0.15) / 0.08) : sigmoid((r - 0.4) / 0.12);
  return ang * rad;
}

/** Fractional photon loss a(r, theta) in [0, 1) from all attenuation shadows (before AC). */
export function attenuationLoss(grid: PolarGrid, s: Scenario): Float64Array {
  const n = grid.r.length;
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let keep = 1;
    for (const sh of s.attenuation) keep *= 1 - sh.depth * shadowWeight(sh, grid.r[k], grid.theta[k]);
    out[k] = 1 - keep;
  }
  return out;
}

/** All noise-free fields of one patient. */
export function phantomFields(grid: PolarGrid, s: Scenario): PhantomFields {
  const N = normalField(grid, s.normal);
  const P: Record<Phase, Float64Array> = {
    stress: perfusionField(grid, s, 'stress'),
    rest: perfusionField(grid, s, 'rest'),
  };
  const a = attenuationLoss(grid, s);
  const n = N.length;
  const views = {} as Record<View, Float64Array>;
  const reference = {} as Record<View, Float64Array>;
  for (const view of ['stress_ac', 'rest_ac', 'stress_nac', 'rest_nac'] as const) {
    const { phase, ac } = VIEW_PARTS[view];
    const scale = s.attenuationJitter[phase] * (ac ? s.acResidual : 1);
    const f = new Float64Array(n);
    const ref = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const att = 1 - Math.min(0.95, a[k] * scale);
      ref[k] = N[k] * att;
      f[k] = ref[k] * P[phase][k];
    }
    views[view] = f;
    reference[view] = ref;
  }
  return { views, reference };
}
