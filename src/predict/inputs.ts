/**
 * From uploaded or named image files to the cleaned polar maps of one study: one export page
 * (discs found with `findDiscs`, assigned to views by a page layout with `assignLayout`) or up to
 * four single-map images (one disc each, the view taken from the field or file name). Every disc
 * is cleaned with `cleanDisc` (square crop, black outside, grid and labels inpainted), as
 * `polarcad prepare` does before training (Hai et al. 2022). A square image that already is a
 * prepared crop (the disc inscribed in the square) is used as it is.
 *
 * Privacy: the decoded pixels are all that is kept; `decodeImage` never returns DICOM tags.
 */
import type { Disc, RgbImage } from '../domain/image.js';
import { VIEWS, VIEW_CAPTIONS, isView, type View } from '../domain/views.js';
import { cleanDisc } from '../ingest/clean.js';
import { findDiscs } from '../ingest/discs.js';
import { DEFAULT_LAYOUT, formatLayout, type Layout } from '../ingest/manifest.js';
import { DEFAULT_PREPARE_SIZE, assignLayout } from '../ingest/prepare.js';
import { resizeRgb } from '../ingest/preprocess.js';
import { DEFAULT_MAX_PIXELS, declaredPixels, decodeImage } from '../ingest/readers.js';
import { InputError } from '../util/errors.js';

/** At most this many files make one study (one page, or four single maps). */
export const MAX_STUDY_FILES = 4;

/** One encoded image of a study. */
export interface StudyFile {
  readonly bytes: Uint8Array;
  /** How the file is named in messages (a file name, or e.g. `upload 2`). */
  readonly name: string;
  /** The view, when the caller knows it (a form field named after the view). */
  readonly view?: View;
}

/** Options of {@link mapsFromFiles}. */
export interface MapsFromFilesOptions {
  /** Views the model needs (a single map without a view name is taken as the first when only one is needed). */
  readonly needed: readonly View[];
  /** Layout of export pages (default: stress AC, rest AC / stress NAC, rest NAC). */
  readonly layout?: Layout;
  /** Side of the cleaned crops (default 256, as `polarcad prepare`). */
  readonly size?: number;
  /** Pixel limit per image (default `DEFAULT_MAX_PIXELS`). */
  readonly maxPixels?: number;
  /** Pixel limit of the study's images together, checked on their headers before decoding (default `maxPixels`). */
  readonly maxTotalPixels?: number;
  /** Clean only these views of a page (default: every view of the layout). */
  readonly only?: readonly View[];
}

/** The cleaned maps of one study. */
export interface StudyMaps {
  readonly maps: Partial<Record<View, RgbImage>>;
  /** 'page': one export page; 'maps': single-map images. */
  readonly source: 'page' | 'maps';
}

/**
 * The view named in a field or file name: `stress_ac`, `stress-ac`, `StressAC`, `P001_rest_nac.png`
 * ... (case-insensitive; separators `_`, `-`, `.`, space or none). Undefined when none or several
 * views are named.
 */
