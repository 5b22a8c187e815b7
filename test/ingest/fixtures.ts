/**
 * Hand-drawn test fixtures for the ingest tests: polar-map discs coloured with a colour map
 * (with a black defect touching the rim), white/gray segment grid lines and labels, captions,
 * header text and a colour bar, rendered with sharp's SVG overlay (anti-aliased, like a vendor
 * export). Everything is generated in the test; nothing is committed as a binary.
 */
import sharp from 'sharp';
import type { RgbImage } from '../../src/domain/image.js';
import { getColormap, uptakeToRgb, type BuiltinColormapName } from '../../src/polarmap/colormaps.js';
import { clockAngleDeg } from '../../src/polarmap/geometry.js';

/** A smooth perfusion pattern with a black defect (uptake 0) touching the rim laterally. */
export function demoUptake(u: number, v: number): number {
  const r = Math.hypot(u, v);
  const a = clockAngleDeg(u, v);
  if (r > 0.55 && a > 40 && a < 120) return 0; // defect: lateral wall, reaches the rim
  return 0.55 + 0.35 * Math.cos((a * Math.PI) / 180) * r + 0.1 * (1 - r);
}

/**
 * Paint a disc into `img` (black background assumed): colour = colour map of `uptake(u, v)`
 * (u right, v down, in radii), rim pixels weighted by their coverage (4x4 supersampling).
 */
export function paintDisc(
  img: RgbImage,
  cx: number,
  cy: number,
  r: number,
  colormap: BuiltinColormapName,
  uptake: (u: number, v: number) => number = demoUptake,
): void {
  const cm = getColormap(colormap);
  const rgb = new Uint8Array(3);
  for (let y = Math.max(0, Math.floor(cy - r - 1)); y <= Math.min(img.height - 1, Math.ceil(cy + r + 1)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r - 1)); x <= Math.min(img.width - 1, Math.ceil(cx + r + 1)); x++) {
      const d = Math.hypot(x - cx, y - cy);
      if (d > r + 1) continue;
      let cover = 1;
      if (d > r - 1) {
        let k = 0;
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (Math.hypot(x - 0.375 + 0.25 * i - cx, y - 0.375 + 0.25 * j - cy) <= r) k++;
        cover = k / 16;
      }
      if (cover === 0) continue;
      uptakeToRgb(cm, uptake((x - cx) / r, (y - cy) / r), rgb, 0);
      const p = (y * img.width + x) * 3;
      for (let c = 0; c < 3; c++) img.data[p + c] = Math.round(cover * rgb[c]);
    }
  }
}

/** SVG elements of the AHA 17-segment grid over a disc (rings and spokes) plus segment numbers. */
export function gridSvg(cx: number, cy: number, r: number, opts: { colour?: string; width?: number; labels?: boolean } = {}): string {
  const colour = opts.colour ?? '#ffffff';
  const sw = opts.width ?? Math.max(1, r / 100);
  const parts: string[] = [];
  for (const f of [0.25, 0.5, 0.75]) parts.push(`<circle cx="${cx}" cy="${cy}" r="${f * r}" fill="none" stroke="${colour}" stroke-width="${sw}"/>`);
  const spoke = (deg: number, r0: number, r1: number): void => {
    const t = (deg * Math.PI) / 180;
    const sx = Math.sin(t);
    const sy = -Math.cos(t);
    parts.push(`<line x1="${cx + r0 * r * sx}" y1="${cy + r0 * r * sy}" x2="${cx + r1 * r * sx}" y2="${cy + r1 * r * sy}" stroke="${colour}" stroke-width="${sw}"/>`);
  };
  for (const d of [30, 90, 150, 210, 270, 330]) spoke(d, 0.5, 0.995);
  for (const d of [45, 135, 225, 315]) spoke(d, 0.25, 0.5);
  if (opts.labels) {
    const fs = Math.round(r * 0.09);
    const lab = (text: string, deg: number, rr: number): void => {
      const t = (deg * Math.PI) / 180;
      parts.push(
        `<text x="${cx + rr * r * Math.sin(t)}" y="${cy - rr * r * Math.cos(t) + fs / 3}" font-family="sans-serif" font-size="${fs}" fill="${colour}" text-anchor="middle">${text}</text>`,
      );
    };
    [0, 300, 240, 180, 120, 60].forEach((d, i) => lab(String(i + 1), d, 0.875));
    lab('17', 0, 0);
  }
  return parts.join('');
}

