/**
 * Vendor-style renderings of synthetic polar maps: one map per image (`renderSingleMap`) or a
 * QPS/Emory-like export page with several maps (`renderPage`). Black background, coloured discs,
 * captions, a colour bar, optional 17-segment grid with segment numbers drawn over the disc.
 */
import type { Disc, RgbImage, UptakeMap } from '../domain/image.js';
import { VIEW_CAPTIONS, type View } from '../domain/views.js';
import type { Colormap } from '../polarmap/colormaps.js';
import { getColormap } from '../polarmap/colormaps.js';
import {
  addSegmentGrid,
  addText,
  flatten,
  newDrawing,
  paintColourBar,
  paintDisc,
  type Drawing,
} from './draw.js';
import { DEFAULT_LAYOUT_SPEC, parseLayoutOrThrow } from '../domain/layout.js';
import { createUptakeMap } from '../domain/image.js';
import type { SyntheticPatient } from './types.js';

export interface SingleMapOptions {
  readonly colormap: Colormap;
  readonly caption: string;
  readonly grid: boolean;
  /** side of the square output image in pixels; default 320, minimum 64 */
  readonly canvas?: number;
}

export interface PageOptions {
  readonly colormap: Colormap;
  /** default 'stress_ac,rest_ac/stress_nac,rest_nac' (docs/manifest.md) */
  readonly layout?: string;
  readonly grid: boolean;
}

export const DEFAULT_SINGLE_CANVAS = 320;
export const PAGE_WIDTH = 1640;
export const PAGE_HEIGHT = 1068;

/** The drawing of a single-map export (synchronous; see `renderSingleMap`). */
export function drawSingleMap(map: UptakeMap, opts: SingleMapOptions): { drawing: Drawing; disc: Disc } {
  const W = opts.canvas ?? DEFAULT_SINGLE_CANVAS;
  if (!Number.isInteger(W) || W < 64) throw new RangeError(`canvas: must be a whole number >= 64, got ${W}`);
  const d = newDrawing(W, W);
  const caption = Math.max(8, Math.round(Math.min(W * 0.05, (W * 1.45) / Math.max(1, opts.caption.length))));
  const barW = Math.max(6, Math.round(W * 0.035));
  const radius = Math.floor(W * 0.37);
  const disc: Disc = { cx: Math.round((W - barW * 3) / 2), cy: Math.round(W / 2 + caption * 0.6), radius };
  paintDisc(d.image, map, disc, opts.colormap);
  addText(d, Math.round(W / 2), Math.round(caption * 1.5), opts.caption, {
    size: caption,
    anchor: 'middle',
    weight: 'bold',
  });
  if (opts.grid) addSegmentGrid(d, disc, true);
  const barH = Math.round(radius * 1.6);
  paintColourBar(
    d,
    W - barW * 2,
    disc.cy - Math.round(barH / 2),
    barW,
    barH,
    opts.colormap,
    Math.max(8, Math.round(W * 0.03)),
  );
  return { drawing: d, disc };
}

/**
 * One vendor-style image of one polar map: black background with margins, the coloured disc, a
 * caption on top, a colour bar on the right and, if `grid`, the 17-segment grid and segment numbers
 * over the disc. `disc` tells where the disc is in the image (pixels).
 */
export async function renderSingleMap(
  map: UptakeMap,
  opts: SingleMapOptions,
): Promise<{ image: RgbImage; disc: Disc }> {
  const { drawing, disc } = drawSingleMap(map, opts);
  return { image: await flatten(drawing), disc };
}

/** "Reversibility" distractor map for '-' cells: max(0, rest - stress) of the AC maps, stretched. */
function reversibilityMap(p: SyntheticPatient): UptakeMap {
  const s = p.maps.stress_ac;
  const r = p.maps.rest_ac;
  const out = createUptakeMap(s.size);
  for (let i = 0; i < out.data.length; i++)
    out.data[i] = r.data[i] > 0 ? Math.min(1, 0.15 + 3 * Math.max(0, r.data[i] - s.data[i])) : 0;
  return out;
}

