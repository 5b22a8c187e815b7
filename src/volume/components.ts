/** Connected components of a thresholded volume (6-connectivity) and support erosion. */
import type { Volume } from './types.js';

export interface Component {
  /** linear voxel indices */
  readonly voxels: Int32Array;
}

/** Components of `mask` (1 = in) with at least `minSize` voxels, largest first. */
export function components(mask: Uint8Array, dims: readonly number[], minSize: number): Component[] {
  const [nx, ny, nz] = dims;
  const label = new Int32Array(mask.length);
  const out: Component[] = [];
  const stack = new Int32Array(mask.length);
  let next = 1;
  for (let s = 0; s < mask.length; s++) {
    if (!mask[s] || label[s]) continue;
    let top = 0;
    stack[top++] = s;
    label[s] = next;
    const members: number[] = [];
    while (top > 0) {
      const p = stack[--top];
      members.push(p);
      const i = p % nx;
      const j = Math.floor(p / nx) % ny;
      const k = Math.floor(p / (nx * ny));
      const nb = [
        i > 0 ? p - 1 : -1,
        i < nx - 1 ? p + 1 : -1,
        j > 0 ? p - nx : -1,
        j < ny - 1 ? p + nx : -1,
        k > 0 ? p - nx * ny : -1,
        k < nz - 1 ? p + nx * ny : -1,
      ];
      for (const q of nb) {
        if (q >= 0 && mask[q] && !label[q]) {
          label[q] = next;
          stack[top++] = q;
        }
      }
    }
    next++;
    if (members.length >= minSize) out.push({ voxels: Int32Array.from(members) });
  }
  return out.sort((a, b) => b.voxels.length - a.voxels.length);
}

/**
 * The reconstruction's support (voxels > 0), eroded by `steps` voxels (6-neighbourhood, the
 * volume border counting as outside): reconstructions often have hot streaks at the edge of their
 * field of view, which must not be taken for myocardium.
 */
export function erodedSupport(vol: Volume, steps: number): Uint8Array {
  const [nx, ny, nz] = vol.dims;
  let m = new Uint8Array(vol.data.length);
  for (let p = 0; p < m.length; p++) m[p] = vol.data[p] > 0 ? 1 : 0;
  for (let s = 0; s < steps; s++) {
    const n = new Uint8Array(m.length);
    for (let k = 1; k < nz - 1; k++)
      for (let j = 1; j < ny - 1; j++)
        for (let i = 1; i < nx - 1; i++) {
          const p = i + nx * (j + ny * k);
          n[p] = m[p] & m[p - 1] & m[p + 1] & m[p - nx] & m[p + nx] & m[p - nx * ny] & m[p + nx * ny];
        }
    m = n;
  }
  return m;
}

/**
 * Split a component at thin bridges (a morphological opening): erode it once (6-neighbourhood),
 * take the pieces of the eroded set with at least `minSize` voxels, and grow each back by
 * `regrow` conditional dilations inside the original component. Separates a myocardium touching
 * the liver or gut through a thin bridge.
 */
export function splitComponent(
  comp: Component,
  dims: readonly number[],
  minSize: number,
  regrow = 2,
): Component[] {
  const [nx, ny] = dims;
  const n = dims[0] * dims[1] * dims[2];
  const inComp = new Uint8Array(n);
  for (const p of comp.voxels) inComp[p] = 1;
  const nb = (p: number): number[] => {
    const i = p % nx;
    const j = Math.floor(p / nx) % ny;
    const k = Math.floor(p / (nx * ny));
    const out: number[] = [];
    if (i > 0) out.push(p - 1);
    if (i < nx - 1) out.push(p + 1);
    if (j > 0) out.push(p - nx);
    if (j < ny - 1) out.push(p + nx);
    if (k > 0) out.push(p - nx * ny);
    if (k < dims[2] - 1) out.push(p + nx * ny);
    return out;
  };
  const eroded = new Uint8Array(n);
  for (const p of comp.voxels) {
    const ns = nb(p);
    if (ns.length === 6 && ns.every((q) => inComp[q])) eroded[p] = 1;
  }
  return components(eroded, dims, minSize).map((piece) => {
    const inPiece = new Uint8Array(n);
    let front = Array.from(piece.voxels);
    for (const p of front) inPiece[p] = 1;
    for (let g = 0; g < regrow; g++) {
      const next: number[] = [];
      for (const p of front)
        for (const q of nb(p)) {
          if (inComp[q] && !inPiece[q]) {
            inPiece[q] = 1;
            next.push(q);
          }
        }
      front = next;
    }
    const vox: number[] = [];
    for (const p of comp.voxels) if (inPiece[p]) vox.push(p);
    return { voxels: Int32Array.from(vox) };
  });
}
