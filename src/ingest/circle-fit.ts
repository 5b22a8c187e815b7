/**
 * Small geometric helpers for disc finding: the least-squares circle fit (Kasa, in
 * util/circle-fit.ts), a trimmed (robust) refit, and the convex hull of a point set (Andrew's
 * monotone chain).
 */
import { fitCircle, type Circle } from '../util/circle-fit.js';

export interface Point {
  readonly x: number;
  readonly y: number;
}

export { fitCircle, type Circle } from '../util/circle-fit.js';

/**
 * Robust circle fit: starting from `init` (or a plain fit), repeatedly keep only the points
 * whose distance to the circle is within the next tolerance of `tolerances` (pixels) and refit.
 * Returns the final circle and how many points it used.
 */
export function fitCircleTrimmed(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  tolerances: readonly number[],
  init?: Circle,
): { circle: Circle; inliers: number } | undefined {
  const n = xs.length;
  let c = init ?? fitCircle(xs, ys);
  if (!c) return undefined;
  let used = n;
  const bx = new Float64Array(n);
  const by = new Float64Array(n);
  for (const tol of tolerances) {
    let m = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(Math.hypot(xs[i] - c.cx, ys[i] - c.cy) - c.r);
      if (d <= tol) {
        bx[m] = xs[i];
        by[m] = ys[i];
        m++;
      }
    }
    const next = fitCircle(bx, by, m);
    if (!next) break;
    c = next;
    used = m;
  }
  return { circle: c, inliers: used };
}

/** Convex hull (counter-clockwise in a y-up frame), Andrew's monotone chain. */
export function convexHull(points: readonly Point[]): Point[] {
  const pts = points.slice().sort((a, b) => a.x - b.x || a.y - b.y);
  if (pts.length < 3) return pts;
  const cross = (o: Point, a: Point, b: Point): number =>
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
  const lower: Point[] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
    upper.push(p);
  }
  lower.pop();
  upper.pop();
  return lower.concat(upper);
}

/** Area of a simple polygon (absolute value, shoelace formula). */
export function polygonArea(poly: readonly Point[]): number {
  let a = 0;
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i];
    const q = poly[(i + 1) % poly.length];
    a += p.x * q.y - q.x * p.y;
  }
  return Math.abs(a) / 2;
}

/** Points along a closed polygon's boundary, about `step` apart (vertices included). */
export function samplePolygon(poly: readonly Point[], step: number): { xs: Float64Array; ys: Float64Array } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i];
    const q = poly[(i + 1) % poly.length];
    const len = Math.hypot(q.x - p.x, q.y - p.y);
    const k = Math.max(1, Math.ceil(len / step));
    for (let j = 0; j < k; j++) {
      xs.push(p.x + ((q.x - p.x) * j) / k);
      ys.push(p.y + ((q.y - p.y) * j) / k);
    }
  }
  return { xs: Float64Array.from(xs), ys: Float64Array.from(ys) };
}
