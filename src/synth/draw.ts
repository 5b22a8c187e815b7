/**
 * Raster and vector drawing for vendor-style exports: a `Drawing` is an RGB raster (discs, colour
 * bars) plus SVG overlay elements (text, grid lines) that sharp/librsvg renders on top.
 * Text uses the 'DejaVu Sans' font, so output bytes are deterministic on a given system.
 */
import sharp, { type Sharp } from 'sharp';
import { createRgbImage, type Disc, type RgbImage, type UptakeMap } from '../domain/image.js';
import { segmentLabels, SEGMENTS, RING_OUTER_RADIUS } from '../polarmap/geometry.js';
import { type Colormap, uptakeToRgb } from '../polarmap/colormaps.js';

export interface Drawing {
  readonly image: RgbImage;
  /** SVG elements (no <svg> wrapper), in image pixel coordinates */
  readonly overlay: string[];
}

export function newDrawing(width: number, height: number): Drawing {
  return { image: createRgbImage(width, height), overlay: [] };
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface TextStyle {
  readonly size: number;
  readonly fill?: string;
  readonly anchor?: 'start' | 'middle' | 'end';
  readonly weight?: 'normal' | 'bold';
  /** draw a thin dark outline (for text over the map) */
  readonly outline?: boolean;
}

/** Add a line of text; (x, y) is the baseline point. */
export function addText(d: Drawing, x: number, y: number, text: string, st: TextStyle): void {
  const outline = st.outline
    ? ' stroke="#000" stroke-width="2" paint-order="stroke" stroke-linejoin="round"'
    : '';
  d.overlay.push(
    `<text xml:space="preserve" x="${x}" y="${y}" font-family="DejaVu Sans" font-size="${st.size}" font-weight="${st.weight ?? 'normal'}" fill="${st.fill ?? '#fff'}" text-anchor="${st.anchor ?? 'start'}"${outline}>${escapeXml(text)}</text>`,
  );
}

/**
 * Paint `map` into the disc: each image pixel within `disc.radius` of the centre samples the map by
 * bilinear interpolation restricted to the map's inside pixels (so the rim is not darkened).
 */
export function paintDisc(img: RgbImage, map: UptakeMap, disc: Disc, cm: Colormap): void {
  const { size, data } = map;
  const mask = segmentLabels(size);
  const c = (size - 1) / 2;
  const half = size / 2;
  const x0 = Math.max(0, Math.floor(disc.cx - disc.radius));
  const x1 = Math.min(img.width - 1, Math.ceil(disc.cx + disc.radius));
  const y0 = Math.max(0, Math.floor(disc.cy - disc.radius));
  const y1 = Math.min(img.height - 1, Math.ceil(disc.cy + disc.radius));
  const r2 = disc.radius * disc.radius;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - disc.cx;
      const dy = y - disc.cy;
      if (dx * dx + dy * dy > r2) continue;
      const mx = Math.min(size - 1, Math.max(0, c + (dx / disc.radius) * half));
      const my = Math.min(size - 1, Math.max(0, c + (dy / disc.radius) * half));
      const ix = Math.min(size - 2, Math.floor(mx));
      const iy = Math.min(size - 2, Math.floor(my));
      const fx = mx - ix;
      const fy = my - iy;
      const i00 = iy * size + ix;
      let s = 0;
      let w = 0;
      const acc = (i: number, wt: number): void => {
        if (mask[i] !== 0 && wt > 0) {
          s += wt * data[i];
          w += wt;
        }
      };
      acc(i00, (1 - fx) * (1 - fy));
      acc(i00 + 1, fx * (1 - fy));
      acc(i00 + size, (1 - fx) * fy);
      acc(i00 + size + 1, fx * fy);
      if (w === 0) {
        // no inside neighbour with weight: nearest inside pixel along the ray to the centre
        const n = Math.round(my) * size + Math.round(mx);
        s = mask[n] !== 0 ? data[n] : data[Math.round(c) * size + Math.round(c)];
        w = 1;
      }
      uptakeToRgb(cm, s / w, img.data, (y * img.width + x) * 3);
    }
  }
}

