/**
 * Hand-built test volumes, independent of the pipeline's surface model: a prolate half-ellipsoid
 * LV shell (semi-axis L along the long axis, R across) whose geometry and uptake are known
 * analytically.
 */
import { gaussianSmooth } from '../../src/volume/filter.js';
import { shortAxisDirections } from '../../src/volume/rays.js';
import {
  add,
  dot,
  normalize,
  scale,
  sub,
  voxelToWorld,
  type Vec3,
  type Volume,
} from '../../src/volume/types.js';

export interface ShellSpec {
  readonly axis: Vec3;
  /** centre of the open base (world mm) */
  readonly base: Vec3;
  readonly length: number;
  readonly radius: number;
  readonly wall: number;
  /** uptake of the wall at a point (default 1) */
  readonly uptake?: (p: Vec3, lateral: number, anterior: number) => number;
  readonly blurMm?: number;
  readonly background?: number;
}

/** 64 x 64 x 48 voxels of 4 mm, axes along RAS+ with the origin at the centre. */
export function shellVolume(spec: ShellSpec): Volume {
  const dims: Vec3 = [64, 64, 48];
  const h = 4;
  const affine = [h, 0, 0, -h * 31.5, 0, h, 0, -h * 31.5, 0, 0, h, -h * 23.5];
  const u = normalize(spec.axis);
  const { anterior, lateral } = shortAxisDirections(u);
  const data = new Float32Array(dims[0] * dims[1] * dims[2]);
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++)
      for (let i = 0; i < dims[0]; i++) {
        const p = voxelToWorld(affine, i, j, k);
        const q = sub(p, spec.base);
        const x = dot(q, u);
        const rho = Math.hypot(...sub(q, scale(u, x)));
        let v = spec.background ?? 0.05;
        if (x >= 0) {
          // distance to the mid-wall ellipsoid, to first order: |e - 1| * local scale
          const e = Math.hypot(x / spec.length, rho / spec.radius);
          const scaleMm = x > spec.length * 0.8 ? spec.length : spec.radius;
          if (Math.abs(e - 1) * Math.min(scaleMm, spec.radius) <= spec.wall / 2)
            v = spec.uptake ? spec.uptake(p, dot(q, lateral), dot(q, anterior)) : 1;
        }
        data[i + dims[0] * (j + dims[1] * k)] = v * 100;
      }
  const vol: Volume = { source: 'shell', dims, spacing: [h, h, h], affine, data };
  return spec.blurMm ? gaussianSmooth(vol, spec.blurMm) : vol;
}

/** The apex (mid-wall) of a shell spec. */
export const shellApex = (s: ShellSpec): Vec3 => add(s.base, scale(normalize(s.axis), s.length));

/**
 * Add a solid ellipsoid of uniform activity (liver, gut) to an unblurred fixture volume; returns a
 * new volume. `activity` is on the fixture's scale (wall = 1, stored x 100).
 */
export function withBlob(vol: Volume, centre: Vec3, semi: Vec3, activity: number): Volume {
  const [nx, ny, nz] = vol.dims;
  const data = vol.data.slice();
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const q = sub(voxelToWorld(vol.affine, i, j, k), centre);
        if ((q[0] / semi[0]) ** 2 + (q[1] / semi[1]) ** 2 + (q[2] / semi[2]) ** 2 <= 1)
          data[i + nx * (j + ny * k)] = Math.max(data[i + nx * (j + ny * k)], activity * 100);
      }
  return { ...vol, data };
}
