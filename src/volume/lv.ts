/**
 * Finding the left ventricle in a SPECT volume and fitting its long axis, apex and valve plane.
 *
 * Method (after the automatic reorientation of Germano et al., J Nucl Med 1995;36:1107-1114, and
 * Slomka et al., J Nucl Cardiol 1995;2:390-398):
 * 1. smooth (Gaussian, 4 mm); erode the reconstruction's support to drop field-of-view edge streaks;
 * 2. threshold at several fractions of the hottest voxel; among the connected components of a
 *    plausible myocardial volume, keep the most LV-like: hot, hollow (its centre is the cavity,
 *    colder than its wall) and of LV size; liver and gut are solid and larger;
 * 3. long axis = the axis of the best-fitting cylinder (axis.ts: slab circles over a hemisphere of
 *    directions; a principal axis swings across short or broken ventricles), refined until stable as
 *    the line through the centres of the mid-wall points of short-axis rings;
 * 4. apical end = where the wall converges on the axis, weighed against the typical orientation;
 *    apex = where the axis leaves the cap (a sphere fitted to the cap's mid-wall points); radius =
 *    median mid-wall depth on rays of mid-ventricular rings;
 * 5. valve plane = where the rings' mean wall count falls below half of its mid-ventricular level.
 * Manual override: apex and base voxels, or the axis direction by two angles.
 */
import { InputError } from '../util/errors.js';
import { apexEnd, fitCylinderAxis, type WallPoint } from './axis.js';
import { components, erodedSupport, splitComponent, type Component } from './components.js';
import { WorldSampler, gaussianSmooth } from './filter.js';
import { shortAxisDirections, wallCentre, type LvFrame } from './rays.js';
import {
  WORLD,
  add,
  angleDeg,
  dot,
  norm,
  normalize,
  scale,
  sub,
  symmetricEigen3,
  voxelToWorld,
  type Vec3,
  type Volume,
} from './types.js';

export interface LvGeometry extends LvFrame {
  /** centre of the valve plane (world mm) */
  readonly base: Vec3;
  readonly method: 'auto' | 'manual-points' | 'manual-axis';
  /** threshold (fraction of the hottest smoothed voxel) of the chosen component; NaN if manual */
  readonly threshold: number;
  /** volume of the chosen component, mL; NaN if manual */
  readonly componentMl: number;
}

/** Manual override of the automatic fit. Points are voxel indices (i, j, k) of the volume. */
export interface LvOverride {
  readonly apexVoxel?: Vec3;
  readonly baseVoxel?: Vec3;
  /**
   * Long axis (base to apex) by angles in degrees: azimuth in the transaxial plane from the
   * patient's left towards anterior, elevation towards inferior (typical LV: 45, 30).
   */
  readonly axisAngles?: { readonly azimuthDeg: number; readonly elevationDeg: number };
}

export const SMOOTH_MM = 4;
/** thresholds, fractions of the hottest smoothed voxel (extra-cardiac activity can be hotter than the LV) */
const THRESHOLDS = Array.from({ length: 15 }, (_, i) => 0.8 - 0.05 * i);
const MIN_ML = 20;
const MAX_ML = 600;
/** largest component accepted when growing the seed to lower thresholds, mL */
const MAX_LV_ML = 350;
export const MIN_LENGTH_MM = 40;
export const MAX_LENGTH_MM = 140;
/** Typical LV long axis (base to apex): to the patient's left, anterior and inferior. */
const PRIOR_AXIS: Vec3 = normalize(add(add(WORLD.left, WORLD.anterior), scale(WORLD.superior, -1)));
/**
 * Weight of the typical orientation against the cap's evidence (difference of the ends' wall
 * distances, body radii) in choosing the apical end: an axis within 60 degrees of the typical one
 * needs evidence of 0.25 radius or more to be turned against it.
 */
const PRIOR_WEIGHT = 0.5;
/** most refinements of the axis by the surface (each stops once the axis moves under 0.2 degree) */
const MAX_REFINE = 8;

interface Candidate {
  readonly comp: Component;
  readonly threshold: number;
  /** the threshold in counts */
  readonly level: number;
  readonly score: number;
  readonly ml: number;
}

