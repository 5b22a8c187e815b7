/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend, which has none.
 *
 * For a depthwise convolution, dW[a,b,c,q] = sum over n,i,j of X_ab[n,i,j,c] * dY[n,i,j,c*m+q]
 * (m = channel multiplier). Composing wasm kernels (a slice, a multiply and a reduction per tap)
 * costs ~6 passes over the activations per tap and measured 0.05 GMAC/s, a scalar JS loop ~0.1; the
 * sum is computed by a WebAssembly SIMD loop (depthwise_simd.ts: f32x4 over 16 contiguous channels,
 * summed along the output row in registers) once `loadDepthwiseSimd()` has resolved (initBackend
 * awaits it), else by the JS loop of loops.ts. See docs/engine.md for measured speeds.
 */
import {
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { convGeometry } from './conv_geometry.js';
import { wasmKernelConfig, withScope } from './kernel_scope.js';
import { depthwiseSimdFor } from './depthwise_simd.js';
import { depthwiseFilterGrad } from './loops.js';

/**
 * How the depthwise filter gradient is computed: 'simd' (WebAssembly SIMD; requires
 * `loadDepthwiseSimd()` to have resolved), 'js' (scalar JS loop), or 'auto' (SIMD when loaded).
 */
export type DepthwiseFilterImpl = 'auto' | 'simd' | 'js';

/** Compute the filter gradient of an NHWC depthwise convolution. */
export function depthwiseConv2dBackpropFilter(
  x: TensorInfo,
  dy: TensorInfo,
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs,
  backend: KernelBackend,
  backendName = 'wasm',
  impl: DepthwiseFilterImpl = 'auto',
): TensorInfo {
  const xShape = x.shape as [number, number, number, number];
  const g = convGeometry(DepthwiseConv2dNativeBackpropFilter, xShape, attrs.filterShape, attrs, true);
  const mult = attrs.filterShape[3];
  const c = g.inC;
  const simd = depthwiseSimdFor(DepthwiseConv2dNativeBackpropFilter, impl);
  return withScope(backend, backendName, (s) => {
    const xv = s.view(x);
    const dyv = s.view(dy);
    const dw = simd !== null ? simd.filterGrad(xv, dyv, g, mult) : depthwiseFilterGrad(xv, dyv, g, mult);
    return s.fromValues(dw, [g.kh, g.kw, c, mult]);
  });
}

/** Kernel registration for the wasm backend. */
export const depthwiseConv2dBackpropFilterConfig: KernelConfig =
  wasmKernelConfig<DepthwiseConv2dNativeBackpropFilterAttrs>(
    DepthwiseConv2dNativeBackpropFilter,
    ['x', 'dy'],
    (a, b, attrs, backend) => depthwiseConv2dBackpropFilter(a, b, attrs, backend),
  );