/** Overlay an SVG fragment (in image pixel coordinates) on an RGB image with sharp. */
export async function overlaySvg(img: RgbImage, svgBody: string): Promise<RgbImage> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}">${svgBody}</svg>`;
  const { data, info } = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** A vertical colour bar (uptake 1 at the top) painted into the image. */
export function paintColourBar(img: RgbImage, x0: number, y0: number, w: number, h: number, colormap: BuiltinColormapName): void {
  const cm = getColormap(colormap);
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) uptakeToRgb(cm, 1 - (y - y0) / (h - 1), img.data, (y * img.width + x) * 3);
  }
}

export interface FixtureDisc {
  readonly cx: number;
  readonly cy: number;
  readonly radius: number;
}

/**
 * A vendor-like export page (1640 x 1068, black): header text, four discs in a 2x2 grid (each
 * with the demo defect, rotated per view so the bites differ), captions, segment grid with
 * labels, and a colour bar. Returns the page with and without the grid, and the true discs in
 * reading order.
 */
export async function drawPage(colormap: BuiltinColormapName, opts: { gridColour?: string } = {}): Promise<{ image: RgbImage; clean: RgbImage; discs: FixtureDisc[] }> {
  const W = 1640;
  const H = 1068;
  const img: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3) };
  const discs: FixtureDisc[] = [
    { cx: 430.3, cy: 330.6, radius: 215.4 },
    { cx: 1010.8, cy: 331.2, radius: 215.4 },
    { cx: 430.1, cy: 812.7, radius: 215.4 },
    { cx: 1011.4, cy: 812.2, radius: 215.4 },
  ];
  const captions = ['Stress AC', 'Rest AC', 'Stress NAC', 'Rest NAC'];
  discs.forEach((d, i) => {
    const rot = (i * 70 * Math.PI) / 180;
    paintDisc(img, d.cx, d.cy, d.radius, colormap, (u, v) => demoUptake(u * Math.cos(rot) + v * Math.sin(rot), -u * Math.sin(rot) + v * Math.cos(rot)));
  });
  paintColourBar(img, 1450, 150, 36, 760, colormap);
  const text: string[] = [
    `<text x="20" y="40" font-family="sans-serif" font-size="30" fill="#dddddd">Patient 0001  SPECT MPI  Tc-99m  2024-01-01</text>`,
    `<text x="1500" y="140" font-family="sans-serif" font-size="22" fill="white">100%</text>`,
    `<text x="1500" y="930" font-family="sans-serif" font-size="22" fill="white">0%</text>`,
  ];
  discs.forEach((d, i) => text.push(`<text x="${d.cx}" y="${d.cy - d.radius - 12}" font-family="sans-serif" font-size="26" fill="white" text-anchor="middle">${captions[i]}</text>`));
  const clean = await overlaySvg(img, text.join(''));
  const grids = discs.map((d) => gridSvg(d.cx, d.cy, d.radius, { colour: opts.gridColour, labels: true })).join('');
  const image = await overlaySvg(img, text.join('') + grids);
  return { image, clean, discs };
}

/** A single-map image with margins, a caption, a small colour bar and the grid. */
export async function drawSingle(
  colormap: BuiltinColormapName,
  opts: { size?: number; radius?: number; gridColour?: string } = {},
): Promise<{ image: RgbImage; clean: RgbImage; disc: FixtureDisc }> {
  const W = opts.size ?? 400;
  const H = Math.round(W * 1.1);
  const radius = opts.radius ?? W * 0.38;
  const disc = { cx: W / 2 - 0.3, cy: H / 2 + 8.4, radius };
  const img: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3) };
  paintDisc(img, disc.cx, disc.cy, radius, colormap);
  paintColourBar(img, W - 16, Math.round(H * 0.3), 8, Math.round(H * 0.4), colormap);
  const caption = `<text x="${W / 2}" y="${Math.round(H * 0.06)}" font-family="sans-serif" font-size="${Math.round(W * 0.05)}" fill="white" text-anchor="middle">Stress AC</text>`;
  const clean = await overlaySvg(img, caption);
  const image = await overlaySvg(img, caption + gridSvg(disc.cx, disc.cy, radius, { colour: opts.gridColour, labels: true }));
  return { image, clean, disc };
}
