/**
 * Sampling a volume into the bull's-eye: the maximum count along rays normal to the myocardium
 * (cylindrical body plus spherical apical cap, `rays.ts`) on a grid of axial distances and clock
 * angles, normalised to the myocardial maximum and resampled onto the polar-map raster with the
 * project's 17-segment geometry (`src/polarmap/geometry.ts`: apex at the centre, valve plane at
 * the rim, axial distance linear in radius; anterior up, septum left). This is the circumferential
 * count-profile sampling of clinical polar maps (Garcia et al., J Nucl Med 1985;26:17-26;
 * Germano et al., J Nucl Med 1995;36:1107-1114).
 */
import { createUptakeMap, type UptakeMap } from '../domain/image.js';
import { clockAngleDeg, normalisedRadius } from '../polarmap/geometry.js';
import { WorldSampler, gaussianSmooth } from './filter.js';
import { rayAt, rayMax, searchRange, type LvFrame } from './rays.js';
import type { Volume } from './types.js';

/** Axial steps (apex to valve plane, inclusive) and clock angles of the sampling grid. */
export const N_AXIAL = 64;
export const N_ANGLES = 120;
/** Search beyond the mid-wall radius, mm. */
export const RAY_MARGIN_MM = 14;
/** Light smoothing before taking maxima (limits the upward bias of a maximum of noisy samples). */
export const SAMPLE_SMOOTH_MM = 2.5;

export interface RayGrid {
  readonly nAxial: number;
  readonly nAngles: number;
  /** maximum count per (axial step, angle), row-major by axial step */
  readonly counts: Float32Array;
  /** depth (mm from the ray origin) of each maximum */
  readonly depth: Float32Array;
  /** largest count on the grid (the myocardial maximum) */
  readonly max: number;
}

/**
 * Sample the rays of the grid. Step a in 0..nAxial-1 is at axial distance d = a / (nAxial - 1) * L.
 * @example
 *   const grid = sampleRays(vol, fitLeftVentricle(vol));
 */
export function sampleRays(vol: Volume, f: LvFrame, nAxial = N_AXIAL, nAngles = N_ANGLES): RayGrid {
  const s = new WorldSampler(gaussianSmooth(vol, SAMPLE_SMOOTH_MM));
  const counts = new Float32Array(nAxial * nAngles);
  const depth = new Float32Array(nAxial * nAngles);
  const { lo, hi } = searchRange(f, RAY_MARGIN_MM);
  let max = 0;
  for (let a = 0; a < nAxial; a++) {
    const d = (a / (nAxial - 1)) * f.length;
    for (let k = 0; k < nAngles; k++) {
      const { origin, dir } = rayAt(f, d, (k * 360) / nAngles);
      const r = rayMax(s, origin, dir, lo, hi, 1);
      counts[a * nAngles + k] = r.value;
      depth[a * nAngles + k] = r.depth;
      if (r.value > max) max = r.value;
    }
  }
  return { nAxial, nAngles, counts, depth, max };
}

/** Bilinear value of a grid array at fractional axial step fa and angle (degrees, periodic). */
export function gridValue(g: RayGrid, arr: Float32Array, fa: number, thetaDeg: number): number {
  const a0 = Math.max(0, Math.min(g.nAxial - 1, Math.floor(fa)));
  const a1 = Math.min(g.nAxial - 1, a0 + 1);
  const wa = Math.max(0, Math.min(1, fa - a0));
  const ft = ((((thetaDeg % 360) + 360) % 360) / 360) * g.nAngles;
  const k0 = Math.floor(ft) % g.nAngles;
  const k1 = (k0 + 1) % g.nAngles;
  const wk = ft - Math.floor(ft);
  const v = (a: number, k: number): number => arr[a * g.nAngles + k];
  return (1 - wa) * ((1 - wk) * v(a0, k0) + wk * v(a0, k1)) + wa * ((1 - wk) * v(a1, k0) + wk * v(a1, k1));
}

/**
 * The polar map (size x size, disc inscribed, `UptakeMap` convention) of a ray grid: raw counts
 * and relative uptake (counts / myocardial maximum).
 */
export function gridToPolarMap(g: RayGrid, size: number): { uptake: UptakeMap; counts: Float32Array } {
  const uptake = createUptakeMap(size);
  const counts = new Float32Array(size * size);
  const c = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = normalisedRadius(x, y, size);
      if (r > 1) continue;
      const v = gridValue(g, g.counts, r * (g.nAxial - 1), clockAngleDeg(x - c, y - c));
      counts[y * size + x] = v;
      uptake.data[y * size + x] = g.max > 0 ? Math.min(1, v / g.max) : 0;
    }
  }
  return { uptake, counts };
}
