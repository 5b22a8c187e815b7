/**
 * Automatic finding of polar-map discs ("bull's-eyes") in vendor exports: a page with several
 * maps (typically 2x2, with captions, a colour bar and header text) or a single-map image.
 *
 * Method (no hand-given boxes):
 * 1. Background colour = per-channel median of the image border; a pixel is foreground when a
 *    channel differs from it by more than `threshold`.
 * 2. Coarse pass at reduced resolution (block size s so the long side is about 512 px; a block is
 *    foreground when at least half its pixels are): 8-connected components.
 * 3. Per component: convex hull of its pixels, circle fitted to the hull boundary with trimming
 *    (`fitCircleTrimmed`). Using the outer outline / hull, not the foreground pixels, matters
 *    because with the usual nuclear-medicine colour maps low uptake is black: a perfusion defect
 *    at the rim is as dark as the background and bites into the disc, but the rest of the rim
 *    still lies on the disc's circle and the hull's chord across the bite is trimmed away.
 * 4. Acceptance (rejects text, colour bars, boxes): radius >= minRadius; hull area >= 0.6 of the
 *    circle's; at least 55% of the hull boundary within tolerance of the circle and none of it far
 *    outside; foreground fill of the circle >= 0.35; radius >= 0.6 x the largest accepted radius
 *    (all maps of an export share one size; this drops letters such as "O").
 * 5. Refinement at full resolution: rays from the coarse centre find the outer edge (the first
 *    place going outwards where the foreground ends in a run of background) to sub-pixel
 *    precision (where the foreground strength falls to half its value just inside); a trimmed
 *    least-squares circle fit to those edge points (rays starting inside a black defect are
 *    skipped, edge points on a defect's border are trimmed as inner outliers).
 * 6. Reading order: rows (discs whose centres differ by less than half a radius vertically),
 *    top to bottom, then left to right.
 */
import type { Disc, RgbImage } from '../domain/image.js';
import { InputError } from '../util/errors.js';
import {
  convexHull,
  fitCircleTrimmed,
  polygonArea,
  samplePolygon,
  type Circle,
  type Point,
} from './circle-fit.js';

export interface FindDiscOptions {
  /** Smallest disc radius in pixels of the input image. Default max(8, 3% of the shorter side). */
  readonly minRadius?: number;
  /** How many discs the image must contain; extra candidates (the least circular) are dropped,
   * too few is an `InputError`. */
  readonly expected?: number;
  /** Foreground threshold: largest channel difference from the background colour. Default 40. */
  readonly threshold?: number;
}

/** A disc with the diagnostics of its acceptance (for debugging and reports). */
export interface DiscCandidate extends Disc {
  /** fraction of the hull boundary on the fitted circle (coarse pass) */
  readonly onCircle: number;
  /** foreground pixels / circle area (coarse pass) */
  readonly fill: number;
}

const COARSE_LONG_SIDE = 512;

/** Background colour: per-channel median of the border pixels. */
export function backgroundColour(img: RgbImage): [number, number, number] {
  const { width: w, height: h, data } = img;
  const hist = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)];
  let n = 0;
  const add = (x: number, y: number): void => {
    const p = (y * w + x) * 3;
    hist[0][data[p]]++;
    hist[1][data[p + 1]]++;
    hist[2][data[p + 2]]++;
    n++;
  };
  for (let x = 0; x < w; x++) {
    add(x, 0);
    if (h > 1) add(x, h - 1);
  }
  for (let y = 1; y < h - 1; y++) {
    add(0, y);
    if (w > 1) add(w - 1, y);
  }
  return hist.map((hc) => {
    let acc = 0;
    for (let v = 0; v < 256; v++) {
      acc += hc[v];
      if (acc * 2 >= n) return v;
    }
    return 0;
  }) as [number, number, number];
}

/** Foreground strength of every pixel: largest channel difference from the background. */
function foregroundStrength(img: RgbImage, bg: readonly number[]): Uint8Array {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(w * h);
  const [b0, b1, b2] = bg;
  for (let i = 0, p = 0; i < out.length; i++, p += 3) {
    const d0 = Math.abs(data[p] - b0);
    const d1 = Math.abs(data[p + 1] - b1);
    const d2 = Math.abs(data[p + 2] - b2);
    out[i] = d0 > d1 ? (d0 > d2 ? d0 : d2) : d1 > d2 ? d1 : d2;
  }
  return out;
}

interface Component {
  readonly count: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly label: number;
}

/** 8-connected components of a binary mask; returns the label image and component stats. */
function components(
  mask: Uint8Array,
  w: number,
  h: number,
  minCount: number,
): { labels: Int32Array; comps: Component[] } {
  const labels = new Int32Array(w * h);
  const stack = new Int32Array(w * h);
  const comps: Component[] = [];
  let next = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    next++;
    let sp = 0;
    stack[sp++] = start;
    labels[start] = next;
    let count = 0;
    let x0 = w;
    let y0 = h;
    let x1 = -1;
    let y1 = -1;
    while (sp > 0) {
      const i = stack[--sp];
      count++;
      const x = i % w;
      const y = (i - x) / w;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const j = yy * w + xx;
          if (mask[j] && !labels[j]) {
            labels[j] = next;
            stack[sp++] = j;
          }
        }
      }
    }
    if (count >= minCount) comps.push({ count, x0, y0, x1, y1, label: next });
  }
  return { labels, comps };
}

