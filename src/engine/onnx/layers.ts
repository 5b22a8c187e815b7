/**
 * Per-layer converters from TensorFlow.js layers (keyed by `getClassName()`) to ONNX nodes.
 *
 * Layout: 4-D tensors flow through the graph as NCHW (ONNX Conv / pooling layout); operations
 * whose meaning depends on memory order (Reshape, Flatten, Dense on 4-D, graph outputs) first
 * bring their input back to the Keras channels-last layout. Padding follows TensorFlow's 'same'
 * rule (out = ceil(in / stride); the odd pixel of padding goes after), and average pooling
 * excludes padding from its count, as TensorFlow does.
 */
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../util/errors.js';
import { GraphBuilder, type AttrValue, type Value } from './graph.js';

/** Weights of one layer by short name (`kernel`, `bias`, `gamma`, `moving_mean`...). */
export type LayerWeights = ReadonlyMap<string, { shape: number[]; data: Float32Array }>;

/** What a converter gets: the layer, its config, its converted inputs and output shapes. */
export interface ConvertContext {
  readonly g: GraphBuilder;
  readonly layer: tf.layers.Layer;
  readonly className: string;
  readonly config: Record<string, unknown>;
  readonly inputs: readonly Value[];
  /** Keras output shapes (channels-last, batch null), one per output tensor. */
  readonly outputShapes: readonly (number | null)[][];
  readonly weights: LayerWeights;
  /** Prefix for the names of this layer's nodes. */
  readonly hint: string;
}

/** Converts one layer call; returns one Value per output tensor. */
export type LayerConverter = (ctx: ConvertContext) => Value[];

function fail(ctx: ConvertContext, why: string): never {
  throw new InputError(`ONNX export: layer "${ctx.layer.name}" (class ${ctx.className}): ${why}`);
}

function weight(ctx: ConvertContext, name: string): { shape: number[]; data: Float32Array } {
  const w = ctx.weights.get(name);
  if (w === undefined)
    fail(ctx, `missing weight "${name}" (has: ${[...ctx.weights.keys()].join(', ') || 'none'})`);
  return w;
}

function num(ctx: ConvertContext, key: string, dflt?: number): number {
  const v = ctx.config[key];
  if (typeof v === 'number') return v;
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  return fail(ctx, `config "${key}" should be a number, got ${JSON.stringify(v)}`);
}

function pair(ctx: ConvertContext, key: string, dflt?: [number, number]): [number, number] {
  const v = ctx.config[key];
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number'))
    return [v[0] as number, v[1] as number];
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  return fail(ctx, `config "${key}" should be a number or a pair, got ${JSON.stringify(v)}`);
}

function str(ctx: ConvertContext, key: string, dflt?: string): string {
  const v = ctx.config[key];
  if (typeof v === 'string') return v;
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  return fail(ctx, `config "${key}" should be a string, got ${JSON.stringify(v)}`);
}

function requireChannelsLast(ctx: ConvertContext): void {
  const df = ctx.config.dataFormat;
  if (df !== undefined && df !== null && df !== 'channelsLast')
    fail(ctx, `dataFormat "${String(df)}" is not supported (channelsLast only)`);
}

function single(ctx: ConvertContext): Value {
  if (ctx.inputs.length !== 1) fail(ctx, `expected one input, got ${ctx.inputs.length}`);
  return ctx.inputs[0];
}

function outShape(ctx: ConvertContext, i = 0): (number | null)[] {
  return ctx.outputShapes[i];
}

/**
 * TensorFlow padding for one spatial axis: [before, after]. 'valid' -> [0,0]; 'same' -> total =
 * max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0), before = floor(total/2) (TF `get_pad_shape`).
 * Returns null when the input size is unknown (the caller then uses auto_pad SAME_UPPER).
 */
