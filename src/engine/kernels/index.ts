/**
 * Fast convolution gradient kernels for the tfjs wasm backend.
 *
 * `registerWasmGradientKernels()` registers Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter
 * and DepthwiseConv2dNativeBackpropInput (which tfjs-backend-wasm 4.22 lacks) and replaces its slow
 * Conv2DBackpropInput; `fused.ts` adds Identity, FusedBatchNorm and fused Relu / ClipByValue /
 * FusedBatchNorm gradients. Call it once after `initBackend('wasm')` (it is idempotent and may also be
 * called before: kernels are looked up by name at run time).
 */
import {
  getKernel,
  registerKernel,
  unregisterKernel,
  type KernelConfig,
  type KernelFunc,
} from '@tensorflow/tfjs';
import { conv2DBackpropFilterConfig } from './conv2d_backprop_filter.js';
import { conv2DBackpropInputConfig } from './conv2d_backprop_input.js';
import { depthwiseConv2dBackpropFilterConfig } from './depthwise_backprop_filter.js';
import { depthwiseConv2dBackpropInputConfig } from './depthwise_backprop_input.js';
import { batchMatMulConfig, setStockBatchMatMul } from './matmul.js';
import { tileConfig } from './tile.js';
import { registerFusedKernels } from './fused.js';
import { setStockTranspose, transposeConfig } from './transpose.js';

export { conv2DBackpropFilter } from './conv2d_backprop_filter.js';
export { conv2DBackpropInput } from './conv2d_backprop_input.js';
export { depthwiseConv2dBackpropFilter } from './depthwise_backprop_filter.js';
export { depthwiseConv2dBackpropInput } from './depthwise_backprop_input.js';
export { depthwiseSimd, loadDepthwiseSimd } from './depthwise_simd.js';
export { loadFusedSimd } from './fused_simd.js';
export { stockFusedBatchNormKernel } from './fused.js';
export { stockTransposeKernel } from './transpose.js';

const BACKEND = 'wasm';
let stockBackpropInput: KernelConfig | undefined;

/** The tfjs-backend-wasm Conv2DBackpropInput this module replaced (for benchmarks), if any. */
export function stockConv2DBackpropInputKernel(): KernelConfig | undefined {
  return stockBackpropInput;
}

/** Conv2DBackpropInput: the sub-pixel kernel, or the stock one for unequal strides. */
const backpropInputWithFallback: KernelConfig = {
  ...conv2DBackpropInputConfig,
  kernelFunc: ((args) => {
    const strides = (args.attrs as { strides?: number | [number, number] } | undefined)?.strides ?? 1;
    const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
    if (sh !== sw && stockBackpropInput !== undefined) return stockBackpropInput.kernelFunc(args);
    return conv2DBackpropInputConfig.kernelFunc(args);
  }) as KernelFunc,
};

const OURS: KernelConfig[] = [
  conv2DBackpropFilterConfig,
  backpropInputWithFallback,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  batchMatMulConfig, // transposeA products (Dense kernel gradients) as (A^T) B; see matmul.ts
  tileConfig, // the stock wasm Tile is ~50x slower than a copy (see tile.ts); BatchNorm gradients use it
  transposeConfig, // 2-D / batched 2-D transposes by cache tiles (see transpose.ts); the filter gradient uses it
];

/**
 * Register the gradient kernels for the 'wasm' backend. Idempotent.
 * @returns the names of the kernels now served by polarcad.
 */
export function registerWasmGradientKernels(): string[] {
  for (const config of OURS) {
    const current = getKernel(config.kernelName, BACKEND);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current !== undefined) {
      if (config.kernelName === conv2DBackpropInputConfig.kernelName && stockBackpropInput === undefined) {
        stockBackpropInput = current;
      }
      if (config.kernelName === batchMatMulConfig.kernelName) setStockBatchMatMul(current);
      if (config.kernelName === transposeConfig.kernelName) setStockTranspose(current);
      unregisterKernel(config.kernelName, BACKEND);
    }
    registerKernel(config);
  }
  // Identity, FusedBatchNorm and the fused Relu / ClipByValue / FusedBatchNorm gradients (fused.ts)
  return [...OURS.map((c) => c.kernelName), ...registerFusedKernels()];
}
