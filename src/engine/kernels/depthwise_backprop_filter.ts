/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend, which has none.
 *
 * For a depthwise convolution, dW[a,b,c,q] = sum over n,i,j of X_ab[n,i,j,c] * dY[n,i,j,c*m+q]
 * (m = channel multiplier): for each of the kh*kw taps one elementwise product of two
 * [N,outH,outW,C] tensors and a reduction over the positions — kh*kw streaming passes that
 * run on the SIMD wasm kernels instead of a scalar six-deep loop.
 */
import {
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { convGeometry } from './conv_geometry.js';
import { input, withScope } from './kernel_scope.js';
import { paddedInput, tapSlice } from './shifted_input.js';

/** Compute the filter gradient of an NHWC depthwise convolution. */
export function depthwiseConv2dBackpropFilter(
  x: TensorInfo,
  dy: TensorInfo,
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs,
  backend: KernelBackend,
  backendName = 'wasm',
): TensorInfo {
  const xShape = x.shape as [number, number, number, number];
  const g = convGeometry(DepthwiseConv2dNativeBackpropFilter, xShape, attrs.filterShape, attrs, true);
  const mult = attrs.filterShape[3];
  const c = g.inC;
  return withScope(backend, backendName, (s) => {
    const m = g.batch * g.outH * g.outW;
    const dy3 = s.reshape(dy, [m, c, mult]);
    const xpad = paddedInput(s, x, g);
    const taps: TensorInfo[] = [];
    for (let a = 0; a < g.kh; a++) {
      for (let b = 0; b < g.kw; b++) {
        const xab = tapSlice(s, xpad, a, b, g);
        const x3 = s.reshape(xab, [m, c, 1]);
        s.free(xab);
        const prod = s.multiply(x3, dy3); // [M, C, mult]
        s.free(x3);
        const prod2 = s.reshape(prod, [m, c * mult]);
        s.free(prod);
        const red = s.sum(prod2, [0], true); // [1, C*mult]
        s.free(prod2);
        taps.push(red);
      }
    }
    const stacked = taps.length === 1 ? taps[0] : s.concat(taps, 0); // [kh*kw, C*mult]
    return s.reshape(stacked, [g.kh, g.kw, c, mult]);
  });
}

const kernelFunc = ({ inputs, attrs, backend }: Parameters<KernelFunc>[0]): TensorInfo =>
  depthwiseConv2dBackpropFilter(
    input(inputs, 'x', DepthwiseConv2dNativeBackpropFilter),
    input(inputs, 'dy', DepthwiseConv2dNativeBackpropFilter),
    attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs,
    backend as KernelBackend,
  );

/** Kernel registration for the wasm backend. */
export const depthwiseConv2dBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: kernelFunc as KernelFunc,
};
