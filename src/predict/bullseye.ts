/**
 * The 17-segment bull's-eye (Cerqueira et al. 2002, AHA) as SVG, each segment filled by a value:
 * the 5-point segment score (0 normal .. 4 absent) when a normal database is present, or the
 * share of the Grad-CAM heatmap otherwise. Geometry as `polarmap/geometry.ts`: anterior at the
 * top, septum on the left, lateral on the right, inferior at the bottom; ring radii 0.25 / 0.5 /
 * 0.75 / 1; segment 1 centred at 12 o'clock, numbering counter-clockwise on the screen.
 */
import { RING_OUTER_RADIUS, SEGMENTS, type SegmentInfo } from '../polarmap/geometry.js';
import { heatmapLut } from '../explain/overlay.js';
import { InputError } from '../util/errors.js';

/** Options of {@link bullseyeSvg}. */
export interface BullseyeOptions {
  /** Side of the SVG in pixels (default 220). */
  size?: number;
  /** What the values are: 'score' (0..4) or 'share' (0..1 of the heatmap). */
  kind: 'score' | 'share';
  /** Accessible title. */
  title?: string;
}

/** Fill colours of the five segment scores (normal .. absent), a colour-blind-safe sequential ramp. */
export const SCORE_COLOURS = ['#f7f7f7', '#fee391', '#fe9929', '#d95f0e', '#7f2704'] as const;

const INNER: Readonly<Record<SegmentInfo['ring'], number>> = {
  apex: 0,
  apical: RING_OUTER_RADIUS.apex,
  mid: RING_OUTER_RADIUS.apical,
  basal: RING_OUTER_RADIUS.mid,
};

/** Screen point at clock angle `deg` (clockwise from 12 o'clock) and radius `r` around (c, c). */
function pt(c: number, r: number, deg: number): string {
  const t = (deg * Math.PI) / 180;
  return `${(c + r * Math.sin(t)).toFixed(2)},${(c - r * Math.cos(t)).toFixed(2)}`;
}

/** Centre (in normalised u right / v down coordinates) of a segment: mid-radius, mid-angle. */
export function segmentCentre(s: SegmentInfo): { u: number; v: number } {
  if (s.ring === 'apex') return { u: 0, v: 0 };
  const r = (INNER[s.ring] + RING_OUTER_RADIUS[s.ring]) / 2;
  const t = (s.centreDeg * Math.PI) / 180;
  return { u: r * Math.sin(t), v: -r * Math.cos(t) };
}

/** SVG path of a segment of a bull's-eye of radius `R` centred at (c, c). */
export function segmentPath(s: SegmentInfo, c: number, R: number): string {
  const r1 = RING_OUTER_RADIUS[s.ring] * R;
  if (s.ring === 'apex')
    return `M${pt(c, r1, 0)}A${r1},${r1} 0 1 1 ${pt(c, r1, 180)}A${r1},${r1} 0 1 1 ${pt(c, r1, 0)}Z`;
  const r0 = INNER[s.ring] * R;
  const a0 = s.centreDeg - s.widthDeg / 2;
  const a1 = s.centreDeg + s.widthDeg / 2;
  return `M${pt(c, r0, a0)}L${pt(c, r1, a0)}A${r1},${r1} 0 0 1 ${pt(c, r1, a1)}L${pt(c, r0, a1)}A${r0},${r0} 0 0 0 ${pt(c, r0, a0)}Z`;
}

/** Fill colour of one value. Shares are coloured on the inferno ramp relative to the largest share. */
export function segmentColour(value: number, kind: 'score' | 'share', maxShare = 1): string {
  if (!Number.isFinite(value) || value < 0) return '#9e9e9e';
  if (kind === 'score') return SCORE_COLOURS[Math.min(4, Math.round(value))];
  const lut = heatmapLut('inferno');
  const k = Math.round(Math.min(1, maxShare > 0 ? value / maxShare : 0) * 255) * 3;
  return `#${[lut[k], lut[k + 1], lut[k + 2]].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * The bull's-eye of 17 values (index 0 = segment 1) as a standalone SVG document, each segment
 * with its number and value (score, or share in percent) and a `<title>` for hover.
 * @throws InputError when there are not 17 values.
 */
export function bullseyeSvg(values: readonly number[], opts: BullseyeOptions): string {
  if (values.length !== SEGMENTS.length)
    throw new InputError(`bull's-eye needs ${SEGMENTS.length} segment values, got ${values.length}`);
  const size = opts.size ?? 220;
  const c = size / 2;
  const R = size / 2 - 2;
  const maxShare = Math.max(...values.filter((v) => Number.isFinite(v)), 0);
  const parts = SEGMENTS.map((s, i) => {
    const v = values[i];
    const fill = segmentColour(v, opts.kind, maxShare);
    const { u, v: w } = segmentCentre(s);
    const label =
      !Number.isFinite(v) || v < 0
        ? '-'
        : opts.kind === 'score'
          ? String(Math.round(v))
          : `${Math.round(100 * v)}%`;
    const dark = opts.kind === 'score' ? v >= 3 : maxShare > 0 && v / maxShare < 0.55;
    const tip = `${s.id} ${s.name}: ${opts.kind === 'score' ? `score ${label}` : `${label} of the heatmap`}`;
    return (
      `<g data-segment="${s.id}"><title>${tip}</title><path d="${segmentPath(s, c, R)}" fill="${fill}" stroke="#333" stroke-width="1"/>` +
      `<text x="${(c + u * R).toFixed(1)}" y="${(c + w * R + 4).toFixed(1)}" font-size="${Math.round(size / 20)}" text-anchor="middle" fill="${dark ? '#fff' : '#111'}">${label}</text></g>`
    );
  });
  const title =
    opts.title ?? (opts.kind === 'score' ? '17-segment scores' : '17-segment share of the heatmap');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img" aria-label="${title}" font-family="DejaVu Sans, sans-serif">${parts.join('')}</svg>`;
}