/** Count-weighted centroid and covariance of a component's voxels (world mm). */
function moments(
  vol: Volume,
  sm: Float32Array,
  comp: Component,
  t: number,
): { c: Vec3; cov: number[]; w: number } {
  const [nx, ny] = vol.dims;
  let w = 0;
  const c = [0, 0, 0];
  const pts: [Vec3, number][] = [];
  for (const p of comp.voxels) {
    const q = voxelToWorld(vol.affine, p % nx, Math.floor(p / nx) % ny, Math.floor(p / (nx * ny)));
    const wt = Math.max(1e-6, sm[p] - t);
    pts.push([q, wt]);
    w += wt;
    for (let a = 0; a < 3; a++) c[a] += wt * q[a];
  }
  for (let a = 0; a < 3; a++) c[a] /= w;
  const cov = new Array<number>(9).fill(0);
  for (const [q, wt] of pts)
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++) cov[a * 3 + b] += (wt * (q[a] - c[a]) * (q[b] - c[b])) / w;
  return { c: c as unknown as Vec3, cov, w };
}

/**
 * LV-likeness of a component: of myocardial size and hollow (its count-weighted centre lies in
 * the cavity, colder than its wall); null if not LV-like. `score` ranks seeds: hot and hollow.
 */
function evaluate(
  vol: Volume,
  sm: Float32Array,
  samp: WorldSampler,
  comp: Component,
  t: number,
  max: number,
): Candidate | null {
  const voxMl = (vol.spacing[0] * vol.spacing[1] * vol.spacing[2]) / 1000;
  const ml = comp.voxels.length * voxMl;
  if (ml < MIN_ML || ml > MAX_ML) return null;
  let sum = 0;
  for (const p of comp.voxels) sum += sm[p];
  const mean = sum / comp.voxels.length;
  const { c, cov } = moments(vol, sm, comp, t);
  const { values } = symmetricEigen3(cov);
  const hollow = samp.at(c[0], c[1], c[2]) / mean;
  const extent = Math.sqrt(Math.max(0, values[0]));
  if (extent < 8 || extent > 45 || hollow > 0.85) return null;
  return { comp, threshold: t / max, level: t, score: (mean / max) * (1 - hollow), ml };
}

function chooseComponent(vol: Volume, sm: Volume): Candidate {
  const support = erodedSupport(vol, Math.max(1, Math.round(8 / Math.min(...vol.spacing))));
  let max = 0;
  for (let p = 0; p < sm.data.length; p++) if (support[p] && sm.data[p] > max) max = sm.data[p];
  if (!(max > 0))
    throw new InputError(`${vol.source}: the volume is empty (no counts): no left ventricle found`);
  const samp = new WorldSampler(sm);
  const voxMl = (vol.spacing[0] * vol.spacing[1] * vol.spacing[2]) / 1000;
  const found: Candidate[] = [];
  for (const f of THRESHOLDS) {
    const t = f * max;
    const mask = new Uint8Array(sm.data.length);
    for (let p = 0; p < mask.length; p++) mask[p] = support[p] && sm.data[p] >= t ? 1 : 0;
    for (const comp of components(mask, vol.dims, Math.ceil(MIN_ML / voxMl))) {
      const ml = comp.voxels.length * voxMl;
      const pieces =
        ml > MAX_LV_ML && ml < 20 * MAX_LV_ML
          ? [comp, ...splitComponent(comp, vol.dims, Math.ceil(5 / voxMl))]
          : [comp];
      for (const piece of pieces) {
        const cand = evaluate(vol, sm.data, samp, piece, t, max);
        if (cand) found.push(cand);
      }
    }
  }
  if (found.length === 0)
    throw new InputError(
      `${vol.source}: no left ventricle found (no hot, hollow structure of myocardial size)`,
    );
  // the seed: the hottest, most hollow candidate; then the same structure at the lowest threshold
  // that still looks like an LV (components at lower thresholds contain those at higher ones)
  const seed = found.reduce((a, b) => (b.score > a.score ? b : a));
  const inSeed = seed.comp.voxels[Math.floor(seed.comp.voxels.length / 2)];
  let best = seed;
  for (const c of found)
    if (c.threshold < best.threshold && c.ml <= MAX_LV_ML && c.comp.voxels.includes(inSeed)) best = c;
  return best;
}

