/**
 * Per-pixel polar coordinates of a square polar-map raster (the `UptakeMap` convention: disc
 * inscribed, centre ((size-1)/2, (size-1)/2), radius size/2), cached per size. The phantom is
 * built in this pixel space so that defects have smooth edges rather than segment boundaries.
 */
import { clockAngleDeg, segmentLabels } from '../polarmap/geometry.js';

export interface PolarGrid {
  readonly size: number;
  /** indices (y * size + x) of the pixels inside the disc */
  readonly inside: Int32Array;
  /** normalised radius (0 apex .. 1 base) of each inside pixel, same order as `inside` */
  readonly r: Float32Array;
  /** clock angle in degrees (0 anterior, 90 lateral, 180 inferior, 270 septal) of each inside pixel */
  readonly theta: Float32Array;
  /** AHA segment (1..17) of each inside pixel */
  readonly segment: Uint8Array;
  /** number of inside pixels per segment (index 1..17; index 0 unused) */
  readonly segmentCount: Int32Array;
}

const cache = new Map<number, PolarGrid>();

export function polarGrid(size: number): PolarGrid {
  let g = cache.get(size);
  if (g) return g;
  const labels = segmentLabels(size);
  const c = (size - 1) / 2;
  const radius = size / 2;
  const idx: number[] = [];
  for (let i = 0; i < size * size; i++) if (labels[i] !== 0) idx.push(i);
  const inside = Int32Array.from(idx);
  const r = new Float32Array(inside.length);
  const theta = new Float32Array(inside.length);
  const segment = new Uint8Array(inside.length);
  const segmentCount = new Int32Array(18);
  for (let k = 0; k < inside.length; k++) {
    const i = inside[k];
    const dx = (i % size) - c;
    const dy = Math.floor(i / size) - c;
    r[k] = Math.hypot(dx, dy) / radius;
    theta[k] = clockAngleDeg(dx, dy);
    segment[k] = labels[i];
    segmentCount[labels[i]]++;
  }
  g = { size, inside, r, theta, segment, segmentCount };
  cache.set(size, g);
  return g;
}

/** Logistic function. */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Signed smallest difference a - b of two angles in degrees, in (-180, 180]. */
export function angleDiff(a: number, b: number): number {
  let d = (a - b) % 360;
  if (d > 180) d -= 360;
  else if (d <= -180) d += 360;
  return d;
}

/** A smooth angular window: ~1 within `halfWidth` degrees of `centre`, falling off over `edge` degrees. */
export function angularWindow(theta: number, centre: number, halfWidth: number, edge: number): number {
  return sigmoid((halfWidth - Math.abs(angleDiff(theta, centre))) / edge);
}
