/**
 * WebAssembly text (WAT) of the depthwise-gradient SIMD kernels, compiled at run time by `wabt`
 * (depthwise_simd.ts). NHWC keeps the channels of one pixel contiguous, so every inner step is an
 * f32x4 multiply-add over 4 (or 16) adjacent channels of the same filter tap.
 *
 * Conventions shared by both functions: pointers are byte offsets into the module's own memory;
 * `cp` is the channel count padded to a multiple of 4 (the caller zero-fills the padding);
 * geometry (inH, inW, outH, outW, kh, kw, sh, sw, top, left) is tfjs' `computeConv2DInfo`
 * (conv_geometry.ts) for a depthwise convolution with multiplier 1; images n0 <= n < n1 are
 * processed.
 *
 * dwFilterGrad: acc[a,b,c] += sum_{n,i,j} x[n, i*sh+a-top, j*sw+b-left, c] * dy[n,i,j,c]. For each
 *   (n, i, a, b) the valid range of j is computed once; 16 channels at a time are summed along j in
 *   four v128 registers and added to `acc` (f32 [kh*kw*cp]) once per row.
 * dwInputGrad: dx[n,y,x,c] = sum over the taps (a,b) with y+top-a = i*sh, x+left-b = j*sw (i, j
 *   inside dy) of dy[n,i,j,c] * w[a,b,c] -- a gather, so each dx value is accumulated in registers
 *   and written once (no zero-fill, no read-modify-write), for any stride.
 *
 * Both functions walk the channels in blocks of 16 (four v128 registers) and then of 4 (one); the
 * text of those channel loops is generated once per block width by the helpers below.
 */
/** The accumulator registers $v0.. of a channel block of `width` channels (4 per f32x4 register). */
function registers(width: 16 | 4): number[] {
  return Array.from({ length: width / 4 }, (_, k) => k);
}

/** The memory operand offset of register k's 4 channels (none for the first). */
function offset(k: number): string {
  return k === 0 ? '' : ` offset=${16 * k}`;
}

/** $v0.. = 0 for a block of `width` channels. */
function zeroRegisters(width: 16 | 4): string {
  return registers(width)
    .map((k) => `(local.set $v${k} (v128.const i32x4 0 0 0 0))`)
    .join('\n');
}

/** One pointer of a multiply-add run: [its local, how it moves to the next pixel, by which local]. */
type RunPointer = readonly [local: string, op: 'i32.add' | 'i32.sub', step: string];

/**
 * `(loop $label ...)`: $vk += p[k] * q[k] over the `width` channels at pointers `p` and `q` (f32x4
 * multiply-adds), then both pointers move to their next pixel; repeated `counter` times (the
 * counter must be at least 1 on entry and is 0 after).
 */
function multiplyAddRun(label: string, width: 16 | 4, p: RunPointer, q: RunPointer, counter: string): string {
  const madds = registers(width).map(
    (k) =>
      `(local.set $v${k} (f32x4.add (local.get $v${k})
        (f32x4.mul (v128.load${offset(k)} (local.get ${p[0]})) (v128.load${offset(k)} (local.get ${q[0]})))))`,
  );
  const moves = [p, q].map(
    ([local, op, step]) => `(local.set ${local} (${op} (local.get ${local}) (local.get ${step})))`,
  );
  return `(loop ${label}
    ${[...madds, ...moves].join('\n')}
    (local.set ${counter} (i32.sub (local.get ${counter}) (i32.const 1)))
    (br_if ${label} (local.get ${counter})))`;
}

/**
 * dwFilterGrad's loop over channel blocks of `width` channels, from $cb up to `end`: each block is
 * summed along j in registers and added to `acc` at tap (a, b).
 */
