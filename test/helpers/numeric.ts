/** Numeric helpers of the kernel and ONNX tests: seeded normal samples and the relative error. */
import type { Rng } from '../../src/util/rng.js';

/** `size` samples of N(0, 1) from `rng`, as float32. */
export function randn(rng: Rng, size: number): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = rng.normal();
  return a;
}

/** max |a - b| / max |b| (b is the reference; the absolute error when b is all zero). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}
