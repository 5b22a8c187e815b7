/**
 * Long-axis search by fitting a cylinder to the myocardium, and the choice of its apical end.
 *
 * The first principal axis of the myocardium (PCA, Germano et al., J Nucl Med 1995;36:1107-1114)
 * is ambiguous for a short, wide ventricle (a cylinder shell of length L and radius R has axial
 * and transverse spreads L^2/12 and R^2/2, equal at L = 2.4 R) and swings across when a defect
 * breaks the wall. The long axis is instead the direction along which the myocardium projects
 * onto rings: for each direction on a hemisphere, the wall points of the central part of the
 * ventricle, cut into slabs along it, are projected onto the perpendicular plane and a circle is
 * fitted to each slab (algebraic fit, Kasa, IEEE Trans Instrum Meas 1976;25:8-14); the direction
 * with the smallest root mean square distance of the points from their circles wins, then it is
 * polished by a shrinking pattern search. Each
 * slab has its own circle (the wall narrows towards the apex), so a tilt of a few degrees changes
 * the score little: this is a coarse axis (within a few degrees), which the fit of the mid-wall
 * surface then refines (lv.ts). The cylinder is the body of the cylinder-plus-cap surface that
 * clinical tools fit (Germano 1995).
 *
 * Apical end: the cap closes the ventricle, so the wall converges on the axis at the apex and stays
 * at the body's radius up to the open valve plane. That evidence is weighed against the typical
 * orientation (to the patient's left, anterior and inferior) in lv.ts.
 */
import { add, cross, dot, normalize, scale, sub, type Vec3 } from './types.js';
import { fitCircle } from '../util/circle-fit.js';

/** A weighted point of the myocardium (world mm). */
export interface WallPoint {
  readonly p: Vec3;
  readonly w: number;
}

export interface CylinderFit {
  /** a point on the axis (the centre of the fitted circle at the middle of the band), world mm */
  readonly c: Vec3;
  /** unit axis direction (sign arbitrary) */
  readonly u: Vec3;
  readonly radius: number;
  /** root mean square distance of the band's points from the fitted circle, mm */
  readonly rms: number;
}

/** half-width of the band used for the circle fits, in standard deviations along the axis */
const BAND_SD = 1.2;
/** slabs of the band, each with its own circle */
const SLABS = 4;

/** `n` unit vectors spread evenly over the hemisphere z >= 0 (a Fibonacci lattice). */
export function hemisphere(n: number): Vec3[] {
  const golden = Math.PI * (3 - Math.sqrt(5));
  return Array.from({ length: n }, (_, i) => {
    const z = 1 - (i + 0.5) / n;
    const r = Math.sqrt(1 - z * z);
    return [r * Math.cos(golden * i), r * Math.sin(golden * i), z] as Vec3;
  });
}