function filterChannelLoop(width: 16 | 4, end: string): string {
  return String.raw`(block $c${width}Done (loop $c${width}Loop
    (br_if $c${width}Done (i32.ge_s (local.get $cb) (local.get ${end})))
    (local.set $px (i32.add (i32.add (local.get $xRow)
      (i32.mul (i32.sub (i32.add (i32.mul (local.get $jLo) (local.get $sw)) (local.get $b)) (local.get $left))
               (local.get $pix)))
      (i32.shl (local.get $cb) (i32.const 2))))
    (local.set $pd (i32.add (i32.add (local.get $dyRow) (i32.mul (local.get $jLo) (local.get $pix)))
      (i32.shl (local.get $cb) (i32.const 2))))
    ${zeroRegisters(width)}
    (local.set $cnt (i32.sub (local.get $jEnd) (local.get $jLo)))
    ${multiplyAddRun(`$j${width}`, width, ['$px', 'i32.add', '$xStep'], ['$pd', 'i32.add', '$pix'], '$cnt')}
    (local.set $pa (i32.add (local.get $accTap) (i32.shl (local.get $cb) (i32.const 2))))
    ${registers(width)
      .map(
        (k) =>
          `(v128.store${offset(k)} (local.get $pa) (f32x4.add (v128.load${offset(k)} (local.get $pa)) (local.get $v${k})))`,
      )
      .join('\n')}
    (local.set $cb (i32.add (local.get $cb) (i32.const ${width})))
    (br $c${width}Loop)))`;
}

/**
 * dwInputGrad's loop over channel blocks of `width` channels, from $cb up to `end`: each block of
 * dx at $pdx is gathered over the nrows x nj taps in registers and stored once.
 */
function inputChannelLoop(width: 16 | 4, end: string): string {
  return String.raw`(block $c${width}Done (loop $c${width}Loop
    (br_if $c${width}Done (i32.ge_s (local.get $cb) (local.get ${end})))
    (local.set $cOff (i32.shl (local.get $cb) (i32.const 2)))
    ${zeroRegisters(width)}
    (local.set $pdR (i32.add (local.get $pd0) (local.get $cOff)))
    (local.set $pwR (i32.add (local.get $pw0) (local.get $cOff)))
    (local.set $ci (local.get $nrows))
    (block $iDone${width} (loop $iLoop${width}
      (br_if $iDone${width} (i32.le_s (local.get $ci) (i32.const 0)))
      (local.set $pd (local.get $pdR))
      (local.set $pw (local.get $pwR))
      (local.set $cj (local.get $nj))
      ${multiplyAddRun(`$jLoop${width}`, width, ['$pd', 'i32.add', '$pix'], ['$pw', 'i32.sub', '$wColStep'], '$cj')}
      (local.set $pdR (i32.add (local.get $pdR) (local.get $dRowStep)))
      (local.set $pwR (i32.sub (local.get $pwR) (local.get $wRowStep)))
      (local.set $ci (i32.sub (local.get $ci) (i32.const 1)))
      (br $iLoop${width})))
    ${registers(width)
      .map((k) => `(v128.store${offset(k)} (i32.add (local.get $pdx) (local.get $cOff)) (local.get $v${k}))`)
      .join('\n')}
    (local.set $cb (i32.add (local.get $cb) (i32.const ${width})))
    (br $c${width}Loop)))`;
}

/**
 * `for ($v = from; $v < end; $v++) body` in WAT, as a block $<v>Done around a loop $<v>Loop; `from`
 * is a constant or a local, `end` a local. It is a template tag, countedLoop(v, from, end)`body`, so
 * that the body reads as WAT below its loop header.
 */
function countedLoop(v: string, from: number | string, end: string) {
  const start = typeof from === 'number' ? `(i32.const ${from})` : `(local.get ${from})`;
  return (body: TemplateStringsArray, ...values: unknown[]): string => `(local.set $${v} ${start})
    (block $${v}Done (loop $${v}Loop
      (br_if $${v}Done (i32.ge_s (local.get $${v}) (local.get ${end})))
      ${String.raw(body, ...values)}
      (local.set $${v} (i32.add (local.get $${v}) (i32.const 1)))
      (br $${v}Loop)))`;
}

/** The locals of one axis of dwInputGrad: input coordinate, padding, filter size, stride, dy size. */
interface Axis {
  readonly at: string;
  readonly pad: string;
  readonly k: string;
  readonly s: string;
  readonly out: string;
}

/**
 * dwInputGrad, one axis: `r` = padded coordinate at + pad; `lo` = first dy index i with
 * i*s <= r < i*s + k, 0 <= i < out, and `count` = how many follow ($firstInside / $endInside, as
 * the comment in dwInputGrad derives).
 */
