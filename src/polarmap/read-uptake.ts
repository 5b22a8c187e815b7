/**
 * Polar map <-> colours: reading relative uptake back from an exported RGB crop, rendering an
 * uptake map with a colour table, and per-segment mean uptake on the AHA 17-segment model.
 */
import { type RgbImage, type UptakeMap, createRgbImage, createUptakeMap } from '../domain/image.js';
import { InputError } from '../util/errors.js';
import { type Colormap, ColormapInverter, uptakeToRgb } from './colormaps.js';
import { N_SEGMENTS, segmentLabels } from './geometry.js';

/**
 * Default largest RGB distance (Euclidean, 0-441) between a pixel and its nearest table entry
 * for the pixel to count as polar map. JPEG compression at usual qualities moves colours by well
 * under 20 units; annotation text, grid lines and labels in colours absent from the table are
 * usually much further (pure green is 255 from the `hot` table).
 */
export const DEFAULT_MAX_COLOR_DISTANCE = 30;

export interface RgbToUptakeOptions {
  /** Pixels farther than this from the table are invalid (default `DEFAULT_MAX_COLOR_DISTANCE`). */
  readonly maxDistance?: number;
}

export interface UptakeReading {
  /** Relative uptake of each pixel (nearest table entry), 0 outside the disc and where invalid. */
  readonly map: UptakeMap;
  /** 1 = pixel inside the disc whose colour is within `maxDistance` of the table; else 0. */
  readonly valid: Uint8Array;
}

/**
 * Read relative uptake from a square RGB crop of one polar map whose disc is inscribed in the
 * square (centre ((size-1)/2, (size-1)/2), radius size/2, as `UptakeMap`). Each pixel inside the
 * disc is mapped to the nearest colour-table entry (value = index / (entries - 1)); pixels whose
 * colour is farther than `maxDistance` from every entry (text, grid remnants) are marked invalid
 * and get uptake 0.
 *
 * @throws InputError if the crop is not square or its data length does not match
 */
export function rgbToUptake(img: RgbImage, cm: Colormap, opts: RgbToUptakeOptions = {}): UptakeReading {
  if (img.width !== img.height) {
    throw new InputError(
      `polar map crop is ${img.width}x${img.height} pixels; it must be square with the disc inscribed`,
    );
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new InputError(
      `polar map crop: ${img.data.length} bytes for ${img.width}x${img.height} RGB pixels`,
    );
  }
  const maxDistance = opts.maxDistance ?? DEFAULT_MAX_COLOR_DISTANCE;
  const size = img.width;
  const labels = segmentLabels(size);
  const map = createUptakeMap(size);
  const valid = new Uint8Array(size * size);
  const inv = new ColormapInverter(cm);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      if (labels[p] === 0) continue; // outside the disc
      const { value, distance } = inv.invert(img.data[p * 3], img.data[p * 3 + 1], img.data[p * 3 + 2]);
      if (distance <= maxDistance) {
        map.data[p] = value;
        valid[p] = 1;
      }
    }
  }
  return { map, valid };
}

/**
 * Render an uptake map with a colour table: pixels inside the disc get the table colour of their
 * uptake, pixels outside the disc get `background` (default black).
 */
export function renderUptakeMap(
  map: UptakeMap,
  cm: Colormap,
  background: readonly [number, number, number] = [0, 0, 0],
): RgbImage {
  const { size } = map;
  const img = createRgbImage(size, size);
  const labels = segmentLabels(size);
  for (let p = 0; p < size * size; p++) {
    if (labels[p] === 0) {
      img.data[p * 3] = background[0];
      img.data[p * 3 + 1] = background[1];
      img.data[p * 3 + 2] = background[2];
    } else {
      uptakeToRgb(cm, map.data[p], img.data, p * 3);
    }
  }
  return img;
}

/**
 * Mean uptake of each AHA segment (index 0 = segment 1, ..., 16 = segment 17), over the pixels
 * that `segmentLabels(map.size)` assigns to it and, if `valid` is given, that are valid.
 * A segment with no (valid) pixel gets NaN.
 */
export function segmentMeans(map: UptakeMap, valid?: Uint8Array): Float64Array {
  const n = map.size * map.size;
  if (map.data.length !== n)
    throw new Error(`segmentMeans: map data has ${map.data.length} values for size ${map.size}`);
  if (valid && valid.length !== n)
    throw new Error(`segmentMeans: valid mask has ${valid.length} values, map has ${n}`);
  const labels = segmentLabels(map.size);
  const sum = new Float64Array(N_SEGMENTS);
  const count = new Float64Array(N_SEGMENTS);
  for (let p = 0; p < n; p++) {
    const l = labels[p];
    if (l === 0 || (valid && valid[p] === 0)) continue;
    sum[l - 1] += map.data[p];
    count[l - 1]++;
  }
  const out = new Float64Array(N_SEGMENTS);
  for (let s = 0; s < N_SEGMENTS; s++) out[s] = count[s] > 0 ? sum[s] / count[s] : Number.NaN;
  return out;
}

/**
 * The 17 raw segment means of one square, disc-inscribed crop read with colour map `cm`.
 * @param name the image's name for error messages
 * @throws InputError naming the image when it is not square or no disc pixel matches the table
 */
export function cropSegmentMeans(
  img: RgbImage,
  name: string,
  cm: Colormap,
  maxDistance?: number,
): Float64Array {
  if (img.width !== img.height) {
    throw new InputError(
      `${name}: ${img.width}x${img.height} pixels, not a square polar-map crop (is this a raw export? use --input raw)`,
    );
  }
  const { map, valid } = rgbToUptake(img, cm, maxDistance === undefined ? {} : { maxDistance });
  const segments = segmentMeans(map, valid);
  if (!segments.some((v) => Number.isFinite(v) && v > 0)) {
    throw new InputError(`${name}: no pixel of the disc matches the colour map ${cm.name}`);
  }
  return segments;
}
