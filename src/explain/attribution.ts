/**
 * Localisation summary of a heatmap on the polar map: the share of the heatmap's mass in each of
 * the 17 AHA segments (Cerqueira et al. 2002; `polarmap/geometry.ts`) and in each coronary
 * territory (LAD, LCx, RCA; `polarmap/territories.ts`, configurable), and one sentence a reader
 * can take in at a glance ("The model looked mostly at the inferior wall (RCA territory, 64% of
 * the heatmap)").
 *
 * Mass = sum of the (non-negative) heatmap values over the pixels of a segment; shares are
 * divided by the mass inside the disc. Negative values (an un-rectified CAM) count as 0. The
 * heatmap is a square raster in the `UptakeMap` convention (disc inscribed in the square), or, for
 * the 2x2 tile of Apostolopoulos et al. (2020), a square of four such quadrants (`VIEWS` order).
 */
import { VIEWS, VIEW_CAPTIONS, type View } from '../domain/views.js';
import { N_SEGMENTS, SEGMENTS, segmentLabels, type SegmentId } from '../polarmap/geometry.js';
import {
  DEFAULT_TERRITORIES,
  VESSELS,
  validateTerritories,
  vesselOf,
  type TerritoryMap,
  type Vessel,
} from '../polarmap/territories.js';
import { InputError } from '../util/errors.js';

/** Where a heatmap's mass lies on the 17-segment model. */
export interface Attribution {
  /** Share of the mass per segment; index 0 = segment 1 ... index 16 = segment 17 (apex). */
  readonly segments: readonly number[];
  /** Share of the mass per territory. */
  readonly territories: Readonly<Record<Vessel, number>>;
  /** Total (non-negative) mass inside the disc; 0 = empty heatmap (all shares 0). */
  readonly mass: number;
  /** The summary in words. */
  readonly sentence: string;
}

/** Attribution of a 2x2 tile: all four maps together, and each view. */
export interface TileAttribution extends Attribution {
  readonly views: Readonly<Record<View, Attribution>>;
  /** Share of the total mass on each view. */
  readonly viewShares: Readonly<Record<View, number>>;
}

/** Options of the attribution functions. */
export interface AttributionOptions {
  /** Segment -> vessel assignment (default `DEFAULT_TERRITORIES`). */
  territories?: TerritoryMap;
  /** Wording for the class explained (default 'CAD'); used for the empty-heatmap sentence. */
  className?: string;
}

function checkTerritories(t: TerritoryMap): void {
  const problems = validateTerritories(t);
  if (problems.length > 0) throw new InputError(`territory map: ${problems.join('; ')}`);
}

/** Raw (un-normalised) mass per segment of a size x size heatmap read at stride `stride` from `offset`. */
function segmentMass(heat: Float32Array, size: number, stride: number, offset: number): Float64Array {
  const labels = segmentLabels(size);
  const mass = new Float64Array(N_SEGMENTS);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const s = labels[y * size + x];
      if (s === 0) continue;
      const v = heat[offset + y * stride + x];
      if (v > 0) mass[s - 1] += v;
    }
  }
  return mass;
}

/** The wall a segment lies on: its name without the ring ('mid inferior' -> 'inferior'; 'apex'). */
export function wallOf(segment: SegmentId): string {
  return SEGMENTS[segment - 1].name.replace(/^(basal|mid|apical) /, '');
}

function pct(x: number): string {
  return `${Math.round(100 * x)}%`;
}

function wallPhrase(walls: readonly string[]): string {
  const named = walls.filter((w) => w !== 'apex');
  const parts: string[] = [];
  if (named.length === 1) parts.push(`the ${named[0]} wall`);
  else if (named.length > 1)
    parts.push(`the ${named.slice(0, -1).join(', ')} and ${named[named.length - 1]} walls`);
  if (walls.includes('apex')) parts.push('the apex');
  return parts.join(' and ');
}

/**
 * The summary sentence of segment and territory shares. The territory with the largest share is
 * named with its wall(s) (walls of that territory holding at least half as much mass as its
 * leading wall), then the leading segment. When no territory holds half of the heatmap, the
 * shares of all three are listed.
 */
