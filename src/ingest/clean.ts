/**
 * Cleaning of one polar-map disc cut from an export: square crop with the disc inscribed (the
 * `UptakeMap` convention: centre ((n-1)/2, (n-1)/2), radius n/2), black outside the disc, and
 * removal of the segment grid lines and labels that vendors draw over the map, by filling them
 * from neighbouring map pixels, as Hai et al. (2022) do before training.
 *
 * Overlay detection (at the crop's native resolution, inside the disc only):
 * - thin structures: a pixel that differs by more than `lineContrast` (largest channel
 *   difference, default 28) from both pixels d = 1, 2, 3 or 4 px away on opposite sides along one of four
 *   directions (horizontal, vertical, both diagonals), while those two are similar to each other,
 *   lies on a ridge or valley narrower than 2d: a grid line or a (outlined) letter stroke. Step edges (the
 *   border of a defect) and smooth perfusion gradients are not thin and are kept.
 * - off-map gray: when the colour map is known (given, or recognised automatically among the
 *   built-in ones by `recogniseImageColormap` of polarmap/recognise-colormap.ts), white/gray pixels (chroma <= 48) farther than `offMapDistance` (RGB
 *   distance) from every entry of the table, e.g. gray lines on a hot/cool/rainbow map.
 * The mask is dilated by one pixel (anti-aliased line borders) and filled by iterative
 * neighbour averaging from the border of each masked region inwards ("onion peel"): each pass
 * gives every masked pixel that touches a known pixel the weighted mean of its known
 * 8-neighbours (weights 1 for edge neighbours, 1/sqrt(2) for diagonals), then marks it known.
 */
import type { Box, Disc, RgbImage } from '../domain/image.js';
import { ColormapInverter, type Colormap } from '../polarmap/colormaps.js';
import { recogniseImageColormap } from '../polarmap/recognise-colormap.js';
import { InputError } from '../util/errors.js';
import { resizeRgb } from './preprocess.js';

export interface CleanOptions {
  /** Output side in pixels. Default: round(2 x the (inset) disc radius). */
  readonly outSize?: number;
  /** Inset in source pixels: the disc used is `radius - margin` (e.g. to drop an outline drawn
   * around the map). Default 0. */
  readonly margin?: number;
  /** The colour map of the export, for off-map detection; default: recognised automatically
   * among the built-in maps (none used if no map fits). `null` disables off-map detection. */
  readonly colormap?: Colormap | null;
  /** Thin-structure contrast threshold (largest channel difference). Default 28. */
  readonly lineContrast?: number;
  /** Off-map distance threshold (RGB Euclidean). Default 45. */
  readonly offMapDistance?: number;
}

export interface CleanResult {
  readonly image: RgbImage;
  /** number of pixels (at the crop's native resolution) that were filled in */
  readonly filled: number;
}

/** The disc inscribed in a manually given box (centre of the box, radius = half its shorter side). */
export function boxToDisc(box: Box): Disc {
  if (!(box.width > 0 && box.height > 0))
    throw new InputError(`box ${box.width}x${box.height} at (${box.x}, ${box.y}) is empty`);
  return {
    cx: box.x + box.width / 2 - 0.5,
    cy: box.y + box.height / 2 - 0.5,
    radius: Math.min(box.width, box.height) / 2,
  };
}

/** Square crop of side `n` around `disc` (bilinear), black outside the inscribed disc; plus the inside mask. */
function cropNative(
  img: RgbImage,
  disc: Disc,
  radius: number,
  n: number,
): { image: RgbImage; inside: Uint8Array } {
  const { width: W, height: H, data } = img;
  const out = new Uint8Array(n * n * 3);
  const inside = new Uint8Array(n * n);
  const c = (n - 1) / 2;
  const k = radius / (n / 2);
  const r2 = (n / 2) * (n / 2);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const dx = i - c;
      const dy = j - c;
      if (dx * dx + dy * dy > r2) continue;
      inside[j * n + i] = 1;
      const sx = disc.cx + dx * k;
      const sy = disc.cy + dy * k;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = (j * n + i) * 3;
      const inX0 = x0 >= 0 && x0 < W;
      const inX1 = x0 + 1 >= 0 && x0 + 1 < W;
      const inY0 = y0 >= 0 && y0 < H;
      const inY1 = y0 + 1 >= 0 && y0 + 1 < H;
      const p00 = inX0 && inY0 ? (y0 * W + x0) * 3 : -1;
      const p10 = inX1 && inY0 ? (y0 * W + x0 + 1) * 3 : -1;
      const p01 = inX0 && inY1 ? ((y0 + 1) * W + x0) * 3 : -1;
      const p11 = inX1 && inY1 ? ((y0 + 1) * W + x0 + 1) * 3 : -1;
      const w00 = (1 - fx) * (1 - fy);
      const w10 = fx * (1 - fy);
      const w01 = (1 - fx) * fy;
      const w11 = fx * fy;
      for (let ch = 0; ch < 3; ch++) {
        let v = 0;
        if (p00 >= 0) v += w00 * data[p00 + ch];
        if (p10 >= 0) v += w10 * data[p10 + ch];
        if (p01 >= 0) v += w01 * data[p01 + ch];
        if (p11 >= 0) v += w11 * data[p11 + ch];
        out[o + ch] = Math.round(v);
      }
    }
  }
  return { image: { width: n, height: n, data: out }, inside };
}

