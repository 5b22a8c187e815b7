/**
 * BatchMatMul for the tfjs wasm backend: Dense-layer products by our SIMD kernel, other
 * `transposeA` products rewritten as a plain product, everything else by the stock kernel.
 *
 * Dense layers (the classification head trained on cached features): a plain product with at most
 * SIMD_MAX_ROWS rows (the batch), or a transposeA product summing at most SIMD_MAX_ROWS rows (the
 * kernel gradient x^T dy), with N % 4 == 0, run by gemm_simd.ts, which needs neither the packing
 * XNNPACK redoes for every new weight tensor nor a transpose.
 *
 * Why the transposeA path at all: the gradient of a Dense layer's kernel is `matMul(x, dy, transposeA=true)`; on
 * tfjs-backend-wasm 4.22 that call is ~100x slower than the plain product of the same size (the
 * issue "The compute engine" measured ~10x for convolution shapes; for the Hai head's
 * [16,2048]^T x [16,256] we measured 170-340 ms against 1.2 ms), and it dominated the warm-up stage
 * (bench/engine.bench.ts, tf.profile of `trainStages`: 7.0 of 9.0 s of kernel time in BatchMatMul).
 *
 * Other transposeA products: C = A^T B (A [K, M], B [K, N]) is computed as (A^T) B: A is
 * transposed in JS by 16x16 blocks and the stock kernel multiplies [M, K] x [K, N] without flags. Measured by CPU time (2 shared cores), x^T dy for
 * x [16,2048], dy [16,256]: stock 15.4 ms, (B^T A)^T with a JS transpose of the output 5.4 ms,
 * (A^T) B 1.5-3.7 ms (the SIMD product now takes this shape). Batched products (batch > 1) and every other flag combination go to the stock kernel.
 */
import type { DataType, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { gemmSimd } from './gemm_simd.js';
import { sizeOf } from './kernel_scope.js';

interface WasmLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

/** Row-major transpose of an [rows, cols] matrix into `out` ([cols, rows]) by 16x16 blocks. */
export function transpose2d(
  a: Float32Array,
  rows: number,
  cols: number,
  out = new Float32Array(rows * cols),
): Float32Array {
  const B = 16;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const ai = i * cols;
        for (let j = j0; j < j1; j++) out[j * rows + i] = a[ai + j];
      }
    }
  }
  return out;
}

/** Largest M (plain product) or K (transposeA) sent to the SIMD product (gemm_simd.ts). */
export const SIMD_MAX_ROWS = 64;

let stock: KernelConfig | undefined;

/** Remember the stock wasm BatchMatMul (called by the registration before replacing it). */
export function setStockBatchMatMul(config: KernelConfig | undefined): void {
  if (config !== undefined && config.kernelFunc !== batchMatMulConfig.kernelFunc) stock = config;
}

/** The stock kernel this one delegates to (for benchmarks and tests). */
export function stockBatchMatMulKernel(): KernelConfig | undefined {
  return stock;
}

const batchMatMul: KernelFunc = (args) => {
  if (stock === undefined)
    throw new Error('polarcad BatchMatMul: the stock wasm kernel was not saved before registration');
  const { inputs, backend, attrs } = args;
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  if (transposeB || batchA !== 1 || batchB !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return stock.kernelFunc(args);
  }
  const ra = a.shape.length;
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const N = b.shape[b.shape.length - 1];
  if (b.shape[b.shape.length - 2] !== K) return stock.kernelFunc(args); // let the stock kernel report the mismatch
  const outShape = [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), M, N];
  const w = backend as unknown as WasmLike;
  // Dense-layer shapes: a few rows (the batch) in the forward product, a few summed rows in the
  // kernel gradient x^T dy. The SIMD product needs no packing and no transpose.
  if (N % 4 === 0 && (transposeA ? K : M) <= SIMD_MAX_ROWS) {
    const c = gemmSimd.multiply(w.typedArrayFromHeap(a), w.typedArrayFromHeap(b), M, K, N, transposeA);
    const out = w.makeOutput(outShape, 'float32');
    w.typedArrayFromHeap(out).set(c);
    return out;
  }
  if (!transposeA) return stock.kernelFunc(args);
  // A^T [M, K], then the plain product [M, K] x [K, N]
  const at = transpose2d(w.typedArrayFromHeap(a), K, M);
  const atInfo = w.makeOutput([M, K], 'float32');
  w.typedArrayFromHeap(atInfo).set(at);
  const out = stock.kernelFunc({
    inputs: { a: atInfo, b },
    backend,
    attrs: { transposeA: false, transposeB: false },
  }) as TensorInfo;
  w.disposeData(atInfo.dataId);
  out.shape = outShape;
  return out;
};

/** BatchMatMul on 'wasm' (see the module comment). */
export const batchMatMulConfig: KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: batchMatMul,
};