/** Two unit vectors completing `u` to an orthonormal basis. */
export function perpendicularBasis(u: Vec3): [Vec3, Vec3] {
  const helper: Vec3 = Math.abs(u[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
  const a = normalize(cross(u, helper));
  return [a, cross(u, a)];
}

/** Weighted quantile of values (weights >= 0). */
function weightedQuantile(v: Float64Array, w: Float64Array, q: number): number {
  const idx = Array.from(v.keys()).sort((i, j) => v[i] - v[j]);
  let total = 0;
  for (const x of w) total += x;
  let acc = 0;
  for (const i of idx) {
    acc += w[i];
    if (acc >= q * total) return v[i];
  }
  return v[idx[idx.length - 1]];
}

/**
 * Weighted algebraic circle fit (Kasa; util/circle-fit.ts), then the root mean square geometric
 * distance from the circle (infinite for a degenerate set).
 */
export function circleFit(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  w: ArrayLike<number>,
): { xc: number; yc: number; r: number; rms: number } {
  const f = fitCircle(x, y, x.length, w);
  if (f === undefined) return { xc: 0, yc: 0, r: 0, rms: Infinity };
  let ss = 0;
  let s1 = 0;
  for (let i = 0; i < x.length; i++) {
    ss += w[i] * (Math.hypot(x[i] - f.cx, y[i] - f.cy) - f.r) ** 2;
    s1 += w[i];
  }
  return { xc: f.cx, yc: f.cy, r: f.r, rms: Math.sqrt(ss / s1) };
}

/** Points relative to their centroid, as flat arrays (the search's inner loop). */
interface Cloud {
  readonly g: Vec3;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly z: Float64Array;
  readonly w: Float64Array;
}

function cloudOf(pts: readonly WallPoint[]): Cloud {
  const g = centroid(pts);
  const n = pts.length;
  const c: Cloud = {
    g,
    x: new Float64Array(n),
    y: new Float64Array(n),
    z: new Float64Array(n),
    w: new Float64Array(n),
  };
  pts.forEach((q, i) => {
    c.x[i] = q.p[0] - g[0];
    c.y[i] = q.p[1] - g[1];
    c.z[i] = q.p[2] - g[2];
    c.w[i] = q.w;
  });
  return c;
}

/**
 * Circle fits of slabs of the cloud seen along `u`: the positions along `u` within the weighted
 * mean +- 1.2 standard deviations, cut into `SLABS` slabs, each fitted with its own circle (the
 * wall narrows towards the apex). The score is the root mean square distance of all the slabs'
 * points from their circles.
 */
function cylinderAlong(cl: Cloud, u: Vec3): CylinderFit {
  const [a, b] = perpendicularBasis(u);
  const n = cl.w.length;
  const t = new Float64Array(n);
  let sw = 0;
  let st = 0;
  let stt = 0;
  for (let i = 0; i < n; i++) {
    const ti = cl.x[i] * u[0] + cl.y[i] * u[1] + cl.z[i] * u[2];
    t[i] = ti;
    sw += cl.w[i];
    st += cl.w[i] * ti;
    stt += cl.w[i] * ti * ti;
  }
  const mean = st / sw;
  const sd = Math.sqrt(Math.max(0, stt / sw - mean * mean));
  const t0 = mean - BAND_SD * sd;
  const width = (2 * BAND_SD * sd) / SLABS;
  const xs: number[][] = Array.from({ length: SLABS }, () => []);
  const ys: number[][] = Array.from({ length: SLABS }, () => []);
  const ws: number[][] = Array.from({ length: SLABS }, () => []);
  for (let i = 0; i < n; i++) {
    const k = Math.floor((t[i] - t0) / width);
    if (k < 0 || k >= SLABS) continue;
    xs[k].push(cl.x[i] * a[0] + cl.y[i] * a[1] + cl.z[i] * a[2]);
    ys[k].push(cl.x[i] * b[0] + cl.y[i] * b[1] + cl.z[i] * b[2]);
    ws[k].push(cl.w[i]);
  }
  let ss = 0;
  let wsum = 0;
  let rsum = 0;
  let xc = 0;
  let yc = 0;
  for (let k = 0; k < SLABS; k++) {
    if (xs[k].length < 8) return { c: cl.g, u, radius: 0, rms: Infinity };
    const f = circleFit(xs[k], ys[k], ws[k]);
    const wk = ws[k].reduce((p, q) => p + q, 0);
    ss += f.rms * f.rms * wk;
    wsum += wk;
    rsum += f.r * wk;
    xc += f.xc * wk;
    yc += f.yc * wk;
  }
  const c = add(add(cl.g, scale(a, xc / wsum)), add(scale(b, yc / wsum), scale(u, mean)));
  return { c, u, radius: rsum / wsum, rms: Math.sqrt(ss / wsum) };
}

/** Weighted centroid of points. */
export function centroid(pts: readonly WallPoint[]): Vec3 {
  let w = 0;
  const c = [0, 0, 0];
  for (const q of pts) {
    w += q.w;
    for (let k = 0; k < 3; k++) c[k] += q.w * q.p[k];
  }
  return [c[0] / w, c[1] / w, c[2] / w];
}

/** Rotate `u` by `deg` degrees towards the direction `dir` (perpendicular to u). */
const tilt = (u: Vec3, dir: Vec3, deg: number): Vec3 => {
  const r = (deg * Math.PI) / 180;
  return normalize(add(scale(u, Math.cos(r)), scale(dir, Math.sin(r))));
};

/**
 * The long axis of the myocardium as the axis of its best-fitting cylinder (see the module
 * comment): a search over `n` directions, then a pattern search down to a quarter of a degree.
 * @example
 *   const { u, radius } = fitCylinderAxis(points); // radius ~ the mid-wall radius
 */
export function fitCylinderAxis(pts: readonly WallPoint[], n = 400): CylinderFit {
  const cl = cloudOf(pts);
  let best: CylinderFit | null = null;
  for (const u of hemisphere(n)) {
    const f = cylinderAlong(cl, u);
    if (!best || f.rms < best.rms) best = f;
  }
  let cur = best as CylinderFit;
  for (let step = 4; step >= 0.25; step /= 2) {
    for (let moved = true, guard = 0; moved && guard < 10; guard++) {
      moved = false;
      const [a, b] = perpendicularBasis(cur.u);
      for (const d of [a, b, scale(a, -1), scale(b, -1)]) {
        const f = cylinderAlong(cl, tilt(cur.u, d, step));
        if (f.rms < cur.rms) {
          cur = f;
          moved = true;
        }
      }
    }
  }
  return cur;
}

/**
 * Which end of the cylinder axis is the apex: +1 if `u` points to it, -1 if `-u` does, with the
 * evidence (difference of the ends' mean wall distance from the axis, in body radii; the apex end's
 * is smaller because the cap converges). Ends = the outer 20% of the extent along the axis.
 */
export function apexEnd(pts: readonly WallPoint[], fit: CylinderFit): { sign: 1 | -1; evidence: number } {
  const n = pts.length;
  const t = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    t[i] = dot(sub(pts[i].p, fit.c), fit.u);
    w[i] = pts[i].w;
  }
  const lo = weightedQuantile(t, w, 0.02);
  const hi = weightedQuantile(t, w, 0.98);
  const end = (from: number, to: number): number => {
    let sw = 0;
    let sr = 0;
    for (let i = 0; i < n; i++) {
      if (t[i] < Math.min(from, to) || t[i] > Math.max(from, to)) continue;
      const q = sub(sub(pts[i].p, fit.c), scale(fit.u, t[i]));
      sw += w[i];
      sr += w[i] * Math.hypot(q[0], q[1], q[2]);
    }
    return sw > 0 ? sr / sw / Math.max(1e-6, fit.radius) : 1;
  };
  const fwd = end(hi - 0.2 * (hi - lo), hi);
  const back = end(lo, lo + 0.2 * (hi - lo));
  return { sign: fwd <= back ? 1 : -1, evidence: Math.abs(back - fwd) };
}
