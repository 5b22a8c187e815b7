/**
 * The quality-control picture of one volume: short-axis (mid-ventricle), vertical and horizontal
 * long-axis slices through the fitted LV, in the chosen colour map, with the fitted mid-wall
 * surface (green), the long axis (yellow) and the valve plane (red) drawn over them, as the
 * reorientation screens of clinical packages show them.
 */
import sharp from 'sharp';
import { uptakeToRgb, type Colormap } from '../polarmap/colormaps.js';
import { WorldSampler } from './filter.js';
import { clockDirection, rayAt, type LvFrame } from './rays.js';
import type { RayGrid } from './sample.js';
import { add, dot, scale, sub, type Vec3, type Volume } from './types.js';

const PANEL = 200;
const MM_PER_PX = 0.7;

interface Plane {
  readonly title: string;
  readonly centre: Vec3;
  /** unit vectors of +x (right) and +y (up) on screen */
  readonly ex: Vec3;
  readonly ey: Vec3;
}

function planes(f: LvFrame): Plane[] {
  const mid = sub(f.apex, scale(f.axis, f.length / 2));
  return [
    { title: 'SA (mid)', centre: mid, ex: f.lateral, ey: f.anterior },
    { title: 'VLA', centre: mid, ex: f.axis, ey: f.anterior },
    { title: 'HLA', centre: mid, ex: f.lateral, ey: f.axis },
  ];
}

function project(pl: Plane, p: Vec3): [number, number] {
  const r = sub(p, pl.centre);
  const c = (PANEL - 1) / 2;
  return [c + dot(r, pl.ex) / MM_PER_PX, c - dot(r, pl.ey) / MM_PER_PX];
}

function slice(
  s: WorldSampler,
  pl: Plane,
  cm: Colormap,
  max: number,
  out: Uint8Array,
  x0: number,
  width: number,
): void {
  const c = (PANEL - 1) / 2;
  for (let y = 0; y < PANEL; y++)
    for (let x = 0; x < PANEL; x++) {
      const p = add(add(pl.centre, scale(pl.ex, (x - c) * MM_PER_PX)), scale(pl.ey, (c - y) * MM_PER_PX));
      uptakeToRgb(cm, s.at(p[0], p[1], p[2]) / max, out, (y * width + x0 + x) * 3);
    }
}

const poly = (pts: [number, number][], colour: string, x0: number): string =>
  `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.map(([x, y]) => `${(x + x0).toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`;

/** Surface points of the grid at angle index k, apex to base. */
function profile(f: LvFrame, g: RayGrid, thetaDeg: number): Vec3[] {
  const k = Math.round((thetaDeg / 360) * g.nAngles) % g.nAngles;
  const pts: Vec3[] = [];
  for (let a = 0; a < g.nAxial; a++) {
    const { origin, dir } = rayAt(f, (a / (g.nAxial - 1)) * f.length, thetaDeg);
    pts.push(add(origin, scale(dir, g.depth[a * g.nAngles + k])));
  }
  return pts;
}

function overlay(f: LvFrame, g: RayGrid, pl: Plane, i: number, x0: number): string {
  const parts: string[] = [];
  const green = '#00ff66';
  if (i === 0) {
    const a = Math.round((g.nAxial - 1) / 2);
    const ring: [number, number][] = [];
    for (let k = 0; k <= g.nAngles; k++) {
      const kk = k % g.nAngles;
      const { origin, dir } = rayAt(f, f.length / 2, (kk * 360) / g.nAngles);
      ring.push(project(pl, add(origin, scale(dir, g.depth[a * g.nAngles + kk]))));
    }
    parts.push(poly(ring, green, x0));
    const [cx, cy] = project(pl, pl.centre);
    parts.push(`<circle cx="${cx + x0}" cy="${cy}" r="2.5" fill="yellow"/>`);
  } else {
    const [t1, t2] = i === 1 ? [0, 180] : [90, 270];
    for (const t of [t1, t2])
      parts.push(
        poly(
          profile(f, g, t).map((p) => project(pl, p)),
          green,
          x0,
        ),
      );
    const base = sub(f.apex, scale(f.axis, f.length));
    parts.push(poly([project(pl, base), project(pl, add(f.apex, scale(f.axis, 12)))], 'yellow', x0));
    const side = i === 1 ? clockDirection(f, 0) : clockDirection(f, 90);
    const w = f.radius + 15;
    parts.push(
      poly([project(pl, add(base, scale(side, -w))), project(pl, add(base, scale(side, w)))], 'red', x0),
    );
  }
  parts.push(
    `<text x="${x0 + 6}" y="16" fill="white" font-family="sans-serif" font-size="13">${pl.title}</text>`,
  );
  return parts.join('');
}

/**
 * Render the QC picture (PNG, 3 panels of 200 x 200 pixels at 0.7 mm per pixel).
 * @example
 *   await writeFile('qc.png', await renderQc(vol, geometry, grid, getColormap('gray')));
 */
export async function renderQc(vol: Volume, f: LvFrame, g: RayGrid, cm: Colormap): Promise<Buffer> {
  const s = new WorldSampler(vol);
  const pls = planes(f);
  const width = PANEL * pls.length;
  const rgb = new Uint8Array(width * PANEL * 3);
  const max = g.max > 0 ? g.max : 1;
  pls.forEach((pl, i) => slice(s, pl, cm, max, rgb, i * PANEL, width));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${PANEL}">${pls.map((pl, i) => overlay(f, g, pl, i, i * PANEL)).join('')}</svg>`;
  return sharp(rgb, { raw: { width, height: PANEL, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png()
    .toBuffer();
}
