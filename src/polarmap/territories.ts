import { type SegmentId } from './geometry.js';

/**
 * Coronary territories on the 17-segment model. The default is the AHA assignment used by
 * most quantitative packages:
 *   LAD: 1, 2, 7, 8, 13, 14, 17     RCA: 3, 4, 9, 10, 15     LCx: 5, 6, 11, 12, 16
 * It is configurable, since the inferoseptal and inferolateral (and apical) supply varies
 * between patients (right- vs left-dominant circulation).
 */
export const VESSELS = ['LAD', 'LCx', 'RCA'] as const;
export type Vessel = (typeof VESSELS)[number];

export type TerritoryMap = Readonly<Record<Vessel, readonly SegmentId[]>>;

export const DEFAULT_TERRITORIES: TerritoryMap = {
  LAD: [1, 2, 7, 8, 13, 14, 17],
  LCx: [5, 6, 11, 12, 16],
  RCA: [3, 4, 9, 10, 15],
};

/** Check that a territory map assigns every segment 1..17 to exactly one vessel. */
export function validateTerritories(t: TerritoryMap): string[] {
  const problems: string[] = [];
  const seen = new Map<number, Vessel>();
  for (const v of VESSELS) {
    for (const s of t[v]) {
      if (!Number.isInteger(s) || s < 1 || s > 17) problems.push(`${v}: ${s} is not a segment number 1-17`);
      const prev = seen.get(s);
      if (prev) problems.push(`segment ${s} is assigned to both ${prev} and ${v}`);
      seen.set(s, v);
    }
  }
  for (let s = 1; s <= 17; s++) if (!seen.has(s)) problems.push(`segment ${s} is not assigned to any vessel`);
  return problems;
}

/** The vessel supplying a segment under the given territory map. */
export function vesselOf(segment: SegmentId, t: TerritoryMap = DEFAULT_TERRITORIES): Vessel {
  for (const v of VESSELS) if (t[v].includes(segment)) return v;
  throw new Error(`segment ${segment} is not in any territory`);
}
