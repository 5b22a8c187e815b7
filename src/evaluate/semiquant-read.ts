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
import type { RgbImage } from '../domain/image.js';
import { VIEWS, type Label, type View } from '../domain/views.js';
import type { Manifest, StudyRow } from '../ingest/manifest.js';
import {
  DEFAULT_PREPARE_SIZE,
  isPreparedManifest,
  preparedColormap,
  prepareStudy,
} from '../ingest/prepare.js';
import { decodeImage } from '../ingest/readers.js';
import type { Colormap } from '../polarmap/colormaps.js';
import type { Sex } from '../polarmap/normal-database.js';
import { cropSegmentMeans } from '../polarmap/read-uptake.js';
import { ColormapRecogniser, recognitionDoubt } from '../polarmap/recognise-colormap.js';
import { InputError, InputErrors, errorMessage } from '../util/errors.js';
import { mapPool } from '../util/pool.js';
import { readInputFile } from '../util/read-input.js';

export { isPreparedManifest } from '../ingest/prepare.js';

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
}

export interface ReadStudiesOptions {
  /** the export's colour map; default: recognised among the built-in ones over all images together */
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

interface Crop {
  readonly view: View;
  /** for error messages */
  readonly name: string;
  /** encoded image (PNG from `prepareStudy`, or the prepared file's bytes) */
  readonly bytes: Uint8Array;
}

interface RowCrops {
  readonly row: StudyRow;
  readonly crops: readonly Crop[];
}

const where = (row: StudyRow): string => `row ${row.row} (patient ${row.patientId})`;

/** The encoded crops of one row: the prepared files, or `prepareStudy`'s cleaned crops of a raw row. */
async function loadCrops(row: StudyRow, raw: boolean, opts: ReadStudiesOptions): Promise<RowCrops> {
  if (row.label === null) throw new InputError(`${where(row)}: no label`);
  const crops: Crop[] = [];
  if (raw) {
    const prep = await prepareStudy(
      row,
      'all',
      opts.size ?? DEFAULT_PREPARE_SIZE,
      opts.maxPixels,
      opts.colormap !== undefined ? { colormap: opts.colormap } : {},
    );
    if (!prep.ok) {
      const bad = prep.images.filter((i) => i.status === 'error').map((i) => `${i.view}: ${i.reason}`);
      throw new InputError(`${where(row)}: ${bad.join('; ')}`);
    }
    for (const view of VIEWS) {
      const png = prep.crops[view];
      if (!png) continue;
      const source = prep.images.find((i) => i.view === view)?.source ?? view;
      crops.push({ view, name: `${where(row)}, ${view} (cleaned crop of ${source})`, bytes: png });
    }
  } else {
    if (row.page) {
      throw new InputError(
        `${where(row)}: has a page column; a prepared manifest has one crop per view (use --input raw)`,
      );
    }
    for (const view of VIEWS) {
      const path = row.views[view];
      if (path === undefined) continue;
      let bytes: Uint8Array;
      try {
        bytes = await readInputFile(path, 'image');
      } catch (e) {
        throw new InputError(`${where(row)}, ${view}: ${path}: cannot read file (${errorMessage(e)})`, {
          cause: e,
        });
      }
      crops.push({ view, name: `${where(row)}, ${view}: ${path}`, bytes });
    }
  }
  return { row, crops };
}

async function decodeCrop(c: Crop, opts: ReadStudiesOptions): Promise<RgbImage> {
  return decodeImage(c.bytes, c.name, opts.maxPixels === undefined ? {} : { maxPixels: opts.maxPixels });
}

/** What `readStudies` read, and with which colour map. */
export interface StudiesReading {
  readonly studies: StudyUptake[];
  /** name of the colour map used */
  readonly colormap: string;
  /** true when recognised from the images (not given) */
  readonly recognised: boolean;
  /** why the colour map is unsure (`recognitionDoubt`, or as prepare recorded it), or null */
  readonly doubt: string | null;
  /** where it came from: `given` (--colormap), `prepared` (prepare's report.json), or `recognised` */
  readonly source: 'given' | 'prepared' | 'recognised';
  /** share of the sampled disc pixels the table covers (recognised, or as prepare recorded it; null when given here) */
  readonly coverage: number | null;
  /** whether the crops came from raw exports (through `prepareStudy`) */
  readonly raw: boolean;
}

async function collect<T>(
  rows: readonly StudyRow[],
  concurrency: number,
  fn: (row: StudyRow) => Promise<T>,
  onDone: () => void,
): Promise<(T | string)[]> {
  return mapPool(rows, concurrency, async (row) => {
    try {
      return await fn(row);
    } catch (e) {
      return e instanceof InputError ? e.message : `${where(row)}: internal error: ${errorMessage(e)}`;
    } finally {
      onDone();
    }
  });
}

function throwProblems(manifest: Manifest, results: readonly unknown[], what: string): void {
  const problems = results.filter((r): r is string => typeof r === 'string');
  if (problems.length > 0) {
    throw new InputErrors(
      `${manifest.path}: ${problems.length} patient${problems.length === 1 ? '' : 's'} could not be read (${what})`,
      problems,
    );
  }
}

/**
 * Read every study of a (labelled) manifest into segment uptakes. Without a given colour map,
 * prepared crops are read with the colour map `prepare` recorded in their report.json
 * (`preparedColormap`); otherwise the table is recognised over ALL crops together (`ColormapRecogniser`: one image alone can be
 * ambiguous); an ambiguous result is an error asking for `--colormap`. All problems are
 * collected and thrown together (`InputErrors`, one line per patient). Progress counts two
 * passes (crops, then uptake) over the rows.
 */
export async function readStudies(
  manifest: Manifest,
  opts: ReadStudiesOptions = {},
): Promise<StudiesReading> {
  const input = opts.input ?? 'auto';
  const raw = input === 'raw' || (input === 'auto' && !(await isPreparedManifest(manifest)));
  const what = raw ? 'raw exports' : 'prepared crops';
  const total = 2 * manifest.rows.length;
  let done = 0;
  const tick = (): void => opts.onProgress?.(++done, total);
  const concurrency = opts.concurrency ?? 2;
  const recorded = opts.colormap || raw ? null : await preparedColormap(manifest.path);
  const given = opts.colormap ?? recorded?.colormap;
  const recogniser = given ? null : new ColormapRecogniser({ maxDistance: opts.maxDistance });

  const loaded = await collect(
    manifest.rows,
    concurrency,
    async (row) => {
      const rc = await loadCrops(row, raw, opts);
      if (recogniser)
        for (const c of rc.crops) {
          const img = await decodeCrop(c, opts);
          if (img.width === img.height) recogniser.add(img);
        }
      return rc;
    },
    tick,
  );
  throwProblems(manifest, loaded, what);

  let cm: Colormap;
  let coverage: number | null = recorded?.coverage ?? null;
  let doubt: string | null = recorded?.doubt ?? null;
  if (recogniser) {
    const r = recogniser.result();
    if (r.alsoFits.length > 0) {
      throw new InputError(
        `${manifest.path}: the colour map is ambiguous: ${[r.colormap.name, ...r.alsoFits].join(' and ')} fit the images equally well; give it with --colormap NAME|TABLE.csv|COLOURBAR.png`,
      );
    }
    cm = r.colormap;
    coverage = r.coverage;
    doubt = recognitionDoubt(r);
  } else cm = given as Colormap;

  const measured = await collect(
    manifest.rows,
    concurrency,
    async (row) => {
      const rc = loaded[manifest.rows.indexOf(row)] as RowCrops;
      const segments: Partial<Record<View, Float64Array>> = {};
      for (const c of rc.crops)
        segments[c.view] = cropSegmentMeans(await decodeCrop(c, opts), c.name, cm, opts.maxDistance);
      const study: StudyUptake = {
        id: row.patientId,
        row: row.row,
        label: row.label as Label,
        ...(row.sex ? { sex: row.sex } : {}),
        segments,
      };
      return study;
    },
    tick,
  );
  throwProblems(manifest, measured, what);
  return {
    studies: measured as StudyUptake[],
    colormap: cm.name,
    recognised: recogniser !== null,
    source: recogniser !== null ? 'recognised' : opts.colormap ? 'given' : 'prepared',
    coverage,
    doubt,
    raw,
  };
}
