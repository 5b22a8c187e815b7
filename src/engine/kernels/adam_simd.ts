/**
 * A fused Adam update (Kingma & Ba, 2015, Keras' formulation; see src/train/adam.ts) for the
 * tfjs wasm backend: one WebAssembly SIMD loop per variable that reads the weights and the
 * gradient and updates the moments m, v IN PLACE in tfjs' own heap, replacing the ~13 tfjs ops
 * (and their allocations) per variable of the op-by-op update.
 *
 * The WAT module is compiled once with `wabt` and instantiated with tfjs-backend-wasm's linear
 * memory IMPORTED (emscripten exposes it as `Module.asm.memory`), so pointers are byte offsets of
 * tfjs tensors in that heap (taken from `typedArrayFromHeap(t).byteOffset`): nothing is copied.
 *
 * Every operation is an IEEE float32 add/mul/div/sqrt in the same order as the op-by-op update
 * (no fused multiply-add), so the result is bit for bit that of the tfjs ops:
 *   m' = m b1 + g (1-b1);  v' = v b2 + (g g)(1-b2);  w' = w - (m' lr_t) / (sqrt(v') + eps).
 *
 * Weights are NOT written in place: XNNPACK (the stock wasm MatMul / FusedMatMul) caches the
 * packed weights of a matrix product keyed by the weight tensor's dataId, and a value changed in
 * place behind that dataId is never re-packed (measured: a fused matMul after an in-place x2 of
 * its weights returned the old product). The new weights go to a fresh buffer of the caller's,
 * which then becomes the variable's value (its old dataId is released, and with it the cache entry).
 */
import { heapModule } from './wat.js';

/** WebAssembly text of the update; `n` floats from each pointer, SIMD by 4 then a scalar tail. */
export const ADAM_WAT = String.raw`
(module
  (import "tfjs" "memory" (memory 0))
  (func (export "adam")
    (param $w i32) (param $g i32) (param $m i32) (param $v i32) (param $out i32) (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32) (param $lr f32) (param $eps f32)
    (local $end i32) (local $end4 i32) (local $i i32)
    (local $B1 v128) (local $C1 v128) (local $B2 v128) (local $C2 v128) (local $LR v128) (local $EPS v128)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $C1 (f32x4.splat (local.get $c1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $C2 (f32x4.splat (local.get $c2)))
    (local.set $LR (f32x4.splat (local.get $lr)))
    (local.set $EPS (f32x4.splat (local.get $eps)))
    ;; byte offsets: i runs over [0, 4n)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end4 (i32.and (local.get $end) (i32.const -16)))
    (local.set $i (i32.const 0))
    (block $done4
      (loop $vec
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $gv (v128.load align=4 (i32.add (local.get $g) (local.get $i))))
        (local.set $mv (f32x4.add
          (f32x4.mul (v128.load align=4 (i32.add (local.get $m) (local.get $i))) (local.get $B1))
          (f32x4.mul (local.get $gv) (local.get $C1))))
        (local.set $vv (f32x4.add
          (f32x4.mul (v128.load align=4 (i32.add (local.get $v) (local.get $i))) (local.get $B2))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $C2))))
        (v128.store align=4 (i32.add (local.get $m) (local.get $i)) (local.get $mv))
        (v128.store align=4 (i32.add (local.get $v) (local.get $i)) (local.get $vv))
        (v128.store align=4 (i32.add (local.get $out) (local.get $i))
          (f32x4.sub
            (v128.load align=4 (i32.add (local.get $w) (local.get $i)))
            (f32x4.div
              (f32x4.mul (local.get $mv) (local.get $LR))
              (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $EPS)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $i))))
        (local.set $ms (f32.add
          (f32.mul (f32.load (i32.add (local.get $m) (local.get $i))) (local.get $b1))
          (f32.mul (local.get $gs) (local.get $c1))))
        (local.set $vs (f32.add
          (f32.mul (f32.load (i32.add (local.get $v) (local.get $i))) (local.get $b2))
          (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
        (f32.store (i32.add (local.get $m) (local.get $i)) (local.get $ms))
        (f32.store (i32.add (local.get $v) (local.get $i)) (local.get $vs))
        (f32.store (i32.add (local.get $out) (local.get $i))
          (f32.sub
            (f32.load (i32.add (local.get $w) (local.get $i)))
            (f32.div
              (f32.mul (local.get $ms) (local.get $lr))
              (f32.add (f32.sqrt (local.get $vs)) (local.get $eps)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))))
`;

/**
 * The fused update on byte offsets of tfjs' heap: weights `w`, gradient `g`, moments `m`, `v`
 * (updated in place), new weights to `out` (may equal `w`), `n` floats each.
 */
export type AdamKernel = (
  w: number,
  g: number,
  m: number,
  v: number,
  out: number,
  n: number,
  beta1: number,
  oneMinusBeta1: number,
  beta2: number,
  oneMinusBeta2: number,
  stepSize: number,
  epsilon: number,
) => void;

const adam = heapModule('loadAdamSimd', 'adam_simd.wat', ADAM_WAT, (e) => e.adam as AdamKernel);

/**
 * Compile and instantiate the kernel over the heap of `backend` (a tfjs wasm backend) once per
 * backend instance; later calls return the same promise. Rejects when `backend` is not wasm.
 */
export function loadAdamSimd(backend: unknown): Promise<AdamKernel> {
  return adam.load(backend);
}

/** The kernel for `backend` if {@link loadAdamSimd} has completed for it, else null. */
export function adamSimd(backend: unknown): AdamKernel | null {
  return adam.get(backend);
}
