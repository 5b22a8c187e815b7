/**
 * Heatmap overlays for the reader: the class activation map resized (bilinear) to the polar map,
 * masked to the disc(s), normalised to [0, 1], blended over the map with a perceptual colour map,
 * and laid out as a figure (original | overlay | colour bar, caption underneath) like Figure 5 of
 * Hai et al. (2022). PNG via sharp; written atomically next to the original image.
 *
 * Colour maps: matplotlib's perceptually uniform maps (viridis, inferno, magma, plasma, by
 * Smith and van der Walt, 2015), cividis (Nunez et al. 2018) and turbo (Mikhailov 2019), taken
 * from `d3-scale-chromatic`, which ships them as matplotlib's published tables.
 */
import { basename, dirname, extname, join } from 'node:path';
import {
  interpolateCividis,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolateTurbo,
  interpolateViridis,
} from 'd3-scale-chromatic';
import sharp from 'sharp';
import type { RgbImage } from '../domain/image.js';
import { VIEWS, VIEW_CAPTIONS } from '../domain/views.js';
import { resizeRgb } from '../ingest/preprocess.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import type { InputLayout } from '../domain/input-mode.js';

/** Perceptual colour maps available for heatmaps. */
export const HEATMAP_COLORMAPS = ['inferno', 'viridis', 'magma', 'plasma', 'cividis', 'turbo'] as const;
export type HeatmapColormap = (typeof HEATMAP_COLORMAPS)[number];

const INTERPOLATORS: Readonly<Record<HeatmapColormap, (t: number) => string>> = {
  inferno: interpolateInferno,
  viridis: interpolateViridis,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  cividis: interpolateCividis,
  turbo: interpolateTurbo,
};

const lutCache = new Map<HeatmapColormap, Uint8Array>();

/** 256-entry RGB look-up table (768 bytes) of a heatmap colour map; entry 0 = value 0, 255 = value 1. */
export function heatmapLut(name: HeatmapColormap): Uint8Array {
  let lut = lutCache.get(name);
  if (lut === undefined) {
    const f = INTERPOLATORS[name];
    if (f === undefined)
      throw new InputError(
        `unknown heatmap colour map "${String(name)}" (one of ${HEATMAP_COLORMAPS.join(', ')})`,
      );
    lut = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
      const s = f(i / 255);
      const m =
        /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(s) ?? /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(s);
      if (m === null) throw new Error(`internal: colour "${s}" of ${name} not understood`);
      const base = s.startsWith('#') ? 16 : 10;
      for (let c = 0; c < 3; c++) lut[i * 3 + c] = parseInt(m[c + 1], base);
    }
    lutCache.set(name, lut);
  }
  return lut;
}

/**
 * Bilinear resize of a single-channel row-major raster `h` x `w` to `outH` x `outW`, with
 * half-pixel centres and edge clamping: output pixel i samples source coordinate
 * (i + 0.5) * src / dst - 0.5 (the convention of `tf.image.resizeBilinear(.., halfPixelCenters=true)`
 * and of `ingest/preprocess.ts`). The feature map's cells cover the model input like this, so the
 * heatmap lands where the features were computed.
 */
export function resizeBilinear(
  src: Float32Array,
  h: number,
  w: number,
  outH: number,
  outW: number,
): Float32Array {
  if (src.length !== h * w) throw new InputError(`heatmap has ${src.length} values, expected ${h}x${w}`);
  if (!(Number.isInteger(outH) && Number.isInteger(outW) && outH >= 1 && outW >= 1))
    throw new InputError(`bad output size ${outW}x${outH}`);
  const axis = (n: number, out: number): { i0: Int32Array; i1: Int32Array; f: Float32Array } => {
    const i0 = new Int32Array(out);
    const i1 = new Int32Array(out);
    const f = new Float32Array(out);
    for (let i = 0; i < out; i++) {
      const x = Math.min(n - 1, Math.max(0, ((i + 0.5) * n) / out - 0.5));
      i0[i] = Math.floor(x);
      i1[i] = Math.min(n - 1, i0[i] + 1);
      f[i] = x - i0[i];
    }
    return { i0, i1, f };
  };
  const ys = axis(h, outH);
  const xs = axis(w, outW);
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const r0 = ys.i0[y] * w;
    const r1 = ys.i1[y] * w;
    const fy = ys.f[y];
    for (let x = 0; x < outW; x++) {
      const a = xs.i0[x];
      const b = xs.i1[x];
      const fx = xs.f[x];
      const top = src[r0 + a] + (src[r0 + b] - src[r0 + a]) * fx;
      const bot = src[r1 + a] + (src[r1 + b] - src[r1 + a]) * fx;
      out[y * outW + x] = top + (bot - top) * fy;
    }
  }
  return out;
}

