/**
 * The feature vectors of polarcad's two simple baselines, read from prepared polar-map crops
 * (square, disc inscribed, as `polarcad prepare` writes them):
 *
 * - `pixel`: every view downsampled to `side` x `side` RGB (area averaging), 3 * side^2 values
 *   per view: what a logistic regression "on downsampled pixels" sees.
 * - `segment`: the mean relative uptake of the 17 AHA segments (Cerqueira et al. 2002) of every
 *   view, read back through the export's colour map (`rgbToUptake`); a segment with no readable
 *   pixel counts as 0. This is the quantitative polar map a reader would score by eye, without
 *   the normal database.
 *
 * The order is fixed: views in the order given, then pixels row-major (R, G, B) or segments 1..17.
 */
import type { RgbImage } from '../../domain/image.js';
import type { View } from '../../domain/views.js';
import { resizeRgb } from '../../ingest/preprocess.js';
import type { Colormap } from '../../polarmap/colormaps.js';
import { rgbToUptake, segmentMeans } from '../../polarmap/read-uptake.js';
import { N_SEGMENTS } from '../../polarmap/geometry.js';

/** The baseline feature families. */
export const BASELINE_FEATURES = ['pixel', 'segment'] as const;
export type BaselineFeatures = (typeof BASELINE_FEATURES)[number];

/** Default side of the downsampled pixel grid (32 x 32, as in the issue that asked for it). */
export const DEFAULT_PIXEL_SIDE = 32;

/** How to turn a patient's views into one baseline feature vector. */
export interface BaselineFeatureSpec {
  readonly features: BaselineFeatures;
  readonly views: readonly View[];
  /** pixel grid side (pixel features) */
  readonly side?: number;
}

/** Features per view. */
export function featuresPerView(spec: BaselineFeatureSpec): number {
  return spec.features === 'pixel' ? 3 * (spec.side ?? DEFAULT_PIXEL_SIDE) ** 2 : N_SEGMENTS;
}

/** `side` x `side` RGB pixels of one crop, scaled to [0, 1]. */
export function pixelVector(img: RgbImage, side = DEFAULT_PIXEL_SIDE): Float64Array {
  const small = resizeRgb(img, side, side);
  return Float64Array.from(small.data, (v) => v / 255);
}

/** The 17 segment means of one crop read with `cm`; unreadable segments are 0. */
export function segmentVector(img: RgbImage, cm: Colormap): Float64Array {
  const { map, valid } = rgbToUptake(img, cm);
  return segmentMeans(map, valid).map((v) => (Number.isFinite(v) ? v : 0));
}

/**
 * The feature vector of one patient.
 * @param views the patient's crops; every view of `spec.views` must be present
 * @param cm the export's colour map (segment features only)
 * @param where names the patient in error messages
 * @example
 * const x = baselineVector({ features: 'segment', views: ['stress_ac', 'rest_ac'] }, maps, getColormap('rainbow'));
 * x.length; // 34
 */
export function baselineVector(
  spec: BaselineFeatureSpec,
  views: Partial<Record<View, RgbImage>>,
  cm: Colormap | undefined,
  where = 'patient',
): Float64Array {
  const per = featuresPerView(spec);
  const out = new Float64Array(per * spec.views.length);
  spec.views.forEach((v, k) => {
    const img = views[v];
    if (img === undefined) throw new RangeError(`${where}: view ${v} is missing`);
    if (spec.features === 'segment' && cm === undefined)
      throw new RangeError('segment features need the colour map');
    const x = spec.features === 'pixel' ? pixelVector(img, spec.side) : segmentVector(img, cm as Colormap);
    out.set(x, k * per);
  });
  return out;
}
