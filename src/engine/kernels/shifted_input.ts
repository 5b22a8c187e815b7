/**
 * The input as seen by each filter tap: for tap (a, b) of a convolution with strides (sh, sw),
 * X_ab[n, i, j, c] = xpad[n, i*sh + a, j*sw + b, c], with xpad the zero-padded input. Filter
 * gradients are sums over taps of products with these shifted views.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { ConvGeometry } from './conv_geometry.js';
import type { KernelScope } from './kernel_scope.js';

/**
 * Zero-pad (or crop) `x` [N,H,W,C] to exactly the rows/columns the convolution reads:
 * Hp = (outH-1)*sh + kh rows starting at -top, likewise for columns.
 */
export function paddedInput(s: KernelScope, x: TensorInfo, g: ConvGeometry): TensorInfo {
  const hp = (g.outH - 1) * g.sh + g.kh;
  const wp = (g.outW - 1) * g.sw + g.kw;
  const bottom = hp - g.top - g.inH;
  const right = wp - g.left - g.inW;
  let t = x;
  if (bottom < 0 || right < 0) {
    t = s.slice(t, [0, 0, 0, 0], [g.batch, g.inH + Math.min(bottom, 0), g.inW + Math.min(right, 0), -1]);
  }
  if (g.top > 0 || g.left > 0 || bottom > 0 || right > 0) {
    t = s.pad(t, [
      [0, 0],
      [g.top, Math.max(bottom, 0)],
      [g.left, Math.max(right, 0)],
      [0, 0],
    ]);
  }
  return t;
}

/**
 * X_ab for tap (a, b) from the padded input `xpad` [N,Hp,Wp,C], returned as [N,outH,outW,C].
 * Stride 1 uses a row-contiguous slice; larger strides a strided slice.
 */
export function tapSlice(
  s: KernelScope,
  xpad: TensorInfo,
  a: number,
  b: number,
  g: ConvGeometry,
): TensorInfo {
  const [n, hp, wp, c] = xpad.shape;
  if (g.sh === 1 && g.sw === 1) {
    if (a === 0 && b === 0 && hp === g.outH && wp === g.outW) return s.reshape(xpad, [n, g.outH, g.outW, c]);
    // View as [N, Hp, Wp*C]: the slice copies N*outH runs of outW*C floats.
    const flat = s.reshape(xpad, [n, hp, wp * c]);
    const sl = s.slice(flat, [0, a, b * c], [n, g.outH, g.outW * c]);
    s.free(flat);
    return s.reshape(sl, [n, g.outH, g.outW, c]);
  }
  return s.stridedSlice(
    xpad,
    [0, a, b, 0],
    [n, a + (g.outH - 1) * g.sh + 1, b + (g.outW - 1) * g.sw + 1, c],
    [1, g.sh, g.sw, 1],
  );
}