/**
 * Inside-the-disc mask (1 inside) of a square image of side `size`: one disc inscribed in the
 * square (`UptakeMap` convention: centre ((n-1)/2, (n-1)/2), radius n/2), or four, one per
 * quadrant, for the 2x2 tile. `marginPx` widens the radius (e.g. 1 px, so the overlay also
 * covers the anti-aliased rim of a displayed map).
 */
export function discMask(size: number, layout: InputLayout = 'image', marginPx = 0): Uint8Array {
  if (!Number.isInteger(size) || size < 1 || (layout === 'tile2x2' && size % 2 !== 0))
    throw new InputError(`disc mask: bad size ${size} for layout ${layout}`);
  const mask = new Uint8Array(size * size);
  const n = layout === 'tile2x2' ? size / 2 : size;
  const c = (n - 1) / 2;
  const r2 = (n / 2 + marginPx) * (n / 2 + marginPx);
  for (let y = 0; y < size; y++) {
    const dy = (y % n) - c;
    for (let x = 0; x < size; x++) {
      const dx = (x % n) - c;
      if (dx * dx + dy * dy <= r2) mask[y * size + x] = 1;
    }
  }
  return mask;
}

/**
 * Bilinear resize as {@link resizeBilinear} (half-pixel centres), but each output row's source
 * coordinate is clamped to source rows [r0, r1] and each column's to columns [c0, c1]: the output
 * never mixes in cells outside that block. `out` receives the block of output rows [y0, y1) and
 * columns [x0, x1) of a `outH` x `outW` raster.
 */
function resizeBilinearBlock(
  src: Float32Array,
  h: number,
  w: number,
  out: Float32Array,
  outH: number,
  outW: number,
  rows: { y0: number; y1: number; r0: number; r1: number },
  cols: { x0: number; x1: number; c0: number; c1: number },
): void {
  const coord = (i: number, n: number, o: number, lo: number, hi: number): [number, number, number] => {
    const x = Math.min(hi, Math.max(lo, ((i + 0.5) * n) / o - 0.5));
    const i0 = Math.floor(x);
    return [i0, Math.min(hi, i0 + 1), x - i0];
  };
  for (let y = rows.y0; y < rows.y1; y++) {
    const [a0, a1, fy] = coord(y, h, outH, rows.r0, rows.r1);
    for (let x = cols.x0; x < cols.x1; x++) {
      const [b0, b1, fx] = coord(x, w, outW, cols.c0, cols.c1);
      const top = src[a0 * w + b0] + (src[a0 * w + b1] - src[a0 * w + b0]) * fx;
      const bot = src[a1 * w + b0] + (src[a1 * w + b1] - src[a1 * w + b0]) * fx;
      out[y * outW + x] = top + (bot - top) * fy;
    }
  }
}

/**
 * The heatmap on the polar map: `map` (h x w, e.g. the 7 x 7 Grad-CAM) resized bilinearly to
 * `size` x `size`, set to 0 outside the mask, negative values clipped to 0, and divided by its
 * maximum inside the mask (so it spans [0, 1]; an all-zero map stays 0). This *relative* heatmap
 * gives the territory shares; what is displayed is {@link displayedHeatmap} (weighted by the
 * evidence for CAD), so that a confident normal study looks quiet.
 *
 * Layout 'tile2x2' (four discs, one per quadrant): each quadrant is resized from its own cells
 * only (rows 0 .. ceil(h/2) - 1 for the top discs, floor(h/2) .. h - 1 for the bottom ones, and
 * likewise for columns), so no disc borrows heat from its neighbour across the seam and no blob is
 * smeared over the seam. For an even grid this is exactly the bilinear resize of each quadrant's
 * (h/2 x w/2) block to its disc; for an odd grid the middle row/column, which straddles the seam,
 * is shared.
 */