function checkDisc(img: RgbImage, disc: Disc, margin: number): number {
  const r = disc.radius - margin;
  if (!(Number.isFinite(disc.cx) && Number.isFinite(disc.cy) && r >= 2)) {
    throw new InputError(
      `disc (${disc.cx}, ${disc.cy}) radius ${disc.radius} (margin ${margin}) is too small or invalid`,
    );
  }
  if (disc.cx + r < 0 || disc.cy + r < 0 || disc.cx - r > img.width - 1 || disc.cy - r > img.height - 1) {
    throw new InputError(
      `disc (${disc.cx.toFixed(1)}, ${disc.cy.toFixed(1)}) radius ${r.toFixed(1)} lies outside the ${img.width}x${img.height} image`,
    );
  }
  return r;
}

/** Black everything outside the disc inscribed in a square image (in place). */
export function blankOutsideDisc(img: RgbImage): void {
  const n = img.width;
  const c = (n - 1) / 2;
  const r2 = (n / 2) * (n / 2);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if ((x - c) * (x - c) + (y - c) * (y - c) > r2) img.data.fill(0, (y * n + x) * 3, (y * n + x) * 3 + 3);
    }
  }
}

function finish(img: RgbImage, outSize: number | undefined): RgbImage {
  if (outSize === undefined || outSize === img.width) return img;
  if (!Number.isInteger(outSize) || outSize < 4)
    throw new InputError(`output size must be an integer >= 4, got ${outSize}`);
  const out = resizeRgb(img, outSize, outSize);
  blankOutsideDisc(out);
  return out;
}

/**
 * Crop the square around a disc with the disc inscribed and black outside, WITHOUT removing
 * overlays (the reference for measuring `cleanDisc`, and the path for exports without a grid).
 */
export function cropDisc(
  img: RgbImage,
  disc: Disc,
  opts: Pick<CleanOptions, 'outSize' | 'margin'> = {},
): RgbImage {
  const margin = opts.margin ?? 0;
  const r = checkDisc(img, disc, margin);
  const n = Math.max(4, Math.round(2 * r));
  return finish(cropNative(img, disc, r, n).image, opts.outSize);
}

/**
 * Crop a disc (inscribed, black outside) and remove the grid lines and labels drawn over it
 * (see the module comment). Returns the cleaned square image and how many pixels were filled.
 */
export function cleanDisc(img: RgbImage, disc: Disc, opts: CleanOptions = {}): CleanResult {
  const margin = opts.margin ?? 0;
  const r = checkDisc(img, disc, margin);
  const n = Math.max(4, Math.round(2 * r));
  const { image, inside } = cropNative(img, disc, r, n);
  const contrast = opts.lineContrast ?? 28;
  const mask = thinStructureMask(image, inside, contrast);
  const cm = opts.colormap === undefined ? recogniseImageColormap(image) : opts.colormap;
  if (cm) markOffMap(image, inside, mask, cm, opts.offMapDistance ?? 45);
  const grown = dilate(mask, inside, n);
  const filled = inpaint(image, inside, grown);
  return { image: finish(image, opts.outSize), filled };
}

/** Padding (pixels) of the planar copy that {@link thinStructureMask} compares across. */
const PAD = 4;

/**
 * Calls `visit(i, q)` for each inside pixel of an n x n image: `i` its index in the image, `q` its
 * index in the padded (n + 2 PAD)-square copy.
 */
function forEachInsidePadded(n: number, inside: Uint8Array, visit: (i: number, q: number) => void): void {
  const m = n + 2 * PAD;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const i = y * n + x;
      if (inside[i]) visit(i, (y + PAD) * m + x + PAD);
    }
  }
}