export function tfPadding(
  padding: string,
  inSize: number | null,
  k: number,
  s: number,
  d = 1,
): [number, number] | null {
  if (padding === 'valid') return [0, 0];
  if (inSize === null) return null;
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + (k - 1) * d + 1 - inSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** Conv / pool padding attributes for NCHW 2-D windows. */
function windowPads(
  ctx: ConvertContext,
  x: Value,
  k: [number, number],
  s: [number, number],
  d: [number, number],
): Record<string, AttrValue> {
  const padding = str(ctx, 'padding', 'valid');
  if (padding !== 'valid' && padding !== 'same') fail(ctx, `padding "${padding}" is not supported`);
  const ph = tfPadding(padding, x.shape[1], k[0], s[0], d[0]);
  const pw = tfPadding(padding, x.shape[2], k[1], s[1], d[1]);
  if (ph === null || pw === null) return { auto_pad: 'SAME_UPPER' };
  return { pads: [ph[0], pw[0], ph[1], pw[1]] };
}

/** Apply a Keras activation (by tfjs identifier) elementwise; softmax over the logical last axis. */
export function applyActivation(
  g: GraphBuilder,
  v: Value,
  activation: string,
  hint: string,
  where: () => string,
): Value {
  const same = (op: string, attrs: Record<string, AttrValue> = {}): Value =>
    g.op(op, [v.name], attrs, hint, v.shape, v.nchw);
  switch (activation) {
    case 'linear':
      return v;
    case 'relu':
      return same('Relu');
    case 'relu6':
      return g.op('Clip', [v.name, scalarF32(g, 0), scalarF32(g, 6)], {}, hint, v.shape, v.nchw);
    case 'sigmoid':
      return same('Sigmoid');
    case 'tanh':
      return same('Tanh');
    case 'elu':
      return same('Elu', { alpha: { f: 1 } });
    case 'selu':
      return same('Selu', { alpha: { f: 1.6732632423543772 }, gamma: { f: 1.0507009873554805 } });
    case 'softplus':
      return same('Softplus');
    case 'softsign':
      return same('Softsign');
    case 'hardSigmoid':
    case 'hard_sigmoid':
      // tfjs-layers HardSigmoid: clip(0.2 x + 0.5, 0, 1).
      return same('HardSigmoid', { alpha: { f: 0.2 }, beta: { f: 0.5 } });
    case 'swish':
    case 'silu': {
      const s = same('Sigmoid');
      return g.op('Mul', [v.name, s.name], {}, hint, v.shape, v.nchw);
    }
    case 'softmax':
      return same('Softmax', { axis: GraphBuilder.physicalAxis(v, -1) });
    default:
      throw new InputError(`ONNX export: ${where()}: activation "${activation}" is not supported`);
  }
}

const scalarCache = new WeakMap<GraphBuilder, Map<number, string>>();

/** A float32 scalar initialiser (shared). */
export function scalarF32(g: GraphBuilder, x: number): string {
  let m = scalarCache.get(g);
  if (m === undefined) {
    m = new Map();
    scalarCache.set(g, m);
  }
  let name = m.get(x);
  if (name === undefined) {
    name = g.constF32(`const_${x}`, [], new Float32Array([x]));
    m.set(x, name);
  }
  return name;
}

function activationOf(ctx: ConvertContext, v: Value): Value {
  const a = ctx.config.activation;
  if (a === undefined || a === null) return v;
  if (typeof a !== 'string') fail(ctx, `activation ${JSON.stringify(a)} is not supported`);
  return applyActivation(
    ctx.g,
    v,
    a,
    `${ctx.hint}/act`,
    () => `layer "${ctx.layer.name}" (class ${ctx.className})`,
  );
}

/** HWIO kernel -> OIHW. */
function hwioToOihw(w: { shape: number[]; data: Float32Array }): { dims: number[]; data: Float32Array } {
  const [kh, kw, ci, co] = w.shape;
  const out = new Float32Array(w.data.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++)
        for (let o = 0; o < co; o++)
          out[((o * ci + c) * kh + i) * kw + j] = w.data[((i * kw + j) * ci + c) * co + o];
  return { dims: [co, ci, kh, kw], data: out };
}

/** Depthwise kernel [kh,kw,C,M] -> grouped Conv weight [C*M, 1, kh, kw] (output channel c*M+m, as TF). */
function depthwiseToOihw(w: { shape: number[]; data: Float32Array }): { dims: number[]; data: Float32Array } {
  const [kh, kw, c, m] = w.shape;
  const out = new Float32Array(w.data.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let ch = 0; ch < c; ch++)
        for (let k = 0; k < m; k++)
          out[((ch * m + k) * kh + i) * kw + j] = w.data[((i * kw + j) * c + ch) * m + k];
  return { dims: [c * m, 1, kh, kw], data: out };
}

function conv(
  ctx: ConvertContext,
  x: Value,
  w: { dims: number[]; data: Float32Array },
  bias: Float32Array | null,
  opts: {
    k: [number, number];
    s: [number, number];
    d: [number, number];
    group: number;
    pads: Record<string, AttrValue>;
  },
  shape: (number | null)[],
  hint: string,
): Value {
  const xin = ctx.g.toNCHW(x);
  const inputs = [xin.name, ctx.g.constF32(`${hint}/W`, w.dims, w.data)];
  if (bias !== null) inputs.push(ctx.g.constF32(`${hint}/B`, [bias.length], bias));
  return ctx.g.op(
    'Conv',
    inputs,
    { kernel_shape: opts.k, strides: opts.s, dilations: opts.d, group: opts.group, ...opts.pads },
    hint,
    shape,
    true,
  );
}

function rank4(ctx: ConvertContext, x: Value): void {
  if (x.shape.length !== 4) fail(ctx, `expected a 4-D input, got shape [${x.shape.join(',')}]`);
}

/** The input and window of a Conv2D-like layer (channels-last, 4-D): kernel, strides, dilation, pads. */
function convWindow(ctx: ConvertContext): {
  x: Value;
  k: [number, number];
  s: [number, number];
  d: [number, number];
  pads: ReturnType<typeof windowPads>;
} {
  requireChannelsLast(ctx);
  const x = single(ctx);
  rank4(ctx, x);
  const k = pair(ctx, 'kernelSize');
  const s = pair(ctx, 'strides', [1, 1]);
  const d = pair(ctx, 'dilationRate', [1, 1]);
  return { x, k, s, d, pads: windowPads(ctx, x, k, s, d) };
}

/** The layer's bias, or null with `useBias: false`. */
function biasOf(ctx: ConvertContext): Float32Array | null {
  return ctx.config.useBias !== false ? weight(ctx, 'bias').data : null;
}

const convert2d: LayerConverter = (ctx) => {
  const { x, k, s, d, pads } = convWindow(ctx);
  const y = conv(
    ctx,
    x,
    hwioToOihw(weight(ctx, 'kernel')),
    biasOf(ctx),
    { k, s, d, group: 1, pads },
    outShape(ctx),
    ctx.hint,
  );
  return [activationOf(ctx, y)];
};

const convertDepthwise: LayerConverter = (ctx) => {
  const { x, k, s, d, pads } = convWindow(ctx);
  const dk = weight(ctx, 'depthwise_kernel');
  const y = conv(
    ctx,
    x,
    depthwiseToOihw(dk),
    biasOf(ctx),
    { k, s, d, group: dk.shape[2], pads },
    outShape(ctx),
    ctx.hint,
  );
  return [activationOf(ctx, y)];
};

const convertSeparable: LayerConverter = (ctx) => {
  const { x, k, s, d, pads } = convWindow(ctx);
  const dk = weight(ctx, 'depthwise_kernel');
  const out = outShape(ctx);
  const mid: (number | null)[] = [out[0], out[1], out[2], dk.shape[2] * dk.shape[3]];
  const dw = conv(
    ctx,
    x,
    depthwiseToOihw(dk),
    null,
    { k, s, d, group: dk.shape[2], pads },
    mid,
    `${ctx.hint}/depthwise`,
  );
  const y = conv(
    ctx,
    dw,
    hwioToOihw(weight(ctx, 'pointwise_kernel')),
    biasOf(ctx),
    { k: [1, 1], s: [1, 1], d: [1, 1], group: 1, pads: { pads: [0, 0, 0, 0] } },
    out,
    ctx.hint,
  );
  return [activationOf(ctx, y)];
};

const convertBatchNorm: LayerConverter = (ctx) => {
  const x = single(ctx);
  const rank = x.shape.length;
  const axis = num(ctx, 'axis', -1);
  const a = axis < 0 ? axis + rank : axis;
  if (a !== rank - 1) fail(ctx, `axis ${axis} is not supported (channels-last axis only)`);
  const mean = weight(ctx, 'moving_mean').data;
  const variance = weight(ctx, 'moving_variance').data;
  const c = mean.length;
  const gamma = ctx.config.scale === false ? new Float32Array(c).fill(1) : weight(ctx, 'gamma').data;
  const beta = ctx.config.center === false ? new Float32Array(c) : weight(ctx, 'beta').data;
  const eps = num(ctx, 'epsilon', 1e-3);
  const { g } = ctx;
  if (rank === 2 || rank === 4) {
    // ONNX BatchNormalization normalises axis 1: NCHW for images, [N,C] for vectors.
    const xin = g.toNCHW(x);
    const ins = [
      xin.name,
      g.constF32(`${ctx.hint}/scale`, [c], gamma),
      g.constF32(`${ctx.hint}/bias`, [c], beta),
      g.constF32(`${ctx.hint}/mean`, [c], mean),
      g.constF32(`${ctx.hint}/var`, [c], variance),
    ];
    return [g.op('BatchNormalization', ins, { epsilon: { f: eps } }, ctx.hint, x.shape, xin.nchw)];
  }
  // Other ranks: y = x * k + b on the last (channel) axis, k = gamma / sqrt(var + eps), b = beta - mean * k.
  const k = new Float32Array(c);
  const b = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    k[i] = gamma[i] / Math.sqrt(variance[i] + eps);
    b[i] = beta[i] - mean[i] * k[i];
  }
  const xl = g.toLogical(x);
  const m = g.op('Mul', [xl.name, g.constF32(`${ctx.hint}/k`, [c], k)], {}, ctx.hint, x.shape, false);
  return [g.op('Add', [m.name, g.constF32(`${ctx.hint}/b`, [c], b)], {}, ctx.hint, x.shape, false)];
};