/** A vertical colour bar (maximum at the top) with '100%' / '0%' labels beside it. */
export function paintColourBar(
  d: Drawing,
  x: number,
  y: number,
  w: number,
  h: number,
  cm: Colormap,
  labelSize = 12,
): void {
  const img = d.image;
  for (let j = 0; j < h; j++) {
    const v = 1 - j / (h - 1);
    for (let i = 0; i < w; i++) uptakeToRgb(cm, v, img.data, ((y + j) * img.width + x + i) * 3);
  }
  d.overlay.push(
    `<rect x="${x - 0.5}" y="${y - 0.5}" width="${w + 1}" height="${h + 1}" fill="none" stroke="#888" stroke-width="1"/>`,
  );
  addText(d, x + w / 2, y - 6, '100%', { size: labelSize, anchor: 'middle', fill: '#ddd' });
  addText(d, x + w / 2, y + h + labelSize + 3, '0%', { size: labelSize, anchor: 'middle', fill: '#ddd' });
}

const DEG = Math.PI / 180;
const pt = (disc: Disc, rho: number, a: number): [string, string] => [
  (disc.cx + rho * Math.sin(a * DEG)).toFixed(2),
  (disc.cy - rho * Math.cos(a * DEG)).toFixed(2),
];

/** The AHA 17-segment grid (ring circles and spokes) and optionally the segment numbers. */
export function addSegmentGrid(d: Drawing, disc: Disc, numbers: boolean, colour = '#fff'): void {
  const R = disc.radius;
  const parts: string[] = [];
  for (const rr of [RING_OUTER_RADIUS.apex, RING_OUTER_RADIUS.apical, RING_OUTER_RADIUS.mid, 1]) {
    parts.push(`<circle cx="${disc.cx}" cy="${disc.cy}" r="${(rr * R).toFixed(2)}"/>`);
  }
  for (const a of [30, 90, 150, 210, 270, 330]) {
    const [xa, ya] = pt(disc, RING_OUTER_RADIUS.apical * R, a);
    const [xb, yb] = pt(disc, R, a);
    parts.push(`<line x1="${xa}" y1="${ya}" x2="${xb}" y2="${yb}"/>`);
  }
  for (const a of [45, 135, 225, 315]) {
    const [xa, ya] = pt(disc, RING_OUTER_RADIUS.apex * R, a);
    const [xb, yb] = pt(disc, RING_OUTER_RADIUS.apical * R, a);
    parts.push(`<line x1="${xa}" y1="${ya}" x2="${xb}" y2="${yb}"/>`);
  }
  d.overlay.push(
    `<g fill="none" stroke="${colour}" stroke-opacity="0.85" stroke-width="1">${parts.join('')}</g>`,
  );
  if (!numbers) return;
  const mid: Record<string, number> = { apex: 0, apical: 0.375, mid: 0.625, basal: 0.875 };
  const size = Math.max(8, Math.round(R * 0.1));
  for (const s of SEGMENTS) {
    const rho = mid[s.ring] * R;
    const [x, y] = s.ring === 'apex' ? [String(disc.cx), String(disc.cy)] : pt(disc, rho, s.centreDeg);
    addText(d, Number(x), Number(y) + size * 0.36, String(s.id), { size, anchor: 'middle', outline: true });
  }
}

function svgOf(d: Drawing): Buffer {
  const { width, height } = d.image;
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${d.overlay.join('')}</svg>`,
  );
}

function pipeline(d: Drawing): Sharp {
  const { width, height, data } = d.image;
  const s = sharp(data, { raw: { width, height, channels: 3 } });
  return d.overlay.length > 0 ? s.composite([{ input: svgOf(d), top: 0, left: 0 }]) : s;
}

/** Flatten the overlay onto the raster. */
export async function flatten(d: Drawing): Promise<RgbImage> {
  const { data, info } = await pipeline(d).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

export type ImageFormat = 'png' | 'jpeg';

/** Flatten and encode (deterministic: fixed encoder settings, no metadata). */
export async function encode(d: Drawing, format: ImageFormat): Promise<Buffer> {
  const p = pipeline(d).removeAlpha();
  return format === 'png' ? p.png({ compressionLevel: 6 }).toBuffer() : p.jpeg({ quality: 92 }).toBuffer();
}
