/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend, which has none.
 *
 * Default: a WebAssembly SIMD gather loop (depthwise_simd.ts) for every stride, once
 * `loadDepthwiseSimd()` has resolved (initBackend awaits it); it measured faster than the
 * alternatives below at stride 1 too (docs/engine.md).
 *
 * Without it: at stride 1, a depthwise forward convolution (XNNPACK) of the output gradient with
 * the spatially flipped filter (a channel multiplier m > 1 of the forward convolution is summed out
 * afterwards). For strides s > 1 the sub-pixel identity of conv2d_backprop_input.ts would need a
 * channel transpose and a depth-to-space shuffle, both slow on wasm, so a direct scatter loop with
 * the channels innermost is used instead (loops.ts). The filter builder below is written for any
 * stride but only called with stride 1.
 */
import {
  DepthwiseConv2dNativeBackpropInput,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { axisPlan, cropToPlan, planPads, subPixelTaps } from './conv2d_backprop_input.js';
import { depthwiseSimdFor } from './depthwise_simd.js';
import { depthwiseInputGrad } from './loops.js';
import { convGeometry, type ConvGeometry } from './conv_geometry.js';
import { type KernelScope, wasmKernelConfig, withScope } from './kernel_scope.js';

/**
 * Filter G [T_h, T_w, C*m, sh*sw] with G[u,v,k,r1*sw+r2] = w[(T_h-1-u)*sh + r1, (T_w-1-v)*sw + r2, k]
 * (k = c*m + q indexes the forward output channels; 0 beyond the kernel).
 */
function subPixelDepthwiseFilter(
  s: KernelScope,
  filter: TensorInfo,
  g: ConvGeometry,
  cm: number,
): TensorInfo {
  const th = Math.ceil(g.kh / g.sh);
  const tw = Math.ceil(g.kw / g.sw);
  const ph = g.sh * g.sw;
  const w = s.values(filter);
  const out = new Float32Array(th * tw * cm * ph);
  for (const { u, v, r1, r2, a, b } of subPixelTaps(g)) {
    const src = (a * g.kw + b) * cm;
    const dst = (u * tw + v) * cm * ph + r1 * g.sw + r2;
    for (let k = 0; k < cm; k++) out[dst + k * ph] = w[src + k];
  }
  return s.fromValues(out, [th, tw, cm, ph]);
}

/**
 * How the depthwise input gradient is computed: 'simd' (WebAssembly SIMD gather, any stride;
 * requires `loadDepthwiseSimd()` to have resolved), 'forward' (stride 1 only: a forward depthwise
 * convolution with the flipped filter), 'js' (scalar JS scatter loop, any stride), or 'auto': SIMD
 * when loaded, else 'forward' at stride 1 and 'js' otherwise.
 */
export type DepthwiseInputImpl = 'auto' | 'simd' | 'forward' | 'js';

/** Compute the input gradient of an NHWC depthwise convolution. */
export function depthwiseConv2dBackpropInput(
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: DepthwiseConv2dNativeBackpropInputAttrs,
  backend: KernelBackend,
  backendName = 'wasm',
  impl: DepthwiseInputImpl = 'auto',
): TensorInfo {
  const fShape = filter.shape as [number, number, number, number];
  const g = convGeometry(DepthwiseConv2dNativeBackpropInput, attrs.inputShape, fShape, attrs, true);
  const stride = 1;
  const c = g.inC;
  const mult = fShape[3];
  const cm = c * mult;
  const strided = g.sh > 1 || g.sw > 1;
  const simd = depthwiseSimdFor(DepthwiseConv2dNativeBackpropInput, impl);
  if (impl === 'forward' && strided) {
    throw new Error(
      `${DepthwiseConv2dNativeBackpropInput} (polarcad wasm kernel): the 'forward' method needs stride 1, got [${g.sh}, ${g.sw}]`,
    );
  }
  if (simd !== null || impl === 'js' || (impl === 'auto' && strided)) {
    // For strides > 1 the s*s-phase formulation below would need a channel transpose and a
    // depth-to-space shuffle, both slow on wasm; the direct loops are faster.
    return withScope(backend, backendName, (s) => {
      const dyv = s.view(dy);
      const wv = s.view(filter);
      const dx = simd !== null ? simd.inputGrad(dyv, wv, g, mult) : depthwiseInputGrad(dyv, wv, g, mult);
      // The SIMD result may be a view of the module's memory: the wasm backend copies it into its
      // heap on write; other backends may keep the array, so they get a copy.
      return s.fromValues(simd !== null && backendName !== 'wasm' ? dx.slice() : dx, [
        g.batch,
        g.inH,
        g.inW,
        c,
      ]);
    });
  }
  return withScope(backend, backendName, (s) => {
    const ph = axisPlan(g.top, g.inH, g.outH, g.kh, stride);
    const pw = axisPlan(g.left, g.inW, g.outW, g.kw, stride);
    const d = cropToPlan(s, dy, ph, pw, g, cm);
    const gFilter = subPixelDepthwiseFilter(s, filter, g, cm);
    let t = s.depthwise(d, gFilter, [1, 1], planPads(ph, pw)); // [N, h, w, C*m*s*s], channel ((c*m + q)*s*s + r)
    s.free(gFilter);
    const [n, h, w] = t.shape;
    if (mult > 1) {
      // Sum out the multiplier: channel c*m + q -> c.
      const t3 = s.reshape(t, [n * h * w, c, mult]);
      const summed = s.sum(t3, [2]);
      t = s.reshape(summed, [n, h, w, c]);
    }
    const offH = g.top - ph.m0 * stride;
    const offW = g.left - pw.m0 * stride;
    return s.cropHW(t, offH, offW, g.inH, g.inW);
  });
}

/** Kernel registration for the wasm backend. */
export const depthwiseConv2dBackpropInputConfig: KernelConfig =
  wasmKernelConfig<DepthwiseConv2dNativeBackpropInputAttrs>(
    DepthwiseConv2dNativeBackpropInput,
    ['dy', 'filter'],
    (a, b, attrs, backend) => depthwiseConv2dBackpropInput(a, b, attrs, backend),
  );