const convertActivation: LayerConverter = (ctx) => [activationOf(ctx, single(ctx))];

const convertReLU: LayerConverter = (ctx) => {
  const x = single(ctx);
  const maxValue = ctx.config.maxValue;
  const slope = ctx.config.negativeSlope;
  const threshold = ctx.config.threshold;
  if ((typeof slope === 'number' && slope !== 0) || (typeof threshold === 'number' && threshold !== 0)) {
    fail(ctx, 'ReLU with negativeSlope or threshold is not supported');
  }
  if (typeof maxValue === 'number') {
    return [
      ctx.g.op(
        'Clip',
        [x.name, scalarF32(ctx.g, 0), scalarF32(ctx.g, maxValue)],
        {},
        ctx.hint,
        x.shape,
        x.nchw,
      ),
    ];
  }
  return [ctx.g.op('Relu', [x.name], {}, ctx.hint, x.shape, x.nchw)];
};

const convertLeakyReLU: LayerConverter = (ctx) => {
  const x = single(ctx);
  return [
    ctx.g.op('LeakyRelu', [x.name], { alpha: { f: num(ctx, 'alpha', 0.3) } }, ctx.hint, x.shape, x.nchw),
  ];
};

const convertSoftmax: LayerConverter = (ctx) => {
  const x = single(ctx);
  const axisCfg = ctx.config.axis;
  const axis = Array.isArray(axisCfg)
    ? axisCfg.length === 1
      ? Number(axisCfg[0])
      : NaN
    : typeof axisCfg === 'number'
      ? axisCfg
      : -1;
  if (!Number.isInteger(axis)) fail(ctx, `softmax over axes ${JSON.stringify(axisCfg)} is not supported`);
  return [
    ctx.g.op('Softmax', [x.name], { axis: GraphBuilder.physicalAxis(x, axis) }, ctx.hint, x.shape, x.nchw),
  ];
};

