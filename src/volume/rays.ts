/**
 * The LV coordinate frame and ray sampling shared by fitting, polar-map sampling, masks and QC.
 *
 * Frame (all world mm, RAS+): `axis` points from the valve plane (base) to the apex; `anterior`
 * is the patient's anterior direction projected onto the short-axis plane; `lateral` completes
 * the short-axis plane towards the patient's left (the lateral wall). Clock angle theta (degrees,
 * as the polar map: 0 anterior, 90 lateral, 180 inferior, 270 septal) gives the short-axis
 * direction e(theta) = cos(theta) anterior + sin(theta) lateral.
 *
 * Surface model (the hybrid sampling of clinical tools, e.g. Germano et al., J Nucl Med
 * 1995;36:1107-1114, and the Cedars-Sinai QPS): a cylindrical body from the valve plane to the
 * centre of an apical cap, and a spherical cap of the body's radius. A point at axial distance d
 * from the apex (0 = apex, L = valve plane) is reached by a ray normal to the myocardium: from the
 * axis, perpendicular to it, in the body; from the cap's centre in the cap.
 */
import type { WorldSampler } from './filter.js';
import { WORLD, add, cross, dot, normalize, scale, sub, type Vec3 } from './types.js';

export interface LvFrame {
  /** mid-wall apex, world mm */
  readonly apex: Vec3;
  /** unit vector from base to apex */
  readonly axis: Vec3;
  readonly anterior: Vec3;
  readonly lateral: Vec3;
  /** apex to valve plane, mm */
  readonly length: number;
  /** mid-wall radius of the body (and of the apical cap), mm */
  readonly radius: number;
}

/** Anterior and lateral directions of a long axis (see the module comment). */
export function shortAxisDirections(axis: Vec3): { anterior: Vec3; lateral: Vec3 } {
  const u = normalize(axis);
  let a = sub(WORLD.anterior, scale(u, dot(WORLD.anterior, u)));
  if (Math.hypot(...a) < 1e-6) a = sub(WORLD.superior, scale(u, dot(WORLD.superior, u)));
  const anterior = normalize(a);
  let lateral = normalize(cross(u, anterior));
  if (dot(lateral, WORLD.left) < 0) lateral = scale(lateral, -1);
  return { anterior, lateral };
}

export function clockDirection(f: LvFrame, thetaDeg: number): Vec3 {
  const t = (thetaDeg * Math.PI) / 180;
  return add(scale(f.anterior, Math.cos(t)), scale(f.lateral, Math.sin(t)));
}

/** Cap radius: the body radius, at most half the length. */
export const capRadius = (f: LvFrame): number => Math.min(f.radius, 0.5 * f.length);

/** Origin and unit direction of the ray normal to the myocardium at axial distance d, angle theta. */
export function rayAt(f: LvFrame, d: number, thetaDeg: number): { origin: Vec3; dir: Vec3 } {
  const e = clockDirection(f, thetaDeg);
  const rc = capRadius(f);
  if (d < rc) {
    const cosPhi = Math.max(-1, Math.min(1, (rc - d) / rc));
    const sinPhi = Math.sqrt(1 - cosPhi * cosPhi);
    const origin = sub(f.apex, scale(f.axis, rc));
    return { origin, dir: add(scale(f.axis, cosPhi), scale(e, sinPhi)) };
  }
  return { origin: sub(f.apex, scale(f.axis, d)), dir: e };
}

/** Maximum of the volume along a ray between distances lo and hi (mm), and where it is. */
export function rayMax(
  s: WorldSampler,
  origin: Vec3,
  dir: Vec3,
  lo: number,
  hi: number,
  step = 1,
): { value: number; depth: number } {
  let best = -Infinity;
  let depth = lo;
  for (let t = lo; t <= hi + 1e-9; t += step) {
    const v = s.at(origin[0] + t * dir[0], origin[1] + t * dir[1], origin[2] + t * dir[2]);
    if (v > best) {
      best = v;
      depth = t;
    }
  }
  return { value: best, depth };
}

/** Search range along a ray (mm from its origin): inner cavity to beyond the outer wall. */
export function searchRange(f: LvFrame, margin: number): { lo: number; hi: number } {
  return { lo: Math.max(0, 0.3 * f.radius), hi: f.radius + margin };
}

/**
 * Centre of the wall crossed by a ray: the count-weighted mean depth over the peak's contiguous
 * run above half its maximum (stopping at a valley), each sample weighted by depth^power.
 * Blurring a curved wall moves its count maximum towards the centre of curvature; weighting by
 * depth (power 1 for a sphere seen from its centre, 0.5 for a cylinder seen from its axis) undoes
 * that to first order. With `expected` (mm), the peak is the local maximum that best combines
 * height and nearness to it (Gaussian preference, 12 mm), so that a hotter liver or gut further
 * along the ray is not taken for the wall (with no interior maximum, the sample at `expected`);
 * otherwise the ray's maximum.
 */
export function wallCentre(
  s: WorldSampler,
  origin: Vec3,
  dir: Vec3,
  lo: number,
  hi: number,
  power: number,
  step = 0.5,
  expected?: number,
): { value: number; depth: number } {
  const vals: number[] = [];
  for (let t = lo; t <= hi + 1e-9; t += step)
    vals.push(s.at(origin[0] + t * dir[0], origin[1] + t * dir[1], origin[2] + t * dir[2]));
  const k = peakIndex(vals, lo, step, expected);
  const half = 0.5 * vals[k];
  let a = k;
  let b = k;
  while (a > 0 && vals[a - 1] >= half && vals[a - 1] <= vals[a]) a--;
  while (b < vals.length - 1 && vals[b + 1] >= half && vals[b + 1] <= vals[b]) b++;
  let sw = 0;
  let st = 0;
  for (let i = a; i <= b; i++) {
    const t = lo + i * step;
    const w = vals[i] * Math.pow(Math.max(t, 1e-3), power);
    sw += w;
    st += w * t;
  }
  return { value: vals[k], depth: sw > 0 ? st / sw : lo + k * step };
}

/** Index of the ray's wall peak (see `wallCentre`). */
function peakIndex(vals: readonly number[], lo: number, step: number, expected?: number): number {
  let k = 0;
  for (let i = 1; i < vals.length; i++) if (vals[i] > vals[k]) k = i;
  if (expected === undefined) return k;
  // an interior local maximum only (a profile still rising at the end of the ray is no wall: there,
  // the sample nearest the expected depth)
  k = Math.min(vals.length - 1, Math.max(0, Math.round((expected - lo) / step)));
  let best = -Infinity;
  for (let i = 1; i < vals.length - 1; i++) {
    const isMax = vals[i] >= vals[i - 1] && vals[i] >= vals[i + 1];
    if (!isMax) continue;
    const score = vals[i] * Math.exp(-(((lo + i * step - expected) / 12) ** 2));
    if (score > best) {
      best = score;
      k = i;
    }
  }
  return k;
}
