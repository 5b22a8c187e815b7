/**
 * The AHA 17-segment model on the polar map ("bull's-eye"), in the standard display
 * (Cerqueira et al., Circulation 2002;105:539-542):
 *
 * - apex at the centre, base at the rim;
 * - anterior wall at the top, septum on the left, lateral wall on the right, inferior at the bottom.
 *
 * Rings, from the centre out (radius r normalised to 1 at the rim). The bull's-eye maps distance
 * along the long axis linearly to radius, so the four regions get equal radial widths:
 *   apex cap (17)            r in [0,    0.25)
 *   apical ring (13-16)      r in [0.25, 0.50)   4 segments of 90 degrees
 *   mid ring (7-12)          r in [0.50, 0.75)   6 segments of 60 degrees
 *   basal ring (1-6)         r in [0.75, 1.00]   6 segments of 60 degrees
 *
 * Angles are measured in degrees clockwise from 12 o'clock in the displayed image (0 = up,
 * 90 = right = lateral, 180 = down = inferior, 270 = left = septal). Segment boundaries:
 *   basal/mid:  anterior centred at 0 (330..30), anteroseptal 270..330, inferoseptal 210..270,
 *               inferior 150..210, inferolateral 90..150, anterolateral 30..90;
 *   apical:     anterior 315..45, septal 225..315, inferior 135..225, lateral 45..135.
 * Numbering therefore runs counter-clockwise on screen (1 anterior, 2 anteroseptal, ...).
 */

export type SegmentId = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 | 16 | 17;
export const SEGMENT_IDS: readonly SegmentId[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
export const N_SEGMENTS = 17;

export type Ring = 'apex' | 'apical' | 'mid' | 'basal';

/** Outer radius of each ring (normalised, rim = 1). */
export const RING_OUTER_RADIUS: Readonly<Record<Ring, number>> = {
  apex: 0.25,
  apical: 0.5,
  mid: 0.75,
  basal: 1,
};

export interface SegmentInfo {
  readonly id: SegmentId;
  readonly name: string;
  readonly ring: Ring;
  /** Angular centre, degrees clockwise from 12 o'clock (NaN for the apex cap). */
  readonly centreDeg: number;
  /** Angular width in degrees (360 for the apex cap). */
  readonly widthDeg: number;
}

const SIX_WALLS = ['anterior', 'anteroseptal', 'inferoseptal', 'inferior', 'inferolateral', 'anterolateral'];
const SIX_CENTRES = [0, 300, 240, 180, 120, 60];
const FOUR_WALLS = ['anterior', 'septal', 'inferior', 'lateral'];
const FOUR_CENTRES = [0, 270, 180, 90];

export const SEGMENTS: readonly SegmentInfo[] = [
  ...SIX_WALLS.map((w, i) => ({
    id: (1 + i) as SegmentId,
    name: `basal ${w}`,
    ring: 'basal' as const,
    centreDeg: SIX_CENTRES[i],
    widthDeg: 60,
  })),
  ...SIX_WALLS.map((w, i) => ({
    id: (7 + i) as SegmentId,
    name: `mid ${w}`,
    ring: 'mid' as const,
    centreDeg: SIX_CENTRES[i],
    widthDeg: 60,
  })),
  ...FOUR_WALLS.map((w, i) => ({
    id: (13 + i) as SegmentId,
    name: `apical ${w}`,
    ring: 'apical' as const,
    centreDeg: FOUR_CENTRES[i],
    widthDeg: 90,
  })),
  { id: 17, name: 'apex', ring: 'apex', centreDeg: Number.NaN, widthDeg: 360 },
];

export function segmentInfo(id: SegmentId): SegmentInfo {
  return SEGMENTS[id - 1];
}

/** Angle in degrees clockwise from 12 o'clock of the offset (dx right, dy down), in [0, 360). */
export function clockAngleDeg(dx: number, dy: number): number {
  const a = (Math.atan2(dx, -dy) * 180) / Math.PI;
  return a < 0 ? a + 360 : a;
}

/**
 * The segment at normalised polar-map coordinates: `u` to the right and `v` downwards, in units
 * of the disc radius from the centre. Returns 0 outside the disc (r > 1).
 */
export function segmentAtNormalised(u: number, v: number): SegmentId | 0 {
  const r = Math.hypot(u, v);
  if (r > 1) return 0;
  if (r < RING_OUTER_RADIUS.apex) return 17;
  const a = clockAngleDeg(u, v);
  if (r < RING_OUTER_RADIUS.apical) {
    const k = Math.floor(((a + 45) % 360) / 90); // 0 anterior, 1 lateral, 2 inferior, 3 septal (clockwise)
    return ([13, 16, 15, 14] as const)[k];
  }
  const k = Math.floor(((a + 30) % 360) / 60); // clockwise from anterior: ant, antlat, inflat, inf, infsep, antsep
  const base = r < RING_OUTER_RADIUS.mid ? 0 : 1;
  const basal = [1, 6, 5, 4, 3, 2] as const;
  const id = basal[k] + (base === 1 ? 0 : 6);
  return id as SegmentId;
}

/** The segment of pixel (x, y) of an image whose disc has the given centre and radius (pixels). */
export function segmentAtPixel(x: number, y: number, cx: number, cy: number, radius: number): SegmentId | 0 {
  return segmentAtNormalised((x - cx) / radius, (y - cy) / radius);
}

/**
 * The segment of every pixel of a `size` x `size` polar map whose disc is inscribed in the square
 * (centre (size-1)/2, radius size/2), as in `UptakeMap`. 0 = outside. Cached per size.
 */
const labelCache = new Map<number, Uint8Array>();
export function segmentLabels(size: number): Uint8Array {
  let labels = labelCache.get(size);
  if (!labels) {
    labels = new Uint8Array(size * size);
    const c = (size - 1) / 2;
    const r = size / 2;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) labels[y * size + x] = segmentAtPixel(x, y, c, c, r);
    }
    labelCache.set(size, labels);
  }
  return labels;
}

/** Normalised radius (0 at the centre, 1 at the rim) of pixel (x, y) of a size x size map. */
export function normalisedRadius(x: number, y: number, size: number): number {
  const c = (size - 1) / 2;
  return Math.hypot(x - c, y - c) / (size / 2);
}
