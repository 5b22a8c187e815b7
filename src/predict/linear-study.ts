/**
 * One study through a closed-form model (`polarcad train --model hybrid|...`, saved by
 * src/rundir/linear.ts): P(CAD) from the stacked members, and the heatmap drawn from the model's
 * exact evidence: the logit split over views and AHA segments (src/models/linear/stacked.ts).
 *
 * The heatmap is on a fixed scale, the same for every study: a segment is painted with its
 * positive evidence for CAD in logit units, full brightness at {@link EVIDENCE_FULL_SCALE}; a
 * confident normal study therefore looks quiet, and each disc of a multi-view model shows its own
 * evidence. Territory shares and the sentence are read from the same raster, so the words match
 * the picture.
 */
import type { RgbImage } from '../domain/image.js';
import { VIEWS, VIEW_CAPTIONS, type View } from '../domain/views.js';
import { attributeHeatmap, attributeTile } from '../explain/attribution.js';
import { resizeRgb, tile2x2 } from '../ingest/preprocess.js';
import type { SegmentEvidence } from '../models/linear/stacked.js';
import { segmentLabels } from '../polarmap/geometry.js';
import { bullseyeSvg } from './bullseye.js';
import { confidenceOf } from './confidence.js';
import type { Predictor } from './predictor.js';
import {
  DISPLAY_SIZE,
  studyImages,
  studyScores,
  type PredictStudyOptions,
  type StudyImages,
  type StudyResult,
} from './study.js';

/** Evidence (logit units) painted at full brightness. */
export const EVIDENCE_FULL_SCALE = 1.5;

const ms = (t0: number): number => Math.round((performance.now() - t0) * 10) / 10;

/** Paint one view's positive segment evidence into a `side` x `side` block of `heat` at (x0, y0). */
function paintView(
  heat: Float32Array,
  size: number,
  x0: number,
  y0: number,
  side: number,
  e: Float64Array | undefined,
): void {
  if (e === undefined) return;
  const labels = segmentLabels(side);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const s = labels[y * side + x];
      if (s === 0) continue;
      heat[(y0 + y) * size + x0 + x] = Math.min(1, Math.max(0, e[s - 1]) / EVIDENCE_FULL_SCALE);
    }
}

/** The evidence raster: one disc, or the 2x2 tile in the order of `VIEWS`. */
export function evidenceRaster(
  evidence: SegmentEvidence,
  views: readonly View[],
): { heat: Float32Array; size: number; layout: 'image' | 'tile2x2' } {
  if (views.length === 1) {
    const size = DISPLAY_SIZE.image;
    const heat = new Float32Array(size * size);
    paintView(heat, size, 0, 0, size, evidence[views[0]]);
    return { heat, size, layout: 'image' };
  }
  const size = DISPLAY_SIZE.tile2x2;
  const half = size / 2;
  const heat = new Float32Array(size * size);
  VIEWS.forEach((v, k) => paintView(heat, size, (k % 2) * half, Math.floor(k / 2) * half, half, evidence[v]));
  return { heat, size, layout: 'tile2x2' };
}

/**
 * Predict and explain one study with a closed-form model (the maps are already read).
 * @example const { result } = await predictLinearStudy(p, maps, 'maps', { study: 'P1' });
 */
export async function predictLinearStudy(
  p: Predictor,
  maps: Partial<Record<View, RgbImage>>,
  source: 'page' | 'maps',
  opts: PredictStudyOptions,
  t0: number,
  warnings: readonly string[] = [],
): Promise<{ result: StudyResult; images: StudyImages }> {
  const linear = p.linear;
  if (linear === null) throw new Error('internal error: predictLinearStudy on a CNN model');
  const readMs = ms(t0);
  const t1 = performance.now();
  const [r] = await linear.predict([maps], [opts.clinical]);
  const backboneMs = ms(t1);
  const t2 = performance.now();
  const { heat, size, layout } = evidenceRaster(r.evidence, p.views);
  const att = layout === 'image' ? attributeHeatmap(heat, size) : attributeTile(heat, size);
  const display =
    layout === 'image'
      ? resizeRgb(maps[p.views[0]] as RgbImage, size, size)
      : tile2x2(Object.fromEntries(p.views.map((v) => [v, maps[v]])), size);
  const explainMs = ms(t2);
  const t3 = performance.now();
  const scores = studyScores(p, maps, opts);
  const scoresMs = ms(t3);
  const main = scores.AC ?? scores.NAC;
  const probability = r.probability;
  const result: StudyResult = {
    study: opts.study ?? 'study',
    probability,
    rawProbability: probability,
    calibrated: true,
    threshold: p.threshold,
    decision: probability >= p.threshold ? 'CAD' : 'normal',
    confidence: confidenceOf(probability),
    source,
    viewsFound: (Object.keys(maps) as View[]).filter((v) => maps[v] !== undefined),
    viewsUsed: p.views,
    territories: att.territories,
    segments: att.segments,
    sentence: att.sentence,
    scores,
    bullseye:
      main !== null
        ? {
            kind: 'score',
            values: main.stress,
            svg: bullseyeSvg(main.stress, {
              kind: 'score',
              title: `${main.correction} stress segment scores`,
            }),
          }
        : { kind: 'share', values: att.segments, svg: bullseyeSvg(att.segments, { kind: 'share' }) },
    model: { backbone: p.card.backbone, input: p.card.input },
    timings: { readMs, backboneMs, gradcamMs: 0, explainMs, scoresMs, totalMs: ms(t0) },
    warnings: [
      ...warnings,
      ...(scores.warning === null ? [] : [scores.warning]),
      ...(r.missingClinical.length > 0
        ? [
            `clinical variable(s) ${r.missingClinical.join(', ')} not given: imputed as in training (give them with --clinical-values, e.g. age=63,sex=M)`,
          ]
        : []),
    ],
  };
  const images = studyImages(display, heat, layout, {
    caption: att.sentence,
    originalTitle: layout === 'image' ? VIEW_CAPTIONS[p.views[0]] : 'Polar maps',
    overlayTitle: `Evidence for CAD per segment (full scale ${EVIDENCE_FULL_SCALE} logit)`,
  });
  return { result, images };
}
