/**
 * User-supplied colour maps: the look-up table of the software that exported the polar maps,
 * given either as a CSV of RGB rows or as an image of the colour bar printed next to the maps.
 *
 * `resolveColormap(spec)` is the one entry point the CLI needs: a built-in name
 * (`gray`, `hot`, `cool`, `rainbow`) or a path to a `.csv` or an image (PNG, JPEG, ...).
 */
import { basename, extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import type { Box, RgbImage } from '../domain/image.js';
import { InputError, errorMessage } from '../util/errors.js';
import {
  BUILTIN_COLORMAPS,
  type Colormap,
  colormapFromRows,
  getColormap,
  isBuiltinColormap,
} from './colormaps.js';
import { readNamedInputText } from '../util/read-input.js';

type Rgb = [number, number, number];

/** Image extensions `resolveColormap` reads as a colour-bar picture. */
export const COLORBAR_IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp', '.bmp'] as const;

/**
 * Parse a colour table from CSV text.
 *
 * Format: one colour per row, three columns `r,g,b`; row order = increasing uptake (the first
 * colour row is the lowest uptake). A header row is optional: the first row is taken as a
 * header when none of its fields is a number. Empty lines and lines starting with `#` are
 * ignored. Values are either all in 0-255 or all in 0-1: if every value of the table is <= 1 the
 * table is read as 0-1 and scaled by 255 (a 0-255 table whose largest value is 1 would be
 * black anyway), otherwise values must be 0-255 and are rounded.
 *
 * @param text CSV content
 * @param source file name used in error messages
 * @throws InputError naming `source` and the line ("row") of every problem found
 */
export function colormapFromCsvText(text: string, source: string): Colormap {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      comment: '#',
      bom: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    throw new InputError(`colour map ${source}: not a readable CSV file (${errorMessage(e)})`, { cause: e });
  }
  const isNumber = (s: string): boolean => s !== '' && Number.isFinite(Number(s));
  if (records.length > 0 && records[0].record.every((f) => !isNumber(f))) records = records.slice(1);

  const problems: string[] = [];
  const values: { line: number; rgb: Rgb }[] = [];
  for (const { record, info } of records) {
    const line = info.lines;
    if (record.length !== 3) {
      problems.push(`row ${line}: expected 3 values r,g,b, got ${record.length}`);
      continue;
    }
    const rgb: number[] = [];
    record.forEach((field, c) => {
      const v = Number(field);
      const col = 'rgb'[c];
      if (!isNumber(field)) problems.push(`row ${line}, column ${col}: "${field}" is not a number`);
      else if (v < 0 || v > 255)
        problems.push(`row ${line}, column ${col}: ${field} is outside 0-255 (or 0-1)`);
      rgb.push(v);
    });
    values.push({ line, rgb: rgb as Rgb });
  }
  if (problems.length > 0) {
    throw new InputError(
      `colour map ${source}: ${problems.length} bad row(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  if (values.length < 2) {
    throw new InputError(
      `colour map ${source}: needs at least 2 colour rows (r,g,b), found ${values.length}`,
    );
  }
  const unitScale = values.every(({ rgb }) => rgb.every((v) => v <= 1));
  const rows = values.map(({ rgb }) => rgb.map((v) => Math.round(unitScale ? v * 255 : v)) as Rgb);
  return colormapFromRows(source, rows);
}

/** Read a colour table from a CSV file (see `colormapFromCsvText` for the format). */
export async function loadColormapCsv(path: string): Promise<Colormap> {
  const text = await readNamedInputText('colour map', path, 'table');
  const cm = colormapFromCsvText(text, path);
  return { ...cm, name: basename(path) };
}

/** How to read a colour bar picture. */
export interface ColorbarOptions {
  /** Long axis of the bar. `auto` (default): vertical when the region is taller than wide. */
  readonly orientation?: 'auto' | 'vertical' | 'horizontal';
  /**
   * Default low end: bottom of a vertical bar, left of a horizontal bar. `reverse` flips that
   * (for bars with the maximum at the bottom / left).
   */
  readonly reverse?: boolean;
  /** Region of the image holding the bar only (default: the whole image). */
  readonly crop?: Box;
  /**
   * A sample is dropped when its Euclidean RGB distance to the last kept entry is <= this
   * (default 1: drops exact repeats from a bar drawn several pixels per entry and +-1 rounding
   * noise, keeps the 1.7-unit steps of a 256-level gray scale).
   */
  readonly dedupeTolerance?: number;
  /** Name of the resulting colour map (default `colorbar`). */
  readonly name?: string;
}

/**
 * Build a colour table from a picture of a colour bar.
 *
 * The bar is sampled along its long axis, one sample per pixel, at its centre line: each sample
 * is the mean colour of the central third of the short axis (at least one pixel), which
 * averages out JPEG noise without touching the bar's edges or frame. Consecutive samples that
 * are near-duplicates of the last kept entry (see `dedupeTolerance`) are merged into one run;
 * the runs are then resampled by position along the bar (see `resampleRuns`), so a bar drawn
 * with N pixels per table entry gives back the table itself.
 *
 * @throws InputError if the region is empty or fewer than 2 distinct colours remain
 */
export function colormapFromColorbar(img: RgbImage, opts: ColorbarOptions = {}): Colormap {
  const name = opts.name ?? 'colorbar';
  const box = opts.crop ?? { x: 0, y: 0, width: img.width, height: img.height };
  if (
    box.width < 1 ||
    box.height < 1 ||
    box.x < 0 ||
    box.y < 0 ||
    box.x + box.width > img.width ||
    box.y + box.height > img.height
  ) {
    throw new InputError(
      `colour bar ${name}: region ${box.x},${box.y},${box.width},${box.height} is empty or outside the ${img.width}x${img.height} image`,
    );
  }
  const orientation =
    opts.orientation === undefined || opts.orientation === 'auto'
      ? box.height > box.width
        ? 'vertical'
        : 'horizontal'
      : opts.orientation;
  const vertical = orientation === 'vertical';
  const long = vertical ? box.height : box.width;
  const short = vertical ? box.width : box.height;
  const bandLo = Math.floor(short / 3);
  const bandHi = Math.max(bandLo + 1, short - Math.floor(short / 3));
  // low end first: bottom for vertical bars, left for horizontal ones
  const lowFirst = !opts.reverse;
  const tol = opts.dedupeTolerance ?? 1;

  // runs of near-duplicate samples: kept colour, first and last sample index
  const runs: { rgb: Rgb; first: number; last: number }[] = [];
  for (let k = 0; k < long; k++) {
    const along = lowFirst ? (vertical ? long - 1 - k : k) : vertical ? k : long - 1 - k;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let s = bandLo; s < bandHi; s++) {
      const x = box.x + (vertical ? s : along);
      const y = box.y + (vertical ? along : s);
      const i = (y * img.width + x) * 3;
      r += img.data[i];
      g += img.data[i + 1];
      b += img.data[i + 2];
    }
    const n = bandHi - bandLo;
    const rgb: Rgb = [Math.round(r / n), Math.round(g / n), Math.round(b / n)];
    const run = runs[runs.length - 1];
    if (run && Math.hypot(rgb[0] - run.rgb[0], rgb[1] - run.rgb[1], rgb[2] - run.rgb[2]) <= tol) run.last = k;
    else runs.push({ rgb, first: k, last: k });
  }
  if (runs.length < 2) {
    throw new InputError(
      `colour bar ${name}: found ${runs.length} distinct colour(s) along the bar, need at least 2`,
    );
  }
  return colormapFromRows(name, resampleRuns(runs));
}

/**
 * Place each run's colour at the position of its centre along the bar (first run 0, last run 1)
 * and resample linearly to as many evenly spaced entries as there are runs. A bar drawn with the
 * same number of pixels per entry gives back its table exactly; uneven runs (JPEG noise, a bar
 * resized to a length that is not a multiple of the table) keep their true position, so uptake
 * read from the table matches the position on the bar.
 */
function resampleRuns(runs: readonly { rgb: Rgb; first: number; last: number }[]): Rgb[] {
  const centre = runs.map((r) => (r.first + r.last) / 2);
  const c0 = centre[0];
  const span = centre[centre.length - 1] - c0;
  const n = runs.length;
  const out: Rgb[] = [];
  let j = 0;
  for (let i = 0; i < n; i++) {
    const pos = c0 + (span * i) / (n - 1);
    while (j < n - 2 && centre[j + 1] < pos) j++;
    const f = Math.min(1, Math.max(0, (pos - centre[j]) / (centre[j + 1] - centre[j])));
    const a = runs[j].rgb;
    const b = runs[j + 1].rgb;
    out.push([0, 1, 2].map((c) => Math.round(a[c] + f * (b[c] - a[c]))) as Rgb);
  }
  return out;
}

/** Decode any image sharp reads into 8-bit RGB (alpha dropped, grayscale expanded). */
async function readRgb(path: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(path)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels, expected 3`);
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  } catch (e) {
    throw new InputError(`colour bar ${path}: cannot read image (${errorMessage(e)})`, { cause: e });
  }
}

