/**
 * Nuclear-medicine colour look-up tables (LUTs), both directions:
 * - uptake -> colour, for rendering polar maps;
 * - colour -> uptake, to read relative uptake back from an exported RGB image (nearest table
 *   entry, with the distance to it, so callers can tell a map pixel from text or grid lines).
 *
 * Built-in tables (256 entries, index 0 = no uptake, 255 = maximum):
 * - `gray`:    black to white.
 * - `hot`:     the thermal / "hot iron" scale: black, red, yellow, white.
 * - `cool`:    black, blue, cyan, white (an "ice" scale, the cold counterpart of `hot`).
 * - `rainbow`: the "spectrum" scale common on cardiac polar maps: black, violet, blue, cyan,
 *              green, yellow, orange, red, white.
 * Users may supply their own table (see `colormapFromRows` and `custom-colormap.ts`).
 */

export const BUILTIN_COLORMAPS = ['gray', 'hot', 'cool', 'rainbow'] as const;
export type BuiltinColormapName = (typeof BUILTIN_COLORMAPS)[number];

export interface Colormap {
  readonly name: string;
  /** entries * 3 bytes, RGB */
  readonly table: Uint8Array;
  readonly entries: number;
}

export interface InverseResult {
  /** relative uptake in [0, 1] of the nearest entry */
  readonly value: number;
  /** Euclidean RGB distance (0..441) from the colour to that entry */
  readonly distance: number;
}

type Stop = readonly [t: number, r: number, g: number, b: number];

function fromStops(name: string, stops: readonly Stop[], entries = 256): Colormap {
  const table = new Uint8Array(entries * 3);
  for (let i = 0; i < entries; i++) {
    const t = i / (entries - 1);
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1][0]) k++;
    const [t0, r0, g0, b0] = stops[k];
    const [t1, r1, g1, b1] = stops[k + 1];
    const f = t1 === t0 ? 0 : Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
    table[i * 3] = Math.round(r0 + f * (r1 - r0));
    table[i * 3 + 1] = Math.round(g0 + f * (g1 - g0));
    table[i * 3 + 2] = Math.round(b0 + f * (b1 - b0));
  }
  return { name, table, entries };
}

const STOPS: Readonly<Record<BuiltinColormapName, readonly Stop[]>> = {
  gray: [
    [0, 0, 0, 0],
    [1, 255, 255, 255],
  ],
  hot: [
    [0, 0, 0, 0],
    [1 / 3, 255, 0, 0],
    [2 / 3, 255, 255, 0],
    [1, 255, 255, 255],
  ],
  cool: [
    [0, 0, 0, 0],
    [0.4, 0, 0, 255],
    [0.8, 0, 255, 255],
    [1, 255, 255, 255],
  ],
  rainbow: [
    [0, 0, 0, 0],
    [0.1, 90, 0, 140],
    [0.25, 0, 0, 255],
    [0.4, 0, 220, 255],
    [0.55, 0, 200, 0],
    [0.7, 255, 255, 0],
    [0.8, 255, 150, 0],
    [0.92, 255, 0, 0],
    [1, 255, 255, 255],
  ],
};

const builtinCache = new Map<string, Colormap>();

export function isBuiltinColormap(name: string): name is BuiltinColormapName {
  return (BUILTIN_COLORMAPS as readonly string[]).includes(name);
}

export function getColormap(name: BuiltinColormapName): Colormap {
  let cm = builtinCache.get(name);
  if (!cm) {
    cm = fromStops(name, STOPS[name]);
    builtinCache.set(name, cm);
  }
  return cm;
}

/** A colormap from explicit RGB rows (0-255), index 0 = no uptake. Needs at least 2 rows. */
export function colormapFromRows(
  name: string,
  rows: readonly (readonly [number, number, number])[],
): Colormap {
  if (rows.length < 2) throw new Error(`colour map ${name}: needs at least 2 RGB rows, got ${rows.length}`);
  const table = new Uint8Array(rows.length * 3);
  rows.forEach(([r, g, b], i) => {
    table[i * 3] = r;
    table[i * 3 + 1] = g;
    table[i * 3 + 2] = b;
  });
  return { name, table, entries: rows.length };
}

/** Colour of relative uptake `value` (clamped to [0, 1]), written into `out` at `offset`. */
export function uptakeToRgb(cm: Colormap, value: number, out: Uint8Array, offset: number): void {
  const v = Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
  const i = Math.round(v * (cm.entries - 1)) * 3;
  out[offset] = cm.table[i];
  out[offset + 1] = cm.table[i + 1];
  out[offset + 2] = cm.table[i + 2];
}

/**
 * Inverse look-up: the nearest table entry to an RGB colour. Results are cached per colour,
 * so decoding a whole image costs one search per distinct colour.
 */
export class ColormapInverter {
  private readonly cache = new Map<number, number>();
  constructor(readonly colormap: Colormap) {}

  /** Packed result: index in the high bits, distance*16 (rounded) in the low 16 bits. */
  private lookup(r: number, g: number, b: number): number {
    const key = (r << 16) | (g << 8) | b;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const { table, entries } = this.colormap;
    let best = 0;
    let bestD = Infinity;
    for (let i = 0; i < entries; i++) {
      const dr = table[i * 3] - r;
      const dg = table[i * 3 + 1] - g;
      const db = table[i * 3 + 2] - b;
      const d = dr * dr + dg * dg + db * db;
      if (d < bestD) {
        bestD = d;
        best = i;
        if (d === 0) break;
      }
    }
    const packed = best * 65536 + Math.min(65535, Math.round(Math.sqrt(bestD) * 16));
    this.cache.set(key, packed);
    return packed;
  }

  invert(r: number, g: number, b: number): InverseResult {
    const p = this.lookup(r, g, b);
    const index = Math.floor(p / 65536);
    return { value: index / (this.colormap.entries - 1), distance: (p % 65536) / 16 };
  }
}