export function describeAttribution(
  segments: readonly number[],
  territories: Readonly<Record<Vessel, number>>,
  mass: number,
  opts: AttributionOptions = {},
): string {
  const t = opts.territories ?? DEFAULT_TERRITORIES;
  if (!(mass > 0))
    return `The heatmap is empty: no part of the map raised the ${opts.className ?? 'CAD'} score.`;
  const ranked = [...VESSELS].sort((a, b) => territories[b] - territories[a]);
  const top = ranked[0];
  const wallMass = new Map<string, number>();
  for (const s of t[top]) wallMass.set(wallOf(s), (wallMass.get(wallOf(s)) ?? 0) + segments[s - 1]);
  const walls = [...wallMass.entries()].sort((a, b) => b[1] - a[1]);
  const lead = walls.filter(([, m]) => m >= 0.5 * walls[0][1] && m > 0).map(([w]) => w);
  const where = wallPhrase(lead);
  let topSeg = 0;
  for (let k = 1; k < N_SEGMENTS; k++) if (segments[k] > segments[topSeg]) topSeg = k;
  const seg = `Leading segment: ${SEGMENTS[topSeg].name} (segment ${topSeg + 1}, ${pct(segments[topSeg])}).`;
  if (territories[top] >= 0.5)
    return `The model looked mostly at ${where} (${top} territory, ${pct(territories[top])} of the heatmap). ${seg}`;
  return (
    `The model's attention is spread over the territories (${ranked.map((v) => `${v} ${pct(territories[v])}`).join(', ')}); ` +
    `the largest share is on ${where} (${top} territory). ${seg}`
  );
}

function fromMass(mass: Float64Array, opts: AttributionOptions): Attribution {
  const t = opts.territories ?? DEFAULT_TERRITORIES;
  const total = mass.reduce((a, b) => a + b, 0);
  const segments = Array.from(mass, (m) => (total > 0 ? m / total : 0));
  const territories = { LAD: 0, LCx: 0, RCA: 0 } as Record<Vessel, number>;
  segments.forEach((s, k) => (territories[vesselOf((k + 1) as SegmentId, t)] += s));
  return {
    segments,
    territories,
    mass: total,
    sentence: describeAttribution(segments, territories, total, opts),
  };
}

/**
 * Segment and territory shares of a `size` x `size` heatmap (row-major, disc inscribed in the
 * square as in `UptakeMap`).
 * @throws InputError for a heatmap whose length is not size^2 or a bad territory map.
 */
export function attributeHeatmap(
  heat: Float32Array,
  size: number,
  opts: AttributionOptions = {},
): Attribution {
  if (!Number.isInteger(size) || size < 1 || heat.length !== size * size)
    throw new InputError(`heatmap has ${heat.length} values, expected ${size}x${size}`);
  checkTerritories(opts.territories ?? DEFAULT_TERRITORIES);
  return fromMass(segmentMass(heat, size, size, 0), opts);
}

/**
 * Shares of a heatmap over a 2x2 tile of side `size` (even): each quadrant is one view's polar map
 * in the fixed `VIEWS` order (top-left stress AC, top-right rest AC, bottom-left stress NAC,
 * bottom-right rest NAC). The combined shares pool the mass of all four maps.
 */
export function attributeTile(
  heat: Float32Array,
  size: number,
  opts: AttributionOptions = {},
): TileAttribution {
  if (!Number.isInteger(size) || size < 2 || size % 2 !== 0 || heat.length !== size * size) {
    throw new InputError(`tile heatmap has ${heat.length} values, expected an even side ${size}x${size}`);
  }
  checkTerritories(opts.territories ?? DEFAULT_TERRITORIES);
  const n = size / 2;
  const total = new Float64Array(N_SEGMENTS);
  const views = {} as Record<View, Attribution>;
  const masses = {} as Record<View, number>;
  VIEWS.forEach((v, i) => {
    const offset = (i >= 2 ? n * size : 0) + (i % 2 === 1 ? n : 0);
    const m = segmentMass(heat, n, size, offset);
    m.forEach((x, k) => (total[k] += x));
    views[v] = fromMass(m, opts);
    masses[v] = views[v].mass;
  });
  const all = fromMass(total, opts);
  const viewShares = {} as Record<View, number>;
  for (const v of VIEWS) viewShares[v] = all.mass > 0 ? masses[v] / all.mass : 0;
  const lead = [...VIEWS].sort((a, b) => viewShares[b] - viewShares[a])[0];
  const sentence =
    all.mass > 0
      ? `${all.sentence} Most of it is on the ${VIEW_CAPTIONS[lead]} map (${pct(viewShares[lead])}).`
      : all.sentence;
  return { ...all, sentence, views, viewShares };
}