/** Bring all inputs of a merge layer to one layout (NCHW when every input is 4-D). */
function sameLayout(ctx: ConvertContext): Value[] {
  const allRank4 = ctx.inputs.every((v) => v.shape.length === 4);
  if (!ctx.inputs.every((v) => v.shape.length === ctx.inputs[0].shape.length)) {
    fail(
      ctx,
      `inputs of different ranks (${ctx.inputs.map((v) => v.shape.length).join(', ')}) are not supported`,
    );
  }
  return ctx.inputs.map((v) => (allRank4 ? ctx.g.toNCHW(v) : ctx.g.toLogical(v)));
}

function naryElementwise(op: string, post?: (ctx: ConvertContext, v: Value) => Value): LayerConverter {
  return (ctx) => {
    if (ctx.inputs.length < 2) fail(ctx, 'a merge layer needs at least two inputs');
    const ins = sameLayout(ctx);
    const out = outShape(ctx);
    let acc = ins[0];
    for (let i = 1; i < ins.length; i++)
      acc = ctx.g.op(op, [acc.name, ins[i].name], {}, ctx.hint, out, ins[0].nchw);
    return [post ? post(ctx, acc) : acc];
  };
}

const convertAverage = naryElementwise('Add', (ctx, v) =>
  ctx.g.op('Mul', [v.name, scalarF32(ctx.g, 1 / ctx.inputs.length)], {}, `${ctx.hint}/mean`, v.shape, v.nchw),
);