export function heatmapOnMap(
  map: Float32Array,
  h: number,
  w: number,
  size: number,
  mask: Uint8Array,
  layout: InputLayout = 'image',
): Float32Array {
  if (mask.length !== size * size)
    throw new InputError(`disc mask has ${mask.length} pixels, expected ${size}x${size}`);
  let up: Float32Array;
  if (layout === 'tile2x2') {
    if (map.length !== h * w) throw new InputError(`heatmap has ${map.length} values, expected ${h}x${w}`);
    if (size % 2 !== 0 || h < 1 || w < 1)
      throw new InputError(`tile heatmap: bad size ${size} for ${h}x${w}`);
    up = new Float32Array(size * size);
    const n = size / 2;
    const halves = (len: number): [number, number][] => [
      [0, Math.ceil(len / 2) - 1],
      [Math.floor(len / 2), len - 1],
    ];
    halves(h).forEach(([r0, r1], qy) =>
      halves(w).forEach(([c0, c1], qx) =>
        resizeBilinearBlock(
          map,
          h,
          w,
          up,
          size,
          size,
          { y0: qy * n, y1: (qy + 1) * n, r0, r1 },
          { x0: qx * n, x1: (qx + 1) * n, c0, c1 },
        ),
      ),
    );
  } else up = resizeBilinear(map, h, w, size, size);
  let max = 0;
  for (let i = 0; i < up.length; i++) {
    const v = mask[i] === 1 && up[i] > 0 ? up[i] : 0;
    up[i] = v;
    if (v > max) max = v;
  }
  if (max > 0) for (let i = 0; i < up.length; i++) up[i] /= max;
  return up;
}

/**
 * Weight of a CNN heatmap on the display: the model's evidence for CAD, here its predicted
 * probability of CAD clamped to [0, 1] (NaN -> 0). Grad-CAM and CAM only say *where* the CAD score
 * comes from, never *how much* of it there is, and {@link heatmapOnMap} scales every study to a
 * maximum of 1; so a confident normal study (P = 0.10) would otherwise show a full-brightness blob.
 * Multiplying by this weight puts every study on one fixed colour scale: the brightest pixel of a
 * displayed heatmap equals P(CAD) (0.10 for that normal study, 0.95 for a clear CAD study).
 */
export function evidenceWeight(probability: number): number {
  return Number.isFinite(probability) ? Math.min(1, Math.max(0, probability)) : 0;
}

/**
 * The heatmap as displayed: the relative heatmap of {@link heatmapOnMap} (maximum 1) times the
 * evidence weight of {@link evidenceWeight}, so its values lie in [0, weight] on the colour bar's
 * fixed [0, 1] scale. The territory shares are computed from the relative heatmap (shares do not
 * depend on a common factor, and a weight of 0 would erase them); the brightest pixel is the same
 * in both, so the words and the picture point at the same place.
 */
export function displayedHeatmap(relative: Float32Array, weight: number): Float32Array {
  const w = evidenceWeight(weight);
  return relative.map((v) => v * w);
}

/** Colour-bar label of a displayed (evidence-weighted) CNN heatmap. */
export const EVIDENCE_LEGEND = 'importance x P(CAD)';

/** Options of {@link blendHeatmap} and {@link renderOverlayFigure}. */
export interface OverlayOptions {
  /** Colour map of the heatmap (default 'inferno'). */
  colormap?: HeatmapColormap;
  /** Opacity of the heatmap at its maximum (default 0.65). */
  alpha?: number;
  /** Opacity at value 0 (default 0.35): low-attention parts still show some colour, so the legend reads. */
  alphaMin?: number;
  /** What is under the heatmap inside the disc: the map in grayscale (default, so the heatmap's colours are unambiguous) or in its own colours. */
  underlay?: 'gray' | 'original';
}

/**
 * Blend a [0, 1] heatmap (same size as `image`) over the image inside `mask`; outside the mask
 * the image is returned unchanged. Opacity grows linearly from `alphaMin` (value 0) to `alpha` (value 1).
 */
