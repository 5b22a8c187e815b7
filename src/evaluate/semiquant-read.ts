/**
 * Reading the 17 segment uptakes of every study of a manifest, for the semi-quantitative
 * baseline (`polarcad score`): the polar-map images are turned back into relative uptake by
 * inverting their colour map (`rgbToUptake`, docs/scoring.md section 1).
 *
 * Two kinds of manifest are accepted:
 * - prepared (written by `polarcad prepare`): every view is a square crop with the disc
 *   inscribed, read as is;
 * - raw (exports as `polarcad prepare` takes them): each row first goes through
 *   `prepareStudy`, the very find/crop/clean step `prepare` runs, in memory.
 * `auto` takes a manifest as prepared when its folder holds the `report.json` that `prepare`
 * writes next to its `manifest.csv`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RgbImage } from '../domain/image.js';
import { VIEWS, type Label, type View } from '../domain/views.js';
import { recogniseColormap } from '../ingest/clean.js';
import type { Manifest, StudyRow } from '../ingest/manifest.js';
import { DEFAULT_PREPARE_SIZE, prepareStudy } from '../ingest/prepare.js';
import { decodeImage, readImage } from '../ingest/readers.js';
import { BUILTIN_COLORMAPS, type Colormap } from '../polarmap/colormaps.js';
import { segmentLabels } from '../polarmap/geometry.js';
import type { Sex } from '../polarmap/normal-database.js';
import { rgbToUptake, segmentMeans } from '../polarmap/read-uptake.js';
import { InputError, InputErrors, errorMessage } from '../util/errors.js';
import { mapPool } from '../util/pool.js';

/** How to read a manifest's images (see the module comment). */
export type ScoreInput = 'auto' | 'prepared' | 'raw';
export const SCORE_INPUTS: readonly ScoreInput[] = ['auto', 'prepared', 'raw'];

/** One study's measured uptake. */
export interface StudyUptake {
  readonly id: string;
  /** manifest row (header = 1) */
  readonly row: number;
  readonly label: Label;
  readonly sex?: Sex;
  /** 17 raw segment means (index 0 = segment 1; NaN = no valid pixel) per view present */
  readonly segments: Partial<Record<View, Float64Array>>;
  /** name of the colour map each view was read with */
  readonly colormaps: Partial<Record<View, string>>;
}

