/**
 * 3-D volumes of the synthetic phantom, with ground truth: the patient's noise-free polar-map
 * field (phantom.ts) painted onto an LV shell of realistic size and wall thickness (mid-wall
 * radius 22-28 mm, length 75-95 mm, wall 9-12 mm; a cylindrical body and a hemispherical apical
 * cap, the same surface model the volume pipeline samples, src/volume/rays.ts), placed with a
 * random orientation (by default up to 20 degrees off the typical left-anterior-inferior long axis) and
 * position, with blood pool, body background, liver and gut activity below the inferior wall,
 * Gaussian blur (FWHM 11-15 mm) and Poisson noise at clinical count levels, then the light
 * post-filter of a clinical reconstruction.
 */
import { createUptakeMap, type UptakeMap } from '../domain/image.js';
import { gaussianSmooth } from '../volume/filter.js';
import { capRadius, shortAxisDirections, type LvFrame } from '../volume/rays.js';
import {
  WORLD,
  add,
  cross,
  dot,
  normalize,
  scale,
  sub,
  voxelToWorld,
  type Affine,
  type Vec3,
  type Volume,
} from '../volume/types.js';
import type { Rng } from '../util/rng.js';
import type { PolarGrid } from './polar-grid.js';

export const VOLUME_DIMS: Vec3 = [64, 64, 48];
export const VOXEL_MM = 4;

/** Ground truth of one synthetic volume. */
export interface VolumeTruth extends LvFrame {
  readonly base: Vec3;
  readonly wallMm: number;
  readonly fwhmMm: number;
  readonly peakCounts: number;
}

/** The anatomy shared by a patient's volumes (stress and rest are acquired in the same position). */
export interface VolumeAnatomy {
  readonly frame: LvFrame;
  readonly wallMm: number;
  readonly liver: { readonly centre: Vec3; readonly semi: Vec3; readonly activity: number };
  readonly gut: { readonly centre: Vec3; readonly radius: number; readonly activity: number };
  readonly fwhmMm: number;
}

