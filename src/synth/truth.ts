/**
 * Ground truth of a synthetic study: per-segment true relative uptake and true 5-point scores,
 * computed from the noise-free phantom fields (phantom.ts).
 */
import { VIEWS, type View } from '../domain/views.js';
import type { PolarGrid } from './polar-grid.js';
import type { PatientTruth } from './types.js';
import type { PhantomFields } from './phantom.js';

/**
 * Upper bounds of the relative perfusion loss for scores 0..3 (loss >= 0.50 scores 4). A loss of
 * x means the segment's relative uptake is (1 - x) times what the same patient would have without
 * disease. The bands follow the usual visual reading of the 5-point scale (0 normal, 1 mildly
 * reduced / equivocal, 2 moderately reduced, 3 severely reduced, 4 absent uptake).
 */
export const SCORE_LOSS_BOUNDS = [0.1, 0.2, 0.35, 0.5] as const;

export function scoreOfLoss(loss: number): number {
  let s = 0;
  while (s < SCORE_LOSS_BOUNDS.length && loss >= SCORE_LOSS_BOUNDS[s]) s++;
  return s;
}

/** Mean of `field / max(field)` over each of the 17 segments. */
export function segmentMeans(grid: PolarGrid, field: Float64Array): number[] {
  let max = 0;
  for (let k = 0; k < field.length; k++) if (field[k] > max) max = field[k];
  const sums = new Float64Array(18);
  for (let k = 0; k < field.length; k++) sums[grid.segment[k]] += field[k];
  const out: number[] = [];
  for (let s = 1; s <= 17; s++)
    out.push(grid.segmentCount[s] > 0 ? sums[s] / grid.segmentCount[s] / (max || 1) : 0);
  return out;
}

export function computeTruth(grid: PolarGrid, fields: PhantomFields): PatientTruth {
  const uptake = {} as Record<View, number[]>;
  const scores = {} as Record<View, number[]>;
  for (const v of VIEWS) {
    const u = segmentMeans(grid, fields.views[v]);
    const ref = segmentMeans(grid, fields.reference[v]);
    uptake[v] = u.map((x) => Math.round(x * 1e4) / 1e4);
    scores[v] = u.map((x, i) => scoreOfLoss(1 - x / ref[i]));
  }
  const sum = (a: readonly number[]): number => a.reduce((p, q) => p + q, 0);
  const sss = sum(scores.stress_ac);
  const srs = sum(scores.rest_ac);
  return { uptake, scores, sss, srs, sds: sss - srs };
}