/** Principal direction of weighted points. */
function principal(points: readonly { p: Vec3; w: number }[]): { c: Vec3; u: Vec3 } {
  let w = 0;
  const c = [0, 0, 0];
  for (const q of points) {
    w += q.w;
    for (let a = 0; a < 3; a++) c[a] += q.w * q.p[a];
  }
  for (let a = 0; a < 3; a++) c[a] /= w;
  const cov = new Array<number>(9).fill(0);
  for (const q of points)
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++) cov[a * 3 + b] += (q.w * (q.p[a] - c[a]) * (q.p[b] - c[b])) / w;
  return { c: c as unknown as Vec3, u: symmetricEigen3(cov).vectors[0] };
}

/** The component's voxels as weighted wall points (world mm; weight = smoothed count above `level`). */
function wallPoints(vol: Volume, sm: Float32Array, comp: Component, level: number): WallPoint[] {
  const [nx, ny] = vol.dims;
  return Array.from(comp.voxels, (p) => ({
    p: voxelToWorld(vol.affine, p % nx, Math.floor(p / nx) % ny, Math.floor(p / (nx * ny))),
    w: Math.max(1e-6, sm[p] - level),
  }));
}

function quantile(a: readonly number[], q: number): number {
  const s = a.slice().sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

function median(a: number[]): number {
  const s = a.slice().sort((x, y) => x - y);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
}

/** Mean ring maximum at axial distance d from the apex, and the median depth of the maxima. */
function ring(
  s: WorldSampler,
  apex: Vec3,
  u: Vec3,
  d: number,
  reach: number,
  expected?: number,
): { value: number; depth: number } {
  const { anterior, lateral } = shortAxisDirections(u);
  const o = sub(apex, scale(u, d));
  let sum = 0;
  const depths: number[] = [];
  for (let k = 0; k < 36; k++) {
    const th = (k * Math.PI) / 18;
    const e = add(scale(anterior, Math.cos(th)), scale(lateral, Math.sin(th)));
    const r = wallCentre(s, o, e, 2, reach, 0.5, 0.5, expected);
    sum += r.value;
    depths.push(r.depth);
  }
  return { value: sum / 36, depth: median(depths) };
}

/** polar angles (degrees from the axis) of the rays that sample the apical cap */
const CAP_POLAR_DEG = [0, 15, 30, 45, 60];
const CAP_AZIMUTHS = 12;

/**
 * Mid-wall apex: where the axis leaves the apical cap. Rays from the cap's centre (the body's
 * radius behind `near`, within 60 degrees of the axis) find the cap's mid-wall points (wall
 * centres, power 1: a sphere seen from its centre); a sphere with its centre on the axis is fitted
 * to them by weighted least squares (weight = squared peak count, so that a defect's faint wall
 * counts little): with z the position along the axis and rho the distance from it,
 * z^2 + rho^2 = 2 s z + (rc^2 - s^2) is linear in the centre's shift s and rc^2 - s^2. The apex is
 * the centre + rc along the axis. A fit with rc outside 0.5-1.5 body radii, or an apex more than
 * one radius from `near`, falls back on the wall centre on the axis.
 */
function capApex(s: WorldSampler, near: Vec3, u: Vec3, radius: number): Vec3 {
  const cc = sub(near, scale(u, radius));
  const onAxis = add(cc, scale(u, wallCentre(s, cc, u, 0.3 * radius, radius + 30, 1, 0.5, radius).depth));
  const { anterior, lateral } = shortAxisDirections(u);
  let a11 = 0,
    a12 = 0,
    a22 = 0,
    b1 = 0,
    b2 = 0;
  for (const polar of CAP_POLAR_DEG) {
    const ph = (polar * Math.PI) / 180;
    for (let k = 0; k < (polar === 0 ? 1 : CAP_AZIMUTHS); k++) {
      const th = (2 * Math.PI * k) / CAP_AZIMUTHS;
      const e = add(scale(anterior, Math.cos(th)), scale(lateral, Math.sin(th)));
      const dir = add(scale(u, Math.cos(ph)), scale(e, Math.sin(ph)));
      const r = wallCentre(s, cc, dir, 0.3 * radius, radius + 30, 1, 0.5, radius);
      const z = r.depth * Math.cos(ph);
      const rho = r.depth * Math.sin(ph);
      const w = r.value * r.value * (polar === 0 ? CAP_AZIMUTHS : 1);
      // unknowns [s, k]: 2 z s + k = z^2 + rho^2
      const y = z * z + rho * rho;
      a11 += w * 4 * z * z;
      a12 += w * 2 * z;
      a22 += w;
      b1 += w * 2 * z * y;
      b2 += w * y;
    }
  }
  const det = a11 * a22 - a12 * a12;
  if (!(Math.abs(det) > 1e-9)) return onAxis;
  const shift = (b1 * a22 - a12 * b2) / det;
  const rc = Math.sqrt(Math.max(0, (a11 * b2 - a12 * b1) / det + shift * shift));
  const apex = add(cc, scale(u, shift + rc));
  if (!(rc >= 0.5 * radius && rc <= 1.5 * radius) || Math.abs(shift + rc - radius) > radius) return onAxis;
  return apex;
}

/**
 * The cap's peak on the axis: from the point `c` in the body along `u`, past the cavity's
 * minimum, the highest smoothed count up to `reach` mm (the apical wall, however faint).
 */
function capPeakOnAxis(s: WorldSampler, c: Vec3, u: Vec3, cavityTo: number, reach: number): Vec3 {
  const at = (t: number): number => s.at(c[0] + t * u[0], c[1] + t * u[1], c[2] + t * u[2]);
  let tMin = 0;
  for (let t = 0; t <= cavityTo; t += 1) if (at(t) < at(tMin)) tMin = t;
  let tMax = tMin;
  for (let t = tMin; t <= reach; t += 1) if (at(t) > at(tMax)) tMax = t;
  return add(c, scale(u, tMax));
}

/**
 * Refine the axis from the fitted surface: the line through the centres of the mid-wall points of
 * short-axis rings (body, 30-85% of the length), then the apex, radius and valve plane again.
 */
function refineBySurface(
  s: WorldSampler,
  apex0: Vec3,
  u0: Vec3,
  extent: number,
  moveAxis: boolean,
  radius0?: number,
): { apex: Vec3; u: Vec3; radius: number; length: number } {
  let u = u0;
  let { radius, length } = fitAlongAxis(s, apex0, u, extent, radius0);
  let near = apex0;
  let apex = capApex(s, near, u, radius);
  for (let iter = 0, moved = Infinity; iter < (moveAxis ? MAX_REFINE : 1) && moved > 0.2; iter++) {
    if (moveAxis) {
      const { anterior, lateral } = shortAxisDirections(u);
      const centres: { p: Vec3; w: number }[] = [];
      for (let f = 0.3; f <= 0.851; f += 0.05) {
        const o = sub(apex, scale(u, f * length));
        let m: Vec3 = [0, 0, 0];
        for (let k = 0; k < 36; k++) {
          const th = (k * Math.PI) / 18;
          const e = add(scale(anterior, Math.cos(th)), scale(lateral, Math.sin(th)));
          m = add(m, add(o, scale(e, wallCentre(s, o, e, 2, radius + 22, 0.5, 0.5, radius).depth)));
        }
        centres.push({ p: scale(m, 1 / 36), w: 1 });
      }
      const line = principal(centres);
      const nu = dot(line.u, u) < 0 ? scale(line.u, -1) : line.u;
      if (angleDeg(nu, u0) > 30) break;
      moved = angleDeg(nu, u);
      u = nu;
      // the apex's and the cap peak's projections on the new line (the cap is found again from
      // the same peak each time, so that the apex cannot creep along the axis)
      apex = add(line.c, scale(u, dot(sub(apex, line.c), u)));
      near = add(line.c, scale(u, dot(sub(near, line.c), u)));
    }
    ({ radius, length } = fitAlongAxis(s, apex, u, extent, radius));
    apex = capApex(s, near, u, radius);
  }
  return { apex, u, radius, length };
}

/** Radius and valve plane along a given axis through `apex` (see the module comment, steps 4-5). */
function fitAlongAxis(
  s: WorldSampler,
  apex: Vec3,
  u: Vec3,
  extent: number,
  expected?: number,
): { radius: number; length: number } {
  const mids = [0.35, 0.45, 0.55, 0.65].map((f) => ring(s, apex, u, f * extent, 45, expected));
  const radius = median(mids.map((m) => m.depth));
  const level = median(mids.map((m) => m.value));
  let length = extent;
  let prev = ring(s, apex, u, 0.5 * extent, radius + 12, radius).value;
  for (let d = 0.5 * extent + 2; d <= Math.max(extent + 40, MAX_LENGTH_MM); d += 2) {
    const v = ring(s, apex, u, d, radius + 12, radius).value;
    if (v < 0.5 * level) {
      length = d - 2 + 2 * Math.min(1, Math.max(0, (prev - 0.5 * level) / Math.max(1e-9, prev - v)));
      break;
    }
    prev = v;
  }
  return { radius, length };
}

function checkGeometry(vol: Volume, g: { radius: number; length: number }): void {
  if (!(g.length >= MIN_LENGTH_MM && g.length <= MAX_LENGTH_MM))
    throw new InputError(
      `${vol.source}: the fitted LV is ${g.length.toFixed(0)} mm long (expected ${MIN_LENGTH_MM}-${MAX_LENGTH_MM} mm): check the volume, or give the apex and base by hand`,
    );
  if (!(g.radius >= 8 && g.radius <= 45))
    throw new InputError(
      `${vol.source}: the fitted LV has a ${g.radius.toFixed(0)} mm mid-wall radius (expected 8-45 mm): check the volume, or give the apex and base by hand`,
    );
}

function frameOf(apex: Vec3, u: Vec3, radius: number, length: number): LvFrame & { base: Vec3 } {
  const { anterior, lateral } = shortAxisDirections(u);
  return { apex, axis: u, anterior, lateral, radius, length, base: sub(apex, scale(u, length)) };
}

/** The axis direction of `axisAngles` (see `LvOverride`). */
export function axisFromAngles(azimuthDeg: number, elevationDeg: number): Vec3 {
  const az = (azimuthDeg * Math.PI) / 180;
  const el = (elevationDeg * Math.PI) / 180;
  const inPlane = add(scale(WORLD.left, Math.cos(az)), scale(WORLD.anterior, Math.sin(az)));
  return normalize(add(scale(inPlane, Math.cos(el)), scale(WORLD.superior, -Math.sin(el))));
}

function manualPoints(vol: Volume, s: WorldSampler, o: LvOverride): LvGeometry {
  const apex = voxelToWorld(vol.affine, ...(o.apexVoxel as Vec3));
  const base = voxelToWorld(vol.affine, ...(o.baseVoxel as Vec3));
  const length = norm(sub(apex, base));
  if (length < 1) throw new InputError(`${vol.source}: the manual apex and base are the same point`);
  const u = normalize(sub(apex, base));
  const radius = median([0.35, 0.5, 0.65].map((f) => ring(s, apex, u, f * length, 45).depth));
  const g = {
    ...frameOf(apex, u, radius, length),
    method: 'manual-points' as const,
    threshold: NaN,
    componentMl: NaN,
  };
  checkGeometry(vol, g);
  return g;
}

/**
 * Find the LV and fit its geometry (see the module comment).
 * @throws InputError naming the volume: no LV found, implausible length or radius.
 * @example
 *   const g = fitLeftVentricle(await readVolume('rest.nii.gz'));
 *   g.length; // ~ 80 mm
 */
export function fitLeftVentricle(vol: Volume, override: LvOverride = {}): LvGeometry {
  const sm = gaussianSmooth(vol, SMOOTH_MM);
  const s = new WorldSampler(sm);
  if (override.apexVoxel && override.baseVoxel) return manualPoints(vol, s, override);
  const best = chooseComponent(vol, sm);
  const pts = wallPoints(vol, sm.data, best.comp, best.level);
  const cyl = fitCylinderAxis(pts);
  let u = cyl.u;
  if (override.axisAngles)
    u = axisFromAngles(override.axisAngles.azimuthDeg, override.axisAngles.elevationDeg);
  else {
    const end = apexEnd(pts, cyl);
    const sign = end.sign * end.evidence + PRIOR_WEIGHT * dot(u, PRIOR_AXIS) >= 0 ? 1 : -1;
    u = scale(u, sign);
  }
  const ts = pts.map((q) => dot(sub(q.p, cyl.c), u));
  const hiT = quantile(ts, 0.98);
  const loT = quantile(ts, 0.02);
  const near = capPeakOnAxis(s, cyl.c, u, hiT, hiT + 30);
  const fit = refineBySurface(s, near, u, hiT - loT, !override.axisAngles, cyl.radius);
  const g: LvGeometry = {
    ...frameOf(fit.apex, fit.u, fit.radius, fit.length),
    method: override.axisAngles ? 'manual-axis' : 'auto',
    threshold: best.threshold,
    componentMl: best.ml,
  };
  checkGeometry(vol, g);
  return g;
}
