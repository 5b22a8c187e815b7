/**
 * `prepare`: turn a study manifest of raw exports (single-map images or multi-map pages) into
 * a folder of cleaned, square polar-map crops plus a manifest pointing at them.
 *
 * For each patient row: read the images (`readImage`), find the discs (`findDiscs`, or the
 * manual `box_<view>`), assign pages' discs to views by the row's layout (`assignLayout`), clean
 * each disc (`cleanDisc`: square crop, black outside, grid lines and labels inpainted, as Hai et
 * al. 2022 do before training) and write
 *   OUT/<patient_id>/<view>.png   the cleaned crops (size x size)
 *   OUT/manifest.csv              a manifest of the crops (input for later stages)
 *   OUT/report.json, report.csv   per image: discs found, disc, grid pixels filled, status, reason;
 *                                 report.json also records the crops' colour map (table, given or
 *                                 recognised, coverage, doubt), which score, train and predict use
 * Policy: by default any unusable image fails the whole run with every problem listed and no
 * output left behind (`writeDirAtomic`); with `skipBad` such patients are left out and the
 * report says why.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import type { Box, Disc, RgbImage } from '../domain/image.js';
import { VIEWS, type View } from '../domain/views.js';
import { InputError, InputErrors, errorMessage } from '../util/errors.js';
import { writeDirAtomic } from '../util/atomic.js';
import { encodeRgbPng } from '../util/png.js';
import { getColormap, type Colormap } from '../polarmap/colormaps.js';
import { encodeCrop, volumeFileToPolarMap } from '../volume/pipeline.js';
import { mapPool } from '../util/pool.js';
import { decodeImage, readImage } from './readers.js';
import { ColormapRecogniser, SURE_COVERAGE, recognitionDoubt } from '../polarmap/recognise-colormap.js';
import {
  recordColormap,
  recordedColormapSchema,
  recordedTable,
  type RecordedColormap,
} from '../polarmap/colormap-record.js';
import { readJsonObject } from '../util/fs.js';
import { formatLayout, type Layout } from '../domain/layout.js';
import { loadManifest, manifestToCsv, type Manifest, type StudyRow } from './manifest.js';
import { discRows, findDiscs } from './discs.js';
import { cleanDisc, boxToDisc } from './clean.js';

export const DEFAULT_PREPARE_SIZE = 256;

export interface PrepareOptions {
  /** output folder (created atomically; an existing one is replaced only on success) */
  readonly out: string;
  /** side of the output crops in pixels; default 256 */
  readonly size?: number;
  /** views to prepare: 'all' (default) = every view a row has; a list = each row must have them all */
  readonly views?: 'all' | readonly View[];
  /** pixel limit per input image (see `readImage`) */
  readonly maxPixels?: number;
  /** leave out patients with an unusable image instead of failing; default false */
  readonly skipBad?: boolean;
  /** patients processed at once; default 2 (the machine has 2 cores; decoding runs in sharp's threads) */
  readonly concurrency?: number;
  /** colour map of the crops made from volume columns (default: `colormap`, else rainbow) */
  readonly volumeColormap?: Colormap;
  /**
   * the exports' colour map (`--colormap`): used to clean the discs and recorded as given;
   * default: recognised over all crops among the built-in tables
   */
  readonly colormap?: Colormap;
  /** called after each patient */
  readonly onProgress?: (done: number, total: number) => void;
}

export type ImageStatus = 'ok' | 'error' | 'skipped';

/** One line of the report: one view of one patient. */
export interface ImageReport {
  readonly patientId: string;
  readonly row: number;
  readonly view: View;
  /** the image the view was read from (the page for page rows); '' if there is none */
  readonly source: string;
  /** discs found automatically in the source (null: not searched, a manual box was used) */
  readonly discsFound: number | null;
  readonly discFrom: 'auto' | 'box' | null;
  readonly disc: Disc | null;
  /** pixels filled in by grid/label removal (`cleanDisc`) */
  readonly gridPixelsFilled: number | null;
  /** the crop, relative to the output folder */
  readonly output: string | null;
  /** ok; error (this image is unusable); skipped (another image of the patient is unusable) */
  readonly status: ImageStatus;
  readonly reason: string;
}

