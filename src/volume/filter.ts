/** Volume filters and interpolation: separable Gaussian smoothing and trilinear sampling in world mm. */
import { gaussianKernel } from '../util/gaussian.js';
import { invertAffine, type Vec3, type Volume } from './types.js';

/** One separable pass along axis `axis` (0 = i, 1 = j, 2 = k), zero padding. */
function pass(src: Float32Array, dims: Vec3, axis: 0 | 1 | 2, kernel: Float64Array): Float32Array {
  const [nx, ny, nz] = dims;
  const out = new Float32Array(src.length);
  const rad = (kernel.length - 1) / 2;
  const stride = axis === 0 ? 1 : axis === 1 ? nx : nx * ny;
  const len = dims[axis];
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const pos = axis === 0 ? i : axis === 1 ? j : k;
        const base = i + nx * (j + ny * k);
        let s = 0;
        const lo = Math.max(-rad, -pos);
        const hi = Math.min(rad, len - 1 - pos);
        for (let t = lo; t <= hi; t++) s += kernel[t + rad] * src[base + t * stride];
        out[base] = s;
      }
    }
  }
  return out;
}

/**
 * Gaussian smoothing with standard deviation `sigmaMm` (mm), separable, honouring the voxel
 * spacing of each axis. Returns a new volume.
 * @example
 *   const smooth = gaussianSmooth(vol, 4);
 */
export function gaussianSmooth(vol: Volume, sigmaMm: number): Volume {
  let data = vol.data;
  for (const axis of [0, 1, 2] as const) {
    const sigma = sigmaMm / vol.spacing[axis];
    if (sigma < 0.2) continue;
    data = pass(data, vol.dims, axis, gaussianKernel(sigma));
  }
  return { ...vol, data: data === vol.data ? vol.data.slice() : data };
}

/** A trilinear sampler of a volume at world positions (mm); 0 outside the volume. */
export class WorldSampler {
  private readonly inv: readonly number[];
  constructor(readonly vol: Volume) {
    this.inv = invertAffine(vol.affine);
  }

  /** Voxel coordinates (continuous) of a world point. */
  toVoxel(p: Vec3): Vec3 {
    const a = this.inv;
    return [
      a[0] * p[0] + a[1] * p[1] + a[2] * p[2] + a[3],
      a[4] * p[0] + a[5] * p[1] + a[6] * p[2] + a[7],
      a[8] * p[0] + a[9] * p[1] + a[10] * p[2] + a[11],
    ];
  }

  at(x: number, y: number, z: number): number {
    const a = this.inv;
    return this.voxel(
      a[0] * x + a[1] * y + a[2] * z + a[3],
      a[4] * x + a[5] * y + a[6] * z + a[7],
      a[8] * x + a[9] * y + a[10] * z + a[11],
    );
  }

  /** Trilinear interpolation at continuous voxel coordinates. */
  voxel(fi: number, fj: number, fk: number): number {
    const [nx, ny, nz] = this.vol.dims;
    if (!(fi >= 0 && fj >= 0 && fk >= 0 && fi <= nx - 1 && fj <= ny - 1 && fk <= nz - 1)) return 0;
    const i = Math.min(nx - 2, Math.floor(fi));
    const j = Math.min(ny - 2, Math.floor(fj));
    const k = Math.min(nz - 2, Math.floor(fk));
    const u = fi - i;
    const v = fj - j;
    const w = fk - k;
    const d = this.vol.data;
    const o = i + nx * (j + ny * k);
    const sx = 1;
    const sy = nx;
    const sz = nx * ny;
    const c00 = d[o] * (1 - u) + d[o + sx] * u;
    const c10 = d[o + sy] * (1 - u) + d[o + sy + sx] * u;
    const c01 = d[o + sz] * (1 - u) + d[o + sz + sx] * u;
    const c11 = d[o + sz + sy] * (1 - u) + d[o + sz + sy + sx] * u;
    return (c00 * (1 - v) + c10 * v) * (1 - w) + (c01 * (1 - v) + c11 * v) * w;
  }
}
