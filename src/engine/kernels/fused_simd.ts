/**
 * WebAssembly SIMD loops for the activation and BatchNormalization kernels of `fused.ts`, run on
 * tfjs-backend-wasm's own heap (its `WebAssembly.Memory` imported, as `adam_simd.ts` does):
 * pointers are byte offsets of tfjs tensors, nothing is copied.
 *
 * - `relu_grad(dy, x, out, n)`: out = dy * step(x), step(x) = 1 if x > 0, 0 if x <= 0, NaN if x
 *   is NaN: the product tfjs-core's Relu gradient computes (`mul(dy, cast(step(x)))`), bit for bit.
 * - `clip_grad(dy, x, out, n, lo, hi)`: out = (x >= lo && x <= hi) ? dy : 0, tfjs-core's
 *   ClipByValue gradient (`where(logicalAnd(x >= lo, x <= hi), dy, zerosLike(dy))`), bit for bit.
 * - `bn_fwd(x, out, pixels, C, mean, a, off)`: out[p,c] = (x[p,c] - mean[c]) * a[c] + off[c]
 *   (a = scale / sqrt(variance + eps), precomputed per channel): inference-mode FusedBatchNorm
 *   on NHWC data, channels innermost.
 * - `bn_grad(dy, x, dx, pixels, C, mean, g, sdy, sdyx)`: dx[p,c] = dy[p,c] * g[c] and, added to
 *   the per-channel accumulators, sdy[c] += dy[p,c], sdyx[c] += dy[p,c] * (x[p,c] - mean[c]).
 *
 * - `transpose(src, dst, rows, cols)`: dst[c, r] = src[r, c] for 4-byte elements, on the
 *   (rows & ~3) x (cols & ~3) corner (the caller copies the edges): 4 x 4 blocks transposed in
 *   registers (two rounds of shuffles), visited in 32 x 32 tiles (`transpose.ts`).
 *
 * Every element-wise loop runs 4 lanes at a time with a scalar tail (the channel loops per pixel, so any C).
 */
import { heapModule } from './wat.js';

/**
 * The loop of every element-wise function below: byte offset `i` runs from its value to `end4` (a
 * multiple of 16) four lanes at a time, then to `end` one lane at a time.
 */
function lanes(i: string, end4: string, end: string, vector: string, scalar: string): string {
  return `(block $d4 (loop $v
      (br_if $d4 (i32.ge_u (local.get ${i}) (local.get ${end4})))
      ${vector}
      (local.set ${i} (i32.add (local.get ${i}) (i32.const 16)))
      (br $v)))
    (block $d (loop $t
      (br_if $d (i32.ge_u (local.get ${i}) (local.get ${end})))
      ${scalar}
      (local.set ${i} (i32.add (local.get ${i}) (i32.const 4)))
      (br $t)))`;
}

/**
 * A flat element-wise function over `n` floats: `$end` / `$end4` bytes, `lanes` over `$i`.
 * `params` and `locals` come after the pointers and `n` / before the loop's own locals.
 */
function flat(
  name: string,
  params: string,
  locals: string,
  setup: string,
  vector: string,
  scalar: string,
): string {
  return `(func (export "${name}") (param $dy i32) (param $x i32) (param $out i32) (param $n i32) ${params}
    (local $i i32) (local $end i32) (local $end4 i32) ${locals}
    ${setup}
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end4 (i32.and (local.get $end) (i32.const -16)))
    ${lanes('$i', '$end4', '$end', vector, scalar)})`;
}

/**
 * A per-channel function over NHWC rows (`pixels` rows of `C` floats, channels innermost): `lanes`
 * over the channel offset `$c` in each row, then every pointer in `rowPointers` moves one row on.
 */
function channelRows(
  name: string,
  params: string,
  locals: string,
  rowPointers: readonly string[],
  vector: string,
  scalar: string,
): string {
  const advance = rowPointers
    .map((q) => `(local.set ${q} (i32.add (local.get ${q}) (local.get $row)))`)
    .join('\n      ');
  return `(func (export "${name}") ${params}
    (local $p i32) (local $c i32) (local $row i32) (local $rowEnd4 i32) ${locals}
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $rowEnd4 (i32.and (local.get $row) (i32.const -16)))
    (block $dp (loop $lp
      (br_if $dp (i32.ge_u (local.get $p) (local.get $pixels)))
      (local.set $c (i32.const 0))
      ${lanes('$c', '$rowEnd4', '$row', vector, scalar)}
      ${advance}
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $lp))))`;
}

/** Load lane(s) of pointer `q` at byte offset `i`: `v128` for four lanes, `f32` for one. */
const ld = (t: 'v128' | 'f32', q: string, i: string): string =>
  t === 'v128'
    ? `(v128.load align=4 (i32.add (local.get ${q}) (local.get ${i})))`
    : `(f32.load (i32.add (local.get ${q}) (local.get ${i})))`;