/** A random unit vector within `maxDeg` degrees of `v`. */
function perturb(rng: Rng, v: Vec3, maxDeg: number): Vec3 {
  const helper: Vec3 = Math.abs(v[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
  const p = normalize(cross(v, helper));
  const q = cross(v, p);
  const ang = (rng.uniform(0, maxDeg) * Math.PI) / 180;
  const az = rng.uniform(0, 2 * Math.PI);
  const off = add(scale(p, Math.cos(az)), scale(q, Math.sin(az)));
  return normalize(add(scale(v, Math.cos(ang)), scale(off, Math.sin(ang))));
}

export function volumeAffine(): Affine {
  const [nx, ny, nz] = VOLUME_DIMS;
  const h = VOXEL_MM;
  // voxel i -> patient left, j -> posterior, k -> superior (as DICOM LPS), centred on the origin
  return [-h, 0, 0, (h * (nx - 1)) / 2, 0, -h, 0, (h * (ny - 1)) / 2, 0, 0, h, (-h * (nz - 1)) / 2];
}

/** Options of `sampleAnatomy`. */
export interface AnatomyOptions {
  /** largest angle of the long axis from the typical left-anterior-inferior one, degrees (default 20) */
  readonly maxTiltDeg?: number;
}

/**
 * Sample a patient's anatomy: LV frame, wall, liver, gut, resolution.
 * @example
 *   const an = sampleAnatomy(rng.fork('volume/anatomy'), { maxTiltDeg: 35 }); // vertical or horizontal hearts too
 */
export function sampleAnatomy(rng: Rng, opts: AnatomyOptions = {}): VolumeAnatomy {
  const typical = normalize(add(add(WORLD.left, WORLD.anterior), scale(WORLD.superior, -1)));
  const axis = perturb(rng, typical, opts.maxTiltDeg ?? 20);
  const radius = rng.uniform(22, 28);
  const length = rng.uniform(75, 95);
  const centre: Vec3 = [rng.uniform(-15, 15), rng.uniform(-15, 15), rng.uniform(-10, 10)];
  const apex = add(centre, scale(axis, length / 2));
  const { anterior, lateral } = shortAxisDirections(axis);
  const right = scale(WORLD.left, -1);
  const down = scale(WORLD.superior, -1);
  const frame: LvFrame = { apex, axis, anterior, lateral, radius, length };
  const wallMm = rng.uniform(9, 12);
  const shell = outerSurface(frame, wallMm);
  // the diaphragm separates the liver and gut from the heart: keep a gap of 8-20 mm
  const gap = rng.uniform(8, 20);
  const semi: Vec3 = [rng.uniform(60, 80), rng.uniform(55, 70), rng.uniform(35, 45)];
  let liverC = add(add(centre, scale(right, rng.uniform(45, 65))), scale(down, rng.uniform(60, 75)));
  const inLiver = (p: Vec3): boolean =>
    semi.reduce((acc, h, i) => acc + ((p[i] - liverC[i]) / (h + gap)) ** 2, 0) <= 1;
  while (shell.some(inLiver)) liverC = add(liverC, scale(down, 2));
  const gutR = rng.uniform(12, 22);
  let gutC = add(add(centre, scale(WORLD.left, rng.uniform(0, 30))), scale(down, rng.uniform(75, 90)));
  while (shell.some((p) => Math.hypot(...sub(p, gutC)) <= gutR + gap)) gutC = add(gutC, scale(down, 2));
  return {
    frame,
    wallMm,
    liver: { centre: liverC, semi, activity: rng.uniform(0.3, 1.1) },
    gut: { centre: gutC, radius: gutR, activity: rng.uniform(0.2, 1.3) },
    fwhmMm: rng.uniform(11, 15),
  };
}

/** Points on the LV's epicardial surface (every 4 mm along the axis, every 15 degrees). */
function outerSurface(f: LvFrame, wallMm: number): Vec3[] {
  const pts: Vec3[] = [];
  const rc = capRadius(f);
  for (let d = 0; d <= f.length; d += 4) {
    for (let t = 0; t < 360; t += 15) {
      const th = (t * Math.PI) / 180;
      const e = add(scale(f.anterior, Math.cos(th)), scale(f.lateral, Math.sin(th)));
      const o = sub(f.apex, scale(f.axis, Math.max(d, rc)));
      const dir =
        d < rc
          ? normalize(add(scale(f.axis, (rc - d) / rc), scale(e, Math.sqrt(1 - ((rc - d) / rc) ** 2))))
          : e;
      pts.push(add(o, scale(dir, f.radius + wallMm / 2)));
    }
  }
  return pts;
}

/** The field as a size x size raster (normalised to its maximum) for bilinear look-up. */
export function fieldRaster(grid: PolarGrid, field: Float64Array): UptakeMap {
  const m = createUptakeMap(grid.size);
  let max = 0;
  for (const v of field) if (v > max) max = v;
  for (let k = 0; k < grid.inside.length; k++) m.data[grid.inside[k]] = field[k] / (max || 1);
  return m;
}

function lookup(m: UptakeMap, r: number, thetaDeg: number): number {
  const s = m.size;
  const c = (s - 1) / 2;
  const rr = Math.min(r, 1 - 1.5 / s) * (s / 2);
  const t = (thetaDeg * Math.PI) / 180;
  const x = c + rr * Math.sin(t);
  const y = c - rr * Math.cos(t);
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const wx = x - x0;
  const wy = y - y0;
  const v = (xx: number, yy: number): number =>
    m.data[Math.min(s - 1, Math.max(0, yy)) * s + Math.min(s - 1, Math.max(0, xx))];
  return (
    (1 - wy) * ((1 - wx) * v(x0, y0) + wx * v(x0 + 1, y0)) +
    wy * ((1 - wx) * v(x0, y0 + 1) + wx * v(x0 + 1, y0 + 1))
  );
}

/** Noise-free activity at a world point: myocardium (field on the shell), blood pool, background, liver, gut. */
function activity(an: VolumeAnatomy, map: UptakeMap, p: Vec3): number {
  const f = an.frame;
  const rc = capRadius(f);
  const dAx = dot(sub(f.apex, p), f.axis);
  let rho: number;
  let d: number;
  let mid: number;
  let q: Vec3;
  if (dAx < rc) {
    const cc = sub(f.apex, scale(f.axis, rc));
    q = sub(p, cc);
    rho = Math.hypot(...q);
    const cosPhi = rho > 0 ? dot(q, f.axis) / rho : 1;
    d = rc * (1 - cosPhi);
    mid = rc;
  } else {
    q = sub(sub(p, f.apex), scale(f.axis, -dAx));
    rho = Math.hypot(...q);
    d = dAx;
    mid = f.radius;
  }
  let a = 0.05; // body background
  if (dAx <= f.length && Math.abs(rho - mid) <= an.wallMm / 2) {
    const theta = ((Math.atan2(dot(q, f.lateral), dot(q, f.anterior)) * 180) / Math.PI + 360) % 360;
    return lookup(map, d / f.length, theta);
  }
  if (dAx <= f.length && dAx >= 0 && rho < mid - an.wallMm / 2) a = 0.08; // blood pool
  const l = an.liver;
  const e = sub(p, l.centre);
  if ((e[0] / l.semi[0]) ** 2 + (e[1] / l.semi[1]) ** 2 + (e[2] / l.semi[2]) ** 2 <= 1) a = l.activity;
  if (Math.hypot(...sub(p, an.gut.centre)) <= an.gut.radius) a = Math.max(a, an.gut.activity);
  return a;
}

/**
 * One synthetic volume of a view's field. `peakCounts` = expected counts at the hottest
 * myocardium after blurring (clinical reconstructions: about 50-200 per 4 mm voxel).
 * @example
 *   const { volume, truth } = phantomVolume(polarGrid(128), fields.views.stress_ac, anatomy, 120, rng);
 */
export function phantomVolume(
  grid: PolarGrid,
  field: Float64Array,
  an: VolumeAnatomy,
  peakCounts: number,
  rng: Rng,
): { volume: Volume; truth: VolumeTruth } {
  const map = fieldRaster(grid, field);
  const affine = volumeAffine();
  const [nx, ny, nz] = VOLUME_DIMS;
  const data = new Float32Array(nx * ny * nz);
  const sub2 = [-0.25, 0.25];
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        let s = 0;
        for (const di of sub2)
          for (const dj of sub2)
            for (const dk of sub2) s += activity(an, map, voxelToWorld(affine, i + di, j + dj, k + dk));
        data[i + nx * (j + ny * k)] = s / 8;
      }
  const spacing: Vec3 = [VOXEL_MM, VOXEL_MM, VOXEL_MM];
  const blurred = gaussianSmooth(
    { source: 'phantom', dims: VOLUME_DIMS, spacing, affine, data },
    an.fwhmMm / 2.3548,
  );
  const gain = peakCounts / (myocardialPeak(blurred, an) || 1);
  const noisy = new Float32Array(data.length);
  for (let p = 0; p < data.length; p++) noisy[p] = rng.poisson(blurred.data[p] * gain);
  const volume = gaussianSmooth(
    { source: 'phantom', dims: VOLUME_DIMS, spacing, affine, data: noisy },
    0.6 * VOXEL_MM,
  );
  const base = sub(an.frame.apex, scale(an.frame.axis, an.frame.length));
  return { volume, truth: { ...an.frame, base, wallMm: an.wallMm, fwhmMm: an.fwhmMm, peakCounts } };
}

/** Largest blurred value on the LV's mid-wall surface (the myocardial maximum). */
function myocardialPeak(vol: Volume, an: VolumeAnatomy): number {
  const f = an.frame;
  const inv = (p: Vec3): number => {
    const a = vol.affine;
    const i = Math.round((p[0] - a[3]) / a[0]);
    const j = Math.round((p[1] - a[7]) / a[5]);
    const k = Math.round((p[2] - a[11]) / a[10]);
    const [nx, ny, nz] = vol.dims;
    if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) return 0;
    return vol.data[i + nx * (j + ny * k)];
  };
  let max = 0;
  for (let d = 0; d <= f.length; d += 2) {
    for (let t = 0; t < 360; t += 5) {
      const th = (t * Math.PI) / 180;
      const e = add(scale(f.anterior, Math.cos(th)), scale(f.lateral, Math.sin(th)));
      const p = add(sub(f.apex, scale(f.axis, Math.max(d, capRadius(f)))), scale(e, f.radius));
      max = Math.max(max, inv(p));
    }
  }
  return max;
}
