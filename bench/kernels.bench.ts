/**
 * GMAC/s of the convolution kernels on the wasm backend (single-threaded SIMD, Node): forward
 * conv2d, the stock and the polarcad Conv2DBackpropInput, the polarcad Conv2DBackpropFilter, and
 * depthwise forward / filter / input gradients (default WebAssembly SIMD kernels, plus the JS-loop
 * and forward-convolution alternatives as `...Js` / `...Forward`), on representative fine-tuning
 * shapes at batch 16. The load average is recorded: the figures depend on what else runs.
 * One multiply-add = one MAC; every gradient of a layer has the MAC count of its forward pass.
 */
import { loadavg } from 'node:os';
import { initBackend, tf } from '../src/engine/backend.js';
import {
  depthwiseConv2dBackpropFilter,
  depthwiseConv2dBackpropInput,
  registerWasmGradientKernels,
  stockConv2DBackpropInputKernel,
} from '../src/engine/kernels/index.js';

interface Shape {
  name: string;
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number;
  depthwise: boolean;
}

const BATCH = 16;
const SHAPES: Shape[] = [
  {
    name: 'resnet50v2_conv5_3x3x512',
    x: [BATCH, 7, 7, 512],
    f: [3, 3, 512, 512],
    stride: 1,
    depthwise: false,
  },
  {
    name: 'resnet50v2_conv4_3x3x256_s2',
    x: [BATCH, 14, 14, 256],
    f: [3, 3, 256, 256],
    stride: 2,
    depthwise: false,
  },
  { name: 'conv_1x1_2048to512', x: [BATCH, 7, 7, 2048], f: [1, 1, 2048, 512], stride: 1, depthwise: false },
  {
    name: 'mobilenetv2_block16_dw_3x3x960',
    x: [BATCH, 7, 7, 960],
    f: [3, 3, 960, 1],
    stride: 1,
    depthwise: true,
  },
  {
    name: 'mobilenetv2_block1_dw_3x3x96_s2',
    x: [BATCH, 112, 112, 96],
    f: [3, 3, 96, 1],
    stride: 2,
    depthwise: true,
  },
  {
    name: 'efficientnet_top_dw_5x5x1152',
    x: [BATCH, 7, 7, 1152],
    f: [5, 5, 1152, 1],
    stride: 1,
    depthwise: true,
  },
];

/** Median seconds of `fn` over repetitions (at least 3, until ~1.5 s spent), after one warm-up. */
function time(fn: () => tf.Tensor | tf.TensorInfo, dispose: (t: tf.Tensor | tf.TensorInfo) => void): number {
  dispose(fn());
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < 1500 && times.length < 20)) {
    const t0 = performance.now();
    const out = fn();
    times.push((performance.now() - t0) / 1000);
    dispose(out);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function macs(s: Shape, outH: number, outW: number): number {
  const [n, , , c] = s.x;
  const [kh, kw, , co] = s.f;
  return s.depthwise ? n * outH * outW * kh * kw * c * co : n * outH * outW * kh * kw * c * co;
}

/** Run the benchmark; figures are GMAC/s (and milliseconds) per kernel and shape. */
export async function run(): Promise<Record<string, unknown>> {
  await initBackend('wasm');
  registerWasmGradientKernels();
  const backend = tf.backend();
  const engine = tf.engine();
  const stock = stockConv2DBackpropInputKernel();
  const disposeAny = (t: tf.Tensor | tf.TensorInfo): void => {
    if (t instanceof tf.Tensor) t.dispose();
    else backend.disposeData(t.dataId);
  };
  const results: Record<string, unknown> = { loadAverageBefore: loadavg().map((v) => +v.toFixed(2)) };
  for (const s of SHAPES) {
    const x = tf.randomNormal(s.x) as tf.Tensor4D;
    const f = tf.randomNormal(s.f) as tf.Tensor4D;
    const y = s.depthwise ? tf.depthwiseConv2d(x, f, s.stride, 'same') : tf.conv2d(x, f, s.stride, 'same');
    const dy = tf.randomNormal(y.shape);
    const mac = macs(s, y.shape[1], y.shape[2]);
    const row: Record<string, { ms: number; gmacPerS: number }> = {};
    const record = (label: string, seconds: number): void => {
      row[label] = { ms: +(seconds * 1000).toFixed(2), gmacPerS: +(mac / seconds / 1e9).toFixed(2) };
    };
    const attrs = { strides: s.stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
    if (s.depthwise) {
      record(
        'forward',
        time(() => tf.depthwiseConv2d(x, f, s.stride, 'same'), disposeAny),
      );
      record(
        'backpropFilter',
        time(
          () =>
            engine.runKernel(
              'DepthwiseConv2dNativeBackpropFilter',
              { x, dy },
              { ...attrs, filterShape: s.f },
            ) as tf.Tensor,
          disposeAny,
        ),
      );
      record(
        'backpropInput',
        time(
          () =>
            engine.runKernel(
              'DepthwiseConv2dNativeBackpropInput',
              { dy, filter: f },
              { ...attrs, inputShape: s.x },
            ) as tf.Tensor,
          disposeAny,
        ),
      );
      // The alternatives the default (WebAssembly SIMD) replaced, for comparison.
      const dwAttrs = {
        strides: [s.stride, s.stride] as [number, number],
        pad: 'same' as const,
        dilations: [1, 1] as [number, number],
        dimRoundingMode: undefined,
      };
      const fAttrs = { ...dwAttrs, filterShape: s.f };
      const iAttrs = { ...dwAttrs, inputShape: s.x };
      record(
        'backpropFilterJs',
        time(() => depthwiseConv2dBackpropFilter(x, dy, fAttrs, backend, 'wasm', 'js'), disposeAny),
      );
      if (s.stride === 1) {
        record(
          'backpropInputForward',
          time(() => depthwiseConv2dBackpropInput(dy, f, iAttrs, backend, 'wasm', 'forward'), disposeAny),
        );
      }
      record(
        'backpropInputJs',
        time(() => depthwiseConv2dBackpropInput(dy, f, iAttrs, backend, 'wasm', 'js'), disposeAny),
      );
    } else {
      record(
        'forward',
        time(() => tf.conv2d(x, f, s.stride, 'same'), disposeAny),
      );
      record(
        'backpropFilter',
        time(
          () =>
            engine.runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: s.f }) as tf.Tensor,
          disposeAny,
        ),
      );
      record(
        'backpropInput',
        time(
          () =>
            engine.runKernel(
              'Conv2DBackpropInput',
              { dy, filter: f },
              { ...attrs, inputShape: s.x },
            ) as tf.Tensor,
          disposeAny,
        ),
      );
      if (stock !== undefined) {
        record(
          'backpropInputStock',
          time(
            () =>
              stock.kernelFunc({
                inputs: { dy, filter: f },
                attrs: { ...attrs, inputShape: s.x },
                backend,
              }) as tf.TensorInfo,
            disposeAny,
          ),
        );
      }
    }
    results[s.name] = { x: s.x, filter: s.f, stride: s.stride, padding: 'same', mac, ...row };
    tf.dispose([x, f, y, dy]);
    process.stderr.write(`  ${s.name}: ${JSON.stringify(row)}\n`);
  }
  results.numTensorsAfter = tf.memory().numTensors;
  results.loadAverageAfter = loadavg().map((v) => +v.toFixed(2));
  return results;
}