export interface ReadStudiesOptions {
  /** the export's colour map; default: recognised per image among the built-in ones */
  readonly colormap?: Colormap;
  /** default 'auto' */
  readonly input?: ScoreInput;
  /** `rgbToUptake` maxDistance (default there: 30) */
  readonly maxDistance?: number;
  /** side of the crops cut from raw exports (default 256, as `prepare`) */
  readonly size?: number;
  /** pixel limit per input image (see `readImage`) */
  readonly maxPixels?: number;
  /** studies read at once (default 2) */
  readonly concurrency?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** True when `manifest` is the output of `polarcad prepare` (its folder has prepare's report.json for it). */
export async function isPreparedManifest(manifest: Manifest): Promise<boolean> {
  try {
    const report = JSON.parse(await readFile(join(manifest.dir, 'report.json'), 'utf8')) as unknown;
    return (
      typeof report === 'object' &&
      report !== null &&
      'out' in report &&
      'images' in report &&
      (report as { out: unknown }).out === manifest.dir
    );
  } catch {
    return false;
  }
}

const insideMasks = new Map<number, Uint8Array>();
function insideMask(size: number): Uint8Array {
  let m = insideMasks.get(size);
  if (!m) {
    const labels = segmentLabels(size);
    m = Uint8Array.from(labels, (l) => (l === 0 ? 0 : 1));
    insideMasks.set(size, m);
  }
  return m;
}

/**
 * The 17 raw segment means of one square, disc-inscribed crop. The colour map is `colormap` or,
 * when not given, the built-in one the disc's pixels fit (`recogniseColormap`).
 * @param name the image's name for error messages
 * @throws InputError naming the image when it is not square or no built-in map fits
 */
export function cropSegmentMeans(
  img: RgbImage,
  name: string,
  opts: { colormap?: Colormap; maxDistance?: number } = {},
): { segments: Float64Array; colormap: string } {
  if (img.width !== img.height) {
    throw new InputError(
      `${name}: ${img.width}x${img.height} pixels, not a square polar-map crop (is this a raw export? use --input raw)`,
    );
  }
  const cm = opts.colormap ?? recogniseColormap(img, insideMask(img.width));
  if (!cm) {
    throw new InputError(
      `${name}: the colours match none of the built-in colour maps (${BUILTIN_COLORMAPS.join(', ')}); give the export's colour map with --colormap NAME|TABLE.csv|COLOURBAR.png`,
    );
  }
  const { map, valid } = rgbToUptake(img, cm, opts.maxDistance === undefined ? {} : { maxDistance: opts.maxDistance });
  const segments = segmentMeans(map, valid);
  if (!segments.some((v) => Number.isFinite(v) && v > 0)) {
    throw new InputError(`${name}: no pixel of the disc matches the colour map ${cm.name}`);
  }
  return { segments, colormap: cm.name };
}

async function readRow(row: StudyRow, raw: boolean, opts: ReadStudiesOptions): Promise<StudyUptake> {
  const segments: Partial<Record<View, Float64Array>> = {};
  const colormaps: Partial<Record<View, string>> = {};
  const readOpts = opts.maxPixels === undefined ? {} : { maxPixels: opts.maxPixels };
  const where = `row ${row.row} (patient ${row.patientId})`;
  const cmOpts = { colormap: opts.colormap, maxDistance: opts.maxDistance };
  if (raw) {
    const prep = await prepareStudy(row, 'all', opts.size ?? DEFAULT_PREPARE_SIZE, opts.maxPixels);
    if (!prep.ok) {
      const bad = prep.images.filter((i) => i.status === 'error').map((i) => `${i.view}: ${i.reason}`);
      throw new InputError(`${where}: ${bad.join('; ')}`);
    }
    for (const view of VIEWS) {
      const png = prep.crops[view];
      if (!png) continue;
      const source = prep.images.find((i) => i.view === view)?.source ?? view;
      const name = `${where}, ${view} (cleaned crop of ${source})`;
      const r = cropSegmentMeans(await decodeImage(png, name, readOpts), name, cmOpts);
      segments[view] = r.segments;
      colormaps[view] = r.colormap;
    }
  } else {
    if (row.page) throw new InputError(`${where}: has a page column; a prepared manifest has one crop per view (use --input raw)`);
    for (const view of VIEWS) {
      const path = row.views[view];
      if (path === undefined) continue;
      const r = cropSegmentMeans(await readImage(path, readOpts), `${where}, ${view}: ${path}`, cmOpts);
      segments[view] = r.segments;
      colormaps[view] = r.colormap;
    }
  }
  if (row.label === null) throw new InputError(`${where}: no label`);
  return {
    id: row.patientId,
    row: row.row,
    label: row.label,
    ...(row.sex ? { sex: row.sex } : {}),
    segments,
    colormaps,
  };
}

/**
 * Read every study of a (labelled) manifest into segment uptakes. All problems are collected
 * and thrown together (`InputErrors`, one line per patient), so one run shows every bad image.
 */
export async function readStudies(manifest: Manifest, opts: ReadStudiesOptions = {}): Promise<StudyUptake[]> {
  const input = opts.input ?? 'auto';
  const raw = input === 'raw' || (input === 'auto' && !(await isPreparedManifest(manifest)));
  let done = 0;
  const total = manifest.rows.length;
  const results = await mapPool(manifest.rows, opts.concurrency ?? 2, async (row) => {
    try {
      return await readRow(row, raw, opts);
    } catch (e) {
      return e instanceof InputError
        ? e.message
        : `row ${row.row} (patient ${row.patientId}): internal error: ${errorMessage(e)}`;
    } finally {
      opts.onProgress?.(++done, total);
    }
  });
  const problems = results.filter((r): r is string => typeof r === 'string');
  if (problems.length > 0) {
    throw new InputErrors(
      `${manifest.path}: ${problems.length} patient${problems.length === 1 ? '' : 's'} could not be read (${raw ? 'raw exports' : 'prepared crops'})`,
      problems,
    );
  }
  return results as StudyUptake[];
}
