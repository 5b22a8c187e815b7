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
      // bilinear weights, restricted to inside pixels (inlined: this is the hot loop)
      const w00 = mask[i00] !== 0 ? (1 - fx) * (1 - fy) : 0;
      const w01 = mask[i00 + 1] !== 0 ? fx * (1 - fy) : 0;
      const w10 = mask[i00 + size] !== 0 ? (1 - fx) * fy : 0;
      const w11 = mask[i00 + size + 1] !== 0 ? fx * fy : 0;
      let w = w00 + w01 + w10 + w11;
      let s = w00 * data[i00] + w01 * data[i00 + 1] + w10 * data[i00 + size] + w11 * data[i00 + size + 1];
      if (w === 0) {
        // at the very rim no interpolation neighbour is inside: take the nearest inside pixel
        let best = Infinity;
        for (let j = Math.max(0, iy - 1); j <= Math.min(size - 1, iy + 2); j++) {
          for (let i = Math.max(0, ix - 1); i <= Math.min(size - 1, ix + 2); i++) {
            const dd = (i - mx) ** 2 + (j - my) ** 2;
            if (mask[j * size + i] !== 0 && dd < best) {
              best = dd;
              s = data[j * size + i];
            }
          }
        }
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

/**
 * The raster with the overlay blended in. The SVG is rasterised on its own (librsvg, RGBA) and
 * alpha-blended here: much cheaper than sharp's `composite` on a large page.
 */
async function blended(d: Drawing): Promise<Uint8Array> {
  const { width, height, data } = d.image;
  if (d.overlay.length === 0) return data;
  const { data: ov, info } = await sharp(svgOf(d)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 4) {
    throw new Error(
      `overlay rasterised to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x4`,
    );
  }
  const out = new Uint8Array(data);
  for (let i = 0, j = 0; i < out.length; i += 3, j += 4) {
    const a = ov[j + 3];
    if (a === 0) continue;
    if (a === 255) {
      out[i] = ov[j];
      out[i + 1] = ov[j + 1];
      out[i + 2] = ov[j + 2];
    } else {
      out[i] = Math.round((ov[j] * a + out[i] * (255 - a)) / 255);
      out[i + 1] = Math.round((ov[j + 1] * a + out[i + 1] * (255 - a)) / 255);
      out[i + 2] = Math.round((ov[j + 2] * a + out[i + 2] * (255 - a)) / 255);
    }
  }
  return out;
}

async function pipeline(d: Drawing): Promise<Sharp> {
  const { width, height } = d.image;
  return sharp(await blended(d), { raw: { width, height, channels: 3 } });
}

/** Flatten the overlay onto the raster. */
export async function flatten(d: Drawing): Promise<RgbImage> {
  const { data, info } = await (await pipeline(d)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

export type ImageFormat = 'png' | 'jpeg';

/** Flatten and encode (deterministic: fixed encoder settings, no metadata). */
export async function encode(d: Drawing, format: ImageFormat): Promise<Buffer> {
  const p = (await pipeline(d)).removeAlpha();
  return format === 'png' ? p.png({ compressionLevel: 6 }).toBuffer() : p.jpeg({ quality: 92 }).toBuffer();
}
