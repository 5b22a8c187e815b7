/**
 * Conv2DBackpropInput for the wasm backend, replacing the stock kernel (a direct loop that runs
 * ~10x slower than the forward convolution).
 *
 * The input gradient of a stride-s convolution is a transposed convolution. It is computed as ONE
 * stride-1 forward convolution (XNNPACK, forward speed) of the output gradient with a rearranged
 * filter, followed by a depth-to-space shuffle (the "sub-pixel convolution" identity, Shi et al.
 * 2016, "Is the deconvolution layer the same as a convolutional layer?", arXiv:1609.07009):
 *
 *   padded input row q = m*s + r receives  sum_t dy[m - t] * w[t*s + r],  t = 0..T-1, T = ceil(k/s)
 *
 * so phase r of the input gradient is a correlation of dy with the flipped sub-filter
 * w[(T-1-u)*s + r]. All s*s phases are stacked as output channels of one convolution
 * (filter G[u, v, Cout, (r1*s + r2)*Cin + c]) and interleaved (a depth-to-space copy, loops.ts). For s = 1 this
 * is the familiar convolution with the spatially flipped, in/out-transposed filter.
 */
import {
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { convGeometry, type ConvGeometry } from './conv_geometry.js';
import { interleavePhases } from './loops.js';
import { type ExplicitPad, type KernelScope, wasmKernelConfig, withScope } from './kernel_scope.js';

/** One tap of the sub-pixel filter: tile (u, v), phase (r1, r2), and the kernel cell (a, b) it takes. */
export interface SubPixelTap {
  readonly u: number;
  readonly v: number;
  readonly r1: number;
  readonly r2: number;
  readonly a: number;
  readonly b: number;
}

/**
 * The taps of the sub-pixel formulation of a strided transposed convolution: tile (u, v) of the
 * T_h x T_w = ceil(kh/sh) x ceil(kw/sw) flipped filter, phase (r1, r2), kernel cell
 * a = (T_h-1-u)*sh + r1, b = (T_w-1-v)*sw + r2; cells beyond the kernel are left out (zeros).
 */
export function subPixelTaps(g: ConvGeometry): SubPixelTap[] {
  const th = Math.ceil(g.kh / g.sh);
  const tw = Math.ceil(g.kw / g.sw);
  const taps: SubPixelTap[] = [];
  for (let u = 0; u < th; u++) {
    for (let r1 = 0; r1 < g.sh; r1++) {
      const a = (th - 1 - u) * g.sh + r1;
      if (a >= g.kh) continue;
      for (let v = 0; v < tw; v++) {
        for (let r2 = 0; r2 < g.sw; r2++) {
          const b = (tw - 1 - v) * g.sw + r2;
          if (b < g.kw) taps.push({ u, v, r1, r2, a, b });
        }
      }
    }
  }
  return taps;
}

/**
 * The rearranged filter G [T_h, T_w, Cout, sh*sw*Cin] for the sub-pixel formulation,
 * G[u,v,o,(r1*sw + r2)*Cin + c] = w[(T_h-1-u)*sh + r1, (T_w-1-v)*sw + r2, c, o] (0 beyond the kernel).
 */
function subPixelFilter(s: KernelScope, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  if (g.sh === 1 && g.sw === 1) {
    const flipped = s.reverse(filter, [0, 1]);
    const t = s.transpose(flipped, [0, 1, 3, 2]);
    s.free(flipped);
    return t;
  }
  const th = Math.ceil(g.kh / g.sh);
  const tw = Math.ceil(g.kw / g.sw);
  const ci = g.inC;
  const co = g.outC;
  const w = s.values(filter);
  const out = new Float32Array(th * tw * co * g.sh * g.sw * ci);
  const phases = g.sh * g.sw * ci;
  for (const { u, v, r1, r2, a, b } of subPixelTaps(g)) {
    const src = (a * g.kw + b) * ci * co;
    const dstBase = (u * tw + v) * co * phases + (r1 * g.sw + r2) * ci;
    for (let c = 0; c < ci; c++) {
      const srcRow = src + c * co;
      let dst = dstBase + c;
      for (let o = 0; o < co; o++, dst += phases) out[dst] = w[srcRow + o];
    }
  }
  return s.fromValues(out, [th, tw, co, phases]);
}

/** Padding (negative = crop) of dy along one axis, and the rows of the padded input produced. */
export interface AxisPlan {
  before: number;
  after: number;
  /** first produced row of the padded input, in units of the stride */
  m0: number;
}

/** dy cropped where the plans ask for negative padding (rows and columns that reach no input pixel). */
export function cropToPlan(
  s: KernelScope,
  dy: TensorInfo,
  ph: AxisPlan,
  pw: AxisPlan,
  g: ConvGeometry,
  channels: number,
): TensorInfo {
  const cropTop = Math.max(-ph.before, 0);
  const cropLeft = Math.max(-pw.before, 0);
  const cropBottom = Math.max(-ph.after, 0);
  const cropRight = Math.max(-pw.after, 0);
  if (cropTop + cropLeft + cropBottom + cropRight === 0) return dy;
  return s.slice(
    dy,
    [0, cropTop, cropLeft, 0],
    [g.batch, g.outH - cropTop - cropBottom, g.outW - cropLeft - cropRight, channels],
  );
}

/** The explicit (non-negative) padding of the plans, in the tfjs NHWC form. */
export function planPads(ph: AxisPlan, pw: AxisPlan): ExplicitPad {
  return [
    [0, 0],
    [Math.max(ph.before, 0), Math.max(ph.after, 0)],
    [Math.max(pw.before, 0), Math.max(pw.after, 0)],
    [0, 0],
  ];
}

export function axisPlan(top: number, inSize: number, outSize: number, k: number, stride: number): AxisPlan {
  const t = Math.ceil(k / stride);
  const m0 = Math.floor(top / stride);
  const m1 = Math.floor((top + inSize - 1) / stride);
  return { before: t - 1 - m0, after: m1 - (outSize - 1), m0 };
}

/**
 * Compute the input gradient of an NHWC convolution. Falls back to `fallback` (the stock kernel)
 * for unequal strides, which the depth-to-space shuffle cannot interleave.
 */
export function conv2DBackpropInput(
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
  backend: KernelBackend,
  backendName = 'wasm',
): TensorInfo {
  const g = convGeometry(
    Conv2DBackpropInput,
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs,
    false,
  );
  if (g.sh !== g.sw) {
    throw new Error(
      `${Conv2DBackpropInput} (polarcad wasm kernel): unequal strides [${g.sh}, ${g.sw}] are not supported`,
    );
  }
  const stride = g.sh;
  return withScope(backend, backendName, (s) => {
    const ph = axisPlan(g.top, g.inH, g.outH, g.kh, stride);
    const pw = axisPlan(g.left, g.inW, g.outW, g.kw, stride);
    const d = cropToPlan(s, dy, ph, pw, g, g.outC);
    const gFilter = subPixelFilter(s, filter, g);
    const phases = s.conv2d(d, gFilter, [1, 1], planPads(ph, pw));
    s.free(gFilter);
    const offH = g.top - ph.m0 * stride;
    const offW = g.left - pw.m0 * stride;
    if (stride > 1) {
      // Depth-to-space and crop in one JS copy of channel runs (wasm DepthToSpace is per element).
      const shape = phases.shape as [number, number, number, number];
      const out = interleavePhases(s.values(phases), shape, stride, g.inC, offH, offW, g.inH, g.inW);
      return s.fromValues(out, [g.batch, g.inH, g.inW, g.inC]);
    }
    return s.cropHW(phases, offH, offW, g.inH, g.inW);
  });
}

/** Kernel registration for the wasm backend (replaces the stock Conv2DBackpropInput). */
export const conv2DBackpropInputConfig: KernelConfig = wasmKernelConfig<Conv2DBackpropInputAttrs>(
  Conv2DBackpropInput,
  ['dy', 'filter'],
  (a, b, attrs, backend) => conv2DBackpropInput(a, b, attrs, backend),
);