/** Store `v` into pointer `q` at byte offset `i`. */
const st = (t: 'v128' | 'f32', q: string, i: string, v: string): string =>
  t === 'v128'
    ? `(v128.store align=4 (i32.add (local.get ${q}) (local.get ${i})) ${v})`
    : `(f32.store (i32.add (local.get ${q}) (local.get ${i})) ${v})`;
const V = 'v128';
const F = 'f32';

const RELU_GRAD = flat(
  'relu_grad',
  '',
  '(local $xv v128) (local $s v128) (local $xs f32) (local $ss f32)',
  '',
  `(local.set $xv ${ld(V, '$x', '$i')})
      ;; step: 1 where x > 0, else 0; NaN where x is NaN
      (local.set $s (v128.and (f32x4.gt (local.get $xv) (v128.const f32x4 0 0 0 0))
                              (v128.const f32x4 1 1 1 1)))
      (local.set $s (v128.bitselect (local.get $xv) (local.get $s)
                                    (f32x4.ne (local.get $xv) (local.get $xv))))
      ${st(V, '$out', '$i', `(f32x4.mul ${ld(V, '$dy', '$i')} (local.get $s))`)}`,
  `(local.set $xs ${ld(F, '$x', '$i')})
      (local.set $ss (select (f32.const 1) (f32.const 0) (f32.gt (local.get $xs) (f32.const 0))))
      (local.set $ss (select (local.get $xs) (local.get $ss) (f32.ne (local.get $xs) (local.get $xs))))
      ${st(F, '$out', '$i', `(f32.mul ${ld(F, '$dy', '$i')} (local.get $ss))`)}`,
);

const CLIP_GRAD = flat(
  'clip_grad',
  '(param $lo f32) (param $hi f32)',
  '(local $xv v128) (local $LO v128) (local $HI v128) (local $xs f32)',
  `(local.set $LO (f32x4.splat (local.get $lo)))
    (local.set $HI (f32x4.splat (local.get $hi)))`,
  `(local.set $xv ${ld(V, '$x', '$i')})
      ${st(
        V,
        '$out',
        '$i',
        `(v128.and ${ld(V, '$dy', '$i')}
                  (v128.and (f32x4.ge (local.get $xv) (local.get $LO))
                            (f32x4.le (local.get $xv) (local.get $HI))))`,
      )}`,
  `(local.set $xs ${ld(F, '$x', '$i')})
      ${st(
        F,
        '$out',
        '$i',
        `(select ${ld(F, '$dy', '$i')} (f32.const 0)
                (i32.and (f32.ge (local.get $xs) (local.get $lo)) (f32.le (local.get $xs) (local.get $hi))))`,
      )}`,
);

/** out[p,c] = (x[p,c] - mean[c]) * a[c] + off[c] */
const bnFwd = (t: 'v128' | 'f32'): string => {
  const op = t === V ? 'f32x4' : 'f32';
  return st(
    t,
    '$out',
    '$c',
    `(${op}.add (${op}.mul (${op}.sub ${ld(t, '$x', '$c')} ${ld(t, '$mean', '$c')}) ${ld(t, '$a', '$c')}) ${ld(t, '$off', '$c')})`,
  );
};
const BN_FWD = channelRows(
  'bn_fwd',
  '(param $x i32) (param $out i32) (param $pixels i32) (param $C i32) (param $mean i32) (param $a i32) (param $off i32)',
  '',
  ['$x', '$out'],
  bnFwd(V),
  bnFwd(F),
);

/** dx = dy * g[c]; sdy[c] += dy; sdyx[c] += dy * (x - mean[c]), with dy held in `d` */
const bnGrad = (t: 'v128' | 'f32', d: string): string => {
  const op = t === V ? 'f32x4' : 'f32';
  return `(local.set ${d} ${ld(t, '$dy', '$c')})
        ${st(t, '$dx', '$c', `(${op}.mul (local.get ${d}) ${ld(t, '$g', '$c')})`)}
        ${st(t, '$sdy', '$c', `(${op}.add ${ld(t, '$sdy', '$c')} (local.get ${d}))`)}
        ${st(t, '$sdyx', '$c', `(${op}.add ${ld(t, '$sdyx', '$c')} (${op}.mul (local.get ${d}) (${op}.sub ${ld(t, '$x', '$c')} ${ld(t, '$mean', '$c')})))`)}`;
};
const BN_GRAD = channelRows(
  'bn_grad',
  '(param $dy i32) (param $x i32) (param $dx i32) (param $pixels i32) (param $C i32) (param $mean i32) (param $g i32) (param $sdy i32) (param $sdyx i32)',
  '(local $dv v128) (local $ds f32)',
  ['$dy', '$x', '$dx'],
  bnGrad(V, '$dv'),
  bnGrad(F, '$ds'),
);

