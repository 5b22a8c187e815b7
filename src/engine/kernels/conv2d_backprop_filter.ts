/**
 * Conv2DBackpropFilter for the wasm backend, which has none.
 *
 * dW[a,b,:,:] = X_ab^T · dY, with X_ab the input shifted by tap (a,b) reshaped to [M, Cin] and dY
 * the output gradient as [M, Cout] (M = N*outH*outW): a 1x1 convolution is one matrix product, a
 * kxk one kh*kw products. On wasm a product with transposeA is ~10x slower than transposing first,
 * so dY is transposed once to [Cout, M] and the kernel computes dW^T[a,b] = dY^T · X_ab, transposing
 * the small [kh*kw, Cout, Cin] result once at the end.
 */
import {
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { convGeometry } from './conv_geometry.js';
import { wasmKernelConfig, withScope } from './kernel_scope.js';
import { gatherTap } from './loops.js';

/** Compute the filter gradient of an NHWC convolution. */
export function conv2DBackpropFilter(
  x: TensorInfo,
  dy: TensorInfo,
  attrs: Conv2DBackpropFilterAttrs,
  backend: KernelBackend,
  backendName = 'wasm',
): TensorInfo {
  const xShape = x.shape as [number, number, number, number];
  const g = convGeometry(Conv2DBackpropFilter, xShape, attrs.filterShape, attrs, false);
  return withScope(backend, backendName, (s) => {
    const m = g.batch * g.outH * g.outW;
    const dy2 = s.reshape(dy, [m, g.outC]);
    const dyT = s.transpose(dy2, [1, 0]); // [Cout, M]
    s.free(dy2);
    const identityTap = g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.top === 0 && g.left === 0;
    const taps: TensorInfo[] = [];
    for (let a = 0; a < g.kh; a++) {
      for (let b = 0; b < g.kw; b++) {
        // X_ab gathered in JS (no padded copy, no per-element StridedSlice); the heap view of x is
        // re-read for every tap because allocations may grow (and detach) the wasm memory.
        const x2 = identityTap
          ? s.reshape(x, [m, g.inC])
          : s.fromValues(gatherTap(s.values(x), g, a, b), [m, g.inC]);
        const prod = s.matMul(dyT, x2); // [Cout, Cin]
        s.free(x2);
        taps.push(s.reshape(prod, [1, g.outC, g.inC]));
        s.free(prod);
      }
    }
    const stacked = taps.length === 1 ? taps[0] : s.concat(taps, 0); // [kh*kw, Cout, Cin]
    const dw = s.transpose(stacked, [0, 2, 1]);
    return s.reshape(dw, [g.kh, g.kw, g.inC, g.outC]);
  });
}

/** Kernel registration for the wasm backend. */
export const conv2DBackpropFilterConfig: KernelConfig = wasmKernelConfig<Conv2DBackpropFilterAttrs>(
  Conv2DBackpropFilter,
  ['x', 'dy'],
  (a, b, attrs, backend) => conv2DBackpropFilter(a, b, attrs, backend),
);