/**
 * Find every polar-map disc in an exported image (see the module comment for the method).
 * Returns discs in full-resolution pixel coordinates, in reading order (rows, then columns).
 */
export function findDiscs(img: RgbImage, opts: FindDiscOptions = {}): Disc[] {
  return findDiscCandidates(img, opts).map(({ cx, cy, radius }) => ({ cx, cy, radius }));
}

/** `findDiscs` with the acceptance diagnostics of each disc. */
export function findDiscCandidates(img: RgbImage, opts: FindDiscOptions = {}): DiscCandidate[] {
  const { width: W, height: H } = img;
  if (W < 3 || H < 3 || img.data.length !== W * H * 3) {
    throw new InputError(
      `image is ${W}x${H} with ${img.data.length} bytes: not a valid RGB image for disc finding`,
    );
  }
  const threshold = opts.threshold ?? 40;
  const minRadius = opts.minRadius ?? Math.max(8, 0.03 * Math.min(W, H));
  const bg = backgroundColour(img);
  const strength = foregroundStrength(img, bg);

  // coarse mask: block majority
  const s = Math.max(1, Math.floor(Math.max(W, H) / COARSE_LONG_SIDE));
  const w = Math.floor(W / s);
  const h = Math.floor(H / s);
  const counts = new Uint16Array(w * h);
  for (let y = 0; y < h * s; y++) {
    const row = y * W;
    const crow = Math.floor(y / s) * w;
    for (let x = 0; x < w * s; x++) if (strength[row + x] > threshold) counts[crow + Math.floor(x / s)]++;
  }
  const half = (s * s) / 2;
  const mask = new Uint8Array(w * h);
  for (let i = 0; i < mask.length; i++) mask[i] = counts[i] >= half ? 1 : 0;

  const minR = minRadius / s;
  const { labels, comps } = components(mask, w, h, Math.max(3, Math.floor(0.25 * Math.PI * minR * minR)));

  const accepted: (DiscCandidate & { score: number })[] = [];
  for (const comp of comps) {
    const coarse = coarseCircle(labels, w, comp);
    if (!coarse) continue;
    const { circle, onCircle, hullRatio, outside } = coarse;
    if (circle.r < minR) continue;
    const fill = comp.count / (Math.PI * circle.r * circle.r);
    if (hullRatio < 0.6 || onCircle < 0.55 || outside > 0 || fill < 0.35) continue;
    const full: Circle = {
      cx: (circle.cx + 0.5) * s - 0.5,
      cy: (circle.cy + 0.5) * s - 0.5,
      r: circle.r * s,
    };
    const refined = refineCircle(strength, W, H, full, threshold) ?? full;
    accepted.push({
      cx: refined.cx,
      cy: refined.cy,
      radius: refined.r,
      onCircle,
      fill,
      score: onCircle * Math.min(1, fill),
    });
  }
  const maxR = accepted.reduce((m, d) => Math.max(m, d.radius), 0);
  let discs = accepted.filter((d) => d.radius >= 0.6 * maxR);
  // a fragment inside an accepted disc is not a disc of its own
  discs = discs.filter(
    (d) =>
      !discs.some((e) => e !== d && e.radius > d.radius && Math.hypot(e.cx - d.cx, e.cy - d.cy) < e.radius),
  );

  if (opts.expected !== undefined) {
    if (discs.length < opts.expected) {
      throw new InputError(`found ${discs.length} polar-map disc(s), expected ${opts.expected}`);
    }
    if (discs.length > opts.expected)
      discs = discs
        .slice()
        .sort((a, b) => b.score - a.score)
        .slice(0, opts.expected);
  }
  return readingOrder(discs).map(({ cx, cy, radius, onCircle, fill }) => ({
    cx,
    cy,
    radius,
    onCircle,
    fill,
  }));
}

/** Sort discs into reading order: rows top to bottom, each row left to right. */
export function readingOrder<T extends Disc>(discs: readonly T[]): T[] {
  return discRows(discs).flatMap((row) => row.sort((a, b) => a.cx - b.cx));
}

/**
 * Group discs into rows, top to bottom: a disc joins the current row when its centre is within
 * half a radius (the larger of its own and the row's mean) of the row's mean height. The discs of
 * a row are in order of height, not yet left to right.
 */
export function discRows<T extends Disc>(discs: readonly T[]): T[][] {
  const byY = discs.slice().sort((a, b) => a.cy - b.cy);
  const rows: T[][] = [];
  for (const d of byY) {
    const row = rows[rows.length - 1];
    if (row) {
      const meanY = row.reduce((acc, e) => acc + e.cy, 0) / row.length;
      const meanR = row.reduce((acc, e) => acc + e.radius, 0) / row.length;
      if (Math.abs(d.cy - meanY) < 0.5 * Math.max(meanR, d.radius)) {
        row.push(d);
        continue;
      }
    }
    rows.push([d]);
  }
  return rows;
}

