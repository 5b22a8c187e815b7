/**
 * Convolution geometry shared by the gradient kernels: output sizes and the effective top/left
 * padding, from tfjs' own `computeConv2DInfo` so that every padding mode ('same', 'valid',
 * explicit, numeric with a rounding mode) means exactly what the forward kernel meant.
 */
import { backend_util } from '@tensorflow/tfjs';

/** The attributes a 2-D convolution gradient kernel receives. */
export interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: [number, number] | number;
  dataFormat?: 'NHWC' | 'NCHW';
}

/** Geometry of one NHWC convolution. */
export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** padding actually applied above/left of the input */
  top: number;
  left: number;
}

/**
 * Geometry of a convolution of input `xShape` with a filter `filterShape` ([kh,kw,Cin,Cout],
 * or [kh,kw,C,multiplier] when `depthwise`). Throws for dilation > 1 and for NCHW, which these
 * kernels do not implement.
 */
export function convGeometry(
  kernelName: string,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvAttrs,
  depthwise: boolean,
): ConvGeometry {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(
      `${kernelName} (polarcad wasm kernel): only dataFormat 'NHWC' is supported, got '${attrs.dataFormat}'`,
    );
  }
  const d = attrs.dilations ?? 1;
  const [dh, dw] = typeof d === 'number' ? [d, d] : d;
  if (dh !== 1 || dw !== 1) {
    throw new Error(
      `${kernelName} (polarcad wasm kernel): dilations other than 1 are not supported, got [${dh}, ${dw}]`,
    );
  }
  const info = backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}