export const FUSED_WAT = String.raw`
(module
  (import "tfjs" "memory" (memory 0))

  ${RELU_GRAD}

  ${CLIP_GRAD}

  ${BN_FWD}

  ${BN_GRAD}

  ;; dst[c, r] = src[r, c] (4-byte elements) on the rows & ~3 x cols & ~3 corner, 4x4 SIMD blocks in 32x32 tiles
  (func (export "transpose") (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (local $r0 i32) (local $c0 i32) (local $r i32) (local $c i32) (local $rEnd i32) (local $cEnd i32)
    (local $rows4 i32) (local $cols4 i32) (local $ss i32) (local $ds i32) (local $ps i32) (local $pd i32)
    (local $a v128) (local $b v128) (local $e v128) (local $f v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rows4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $ss (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $ds (i32.shl (local.get $rows) (i32.const 2)))
    (block $dr0 (loop $lr0
      (br_if $dr0 (i32.ge_u (local.get $r0) (local.get $rows4)))
      (local.set $rEnd (i32.add (local.get $r0) (i32.const 32)))
      (local.set $rEnd (select (local.get $rEnd) (local.get $rows4) (i32.lt_u (local.get $rEnd) (local.get $rows4))))
      (local.set $c0 (i32.const 0))
      (block $dc0 (loop $lc0
        (br_if $dc0 (i32.ge_u (local.get $c0) (local.get $cols4)))
        (local.set $cEnd (i32.add (local.get $c0) (i32.const 32)))
        (local.set $cEnd (select (local.get $cEnd) (local.get $cols4) (i32.lt_u (local.get $cEnd) (local.get $cols4))))
        (local.set $r (local.get $r0))
        (block $dr (loop $lr
          (br_if $dr (i32.ge_u (local.get $r) (local.get $rEnd)))
          (local.set $c (local.get $c0))
          (block $dc (loop $lc
            (br_if $dc (i32.ge_u (local.get $c) (local.get $cEnd)))
            (local.set $ps (i32.add (local.get $src)
              (i32.add (i32.mul (local.get $r) (local.get $ss)) (i32.shl (local.get $c) (i32.const 2)))))
            (local.set $a (v128.load align=4 (local.get $ps)))
            (local.set $b (v128.load align=4 (i32.add (local.get $ps) (local.get $ss))))
            (local.set $e (v128.load align=4 (i32.add (local.get $ps) (i32.shl (local.get $ss) (i32.const 1)))))
            (local.set $f (v128.load align=4 (i32.add (local.get $ps) (i32.mul (local.get $ss) (i32.const 3)))))
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e) (local.get $f)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e) (local.get $f)))
            (local.set $pd (i32.add (local.get $dst)
              (i32.add (i32.mul (local.get $c) (local.get $ds)) (i32.shl (local.get $r) (i32.const 2)))))
            (v128.store align=4 (local.get $pd)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store align=4 (i32.add (local.get $pd) (local.get $ds))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store align=4 (i32.add (local.get $pd) (i32.shl (local.get $ds) (i32.const 1)))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store align=4 (i32.add (local.get $pd) (i32.mul (local.get $ds) (i32.const 3)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $lc)))
          (local.set $r (i32.add (local.get $r) (i32.const 4)))
          (br $lr)))
        (local.set $c0 (i32.add (local.get $c0) (i32.const 32)))
        (br $lc0)))
      (local.set $r0 (i32.add (local.get $r0) (i32.const 32)))
      (br $lr0))))
)
`;

/** The exported loops; every pointer is a byte offset in tfjs' heap, counts are elements. */
export interface FusedSimd {
  relu_grad(dy: number, x: number, out: number, n: number): void;
  clip_grad(dy: number, x: number, out: number, n: number, lo: number, hi: number): void;
  bn_fwd(x: number, out: number, pixels: number, c: number, mean: number, a: number, off: number): void;
  bn_grad(
    dy: number,
    x: number,
    dx: number,
    pixels: number,
    c: number,
    mean: number,
    g: number,
    sdy: number,
    sdyx: number,
  ): void;
  transpose(src: number, dst: number, rows: number, cols: number): void;
}

const fused = heapModule('loadFusedSimd', 'fused_simd.wat', FUSED_WAT, (e) => e as unknown as FusedSimd);

/**
 * Compile and instantiate the loops over the heap of `backend` (a tfjs wasm backend), once per
 * backend instance. Rejects when `backend` is not wasm.
 */
export function loadFusedSimd(backend: unknown): Promise<FusedSimd> {
  return fused.load(backend);
}

/** The loops for `backend` if {@link loadFusedSimd} has completed for it, else null. */
export function fusedSimd(backend: unknown): FusedSimd | null {
  return fused.get(backend);
}