export interface PrepareReport {
  readonly manifest: string;
  readonly manifestSha256: string;
  readonly out: string;
  readonly size: number;
  readonly views: 'all' | readonly View[];
  readonly skipBad: boolean;
  readonly patients: { readonly total: number; readonly ok: number; readonly skipped: number };
  /** every problem, one line each ("row R (patient P), view: reason") */
  readonly problems: readonly string[];
  readonly images: readonly ImageReport[];
  /**
   * The colour map of the cleaned crops, given or recognised over all of them, with its table and
   * coverage (null when none was given and none fits).
   */
  readonly colormap: PreparedColormapRecord | null;
}

/** The colour map prepare records in report.json (see `RecordedColormap`). */
export interface PreparedColormapRecord extends RecordedColormap {
  /** other built-in tables that fit about as well (recognised only) */
  readonly alsoFits: readonly string[];
}

/**
 * Sort found discs into the grid of a layout: discs are grouped into rows (centres within half
 * a radius vertically, as `readingOrder` does), rows top to bottom, each left to right. The
 * grid must match the layout exactly (number of rows and discs per row); returns the disc of
 * each named view, or an error message.
 */
export function assignLayout(discs: readonly Disc[], layout: Layout): Partial<Record<View, Disc>> | string {
  const expected = layout.map((r) => r.length);
  const total = expected.reduce((a, b) => a + b, 0);
  if (discs.length !== total) {
    return `found ${discs.length} disc${discs.length === 1 ? '' : 's'}, the layout "${formatLayout(layout)}" has ${total}`;
  }
  const rows = discRows(discs);
  const found = rows.map((r) => r.length);
  if (found.length !== expected.length || found.some((n, i) => n !== expected[i])) {
    return `found discs in ${found.length} row${found.length === 1 ? '' : 's'} of ${found.join('+')}, the layout "${formatLayout(layout)}" expects ${expected.join('+')}`;
  }
  const out: Partial<Record<View, Disc>> = {};
  rows.forEach((r, i) => {
    r.sort((a, b) => a.cx - b.cx);
    r.forEach((d, j) => {
      const v = layout[i][j];
      if (v !== null) out[v] = d;
    });
  });
  return out;
}

/** What `prepareStudy` gives for one manifest row. */
export interface StudyPreparation {
  /** one report line per wanted view */
  readonly images: ImageReport[];
  /** the cleaned crops as PNG (size x size, disc inscribed); only when `ok` */
  readonly crops: Partial<Record<View, Buffer>>;
  /** every wanted view was found and cleaned */
  readonly ok: boolean;
}

interface ViewWork {
  view: View;
  source: string;
  discsFound: number | null;
  discFrom: 'auto' | 'box' | null;
  disc: Disc | null;
  filled: number | null;
  crop: Buffer | null;
  error: string | null;
}

function boxProblem(
  img: RgbImage,
  view: View,
  b: { x: number; y: number; width: number; height: number },
): string | null {
  if (b.x + b.width > img.width || b.y + b.height > img.height) {
    return `box_${view} ${b.x},${b.y},${b.width},${b.height} lies outside the ${img.width} x ${img.height} image`;
  }
  return null;
}

/** The manual box of the view as its disc. @throws InputError (naming `source`) when it lies outside the image */
function useBox(w: ViewWork, img: RgbImage, box: Box, source: string): void {
  const bad = boxProblem(img, w.view, box);
  if (bad) throw new InputError(`${source}: ${bad}`);
  w.disc = boxToDisc(box);
  w.discFrom = 'box';
}

/** Clean one disc into a PNG crop, filling in the work item. */
async function cleanInto(w: ViewWork, img: RgbImage, size: number, colormap?: Colormap): Promise<void> {
  if (!w.disc) return;
  const { image, filled } = cleanDisc(img, w.disc, {
    outSize: size,
    ...(colormap !== undefined ? { colormap } : {}),
  });
  w.filled = filled;
  w.crop = await encodeRgbPng(image);
}

function describe(e: unknown): string {
  return e instanceof InputError ? e.message : `internal error: ${errorMessage(e)}`;
}

/**
 * Find, crop and clean the polar maps of one manifest row (single-map images or a page), the
 * per-patient step of `prepare`, without writing anything: every other stage that accepts a raw
 * manifest (e.g. `polarcad score`) calls this rather than re-implementing it. Problems are
 * reported per view in `images` (status/reason), never thrown.
 *
 * @param views 'all' = every view the row has; a list = the row must have each of them
 * @param size side of the output crops in pixels
 * @param maxPixels pixel limit per input image (see `readImage`)
 * @param maps `colormap`: the exports' colour map (for cleaning; default recognised per disc);
 *   `volumeColormap`: the colour map of maps made from volume columns (default `colormap`, else rainbow)
 */
