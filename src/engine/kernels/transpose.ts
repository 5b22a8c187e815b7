/**
 * Transpose for the tfjs wasm backend by cache blocks, for the permutations that swap two groups
 * of axes (after merging axes that stay adjacent: [A, B] -> [B, A], or [O, A, B] -> [O, B, A]).
 *
 * Why: the filter gradient of every dense convolution (conv2d_backprop_filter.ts) transposes the
 * output gradient [M, Cout] to [Cout, M] once, and the stock wasm Transpose walks the output in
 * order with a strided read per element: in a MobileNetV2 step with every layer trainable
 * (bench/fullstep-profile.ts) it was 57 of the 73 ms of the filter gradient of block_1's 1x1
 * expansion ([100352, 96] -> [96, 100352], batch 8). Here both sides are visited in 32 x 32 tiles,
 * so every cache line read or written is used whole; 4-byte types by 4 x 4 blocks transposed in
 * SIMD registers (`fused_simd.ts`), the edges and 1-byte types by a JS loop. Other permutations, and dtypes other than
 * float32 / int32 / bool, go to the stock kernel. Values are copied exactly.
 */
import type { DataType, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { fusedSimd } from './fused_simd.js';

type Numeric = Float32Array | Int32Array | Uint8Array;

interface WasmLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Numeric;
}

const TILE = 32;

/**
 * The permutation `perm` of `shape` as [outer, rows, cols] -> [outer, cols, rows], or null when it
 * is not of that form (size-1 axes are dropped first, adjacent axes that stay adjacent merged).
 */
export function swapForm(shape: readonly number[], perm: readonly number[]): [number, number, number] | null {
  // axes of size 1 move freely: drop them
  const order = perm.filter((a) => shape[a] !== 1).sort((a, b) => a - b);
  const dims = order.map((a) => shape[a]);
  // the kept axes renumbered 0..k-1 in input order, listed in output order
  const keep = perm.filter((a) => shape[a] !== 1).map((a) => order.indexOf(a));
  // group output-order axes into runs that are consecutive input axes
  const runs: number[][] = [];
  for (const a of keep) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[last.length - 1] + 1 === a) last.push(a);
    else runs.push([a]);
  }
  const size = (axes: number[]): number => axes.reduce((s, a) => s * dims[a], 1);
  if (runs.length <= 1) return [1, 1, size(keep)]; // identity order: a copy
  // input order of the runs
  const byInput = [...runs].sort((p, q) => p[0] - q[0]);
  if (runs.length === 2 && runs[0] === byInput[1]) return [1, size(byInput[0]), size(byInput[1])];
  if (runs.length === 3 && runs[0] === byInput[0] && runs[1] === byInput[2])
    return [size(byInput[0]), size(byInput[1]), size(byInput[2])];
  return null;
}

/** dst[o, c, r] = src[o, r, c] for o < outer, r < rows, c < cols, by TILE x TILE blocks. */
export function transposeBlocked(
  src: Numeric,
  dst: Numeric,
  outer: number,
  rows: number,
  cols: number,
): void {
  const plane = rows * cols;
  for (let o = 0; o < outer; o++) {
    const base = o * plane;
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(rows, r0 + TILE);
      for (let c0 = 0; c0 < cols; c0 += TILE) {
        const c1 = Math.min(cols, c0 + TILE);
        for (let c = c0; c < c1; c++) {
          const d = base + c * rows;
          for (let r = r0; r < r1; r++) dst[d + r] = src[base + r * cols + c];
        }
      }
    }
  }
}

let stockTranspose: KernelConfig | undefined;

/** Keep the stock kernel for the permutations and dtypes handled elsewhere. */
export function setStockTranspose(k: KernelConfig): void {
  stockTranspose = k;
}

/** The stock wasm Transpose this module replaced, if any (for tests and benchmarks). */
export function stockTransposeKernel(): KernelConfig | undefined {
  return stockTranspose;
}

const transpose: KernelFunc = (args) => {
  const x = args.inputs.x as TensorInfo;
  const perm = (args.attrs as { perm: number[] }).perm;
  const form =
    x.dtype === 'float32' || x.dtype === 'int32' || x.dtype === 'bool' ? swapForm(x.shape, perm) : null;
  if (form === null) {
    if (stockTranspose === undefined) throw new Error('Transpose (polarcad wasm kernel): no stock kernel');
    return stockTranspose.kernelFunc(args);
  }
  const b = args.backend as unknown as WasmLike;
  const out = b.makeOutput(
    perm.map((a) => x.shape[a]),
    x.dtype,
  );
  // views after the allocation (it may grow the heap)
  const src = b.typedArrayFromHeap(x);
  const dst = b.typedArrayFromHeap(out);
  const [outer, rows, cols] = form;
  const simd = fusedSimd(args.backend);
  if (rows === 1 || cols === 1) dst.set(src);
  else if (simd !== null && src.BYTES_PER_ELEMENT === 4 && rows >= 4 && cols >= 4) {
    const plane = rows * cols;
    const [r4, c4] = [rows & ~3, cols & ~3];
    for (let o = 0; o < outer; o++) {
      const base = o * plane;
      simd.transpose(src.byteOffset + 4 * base, dst.byteOffset + 4 * base, rows, cols);
      // edges: the last rows % 4 rows (every column), the last cols % 4 columns (other rows)
      for (let r = r4; r < rows; r++)
        for (let c = 0; c < cols; c++) dst[base + c * rows + r] = src[base + r * cols + c];
      for (let c = c4; c < cols; c++)
        for (let r = 0; r < r4; r++) dst[base + c * rows + r] = src[base + r * cols + c];
    }
  } else transposeBlocked(src, dst, outer, rows, cols);
  return out;
};

/** Transpose on 'wasm' (swap forms; the stock kernel otherwise, see setStockTranspose). */
export const transposeConfig: KernelConfig = {
  kernelName: 'Transpose',
  backendName: 'wasm',
  kernelFunc: transpose,
  setupFunc: (backend) => stockTranspose?.setupFunc?.(backend),
};