export function viewFromName(name: string): View | undefined {
  const s = name.toLowerCase();
  const found = new Set<View>();
  const re = /(?:^|[^a-z])(stress|rest)[ _.-]?(n?ac)(?![a-z])/g;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const v = `${m[1]}_${m[2]}`;
    if (isView(v)) found.add(v);
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/**
 * True for a square image that is already a prepared crop: one disc centred in the square and
 * filling it (centre within 3% of the side, radius within 6% of half the side).
 */
export function isPreparedCrop(img: RgbImage, discs: readonly Disc[]): boolean {
  if (img.width !== img.height || discs.length !== 1) return false;
  const n = img.width;
  const d = discs[0];
  const c = (n - 1) / 2;
  return Math.hypot(d.cx - c, d.cy - c) <= 0.03 * n && Math.abs(d.radius - n / 2) <= 0.06 * (n / 2);
}

function crop(img: RgbImage, disc: Disc, discs: readonly Disc[], size: number): RgbImage {
  if (isPreparedCrop(img, discs)) return img.width === size ? img : resizeRgb(img, size, size);
  return cleanDisc(img, disc, { outSize: size }).image;
}

/**
 * Refuse a study whose images declare more than `max` pixels together (headers only, nothing
 * decoded), so a handful of huge images costs neither time nor memory.
 * @throws InputError with the total and the limit
 */
async function checkTotalPixels(files: readonly StudyFile[], max: number): Promise<void> {
  let total = 0;
  for (const f of files) total += await declaredPixels(f.bytes, f.name);
  if (total > max) {
    const mp = (n: number): string => `${(n / 1e6).toFixed(1)} megapixels`;
    throw new InputError(
      `the images of this study declare ${mp(total)} together, more than the limit of ${mp(max)}; send smaller exports`,
    );
  }
}

/**
 * Decode, find, assign and clean the maps of one study.
 * @throws InputError naming the file: none or more than {@link MAX_STUDY_FILES} files, not an
 *   image, truncated, too many pixels, no disc, a page whose discs do not fit the layout, a view
 *   given twice or not recognisable, or a view the model needs missing.
 */
export async function mapsFromFiles(
  files: readonly StudyFile[],
  opts: MapsFromFilesOptions,
): Promise<StudyMaps> {
  const size = opts.size ?? DEFAULT_PREPARE_SIZE;
  const layout = opts.layout ?? DEFAULT_LAYOUT;
  if (files.length === 0) throw new InputError('no image: send one export page or up to four polar maps');
  if (files.length > MAX_STUDY_FILES) {
    throw new InputError(
      `too many files (${files.length}): send one export page or up to ${MAX_STUDY_FILES} polar maps per study`,
    );
  }
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  await checkTotalPixels(files, opts.maxTotalPixels ?? maxPixels);
  const images: RgbImage[] = [];
  for (const f of files) images.push(await decodeImage(f.bytes, f.name, { maxPixels }));
  const discs = images.map((img) => findDiscs(img));
  const maps: Partial<Record<View, RgbImage>> = {};
  let source: 'page' | 'maps' = 'maps';
  if (files.length === 1 && discs[0].length > 1) {
    source = 'page';
    const assigned = assignLayout(discs[0], layout);
    if (typeof assigned === 'string')
      throw new InputError(`${files[0].name}: ${assigned} (one export page, or single polar maps)`);
    for (const v of VIEWS) {
      const d = assigned[v];
      if (d !== undefined && (opts.only === undefined || opts.only.includes(v)))
        maps[v] = cleanDisc(images[0], d, { outSize: size }).image;
    }
  } else {
    files.forEach((f, i) => {
      const n = discs[i].length;
      if (n === 0) throw new InputError(`${f.name}: no polar-map disc found`);
      if (n > 1) {
        throw new InputError(
          `${f.name}: found ${n} polar-map discs; send an export page on its own, or one polar map per file`,
        );
      }
      let view = f.view ?? viewFromName(f.name);
      if (view === undefined) {
        if (files.length === 1 && opts.needed.length === 1) view = opts.needed[0];
        else {
          throw new InputError(
            `${f.name}: cannot tell which view this map is; name the file or form field after it (${VIEWS.join(', ')})`,
          );
        }
      }
      if (maps[view] !== undefined)
        throw new InputError(`${f.name}: a second ${VIEW_CAPTIONS[view]} map in the same study`);
      maps[view] = crop(images[i], discs[i][0], discs[i], size);
    });
  }
  const missing = opts.needed.filter((v) => maps[v] === undefined);
  if (missing.length > 0) {
    const what = source === 'page' ? `the page (layout ${formatLayout(layout)})` : 'the maps sent';
    throw new InputError(
      `the model needs ${opts.needed.join(', ')}; ${what} lack${source === 'page' ? 's' : ''} ${missing.join(', ')}`,
    );
  }
  return { maps, source };
}