export async function prepareStudy(
  row: StudyRow,
  views: 'all' | readonly View[],
  size: number,
  maxPixels: number | undefined,
  maps: { readonly colormap?: Colormap; readonly volumeColormap?: Colormap } = {},
): Promise<StudyPreparation> {
  const volumeColormap = maps.volumeColormap ?? maps.colormap ?? getColormap('rainbow');
  const clean = (w: ViewWork, img: RgbImage): Promise<void> => cleanInto(w, img, size, maps.colormap);
  const available: View[] = row.page
    ? VIEWS.filter((v) => row.page?.layout.some((r) => r.includes(v)))
    : VIEWS.filter((v) => row.views[v] !== undefined || row.volumes?.[v] !== undefined);
  const wanted: View[] = views === 'all' ? available : VIEWS.filter((v) => views.includes(v));
  const work: ViewWork[] = wanted.map((view) => ({
    view,
    source: row.page?.path ?? row.views[view] ?? row.volumes?.[view] ?? '',
    discsFound: null,
    discFrom: null,
    disc: null,
    filled: null,
    crop: null,
    error: available.includes(view) ? null : `no ${view} image in the manifest (asked for by --views)`,
  }));
  const readOpts = maxPixels === undefined ? {} : { maxPixels };

  if (row.page) {
    const page = row.page;
    const todo = work.filter((w) => w.error === null);
    try {
      const img = await readImage(page.path, readOpts);
      const needAuto = todo.some((w) => row.boxes[w.view] === undefined);
      let auto: Partial<Record<View, Disc>> = {};
      let found: number | null = null;
      if (needAuto) {
        const discs = findDiscs(img);
        found = discs.length;
        const assigned = assignLayout(discs, page.layout);
        if (typeof assigned === 'string') throw new InputError(`${page.path}: ${assigned}`);
        auto = assigned;
      }
      for (const w of todo) {
        w.discsFound = found;
        const box = row.boxes[w.view];
        try {
          if (box) {
            useBox(w, img, box, page.path);
          } else {
            w.disc = auto[w.view] ?? null;
            w.discFrom = 'auto';
          }
          await clean(w, img);
        } catch (e) {
          w.error = describe(e);
        }
      }
    } catch (e) {
      for (const w of todo) if (w.error === null) w.error = describe(e);
    }
  } else {
    for (const w of work) {
      if (w.error !== null) continue;
      try {
        if (row.volumes?.[w.view] !== undefined) {
          // a reconstructed volume: the polar map is sampled, not cropped (src/volume)
          w.crop = await encodeCrop(await volumeFileToPolarMap(w.source, { size }), volumeColormap);
          continue;
        }
        const img = await readImage(w.source, readOpts);
        const box = row.boxes[w.view];
        if (box) {
          useBox(w, img, box, w.source);
        } else {
          const discs = findDiscs(img);
          w.discsFound = discs.length;
          if (discs.length !== 1) {
            throw new InputError(
              discs.length === 0
                ? `${w.source}: no polar-map disc found`
                : `${w.source}: found ${discs.length} polar-map discs, expected 1 in a single-map image (use a page column with a layout, or box_${w.view})`,
            );
          }
          w.disc = discs[0];
          w.discFrom = 'auto';
        }
        await clean(w, img);
      } catch (e) {
        w.error = describe(e);
      }
    }
  }

  const ok = work.length > 0 && work.every((w) => w.error === null);
  const crops: Partial<Record<View, Buffer>> = {};
  const images: ImageReport[] = work.map((w) => {
    if (ok && w.crop) crops[w.view] = w.crop;
    return {
      patientId: row.patientId,
      row: row.row,
      view: w.view,
      source: w.source,
      discsFound: w.discsFound,
      discFrom: w.discFrom,
      disc: w.disc,
      gridPixelsFilled: w.filled,
      output: ok ? `${row.patientId}/${w.view}.png` : null,
      status: w.error !== null ? 'error' : ok ? 'ok' : 'skipped',
      reason: w.error ?? (ok ? '' : 'another image of this patient is unusable'),
    };
  });
  return { images, crops, ok };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** The per-image report as CSV. */
export function reportToCsv(images: readonly ImageReport[]): string {
  const header = [
    'patient_id',
    'row',
    'view',
    'source',
    'discs_found',
    'disc_from',
    'cx',
    'cy',
    'radius',
    'grid_pixels_filled',
    'output',
    'status',
    'reason',
  ];
  return stringify([
    header,
    ...images.map((r) => [
      r.patientId,
      String(r.row),
      r.view,
      r.source,
      r.discsFound === null ? '' : String(r.discsFound),
      r.discFrom ?? '',
      r.disc ? String(round2(r.disc.cx)) : '',
      r.disc ? String(round2(r.disc.cy)) : '',
      r.disc ? String(round2(r.disc.radius)) : '',
      r.gridPixelsFilled === null ? '' : String(r.gridPixelsFilled),
      r.output ?? '',
      r.status,
      r.reason,
    ]),
  ]);
}

function checkOptions(opts: PrepareOptions): number {
  const size = opts.size ?? DEFAULT_PREPARE_SIZE;
  if (!Number.isInteger(size) || size < 16 || size > 4096)
    throw new InputError(`--size must be an integer from 16 to 4096, got ${size}`);
  if (opts.maxPixels !== undefined && !(Number.isInteger(opts.maxPixels) && opts.maxPixels > 0)) {
    throw new InputError(`--max-pixels must be a positive integer, got ${opts.maxPixels}`);
  }
  if (opts.views !== undefined && opts.views !== 'all' && opts.views.length === 0)
    throw new InputError('--views names no view');
  return size;
}

/**
 * Why a given colour map is doubtful: it covers less than `SURE_COVERAGE` of the crops' disc
 * pixels (the exports are probably in another table), or null.
 */
export function givenColormapDoubt(name: string, coverage: number): string | null {
  if (coverage >= SURE_COVERAGE) return null;
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  return `the given colour map ${name} covers only ${pct(coverage)} of the disc pixels (sure from ${pct(SURE_COVERAGE)}): are the exports in it?`;
}

/**
 * The colour map of a cohort's cleaned crops: the given one with its coverage, else recognised by
 * `ColormapRecogniser` (pooled) with its coverage and doubt; null when none is given and none fits.
 */
async function cohortColormap(
  results: readonly StudyPreparation[],
  given: Colormap | undefined,
): Promise<PreparedColormapRecord | null> {
  const rec = new ColormapRecogniser(given ? { candidates: [given], minCoverage: 0 } : {});
  for (const r of results)
    for (const png of Object.values(r.crops)) if (png !== undefined) rec.add(await decodeImage(png, 'crop'));
  if (given) {
    const { coverage } = rec.result();
    const doubt = givenColormapDoubt(given.name, coverage);
    return { ...recordColormap(given), source: 'given', coverage, doubt, alsoFits: [] };
  }
  try {
    const r = rec.result();
    const { colormap, coverage, alsoFits } = r;
    return {
      ...recordColormap(colormap),
      source: 'recognised',
      coverage,
      doubt: recognitionDoubt(r),
      alsoFits,
    };
  } catch (e) {
    if (e instanceof InputError) return null;
    throw e;
  }
}

/** The colour map `prepare` recorded for prepared crops, as read back by {@link preparedColormap}. */
export interface PreparedColormap {
  readonly colormap: Colormap;
  readonly source: RecordedColormap['source'];
  readonly coverage: number | null;
  readonly doubt: string | null;
}

/**
 * The colour map recorded by `prepare` for the crops of `manifestPath` (its report.json beside
 * it: the full table, so a user table needs no file later), or null when the manifest is not
 * prepare's output or none was given or recognised. `score` reads the crops with it; `train`
 * stores it with the model, so `predict` and `serve` read scores with it and warn about studies
 * in another colour map. A report.json written before tables were recorded gives its built-in name.
 * @example (await preparedColormap('prepared/manifest.csv'))?.colormap.name // 'rainbow'
 */
export async function preparedColormap(manifestPath: string): Promise<PreparedColormap | null> {
  const dir = dirname(resolve(manifestPath));
  let report: Record<string, unknown>;
  try {
    report = await readJsonObject(join(dir, 'report.json'));
  } catch {
    return null;
  }
  if (report['out'] !== dir) return null;
  const value = report['colormap'] as { name?: unknown } | null | undefined;
  const full = recordedColormapSchema.safeParse(value);
  if (full.success) {
    const { source, coverage, doubt } = full.data;
    return { colormap: recordedTable(full.data) as Colormap, source, coverage, doubt };
  }
  const colormap = recordedTable(value?.name);
  return colormap === null ? null : { colormap, source: 'recognised', coverage: null, doubt: null };
}

/**
 * True when `manifest` is the output of `polarcad prepare` (its folder has prepare's report.json
 * for it): its crops are read as they are, by training, evaluation, scoring and prediction alike.
 * @example await isPreparedManifest(await loadManifest('prepared/manifest.csv')) // true
 */
export async function isPreparedManifest(manifest: Pick<Manifest, 'dir'>): Promise<boolean> {
  try {
    const report = await readJsonObject(join(manifest.dir, 'report.json'));
    return 'images' in report && report['out'] === manifest.dir;
  } catch {
    return false;
  }
}

/**
 * One line per problem: the views of one patient that fail for the same reason (a page whose discs
 * do not match its layout fails every view) share one line, "row R (patient P), v1, v2: reason".
 */
export function problemLines(images: readonly ImageReport[]): string[] {
  const groups = new Map<string, { head: string; views: string[]; reason: string }>();
  for (const i of images) {
    if (i.status !== 'error') continue;
    const key = `${i.row}\u0000${i.patientId}\u0000${i.reason}`;
    const g = groups.get(key);
    if (g) g.views.push(i.view);
    else
      groups.set(key, { head: `row ${i.row} (patient ${i.patientId})`, views: [i.view], reason: i.reason });
  }
  return [...groups.values()].map((g) => `${g.head}, ${g.views.join(', ')}: ${g.reason}`);
}

/**
 * Prepare a manifest's images (see the module comment). Returns the report that was written.
 * @throws InputErrors listing every problem (default policy), or when no patient is usable.
 */
export async function prepare(manifestPath: string, opts: PrepareOptions): Promise<PrepareReport> {
  const size = checkOptions(opts);
  const views = opts.views ?? 'all';
  const manifest = await loadManifest(manifestPath);
  const out = resolve(opts.out);
  let done = 0;
  const total = manifest.rows.length;

  return writeDirAtomic(out, 'prepare', async (tmp) => {
    const results = await mapPool(manifest.rows, opts.concurrency ?? 2, async (row) => {
      const r = await prepareStudy(row, views, size, opts.maxPixels, {
        ...(opts.colormap !== undefined ? { colormap: opts.colormap } : {}),
        ...(opts.volumeColormap !== undefined ? { volumeColormap: opts.volumeColormap } : {}),
      });
      if (r.ok) {
        await mkdir(join(tmp, row.patientId));
        for (const [view, png] of Object.entries(r.crops))
          await writeFile(join(tmp, row.patientId, `${view}.png`), png);
      }
      opts.onProgress?.(++done, total);
      return r;
    });
    const images = results.flatMap((r) => r.images);
    const problems = problemLines(images);
    const okRows = manifest.rows.filter((_, i) => results[i].ok);
    const unusable = images.filter((i) => i.status === 'error').length;
    if (problems.length > 0 && !opts.skipBad) {
      throw new InputErrors(
        `${manifestPath}: ${unusable} unusable image${unusable === 1 ? '' : 's'}; nothing was written (use --skip-bad to leave those patients out)`,
        problems,
      );
    }
    if (okRows.length === 0)
      throw new InputErrors(`${manifestPath}: no usable patient; nothing was written`, problems);

    const outRows: StudyRow[] = okRows.map((row) => {
      const r = results[manifest.rows.indexOf(row)];
      const v: Partial<Record<View, string>> = {};
      for (const view of VIEWS) if (r.crops[view]) v[view] = join(out, row.patientId, `${view}.png`);
      const { page: _page, volumes: _volumes, ...rest } = row;
      return { ...rest, views: v, boxes: {} };
    });
    const report: PrepareReport = {
      manifest: manifest.path,
      manifestSha256: manifest.sha256,
      out,
      size,
      views,
      skipBad: opts.skipBad ?? false,
      patients: { total, ok: okRows.length, skipped: total - okRows.length },
      problems,
      images,
      colormap: await cohortColormap(results, opts.colormap),
    };
    await writeFile(join(tmp, 'manifest.csv'), manifestToCsv(outRows, out, manifest.clinicalColumns));
    await writeFile(join(tmp, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    await writeFile(join(tmp, 'report.csv'), reportToCsv(images));
    return report;
  });
}