export function blendHeatmap(
  image: RgbImage,
  heat: Float32Array,
  mask: Uint8Array,
  opts: OverlayOptions = {},
): RgbImage {
  const { width: W, height: H } = image;
  if (heat.length !== W * H || mask.length !== W * H)
    throw new InputError(`heatmap/mask size does not match the ${W}x${H} image`);
  const lut = heatmapLut(opts.colormap ?? 'inferno');
  const aMax = opts.alpha ?? 0.65;
  const aMin = opts.alphaMin ?? 0.35;
  if (!(aMax >= 0 && aMax <= 1 && aMin >= 0 && aMin <= aMax))
    throw new InputError(`overlay opacity must satisfy 0 <= alphaMin <= alpha <= 1, got ${aMin}, ${aMax}`);
  const gray = (opts.underlay ?? 'gray') === 'gray';
  const out = new Uint8Array(image.data);
  for (let i = 0; i < W * H; i++) {
    if (mask[i] !== 1) continue;
    const v = Math.min(1, Math.max(0, heat[i]));
    const a = aMin + (aMax - aMin) * v;
    const k = Math.round(v * 255) * 3;
    const o = i * 3;
    const lum = 0.299 * image.data[o] + 0.587 * image.data[o + 1] + 0.114 * image.data[o + 2];
    for (let c = 0; c < 3; c++) {
      const under = gray ? lum : image.data[o + c];
      out[o + c] = Math.round(under * (1 - a) + lut[k + c] * a);
    }
  }
  return { width: W, height: H, data: out };
}

/** Text of the figure. */
export interface FigureText {
  /** Above the original (default 'Polar map'). */
  originalTitle?: string;
  /** Above the overlay (default 'Grad-CAM, CAD class'). */
  overlayTitle?: string;
  /** Under both panels, wrapped (e.g. the attribution sentence). */
  caption?: string;
  /** Beside the colour bar (default 'relative importance'). */
  legendLabel?: string;
}

/** Where things are in the figure (pixels), for tests and callers that crop. */
export interface FigureLayout {
  width: number;
  height: number;
  original: { x: number; y: number; size: number };
  overlay: { x: number; y: number; size: number };
  legend: { x: number; y: number; width: number; height: number };
}

const BG: readonly [number, number, number] = [17, 17, 23];
const MARGIN = 18;
const TITLE_H = 30;
const FONT = 'DejaVu Sans, Lato, sans-serif';

function xmlEscape(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );
}

/** Greedy word wrap at about `maxChars` characters per line. */
function wrap(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    if (line.length > 0 && line.length + 1 + word.length > maxChars) {
      lines.push(line);
      line = word;
    } else line = line.length > 0 ? `${line} ${word}` : word;
  }
  if (line.length > 0) lines.push(line);
  return lines;
}

/**
 * The explanation figure as PNG: the polar map (or 2x2 tile) on the left, the same with the
 * heatmap blended on it on the right, a colour bar with ticks, titles, and an optional caption.
 * `original` and `heat`/`mask` share one square size (the panel size); outside the mask the overlay
 * panel shows the original pixels unchanged.
 */
