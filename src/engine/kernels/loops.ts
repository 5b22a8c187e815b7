/**
 * Memory-movement and depthwise loops written directly over Float32Arrays, for the steps where the
 * stock wasm kernels are slow (StridedSlice and DepthToSpace loop per element through generic index
 * arithmetic; a per-tap multiply + sum of depthwise gradients makes ~6 passes over the activations).
 * Every loop keeps the channel axis innermost and contiguous (NHWC), so V8 runs it as a tight loop.
 */
import type { ConvGeometry } from './conv_geometry.js';

/** Runs at least this long are copied with TypedArray.set, shorter ones element by element. */
const MIN_SET_RUN = 32;

function copyRun(dst: Float32Array, dstOff: number, src: Float32Array, srcOff: number, len: number): void {
  if (len >= MIN_SET_RUN) {
    dst.set(src.subarray(srcOff, srcOff + len), dstOff);
  } else {
    for (let k = 0; k < len; k++) dst[dstOff + k] = src[srcOff + k];
  }
}

/**
 * X_ab[n,i,j,:] = x[n, i*sh + a - top, j*sw + b - left, :] (zero outside the input), as a new
 * [N, outH, outW, C] array: the input seen by filter tap (a, b), without materialising the padding.
 */
export function gatherTap(x: Float32Array, g: ConvGeometry, a: number, b: number): Float32Array {
  const c = g.inC;
  const out = new Float32Array(g.batch * g.outH * g.outW * c);
  // Range of j whose column jj = j*sw + b - left lies inside the input.
  const jLo = Math.max(0, Math.ceil((g.left - b) / g.sw));
  const jHi = Math.min(g.outW - 1, Math.floor((g.inW - 1 + g.left - b) / g.sw));
  if (jHi < jLo) return out;
  for (let n = 0; n < g.batch; n++) {
    for (let i = 0; i < g.outH; i++) {
      const ii = i * g.sh + a - g.top;
      if (ii < 0 || ii >= g.inH) continue;
      const rowIn = (n * g.inH + ii) * g.inW;
      const rowOut = (n * g.outH + i) * g.outW;
      if (g.sw === 1) {
        const jj = jLo + b - g.left;
        copyRun(out, (rowOut + jLo) * c, x, (rowIn + jj) * c, (jHi - jLo + 1) * c);
      } else {
        for (let j = jLo; j <= jHi; j++) {
          copyRun(out, (rowOut + j) * c, x, (rowIn + j * g.sw + b - g.left) * c, c);
        }
      }
    }
  }
  return out;
}

/**
 * Visit every (pixel, filter tap) pair of a depthwise convolution with geometry `g` whose input
 * pixel lies inside the input: `visit(xOff, dyOff, fOff)` gets the element offsets of input pixel
 * x[n, i*sh+a-top, j*sw+b-left, :] (`c` channels a pixel), of dy[n,i,j,:] and of filter tap
 * w[a,b,:] (`cm` = C * multiplier channels each).
 */
function forEachDepthwiseTap(
  g: ConvGeometry,
  cm: number,
  visit: (xOff: number, dyOff: number, fOff: number) => void,
): void {
  const c = g.inC;
  for (let n = 0; n < g.batch; n++) {
    for (let i = 0; i < g.outH; i++) {
      for (let a = 0; a < g.kh; a++) {
        const ii = i * g.sh + a - g.top;
        if (ii < 0 || ii >= g.inH) continue;
        const rowIn = (n * g.inH + ii) * g.inW;
        for (let j = 0; j < g.outW; j++) {
          const dyOff = ((n * g.outH + i) * g.outW + j) * cm;
          for (let b = 0; b < g.kw; b++) {
            const jj = j * g.sw + b - g.left;
            if (jj < 0 || jj >= g.inW) continue;
            visit((rowIn + jj) * c, dyOff, (a * g.kw + b) * cm);
          }
        }
      }
    }
  }
}

/**
 * Depthwise filter gradient: dW[a,b,c,q] = sum_{n,i,j} x[n, i*sh+a-top, j*sw+b-left, c] *
 * dy[n,i,j,c*m+q] (m = channel multiplier), accumulated in float64. Returns [kh,kw,C,m] values.
 */
export function depthwiseFilterGrad(
  x: Float32Array,
  dy: Float32Array,
  g: ConvGeometry,
  mult: number,
): Float32Array {
  const c = g.inC;
  const cm = c * mult;
  const acc = new Float64Array(g.kh * g.kw * cm);
  forEachDepthwiseTap(g, cm, (xOff, dyOff, fOff) => {
    if (mult === 1) {
      for (let k = 0; k < c; k++) acc[fOff + k] += x[xOff + k] * dy[dyOff + k];
    } else {
      for (let k = 0; k < c; k++) {
        const xv = x[xOff + k];
        for (let q = 0; q < mult; q++) acc[fOff + k * mult + q] += xv * dy[dyOff + k * mult + q];
      }
    }
  });
  return Float32Array.from(acc);
}

/**
 * Depthwise input gradient by scattering: dx[n, i*sh+a-top, j*sw+b-left, c] += dy[n,i,j,c*m+q] *
 * w[a,b,c,q]. Used for strides > 1, where the forward-convolution formulation needs shuffles.
 */
export function depthwiseInputGrad(
  dy: Float32Array,
  w: Float32Array,
  g: ConvGeometry,
  mult: number,
): Float32Array {
  const c = g.inC;
  const cm = c * mult;
  const dx = new Float32Array(g.batch * g.inH * g.inW * c);
  forEachDepthwiseTap(g, cm, (xOff, dyOff, fOff) => {
    if (mult === 1) {
      for (let k = 0; k < c; k++) dx[xOff + k] += dy[dyOff + k] * w[fOff + k];
    } else {
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (let q = 0; q < mult; q++) s += dy[dyOff + k * mult + q] * w[fOff + k * mult + q];
        dx[xOff + k] += s;
      }
    }
  });
  return dx;
}

/**
 * Depth-to-space and crop in one copy: phases [N, h, w, s*s*C] with channel (r1*s + r2)*C + c holds
 * padded-input pixel (h*s + r1, w*s + r2); returns the [N, outH, outW, C] window starting at
 * (offH, offW) of that interleaved image.
 */
export function interleavePhases(
  phases: Float32Array,
  shape: [number, number, number, number],
  stride: number,
  c: number,
  offH: number,
  offW: number,
  outH: number,
  outW: number,
): Float32Array {
  const [n, h, w] = shape;
  const out = new Float32Array(n * outH * outW * c);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < outH; y++) {
      const py = y + offH;
      const hh = Math.floor(py / stride);
      const r1 = py - hh * stride;
      if (hh >= h) continue;
      for (let x = 0; x < outW; x++) {
        const px = x + offW;
        const ww = Math.floor(px / stride);
        const r2 = px - ww * stride;
        if (ww >= w) continue;
        const src = ((b * h + hh) * w + ww) * stride * stride * c + (r1 * stride + r2) * c;
        copyRun(out, ((b * outH + y) * outW + x) * c, phases, src, c);
      }
    }
  }
  return out;
}