/** Read a colour table from a colour-bar picture file (see `colormapFromColorbar`). */
export async function loadColormapImage(path: string, opts: ColorbarOptions = {}): Promise<Colormap> {
  const img = await readRgb(path);
  return colormapFromColorbar(img, { ...opts, name: opts.name ?? path });
}

/**
 * A colour map from a user's specification: a built-in name (`gray`, `hot`, `cool`, `rainbow`),
 * a path to a `.csv` table, or a path to a colour-bar image (`.png`, `.jpg`, ...). Colour-bar
 * options apply to images only.
 *
 * @throws InputError for an unknown name, an unsupported extension or an unreadable file
 */
export async function resolveColormap(spec: string, opts: ColorbarOptions = {}): Promise<Colormap> {
  const s = spec.trim();
  if (isBuiltinColormap(s)) return getColormap(s);
  const ext = extname(s).toLowerCase();
  if (ext === '.csv') return loadColormapCsv(s);
  if ((COLORBAR_IMAGE_EXTENSIONS as readonly string[]).includes(ext)) return loadColormapImage(s, opts);
  throw new InputError(
    `colour map "${spec}": not a built-in colour map (${BUILTIN_COLORMAPS.join(', ')}) nor a .csv or image file (${COLORBAR_IMAGE_EXTENSIONS.join(', ')})`,
  );
}
