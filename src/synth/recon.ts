/**
 * The "reconstruction" of a synthetic polar map: Poisson counting noise, a separable Gaussian blur
 * standing in for the limited resolution of SPECT reconstruction, then normalisation to the map's
 * own maximum (relative uptake), as vendors display polar maps.
 */
import { createUptakeMap, type UptakeMap } from '../domain/image.js';
import type { Rng } from '../util/rng.js';
import { gaussianKernel } from '../util/gaussian.js';
import type { PolarGrid } from './polar-grid.js';

/** Reference map size for count densities: densities are per pixel of a 128-pixel map. */
export const REFERENCE_MAP_SIZE = 128;
/** Gaussian blur sigma as a fraction of the map size (3.2 px at 128 px). */
export const BLUR_SIGMA_FRACTION = 0.025;

/**
 * A Poisson deviate by inversion (one uniform per draw; cost grows with the mean), switching to the
 * normal approximation above a mean of 40 where it is accurate to well under 1%.
 */
export function poissonDeviate(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 40) return Math.max(0, Math.round(rng.normal(mean, Math.sqrt(mean))));
  let p = Math.exp(-mean);
  let cdf = p;
  const u = rng.next();
  let k = 0;
  while (u > cdf && k < 200) {
    k++;
    p *= mean / k;
    cdf += p;
  }
  return k;
}

/** Separable convolution of a size x size raster with zero padding (row pass, then column pass). */
export function blurSeparable(src: Float64Array, size: number, kernel: Float64Array): Float64Array {
  const rad = (kernel.length - 1) / 2;
  const tmp = new Float64Array(size * size);
  const out = new Float64Array(size * size);
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      let s = 0;
      const lo = x < rad ? -x : -rad;
      const hi = x + rad >= size ? size - 1 - x : rad;
      const base = row + x + rad;
      for (let i = lo; i <= hi; i++) s += kernel[i + rad] * src[base + i - rad];
      tmp[row + x] = s;
    }
  }
  // column pass, tap by tap over contiguous rows (cache friendly)
  for (let y = 0; y < size; y++) {
    const lo = y < rad ? -y : -rad;
    const hi = y + rad >= size ? size - 1 - y : rad;
    const row = y * size;
    for (let i = lo; i <= hi; i++) {
      const w = kernel[i + rad];
      const srcRow = (y + i) * size;
      for (let x = 0; x < size; x++) out[row + x] += w * tmp[srcRow + x];
    }
  }
  return out;
}

const maskBlurCache = new Map<number, Float64Array>();

/** The blurred disc mask (the normaliser of the normalised convolution), cached per size. */
function blurredMask(grid: PolarGrid, kernel: Float64Array): Float64Array {
  let bm = maskBlurCache.get(grid.size);
  if (!bm) {
    const mask = new Float64Array(grid.size * grid.size);
    for (let k = 0; k < grid.inside.length; k++) mask[grid.inside[k]] = 1;
    bm = blurSeparable(mask, grid.size, kernel);
    maskBlurCache.set(grid.size, bm);
  }
  return bm;
}

/**
 * Reconstruct a map from a noise-free field over `grid.inside`: expected counts
 * lambda = density * (128/size)^2 * F / max(F); Poisson draw; Gaussian blur restricted to the disc
 * (normalised convolution, so the disc edge is not darkened by the black outside); divide by the
 * maximum. Returns the map and the expected total counts.
 */
export function reconstruct(
  grid: PolarGrid,
  field: Float64Array,
  countDensity: number,
  rng: Rng,
): { map: UptakeMap; totalCounts: number } {
  const { size, inside } = grid;
  let fmax = 0;
  for (let k = 0; k < field.length; k++) if (field[k] > fmax) fmax = field[k];
  const density = (countDensity * (REFERENCE_MAP_SIZE / size) ** 2) / (fmax || 1);
  const counts = new Float64Array(size * size);
  let total = 0;
  for (let k = 0; k < inside.length; k++) {
    const lambda = field[k] * density;
    total += lambda;
    counts[inside[k]] = poissonDeviate(rng, lambda);
  }
  const kernel = gaussianKernel(BLUR_SIGMA_FRACTION * size);
  const bc = blurSeparable(counts, size, kernel);
  const bm = blurredMask(grid, kernel);
  const map = createUptakeMap(size);
  const vals = new Float64Array(inside.length);
  let max = 0;
  for (let k = 0; k < inside.length; k++) {
    const i = inside[k];
    vals[k] = bm[i] > 1e-9 ? bc[i] / bm[i] : 0;
    if (vals[k] > max) max = vals[k];
  }
  // the hottest pixel becomes exactly 1 (float64 division before the float32 store)
  if (max > 0) for (let k = 0; k < inside.length; k++) map.data[inside[k]] = Math.min(1, vals[k] / max);
  return { map, totalCounts: Math.round(total) };
}
