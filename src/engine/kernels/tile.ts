/**
 * Tile for the tfjs wasm backend by contiguous block copies.
 *
 * Why: tfjs-backend-wasm 4.22's Tile unravels every output index (measured here: 110-410 ms for
 * [1,1,1,C] tiled to [16,7,7,C], C = 960..2048, where a broadcast multiply of the same size takes
 * ~3 ms). tfjs-core's BatchNormalization gradient tiles 1/sqrt(var + eps) to the full activation
 * shape, so in a fine-tuning step with BatchNormalization on the path Tile was the most expensive
 * kernel (bench/engine.bench.ts, tf.profile of the MobileNetV2 block_16 step).
 *
 * Method: row-major tiling expands one axis at a time, innermost first; expanding axis d repeats,
 * for each index of the axes before d, a contiguous block (axis d and everything after it, already
 * expanded) reps[d] times. Each repetition is one `TypedArray.set` (a memcpy), or one doubling
 * `copyWithin` sequence when blocks are tiny. Output values are exactly the input values.
 */
import type { DataType, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { sizeOf } from './kernel_scope.js';

type Numeric = Float32Array | Int32Array | Uint8Array;

/** What this kernel needs from the wasm backend. */
interface WasmLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Numeric;
}

/** Repeat `buf[start, start + len)` `times` times in place (buf has room): doubling copies. */
function repeatInPlace(buf: Numeric, start: number, len: number, times: number): void {
  let have = len;
  const total = len * times;
  while (have < total) {
    const n = Math.min(have, total - have);
    buf.copyWithin(start + have, start, start + n);
    have += n;
  }
}

/**
 * Row-major tile of `x` (shape `shape`) by `reps`; returns a new array of the same kind.
 * Exported for tests.
 */
export function tileValues<T extends Numeric>(x: T, shape: readonly number[], reps: readonly number[]): T {
  if (shape.length !== reps.length)
    throw new Error(`tile: reps has ${reps.length} entries for a rank-${shape.length} tensor`);
  const outShape = shape.map((s, i) => s * reps[i]);
  const make = (n: number): T => new (x.constructor as new (n: number) => T)(n);
  let cur: T = x;
  // cur has shape [shape[0..d], outShape[d+1..]] before expanding axis d
  for (let d = shape.length - 1; d >= 0; d--) {
    if (reps[d] === 1) continue;
    const outer = sizeOf(shape.slice(0, d));
    const block = shape[d] * sizeOf(outShape.slice(d + 1));
    const next = make(outer * block * reps[d]);
    for (let o = 0; o < outer; o++) {
      const dst = o * block * reps[d];
      next.set(cur.subarray(o * block, (o + 1) * block), dst);
      repeatInPlace(next, dst, block, reps[d]);
    }
    cur = next;
  }
  return cur === x ? (x.slice() as T) : cur;
}

const tile: KernelFunc = ({ inputs, backend, attrs }) => {
  const x = inputs.x as TensorInfo;
  const reps = (attrs as { reps: number[] }).reps;
  const b = backend as unknown as WasmLike;
  const values = tileValues(b.typedArrayFromHeap(x).slice(), x.shape, reps); // copy: makeOutput may grow the heap
  const out = b.makeOutput(
    x.shape.map((s, i) => s * reps[i]),
    x.dtype,
  );
  b.typedArrayFromHeap(out).set(values);
  return out;
};

/** Tile on 'wasm' (float32, int32 and bool: the dtypes the wasm heap stores as typed arrays). */
export const tileConfig: KernelConfig = { kernelName: 'Tile', backendName: 'wasm', kernelFunc: tile };