export async function renderOverlayFigure(
  original: RgbImage,
  heat: Float32Array,
  mask: Uint8Array,
  text: FigureText = {},
  opts: OverlayOptions & { layout?: InputLayout } = {},
): Promise<{ png: Uint8Array; layout: FigureLayout }> {
  const S = original.width;
  if (original.height !== S)
    throw new InputError(
      `overlay figure: the polar-map image must be square, got ${original.width}x${original.height}`,
    );
  const overlay = blendHeatmap(original, heat, mask, opts);
  const barW = 16;
  const legendW = barW + 64;
  const captionFont = 14;
  const maxChars = Math.max(20, Math.floor((2 * S + MARGIN + legendW) / (captionFont * 0.56)));
  const lines = text.caption !== undefined ? wrap(text.caption, maxChars) : [];
  const captionH = lines.length > 0 ? lines.length * Math.round(captionFont * 1.45) + 12 : 0;
  const W = MARGIN + S + MARGIN + S + MARGIN + legendW + MARGIN;
  const H = MARGIN + TITLE_H + S + captionH + MARGIN;
  const lay: FigureLayout = {
    width: W,
    height: H,
    original: { x: MARGIN, y: MARGIN + TITLE_H, size: S },
    overlay: { x: 2 * MARGIN + S, y: MARGIN + TITLE_H, size: S },
    legend: {
      x: 3 * MARGIN + 2 * S,
      y: MARGIN + TITLE_H + Math.round(S * 0.1),
      width: barW,
      height: Math.round(S * 0.8),
    },
  };
  const canvas = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) canvas.set(BG, i * 3);
  const paste = (img: RgbImage, x0: number, y0: number): void => {
    for (let y = 0; y < img.height; y++)
      canvas.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * W + x0) * 3);
  };
  paste(original, lay.original.x, lay.original.y);
  paste(overlay, lay.overlay.x, lay.overlay.y);
  // colour bar: value 1 at the top, shown with the opacity it gets over a mid-gray map
  const lut = heatmapLut(opts.colormap ?? 'inferno');
  const { x: bx, y: by, width: bw, height: bh } = lay.legend;
  for (let y = 0; y < bh; y++) {
    const k = Math.round((1 - y / Math.max(1, bh - 1)) * 255) * 3;
    for (let x = 0; x < bw; x++) canvas.set(lut.subarray(k, k + 3), ((by + y) * W + bx + x) * 3);
  }
  const tx = bx + bw + 6;
  const ticks = [1, 0.5, 0].map((v) => {
    const y = by + Math.round((1 - v) * (bh - 1));
    return `<line x1="${bx + bw}" y1="${y + 0.5}" x2="${bx + bw + 4}" y2="${y + 0.5}" stroke="#ddd"/><text x="${tx}" y="${y + 4}" font-size="12">${v === 1 ? '1' : v === 0 ? '0' : '0.5'}</text>`;
  });
  const legendLabel = text.legendLabel ?? 'relative importance';
  const lx = bx + bw + 34;
  const ly = by + bh / 2;
  const titleFont = (t: string): number =>
    Math.max(9, Math.min(15, Math.floor(S / (0.62 * Math.max(1, t.length)))));
  const t1 = text.originalTitle ?? 'Polar map';
  const t2 = text.overlayTitle ?? 'Grad-CAM, CAD class';
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">`,
    `<g font-family="${FONT}" fill="#eee">`,
    `<text x="${lay.original.x + S / 2}" y="${MARGIN + 19}" font-size="${titleFont(t1)}" font-weight="bold" text-anchor="middle">${xmlEscape(t1)}</text>`,
    `<text x="${lay.overlay.x + S / 2}" y="${MARGIN + 19}" font-size="${titleFont(t2)}" font-weight="bold" text-anchor="middle">${xmlEscape(t2)}</text>`,
    ...ticks,
    `<text x="${lx}" y="${ly}" font-size="12" text-anchor="middle" transform="rotate(90 ${lx} ${ly})">${xmlEscape(legendLabel)}</text>`,
    ...lines.map(
      (l, i) =>
        `<text x="${MARGIN}" y="${MARGIN + TITLE_H + S + 12 + captionFont + i * Math.round(captionFont * 1.45)}" font-size="${captionFont}">${xmlEscape(l)}</text>`,
    ),
    ...(opts.layout === 'tile2x2'
      ? VIEWS.map((v, i) => {
          const n = S / 2;
          return `<text x="${lay.original.x + (i % 2) * n + 4}" y="${lay.original.y + (i >= 2 ? n : 0) + 14}" font-size="11">${VIEW_CAPTIONS[v]}</text>`;
        })
      : []),
    `</g></svg>`,
  ].join('');
  const png = await sharp(Buffer.from(canvas), { raw: { width: W, height: H, channels: 3 } })
    .composite([{ input: Buffer.from(svg, 'utf8'), top: 0, left: 0 }])
    .png()
    .toBuffer();
  return { png: new Uint8Array(png), layout: lay };
}

/** Upscale a polar-map crop to the display size (bilinear; unchanged when already that size). */
export function toDisplaySize(image: RgbImage, size: number): RgbImage {
  return image.width === size && image.height === size ? image : resizeRgb(image, size, size);
}

/**
 * The path of the overlay next to an original image: same folder, the original's name without its
 * extension plus `suffix` (default '.gradcam.png'), e.g. scans/P001_stress.png ->
 * scans/P001_stress.gradcam.png.
 */
export function overlayPathFor(originalPath: string, suffix = '.gradcam.png'): string {
  const base = basename(originalPath, extname(originalPath));
  return join(dirname(originalPath), `${base}${suffix}`);
}

/** Write the overlay PNG next to the original (atomically); returns its path. */
export async function writeOverlayBeside(
  originalPath: string,
  png: Uint8Array,
  suffix?: string,
): Promise<string> {
  const out = overlayPathFor(originalPath, suffix);
  await writeFileAtomic(out, png);
  return out;
}