const convertConcatenate: LayerConverter = (ctx) => {
  const ins = sameLayout(ctx);
  const axis = num(ctx, 'axis', -1);
  return [
    ctx.g.op(
      'Concat',
      ins.map((v) => v.name),
      { axis: GraphBuilder.physicalAxis(ins[0], axis) },
      ctx.hint,
      outShape(ctx),
      ins[0].nchw,
    ),
  ];
};

const convertZeroPadding: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const x = ctx.g.toNCHW(single(ctx));
  rank4(ctx, x);
  const p = ctx.config.padding;
  let top: number, bottom: number, left: number, right: number;
  if (typeof p === 'number') [top, bottom, left, right] = [p, p, p, p];
  else if (Array.isArray(p) && p.length === 2 && p.every((q) => typeof q === 'number')) {
    [top, bottom, left, right] = [p[0] as number, p[0] as number, p[1] as number, p[1] as number];
  } else if (Array.isArray(p) && p.length === 2 && p.every((q) => Array.isArray(q) && q.length === 2)) {
    const [[t, b], [l, r]] = p as [[number, number], [number, number]];
    [top, bottom, left, right] = [t, b, l, r];
  } else return fail(ctx, `padding ${JSON.stringify(p)} is not understood`);
  const pads = ctx.g.constI64('pads', [0, 0, top, left, 0, 0, bottom, right]);
  return [ctx.g.op('Pad', [x.name, pads], { mode: 'constant' }, ctx.hint, outShape(ctx), true)];
};

function pool(op: 'MaxPool' | 'AveragePool'): LayerConverter {
  return (ctx) => {
    requireChannelsLast(ctx);
    const x = single(ctx);
    rank4(ctx, x);
    const k = pair(ctx, 'poolSize', [2, 2]);
    const s = pair(ctx, 'strides', k);
    // Pools always carry auto_pad VALID / SAME_UPPER, never NOTSET with explicit pads: ONNX
    // Runtime's PadFusion (onnxruntime core/optimizer/pad_fusion.cc) folds a preceding zero Pad
    // node into a NOTSET MaxPool / AveragePool, which changes the result (MaxPool ignores its own
    // padding where ZeroPadding2D's zeros take part in the max; AveragePool would stop counting
    // them), e.g. ResNet50V2's pool1_pad -> pool1_pool (relative error 0.13 at that layer).
    // SAME_UPPER is TensorFlow's 'same' rule (the odd pixel of padding goes after).
    const padding = str(ctx, 'padding', 'valid');
    if (padding !== 'valid' && padding !== 'same') fail(ctx, `padding "${padding}" is not supported`);
    const attrs: Record<string, AttrValue> = {
      kernel_shape: k,
      strides: s,
      auto_pad: padding === 'same' ? 'SAME_UPPER' : 'VALID',
    };
    if (op === 'AveragePool') attrs.count_include_pad = 0;
    return [ctx.g.op(op, [ctx.g.toNCHW(x).name], attrs, ctx.hint, outShape(ctx), true)];
  };
}