function reachingRange(axis: Axis, r: string, lo: string, count: string): string {
  const { at, pad, k, s, out } = axis;
  return `(local.set ${r} (i32.add (local.get ${at}) (local.get ${pad})))
    (local.set ${lo} (call $firstInside (i32.const 0)
      (i32.sub (i32.sub (local.get ${k}) (i32.const 1)) (local.get ${r})) (local.get ${s})))
    (local.set ${count} (i32.sub
      (call $endInside (i32.const 0) (i32.const 0) (local.get ${s}) (i32.add (local.get ${r}) (i32.const 1)) (local.get ${out}))
      (local.get ${lo})))`;
}

/** The parameters after the pointers and the image range that both kernels take (see the header). */
const GEOMETRY_PARAMS = ['inH', 'inW', 'cp', 'outH', 'outW', 'kh', 'kw', 'sh', 'sw', 'top', 'left']
  .map((name) => `(param $${name} i32)`)
  .join(' ');

export const DEPTHWISE_WAT = String.raw`
(module
  (memory (export "memory") 1)

  ;; first j (>= 0) with j*s + b - pad >= 0, i.e. max(0, ceil((pad - b) / s))
  (func $firstInside (param $pad i32) (param $b i32) (param $s i32) (result i32)
    (local $t i32)
    (local.set $t (i32.sub (local.get $pad) (local.get $b)))
    (if (result i32) (i32.le_s (local.get $t) (i32.const 0))
      (then (i32.const 0))
      (else (i32.div_u (i32.add (local.get $t) (i32.sub (local.get $s) (i32.const 1))) (local.get $s)))))

  ;; one past the last j (<= outSize) with j*s + b - pad <= inSize - 1
  (func $endInside (param $pad i32) (param $b i32) (param $s i32) (param $inSize i32) (param $outSize i32)
    (result i32)
    (local $u i32) (local $e i32)
    (local.set $u (i32.sub (i32.add (i32.sub (local.get $inSize) (i32.const 1)) (local.get $pad)) (local.get $b)))
    (if (i32.lt_s (local.get $u) (i32.const 0)) (then (return (i32.const 0))))
    (local.set $e (i32.add (i32.div_u (local.get $u) (local.get $s)) (i32.const 1)))
    (select (local.get $e) (local.get $outSize) (i32.lt_s (local.get $e) (local.get $outSize))))

  (func (export "dwFilterGrad")
    (param $x i32) (param $dy i32) (param $acc i32) (param $n0 i32) (param $n1 i32)
    ${GEOMETRY_PARAMS}
    (local $n i32) (local $i i32) (local $a i32) (local $b i32) (local $ii i32)
    (local $jLo i32) (local $jEnd i32) (local $cnt i32) (local $cb i32) (local $cb16 i32)
    (local $pix i32) (local $xStep i32) (local $xRow i32) (local $dyRow i32) (local $accTap i32)
    (local $px i32) (local $pd i32) (local $pa i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $pix (i32.shl (local.get $cp) (i32.const 2)))
    (local.set $xStep (i32.mul (local.get $sw) (local.get $pix)))
    ;; channels handled 16 at a time: [0, cb16); the rest 4 at a time
    (local.set $cb16 (i32.and (local.get $cp) (i32.const -16)))
    ${countedLoop('n', '$n0', '$n1')`
      ${countedLoop('i', 0, '$outH')`
        (local.set $dyRow (i32.add (local.get $dy)
          (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (local.get $outH)) (local.get $i)) (local.get $outW))
                   (local.get $pix))))
        ${countedLoop('a', 0, '$kh')`
          (local.set $ii (i32.sub (i32.add (i32.mul (local.get $i) (local.get $sh)) (local.get $a)) (local.get $top)))
          (if (i32.and (i32.ge_s (local.get $ii) (i32.const 0)) (i32.lt_s (local.get $ii) (local.get $inH)))
            (then
              (local.set $xRow (i32.add (local.get $x)
                (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (local.get $inH)) (local.get $ii)) (local.get $inW))
                         (local.get $pix))))
              ${countedLoop('b', 0, '$kw')`
                (local.set $jLo (call $firstInside (local.get $left) (local.get $b) (local.get $sw)))
                (local.set $jEnd (call $endInside (local.get $left) (local.get $b) (local.get $sw)
                  (local.get $inW) (local.get $outW)))
                (if (i32.lt_s (local.get $jLo) (local.get $jEnd))
                  (then
                    (local.set $accTap (i32.add (local.get $acc)
                      (i32.mul (i32.add (i32.mul (local.get $a) (local.get $kw)) (local.get $b)) (local.get $pix))))
                    ;; 16 channels per step, then the remaining channels 4 per step
                    (local.set $cb (i32.const 0))
                    ${filterChannelLoop(16, '$cb16')}
                    ${filterChannelLoop(4, '$cp')}))`}))`}`}`})

  (func (export "dwInputGrad")
    (param $dy i32) (param $w i32) (param $dx i32) (param $n0 i32) (param $n1 i32)
    ${GEOMETRY_PARAMS}
    (local $n i32) (local $y i32) (local $xx i32) (local $ry i32) (local $rx i32)
    (local $iLo i32) (local $ni i32) (local $nrows i32) (local $jLo i32) (local $nj i32)
    (local $pix i32) (local $cb i32) (local $cb16 i32) (local $cOff i32)
    (local $dRowStep i32) (local $wRowStep i32) (local $wColStep i32)
    (local $pd0 i32) (local $pw0 i32) (local $pdx i32)
    (local $pdR i32) (local $pwR i32) (local $pd i32) (local $pw i32) (local $ci i32) (local $cj i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $pix (i32.shl (local.get $cp) (i32.const 2)))
    (local.set $cb16 (i32.and (local.get $cp) (i32.const -16)))
    (local.set $dRowStep (i32.mul (local.get $outW) (local.get $pix)))
    (local.set $wRowStep (i32.mul (i32.mul (local.get $sh) (local.get $kw)) (local.get $pix)))
    (local.set $wColStep (i32.mul (local.get $sw) (local.get $pix)))
    (local.set $pdx (i32.add (local.get $dx)
      (i32.mul (i32.mul (i32.mul (local.get $n0) (local.get $inH)) (local.get $inW)) (local.get $pix))))
    ${countedLoop('n', '$n0', '$n1')`
      ${countedLoop('y', 0, '$inH')`
        ;; rows i of dy reaching padded row ry = y + top: i*sh <= ry < i*sh + kh, 0 <= i < outH, i.e.
        ;; iLo = max(0, ceil((ry - kh + 1) / sh)) ($firstInside with pad 0, b = kh - 1 - ry) and
        ;; iEnd = min(outH, floor(ry / sh) + 1) ($endInside with inSize = ry + 1); columns likewise
        ${reachingRange({ at: '$y', pad: '$top', k: '$kh', s: '$sh', out: '$outH' }, '$ry', '$iLo', '$ni')}
        ${countedLoop('xx', 0, '$inW')`
          ${reachingRange({ at: '$xx', pad: '$left', k: '$kw', s: '$sw', out: '$outW' }, '$rx', '$jLo', '$nj')}
          ;; dy[n, iLo, jLo] and w[ry - iLo*sh, rx - jLo*sw]
          (local.set $pd0 (i32.add (local.get $dy)
            (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $outH)) (local.get $iLo)) (local.get $outW))
                              (local.get $jLo))
                     (local.get $pix))))
          (local.set $pw0 (i32.add (local.get $w)
            (i32.mul (i32.add
                       (i32.mul (i32.sub (local.get $ry) (i32.mul (local.get $iLo) (local.get $sh))) (local.get $kw))
                       (i32.sub (local.get $rx) (i32.mul (local.get $jLo) (local.get $sw))))
                     (local.get $pix))))
          ;; rows of taps for this pixel (none when no row or no column of dy reaches it)
          (local.set $nrows (select (local.get $ni) (i32.const 0) (i32.gt_s (local.get $nj) (i32.const 0))))
          (local.set $cb (i32.const 0))
          ${inputChannelLoop(16, '$cb16')}
          ${inputChannelLoop(4, '$cp')}
          (local.set $pdx (i32.add (local.get $pdx) (local.get $pix)))`}`}`})
)
`;