const fmtCounts = (n: number): string => `${(n / 1e6).toFixed(2)}M`;

/** The drawing of an export page (synchronous; see `renderPage`). */
export function drawPage(
  p: SyntheticPatient,
  opts: PageOptions,
): { drawing: Drawing; discs: Partial<Record<View, Disc>> } {
  const cells = parseLayoutOrThrow(opts.layout ?? DEFAULT_LAYOUT_SPEC);
  const d = newDrawing(PAGE_WIDTH, PAGE_HEIGHT);
  // header, like a vendor export
  addText(d, 24, 38, 'Myocardial Perfusion SPECT  -  Polar Maps (Stress/Rest, AC/NAC)', {
    size: 26,
    weight: 'bold',
  });
  addText(
    d,
    24,
    72,
    `Patient: ${p.id}    Sex: ${p.sex}    Age: ${p.age}    BMI: ${p.bmi.toFixed(1)}    Study date: ${p.studyDate}`,
    { size: 20, fill: '#e8e8e8' },
  );
  addText(
    d,
    24,
    102,
    `Tc-99m tetrofosmin, 1-day rest/stress    Stress counts: ${fmtCounts(p.counts.stress)}    Rest counts: ${fmtCounts(p.counts.rest)}    Matrix 64x64    Zoom 1.45`,
    { size: 17, fill: '#bbbbbb' },
  );
  addText(d, PAGE_WIDTH - 24, 38, 'polarcad synthetic', { size: 16, anchor: 'end', fill: '#888' });
  d.overlay.push(`<line x1="16" y1="118" x2="${PAGE_WIDTH - 16}" y2="118" stroke="#666" stroke-width="2"/>`);
  // map grid
  const left = 40;
  const top = 130;
  const right = PAGE_WIDTH - 150;
  const bottom = PAGE_HEIGHT - 12;
  const nRows = cells.length;
  const nCols = Math.max(...cells.map((r) => r.length));
  const cellW = (right - left) / nCols;
  const cellH = (bottom - top) / nRows;
  const captionSize = Math.max(12, Math.min(24, Math.round(cellH * 0.05)));
  const radius = Math.floor((Math.min(cellW, cellH - captionSize * 1.8) / 2) * 0.9);
  const discs: Partial<Record<View, Disc>> = {};
  cells.forEach((row, i) => {
    row.forEach((cell, j) => {
      const cx = Math.round(left + cellW * (j + 0.5));
      const cy = Math.round(top + cellH * i + captionSize * 1.8 + (cellH - captionSize * 1.8) / 2);
      const disc: Disc = { cx, cy, radius };
      const map = cell === null ? reversibilityMap(p) : p.maps[cell];
      paintDisc(d.image, map, disc, cell === null ? getColormap('gray') : opts.colormap);
      addText(
        d,
        cx,
        Math.round(cy - radius - captionSize * 0.6),
        cell === null ? 'Reversibility' : VIEW_CAPTIONS[cell],
        { size: captionSize, anchor: 'middle', weight: 'bold' },
      );
      if (opts.grid) addSegmentGrid(d, disc, true);
      if (cell !== null) discs[cell] = disc;
    });
  });
  const barH = Math.round((bottom - top) * 0.7);
  paintColourBar(
    d,
    PAGE_WIDTH - 90,
    Math.round(top + (bottom - top - barH) / 2),
    28,
    barH,
    opts.colormap,
    16,
  );
  return { drawing: d, discs };
}

/**
 * One export page (1640 x 1068, black background): header text (patient id, date, protocol, counts),
 * the maps of `layout` in a grid with captions, and a colour bar. `discs` says where each view's
 * disc is; '-' cells get a distractor "Reversibility" map that is not reported.
 */
export async function renderPage(
  p: SyntheticPatient,
  opts: PageOptions,
): Promise<{ image: RgbImage; discs: Partial<Record<View, Disc>> }> {
  const { drawing, discs } = drawPage(p, opts);
  return { image: await flatten(drawing), discs };
}