function globalPool(op: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerConverter {
  return (ctx) => {
    requireChannelsLast(ctx);
    const x = single(ctx);
    rank4(ctx, x);
    const out = outShape(ctx);
    const c = x.shape[3];
    const p = ctx.g.op(op, [ctx.g.toNCHW(x).name], {}, `${ctx.hint}/pool`, [null, 1, 1, c], true);
    if (out.length === 4) return [p]; // keepDims
    return [ctx.g.op('Flatten', [p.name], { axis: 1 }, ctx.hint, out, false)];
  };
}

const convertReshape: LayerConverter = (ctx) => {
  const x = single(ctx);
  const target = ctx.config.targetShape;
  if (!Array.isArray(target) || !target.every((t) => typeof t === 'number'))
    fail(ctx, `targetShape ${JSON.stringify(target)} is not understood`);
  const out = outShape(ctx);
  const t = target as number[];
  // [N, C] -> [N, 1, 1, C] (squeeze-and-excitation): NHWC and NCHW hold the same memory order,
  // so reshape straight to NCHW [N, C, 1, 1] and skip a transpose.
  if (t.length === 3 && t[0] === 1 && t[1] === 1 && x.shape.length === 2) {
    const shape = ctx.g.constI64('shape', [0, t[2], 1, 1]);
    return [ctx.g.op('Reshape', [x.name, shape], {}, ctx.hint, out, true)];
  }
  const xl = ctx.g.toLogical(x);
  const shape = ctx.g.constI64('shape', [0, ...t]);
  return [ctx.g.op('Reshape', [xl.name, shape], {}, ctx.hint, out, false)];
};

const convertFlatten: LayerConverter = (ctx) => {
  const x = ctx.g.toLogical(single(ctx));
  return [ctx.g.op('Flatten', [x.name], { axis: 1 }, ctx.hint, outShape(ctx), false)];
};

const convertDense: LayerConverter = (ctx) => {
  const x = ctx.g.toLogical(single(ctx));
  const k = weight(ctx, 'kernel');
  const useBias = ctx.config.useBias !== false;
  const kName = ctx.g.constF32(`${ctx.hint}/kernel`, k.shape, k.data);
  const out = outShape(ctx);
  let y: Value;
  if (x.shape.length === 2) {
    const ins = [x.name, kName];
    if (useBias) ins.push(ctx.g.constF32(`${ctx.hint}/bias`, [k.shape[1]], weight(ctx, 'bias').data));
    y = ctx.g.op('Gemm', ins, {}, ctx.hint, out, false);
  } else {
    y = ctx.g.op('MatMul', [x.name, kName], {}, ctx.hint, out, false);
    if (useBias)
      y = ctx.g.op(
        'Add',
        [y.name, ctx.g.constF32(`${ctx.hint}/bias`, [k.shape[1]], weight(ctx, 'bias').data)],
        {},
        ctx.hint,
        out,
        false,
      );
  }
  return [activationOf(ctx, y)];
};

const identity: LayerConverter = (ctx) => [single(ctx)];

/** Keras `Rescaling`: y = x * scale + offset (scalars or per-channel vectors). */
const convertRescaling: LayerConverter = (ctx) => {
  const x = single(ctx);
  const scale = ctx.config.scale ?? 1;
  const offset = ctx.config.offset ?? 0;
  let y = x;
  const vec = (v: unknown, what: string): Value => {
    if (typeof v === 'number') return { name: scalarF32(ctx.g, v), shape: [], nchw: false };
    if (Array.isArray(v) && v.every((q) => typeof q === 'number'))
      return channelConst(ctx, x, `${ctx.hint}/${what}`, Float32Array.from(v as number[]));
    return fail(ctx, `config "${what}" ${JSON.stringify(v)} is not understood`);
  };
  if (scale !== 1) y = ctx.g.op('Mul', [y.name, vec(scale, 'scale').name], {}, ctx.hint, x.shape, x.nchw);
  if (offset !== 0) y = ctx.g.op('Add', [y.name, vec(offset, 'offset').name], {}, ctx.hint, x.shape, x.nchw);
  return [y === x ? ctx.g.op('Identity', [x.name], {}, ctx.hint, x.shape, x.nchw) : y];
};

/** A per-channel constant shaped to broadcast against `x` in its physical layout. */
function channelConst(ctx: ConvertContext, x: Value, hint: string, data: Float32Array): Value {
  if (data.length === 1) return { name: ctx.g.constF32(hint, [], data), shape: [], nchw: false };
  const dims = x.nchw ? [data.length, 1, 1] : [data.length];
  return { name: ctx.g.constF32(hint, dims, data), shape: [data.length], nchw: false };
}

/**
 * Keras `Normalization` (inference): y = (x - mean) / sqrt(max(variance, eps)), per channel.
 * Weights `mean` / `variance` when the layer holds them (adapted), else config `mean` / `variance`.
 */
const convertNormalization: LayerConverter = (ctx) => {
  const x = single(ctx);
  const axis = ctx.config.axis ?? -1;
  const axisOk =
    axis === -1 ||
    axis === x.shape.length - 1 ||
    (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === x.shape.length - 1));
  if (!axisOk) fail(ctx, `axis ${JSON.stringify(axis)} is not supported (channels-last axis only)`);
  const fromConfig = (key: string): Float32Array | null => {
    const v = ctx.config[key];
    if (typeof v === 'number') return new Float32Array([v]);
    if (Array.isArray(v)) return Float32Array.from((v as unknown[]).flat(4) as number[]);
    return null;
  };
  const mean = ctx.weights.get('mean')?.data ?? fromConfig('mean');
  const variance = ctx.weights.get('variance')?.data ?? fromConfig('variance');
  if (mean === null || variance === null) fail(ctx, 'no mean / variance (neither weights nor config)');
  const inv = new Float32Array(variance.length);
  // Keras: (x - mean) / max(sqrt(variance), epsilon) with epsilon = 1e-7 (backend.epsilon()).
  for (let i = 0; i < variance.length; i++) inv[i] = 1 / Math.max(Math.sqrt(variance[i]), 1e-7);
  const invert = ctx.config.invert === true;
  if (invert) fail(ctx, 'invert=true is not supported');
  const m = ctx.g.op(
    'Sub',
    [x.name, channelConst(ctx, x, `${ctx.hint}/mean`, mean).name],
    {},
    ctx.hint,
    x.shape,
    x.nchw,
  );
  return [
    ctx.g.op(
      'Mul',
      [m.name, channelConst(ctx, x, `${ctx.hint}/inv_std`, inv).name],
      {},
      ctx.hint,
      x.shape,
      x.nchw,
    ),
  ];
};

