/** The fitted LV wall as a voxel mask (for overlap with reference masks), and the Dice coefficient. */
import { capRadius, type LvFrame } from './rays.js';
import { gridValue, type RayGrid } from './sample.js';
import { dot, scale, sub, voxelToWorld, type Volume } from './types.js';

/**
 * Voxels within `halfWallMm` of the fitted mid-wall surface (the depth of each ray's count
 * maximum), between the apex and the valve plane.
 */
export function fittedWallMask(vol: Volume, f: LvFrame, grid: RayGrid, halfWallMm = 5): Uint8Array {
  const [nx, ny, nz] = vol.dims;
  const mask = new Uint8Array(nx * ny * nz);
  const rc = capRadius(f);
  const cc = sub(f.apex, scale(f.axis, rc));
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const p = voxelToWorld(vol.affine, i, j, k);
        const dAx = dot(sub(f.apex, p), f.axis);
        if (dAx > f.length || dAx < -halfWallMm - 5) continue;
        let q;
        let d;
        if (dAx < rc) {
          q = sub(p, cc);
          const rho = Math.hypot(...q);
          d = rc * (1 - (rho > 0 ? dot(q, f.axis) / rho : 1));
        } else {
          q = sub(sub(p, f.apex), scale(f.axis, -dAx));
          d = dAx;
        }
        const rho = Math.hypot(...q);
        const theta = ((Math.atan2(dot(q, f.lateral), dot(q, f.anterior)) * 180) / Math.PI + 360) % 360;
        const depth = gridValue(grid, grid.depth, (Math.max(0, d) / f.length) * (grid.nAxial - 1), theta);
        if (Math.abs(rho - depth) <= halfWallMm) mask[i + nx * (j + ny * k)] = 1;
      }
  return mask;
}

/** Dice coefficient 2|A and B| / (|A| + |B|) of two binary masks of the same size. */
export function dice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dice: masks have ${a.length} and ${b.length} voxels`);
  let inter = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] > 0;
    const y = b[i] > 0;
    if (x) na++;
    if (y) nb++;
    if (x && y) inter++;
  }
  return na + nb === 0 ? 1 : (2 * inter) / (na + nb);
}
