/**
 * A small ONNX graph builder: unique value names, float32 / int64 initialisers stored as
 * little-endian `raw_data`, nodes with typed attributes, and layout bookkeeping for 4-D tensors
 * (a tensor is held either in the Keras logical layout NHWC or in ONNX's native NCHW).
 */
import {
  AttributeType,
  DataType,
  type AttributeProtoObj,
  type NodeProtoObj,
  type TensorProtoObj,
} from './schema.js';

/** A tensor of the graph being built. `shape` is the Keras (channels-last) shape, batch = null. */
export interface Value {
  readonly name: string;
  readonly shape: readonly (number | null)[];
  /** True when a rank-4 tensor is physically stored as NCHW (logical shape stays NHWC). */
  readonly nchw: boolean;
}

/** A typed attribute value: plain numbers are ints, {f} floats, strings UTF-8, arrays ints. */
export type AttrValue = number | { f: number } | string | number[] | { floats: number[] };

/** NHWC -> NCHW permutation, and its inverse. */
export const TO_NCHW = [0, 3, 1, 2];
export const TO_NHWC = [0, 2, 3, 1];

function attr(name: string, v: AttrValue): AttributeProtoObj {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`internal error: attribute ${name}=${v} is not an integer`);
    return { name, type: AttributeType.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if ('f' in v) return { name, type: AttributeType.FLOAT, f: v.f };
  return { name, type: AttributeType.FLOATS, floats: v.floats };
}

/** Accumulates nodes and initialisers; hands out unique names. */
export class GraphBuilder {
  readonly nodes: NodeProtoObj[] = [];
  readonly initializers: TensorProtoObj[] = [];
  private readonly used = new Set<string>();
  private readonly transposed = new Map<string, Value>();
  private readonly i64Consts = new Map<string, string>();

  /** Reserve a name exactly (graph inputs / outputs); throws if already taken. */
  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`duplicate ONNX value name "${name}"`);
    this.used.add(name);
    return name;
  }

  /** A fresh name starting with `hint`. */
  fresh(hint: string): string {
    let name = hint;
    for (let k = 1; this.used.has(name); k++) name = `${hint}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Add a float32 initialiser. */
  constF32(hint: string, dims: readonly number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length)
      throw new Error(`internal error: ${hint}: ${data.length} values for dims [${dims.join(',')}]`);
    const name = this.fresh(hint);
    const raw = new Uint8Array(data.byteLength);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
    this.initializers.push({ name, dims: [...dims], data_type: DataType.FLOAT, raw_data: raw });
    return name;
  }

  /** A 1-D int64 initialiser (shared between nodes when the values are equal). */
  constI64(hint: string, values: readonly number[]): string {
    const key = values.join(',');
    const hit = this.i64Consts.get(key);
    if (hit !== undefined) return hit;
    const name = this.fresh(hint);
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dims: [values.length], data_type: DataType.INT64, raw_data: raw });
    this.i64Consts.set(key, name);
    return name;
  }

  /** Append a node; returns its output names (fresh names from `hint` unless `outputs` given). */
  node(
    op: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue>,
    hint: string,
    outputs?: string[],
  ): string[] {
    const out = outputs ?? [this.fresh(hint)];
    this.nodes.push({
      input: [...inputs],
      output: out,
      name: this.fresh(`${hint}#${op}`),
      op_type: op,
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    });
    return out;
  }

  /** One-output node returning a Value with the given logical shape and layout. */
  op(
    op: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue>,
    hint: string,
    shape: readonly (number | null)[],
    nchw: boolean,
  ): Value {
    const [name] = this.node(op, inputs, attrs, hint);
    return { name, shape, nchw };
  }

  /** The value in NCHW layout (rank 4), transposing once and caching the result. */
  toNCHW(v: Value): Value {
    if (v.shape.length !== 4 || v.nchw) return v;
    return this.transposeOnce(v, true);
  }

  /** The value in its logical (channels-last) layout, transposing once and caching the result. */
  toLogical(v: Value): Value {
    if (!v.nchw) return v;
    return this.transposeOnce(v, false);
  }

  /**
   * `v` transposed to NCHW (`toNchw`) or back to NHWC, by one Transpose node per value and
   * direction; the transpose is cached as the way back too.
   */
  private transposeOnce(v: Value, toNchw: boolean): Value {
    const [to, back] = toNchw ? ['nchw', 'nhwc'] : ['nhwc', 'nchw'];
    const key = `${v.name}>${to}`;
    let t = this.transposed.get(key);
    if (t === undefined) {
      const perm = toNchw ? TO_NCHW : TO_NHWC;
      t = this.op('Transpose', [v.name], { perm }, `${v.name}_${to}`, v.shape, toNchw);
      this.transposed.set(key, t);
      this.transposed.set(`${t.name}>${back}`, v);
    }
    return t;
  }

  /** Map a logical (Keras) axis to the physical axis of `v`. */
  static physicalAxis(v: Value, axis: number): number {
    const rank = v.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    if (!v.nchw) return a;
    return TO_NHWC[a];
  }
}