/** Inception-ResNet-v2 `CustomScaleLayer` (src/models/layers): inputs [x, r] -> x + r * scale. */
const convertCustomScale: LayerConverter = (ctx) => {
  if (ctx.inputs.length !== 2) fail(ctx, 'expects two inputs [x, residual]');
  const [x, r] = sameLayout(ctx);
  const scaled = ctx.g.op(
    'Mul',
    [r.name, scalarF32(ctx.g, num(ctx, 'scale'))],
    {},
    `${ctx.hint}/scale`,
    r.shape,
    r.nchw,
  );
  return [ctx.g.op('Add', [x.name, scaled.name], {}, ctx.hint, outShape(ctx), x.nchw)];
};

/** Built-in converters by tfjs className. */
export const CONVERTERS: ReadonlyMap<string, LayerConverter> = new Map<string, LayerConverter>([
  ['Conv2D', convert2d],
  ['DepthwiseConv2D', convertDepthwise],
  ['SeparableConv2D', convertSeparable],
  ['BatchNormalization', convertBatchNorm],
  ['Activation', convertActivation],
  ['ReLU', convertReLU],
  ['LeakyReLU', convertLeakyReLU],
  ['Softmax', convertSoftmax],
  ['Add', naryElementwise('Add')],
  ['Multiply', naryElementwise('Mul')],
  ['Maximum', naryElementwise('Max')],
  ['Minimum', naryElementwise('Min')],
  ['Average', convertAverage],
  ['Concatenate', convertConcatenate],
  ['ZeroPadding2D', convertZeroPadding],
  ['MaxPooling2D', pool('MaxPool')],
  ['AveragePooling2D', pool('AveragePool')],
  ['GlobalAveragePooling2D', globalPool('GlobalAveragePool')],
  ['GlobalMaxPooling2D', globalPool('GlobalMaxPool')],
  ['Reshape', convertReshape],
  ['Flatten', convertFlatten],
  ['Dense', convertDense],
  ['Dropout', identity],
  ['SpatialDropout1D', identity],
  ['SpatialDropout2D', identity],
  ['GaussianNoise', identity],
  ['GaussianDropout', identity],
  ['AlphaDropout', identity],
  ['Rescaling', convertRescaling],
  ['Normalization', convertNormalization],
  ['CustomScaleLayer', convertCustomScale],
]);

const extra = new Map<string, LayerConverter>();

/**
 * Register a converter for a custom layer class (by its `getClassName()`), for example a
 * project layer in `src/models/layers/`. Built-in classes cannot be overridden.
 */
export function registerOnnxConverter(className: string, converter: LayerConverter): void {
  if (CONVERTERS.has(className)) throw new Error(`ONNX converter for ${className} is built in`);
  extra.set(className, converter);
}

/** The converter for a class name, or undefined. */
export function converterFor(className: string): LayerConverter | undefined {
  return CONVERTERS.get(className) ?? extra.get(className);
}

/** Class names the exporter understands (built-in and registered). */
export function supportedLayerClasses(): string[] {
  return [...CONVERTERS.keys(), ...extra.keys()].sort();
}
