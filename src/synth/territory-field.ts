/**
 * Smooth coronary-territory membership in pixel space. A territory (e.g. `DEFAULT_TERRITORIES.LAD`)
 * is a set of AHA segments; here it becomes, for every pixel, a membership in [0, 1] built from the
 * angular and radial extent of those segments with soft (logistic) edges, so a defect fades out over
 * a few degrees instead of stopping at a segment boundary. Within a ring the arcs of adjacent
 * segments sum to ~1 (no dip at the joins); the rings are blended with a smooth partition of unity.
 */
import { RING_OUTER_RADIUS, SEGMENTS, type Ring } from '../polarmap/geometry.js';
import type { TerritoryMap, Vessel } from '../polarmap/territories.js';
import { angleDiff, angularWindow, sigmoid } from './polar-grid.js';

/** width (degrees) of the logistic angular edge of a territory */
export const TERRITORY_EDGE_DEG = 13;
/** width (normalised radius) of the logistic radial edge between rings */
export const RING_EDGE = 0.05;

interface Arc {
  readonly centre: number;
  readonly halfWidth: number;
}

export interface TerritoryShape {
  readonly vessel: Vessel;
  readonly arcs: Readonly<Record<Exclude<Ring, 'apex'>, readonly Arc[]>>;
  readonly ownsApex: boolean;
  /** circular mean angle of the territory (degrees), the pivot of `LesionWarp` */
  readonly centre: number;
}

/** A per-lesion deformation of the territory: rotate by `shiftDeg`, scale the angular width by `widthScale`. */
export interface LesionWarp {
  readonly shiftDeg: number;
  readonly widthScale: number;
}

export function territoryShape(vessel: Vessel, territories: TerritoryMap): TerritoryShape {
  const arcs: Record<Exclude<Ring, 'apex'>, Arc[]> = { apical: [], mid: [], basal: [] };
  let ownsApex = false;
  let sx = 0;
  let sy = 0;
  for (const id of territories[vessel]) {
    const s = SEGMENTS[id - 1];
    if (s.ring === 'apex') {
      ownsApex = true;
      continue;
    }
    arcs[s.ring].push({ centre: s.centreDeg, halfWidth: s.widthDeg / 2 });
    const a = (s.centreDeg * Math.PI) / 180;
    sx += s.widthDeg * Math.sin(a);
    sy += s.widthDeg * Math.cos(a);
  }
  let centre = (Math.atan2(sx, sy) * 180) / Math.PI;
  if (centre < 0) centre += 360;
  return { vessel, arcs, ownsApex, centre };
}

/** Smooth weights of the four rings at normalised radius r (they sum to 1). */
export function ringWeights(r: number): { apex: number; apical: number; mid: number; basal: number } {
  const s1 = sigmoid((r - RING_OUTER_RADIUS.apex) / RING_EDGE);
  const s2 = sigmoid((r - RING_OUTER_RADIUS.apical) / RING_EDGE);
  const s3 = sigmoid((r - RING_OUTER_RADIUS.mid) / RING_EDGE);
  return { apex: 1 - s1, apical: s1 - s2, mid: s2 - s3, basal: s3 };
}

function arcSum(arcs: readonly Arc[], theta: number): number {
  let m = 0;
  for (const a of arcs) m += angularWindow(theta, a.centre, a.halfWidth, TERRITORY_EDGE_DEG);
  return Math.min(1, m);
}

/** Membership in [0, 1] of the point (r, theta) in the (optionally warped) territory. */
export function territoryMembership(
  shape: TerritoryShape,
  r: number,
  theta: number,
  warp?: LesionWarp,
): number {
  let t = theta;
  if (warp) t = shape.centre + angleDiff(theta - warp.shiftDeg, shape.centre) / warp.widthScale;
  const w = ringWeights(r);
  let m = shape.ownsApex ? w.apex : 0;
  if (w.apical > 1e-4) m += w.apical * arcSum(shape.arcs.apical, t);
  if (w.mid > 1e-4) m += w.mid * arcSum(shape.arcs.mid, t);
  if (w.basal > 1e-4) m += w.basal * arcSum(shape.arcs.basal, t);
  return m;
}