/** Pixels on ridges/valleys thinner than 8 px (see the module comment). */
export function thinStructureMask(img: RgbImage, inside: Uint8Array, contrast: number): Uint8Array {
  const n = img.width;
  const m = n + 2 * PAD;
  // padded planar copy; padding and outside-disc pixels are flagged invalid
  const R = new Int16Array(m * m);
  const G = new Int16Array(m * m);
  const B = new Int16Array(m * m);
  const valid = new Uint8Array(m * m);
  forEachInsidePadded(n, inside, (i, q) => {
    R[q] = img.data[i * 3];
    G[q] = img.data[i * 3 + 1];
    B[q] = img.data[i * 3 + 2];
    valid[q] = 1;
  });
  /** True when the padded pixels `qa` and `qb` differ by at most `tol` in every channel. */
  const within = (qa: number, qb: number, tol: number): boolean =>
    Math.abs(R[qa] - R[qb]) <= tol && Math.abs(G[qa] - G[qb]) <= tol && Math.abs(B[qa] - B[qb]) <= tol;
  const similar = contrast / 2;
  const offsets: number[] = [];
  for (let s = 1; s <= PAD; s++) offsets.push(s, s * m, s * (m + 1), s * (m - 1));
  const mask = new Uint8Array(n * n);
  forEachInsidePadded(n, inside, (i, q) => {
    for (const off of offsets) {
      const qa = q - off;
      const qb = q + off;
      if (!valid[qa] || !valid[qb] || within(q, qa, contrast) || within(q, qb, contrast)) continue;
      if (
        Math.abs(R[qa] - R[qb]) < similar &&
        Math.abs(G[qa] - G[qb]) < similar &&
        Math.abs(B[qa] - B[qb]) < similar
      ) {
        mask[i] = 1;
        break;
      }
    }
  });
  return mask;
}

/**
 * Distance from colours to a colour map through a lazily filled 32x32x32 look-up table (colours
 * quantised to 5 bits per channel, distance of the cell centre: error at most ~7 RGB units),
 * cached per colour map so a whole study pays each cell once.
 */
const distanceLuts = new WeakMap<Colormap, { lut: Float32Array; inv: ColormapInverter }>();
function colourDistance(cm: Colormap, r: number, g: number, b: number): number {
  let entry = distanceLuts.get(cm);
  if (!entry) {
    entry = { lut: new Float32Array(32768).fill(-1), inv: new ColormapInverter(cm) };
    distanceLuts.set(cm, entry);
  }
  const key = ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3);
  let d = entry.lut[key];
  if (d < 0) {
    d = entry.inv.invert((r & 0xf8) + 4, (g & 0xf8) + 4, (b & 0xf8) + 4).distance;
    entry.lut[key] = d;
  }
  return d;
}

/** Overlays are white or gray: largest channel minus smallest at most this. */
const MAX_OVERLAY_CHROMA = 48;

/**
 * Mark (in `mask`) inside pixels that are gray/white (low chroma) and farther than `maxDistance`
 * from the colour map. Restricting to gray keeps the rim's and defect borders' anti-aliased mixes
 * of a map colour with black (off the table, but saturated) out of the mask.
 */
function markOffMap(
  img: RgbImage,
  inside: Uint8Array,
  mask: Uint8Array,
  cm: Colormap,
  maxDistance: number,
): void {
  const d = img.data;
  for (let i = 0; i < inside.length; i++) {
    if (!inside[i] || mask[i]) continue;
    const r = d[i * 3];
    const g = d[i * 3 + 1];
    const b = d[i * 3 + 2];
    const chroma = Math.max(r, g, b) - Math.min(r, g, b);
    if (chroma <= MAX_OVERLAY_CHROMA && colourDistance(cm, r, g, b) > maxDistance) mask[i] = 1;
  }
}

/** 3x3 dilation of `mask`, restricted to the inside of the disc. */
function dilate(mask: Uint8Array, inside: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (!mask[y * n + x]) continue;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= n) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < n && inside[yy * n + xx]) out[yy * n + xx] = 1;
        }
      }
    }
  }
  return out;
}

/** Onion-peel neighbour-average inpainting of the masked inside pixels (in place); returns the count filled. */
function inpaint(img: RgbImage, inside: Uint8Array, mask: Uint8Array): number {
  const n = img.width;
  const d = img.data;
  const known = new Uint8Array(inside.length);
  let todo: number[] = [];
  for (let i = 0; i < inside.length; i++) {
    if (!inside[i]) continue;
    if (mask[i]) todo.push(i);
    else known[i] = 1;
  }
  let filled = 0;
  const DIAG = Math.SQRT1_2;
  while (todo.length > 0) {
    const done: number[] = [];
    const values: number[] = [];
    const rest: number[] = [];
    for (const i of todo) {
      const x = i % n;
      const y = (i - x) / n;
      let w = 0;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= n) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if ((dx === 0 && dy === 0) || xx < 0 || xx >= n) continue;
          const j = yy * n + xx;
          if (!known[j]) continue;
          const wj = dx !== 0 && dy !== 0 ? DIAG : 1;
          w += wj;
          r += wj * d[j * 3];
          g += wj * d[j * 3 + 1];
          b += wj * d[j * 3 + 2];
        }
      }
      if (w > 0) {
        done.push(i);
        values.push(r / w, g / w, b / w);
      } else rest.push(i);
    }
    if (done.length === 0) break; // an enclosed region with nothing known around it
    done.forEach((i, k) => {
      d[i * 3] = Math.round(values[k * 3]);
      d[i * 3 + 1] = Math.round(values[k * 3 + 1]);
      d[i * 3 + 2] = Math.round(values[k * 3 + 2]);
      known[i] = 1;
    });
    filled += done.length;
    todo = rest;
  }
  return filled;
}