/** Circle fitted to a component's convex hull, with shape measures. */
function coarseCircle(
  labels: Int32Array,
  w: number,
  comp: Component,
): { circle: Circle; onCircle: number; hullRatio: number; outside: number } | undefined {
  const pts: Point[] = [];
  for (let y = comp.y0; y <= comp.y1; y++) {
    let lo = -1;
    let hi = -1;
    const row = y * w;
    for (let x = comp.x0; x <= comp.x1; x++) {
      if (labels[row + x] === comp.label) {
        if (lo < 0) lo = x;
        hi = x;
      }
    }
    if (lo < 0) continue;
    // pixel outline corners, so the hull covers whole pixels
    pts.push(
      { x: lo - 0.5, y: y - 0.5 },
      { x: lo - 0.5, y: y + 0.5 },
      { x: hi + 0.5, y: y - 0.5 },
      { x: hi + 0.5, y: y + 0.5 },
    );
  }
  const hull = convexHull(pts);
  if (hull.length < 3) return undefined;
  const { xs, ys } = samplePolygon(hull, 1);
  const size = Math.max(comp.x1 - comp.x0, comp.y1 - comp.y0) + 1;
  const fit = fitCircleTrimmed(xs, ys, [0.15 * size, 0.05 * size, Math.max(1.5, 0.025 * size)]);
  if (!fit) return undefined;
  const c = fit.circle;
  const tol = Math.max(1.5, 0.04 * c.r);
  let on = 0;
  let outside = 0;
  for (let i = 0; i < xs.length; i++) {
    const d = Math.hypot(xs[i] - c.cx, ys[i] - c.cy) - c.r;
    if (Math.abs(d) <= tol) on++;
    if (d > Math.max(3, 0.1 * c.r)) outside++;
  }
  return {
    circle: c,
    onCircle: on / xs.length,
    hullRatio: polygonArea(hull) / (Math.PI * c.r * c.r),
    outside,
  };
}

/** Bilinear sample of the strength image (0 outside). */
function sampleStrength(st: Uint8Array, W: number, H: number, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  if (x0 < 0 || y0 < 0 || x0 + 1 >= W || y0 + 1 >= H) {
    const xi = Math.round(x);
    const yi = Math.round(y);
    return xi < 0 || yi < 0 || xi >= W || yi >= H ? 0 : st[yi * W + xi];
  }
  const fx = x - x0;
  const fy = y - y0;
  const i = y0 * W + x0;
  return (1 - fy) * ((1 - fx) * st[i] + fx * st[i + 1]) + fy * ((1 - fx) * st[i + W] + fx * st[i + W + 1]);
}

/** Sub-pixel outer-edge refinement along rays, then a trimmed circle fit (full resolution). */
function refineCircle(
  st: Uint8Array,
  W: number,
  H: number,
  c: Circle,
  threshold: number,
): Circle | undefined {
  const nRays = Math.min(720, Math.max(64, Math.round(Math.PI * c.r)));
  const run = Math.max(3, Math.round(0.03 * c.r));
  const rStart = 0.82 * c.r;
  const rEnd = 1.2 * c.r + run + 2;
  const xs: number[] = [];
  const ys: number[] = [];
  for (let k = 0; k < nRays; k++) {
    const a = (2 * Math.PI * k) / nRays;
    const ux = Math.cos(a);
    const uy = Math.sin(a);
    const at = (rho: number): number => sampleStrength(st, W, H, c.cx + rho * ux, c.cy + rho * uy);
    if (at(rStart) <= threshold) continue; // starts inside a dark defect: no reliable edge
    let edge = -1;
    let bgRun = 0;
    for (let rho = rStart; rho <= rEnd; rho += 1) {
      if (at(rho) <= threshold) {
        bgRun++;
        if (bgRun >= run) {
          edge = rho - run + 1; // first background step
          break;
        }
      } else bgRun = 0;
    }
    if (edge < 0) continue;
    const inner = at(edge - 3);
    if (inner <= threshold) continue;
    const half = inner / 2;
    let pos = -1;
    let prev = inner;
    for (let rho = edge - 3 + 0.1; rho <= edge + 1; rho += 0.1) {
      const v = at(rho);
      if (v < half) {
        const f = prev === v ? 0 : (prev - half) / (prev - v);
        pos = rho - 0.1 + 0.1 * f;
        break;
      }
      prev = v;
    }
    if (pos < 0) continue;
    xs.push(c.cx + pos * ux);
    ys.push(c.cy + pos * uy);
  }
  if (xs.length < 16) return undefined;
  const fit = fitCircleTrimmed(xs, ys, [0.1 * c.r, Math.max(1, 0.03 * c.r), Math.max(0.75, 0.012 * c.r)], c);
  if (!fit || fit.inliers < 0.25 * nRays) return undefined;
  return fit.circle;
}
