/**
 * Export a TensorFlow.js layers model (with its weights of the moment) to an ONNX model.
 *
 * The graph input is NHWC float32 `[batch, H, W, C]` like the tfjs model; it is transposed to NCHW
 * once, convolutions and poolings run in NCHW, and every graph output is returned in the Keras
 * (channels-last) layout, so it matches `model.predict` element for element. The model may be
 * cut at any named layer (also inside a nested sub-model) and expose several outputs, for
 * example the last convolutional feature map and the class probabilities together.
 */
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../util/errors.js';
import { GraphBuilder, type Value } from './graph.js';
import { converterFor, supportedLayerClasses, type LayerWeights } from './layers.js';
import { DataType, encodeModel, type DimObj, type ValueInfoProtoObj } from './schema.js';

/** Options of {@link exportToOnnx}. */
export interface OnnxExportOptions {
  /** Layer names whose outputs become the graph outputs (default: the model's outputs). */
  outputs?: readonly string[];
  /** Name of the graph input when the model has a single input (default 'input'). */
  inputName?: string;
  /** ONNX opset, 13..17 (default 17). */
  opset?: number;
  /** Stored as ModelProto.metadata_props. */
  metadata?: Readonly<Record<string, string>>;
  /** ModelProto.doc_string. */
  docString?: string;
}

/** ONNX IR version written (IR 8: opsets up to 17, ONNX 1.10-1.12). */
export const IR_VERSION = 8;

type SymbolicTensor = tf.SymbolicTensor;

/** One conversion scope: a (possibly nested) model called on already-converted inputs. */
interface Scope {
  readonly id: number;
  readonly model: tf.LayersModel;
  readonly prefix: string;
  /** Converted values of `model.inputs`, resolved lazily. */
  readonly bindInputs: () => Value[];
}

function isContainer(layer: tf.layers.Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

function layerWeights(layer: tf.layers.Layer): LayerWeights {
  const m = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const w of layer.weights) {
    const full = w.originalName ?? w.name;
    const short = full.slice(full.lastIndexOf('/') + 1);
    const t = w.read();
    m.set(short, { shape: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) });
  }
  return m;
}

function dims(shape: readonly (number | null)[], batchParam: string, prefix: string): DimObj[] {
  return shape.map((d, i) =>
    d === null ? { dim_param: i === 0 ? batchParam : `${prefix}_d${i}` } : { dim_value: d },
  );
}

function valueInfo(name: string, shape: readonly (number | null)[]): ValueInfoProtoObj {
  return {
    name,
    type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims(shape, 'batch', name) } } },
  };
}

function shapeOf(t: SymbolicTensor): (number | null)[] {
  return t.shape.map((d) => (d === null || d === undefined || d < 0 ? null : d));
}

function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9_./:-]/g, '_');
}

/** Find the path of containers leading to a layer named `name` (depth-first, outer first). */
function findPath(model: tf.LayersModel, name: string): tf.layers.Layer[] | null {
  for (const l of model.layers) if (l.name === name) return [l];
  for (const l of model.layers) {
    if (isContainer(l)) {
      const p = findPath(l, name);
      if (p !== null) return [l, ...p];
    }
  }
  return null;
}

/**
 * Converts the calls of a (possibly nested) layers model into ONNX nodes of one graph, each call
 * once: `memo` keeps the converted outputs per (scope, layer, node), and a sub-model called from a
 * parent is a child scope whose inputs are the parent's converted tensors.
 */
class GraphConverter {
  private scopeCounter = 0;
  private readonly memo = new Map<string, Value[]>();
  private readonly childScopes = new Map<string, Scope>();
  readonly top: Scope;

  constructor(
    readonly g: GraphBuilder,
    model: tf.LayersModel,
    topInputs: Value[],
  ) {
    this.top = { id: this.scopeCounter++, model, prefix: '', bindInputs: () => topInputs };
  }

  /** The scope of `container`'s call `nodeIndex` inside `parent` (one per call). */
  childScope(parent: Scope, container: tf.LayersModel, nodeIndex: number): Scope {
    const key = `${parent.id}:${container.id}:${nodeIndex}`;
    let s = this.childScopes.get(key);
    if (s === undefined) {
      const node = container.inboundNodes[nodeIndex];
      if (node === undefined)
        throw new InputError(`ONNX export: sub-model "${container.name}" is never called`);
      let bound: Value[] | null = null;
      const scope: Scope = {
        id: this.scopeCounter++,
        model: container,
        prefix: `${parent.prefix}${sanitize(container.name)}/`,
        bindInputs: () => (bound ??= node.inputTensors.map((t) => this.convertTensor(parent, t))),
      };
      this.childScopes.set(key, scope);
      s = scope;
    }
    return s;
  }

  /** The converted value of a symbolic tensor of `scope.model`'s graph. */
  convertTensor(scope: Scope, t: SymbolicTensor): Value {
    const inputIndex = scope.model.inputs.findIndex((x) => x.id === t.id);
    if (inputIndex >= 0) return scope.bindInputs()[inputIndex];
    const layer = t.sourceLayer;
    const key = `${scope.id}:${layer.id}:${t.nodeIndex}`;
    let outs = this.memo.get(key);
    if (outs === undefined) {
      outs = this.convertCall(scope, layer, t.nodeIndex);
      this.memo.set(key, outs);
    }
    const v = outs[t.tensorIndex];
    if (v === undefined)
      throw new Error(`internal error: layer ${layer.name} has no output ${t.tensorIndex}`);
    return v;
  }

  /** Convert one call (inbound node) of `layer` inside `scope`. */
  private convertCall(scope: Scope, layer: tf.layers.Layer, nodeIndex: number): Value[] {
    const node = layer.inboundNodes[nodeIndex];
    const className = layer.getClassName();
    if (className === 'InputLayer') {
      throw new InputError(
        `ONNX export: input layer "${layer.name}" is not an input of model "${scope.model.name}"`,
      );
    }
    if (isContainer(layer)) {
      const inner = this.childScope(scope, layer, nodeIndex);
      return layer.outputs.map((o) => this.convertTensor(inner, o));
    }
    const converter = converterFor(className);
    if (converter === undefined) {
      throw new InputError(
        `ONNX export: layer "${layer.name}" (class ${className}) is not supported; supported classes: ${supportedLayerClasses().join(', ')}`,
      );
    }
    const inputs = node.inputTensors.map((t) => this.convertTensor(scope, t));
    const outputShapes = node.outputTensors.map(shapeOf);
    let config: Record<string, unknown>;
    try {
      config = layer.getConfig() as Record<string, unknown>;
    } catch {
      config = {};
    }
    return converter({
      g: this.g,
      layer,
      className,
      config,
      inputs,
      outputShapes,
      weights: layerWeights(layer),
      hint: `${scope.prefix}${sanitize(layer.name)}`,
    });
  }
}

/** Graph inputs (NHWC, as the tfjs model takes them), transposed to NCHW lazily by consumers. */
function graphInputsOf(
  g: GraphBuilder,
  model: tf.LayersModel,
  opts: OnnxExportOptions,
): { infos: ValueInfoProtoObj[]; values: Value[] } {
  if (model.inputs.length > 1 && opts.inputName !== undefined) {
    throw new InputError(
      `ONNX export: inputName is only valid for single-input models (this one has ${model.inputs.length})`,
    );
  }
  const infos: ValueInfoProtoObj[] = [];
  const values: Value[] = model.inputs.map((t) => {
    const name = g.reserve(
      model.inputs.length === 1 ? (opts.inputName ?? 'input') : sanitize(t.sourceLayer.name),
    );
    const shape = shapeOf(t);
    infos.push(valueInfo(name, shape));
    return { name, shape, nchw: false };
  });
  return { infos, values };
}

/** The requested outputs resolved to (container path, symbolic tensor). */
function outputTargets(
  model: tf.LayersModel,
  requested: readonly string[],
): { layerName: string; path: tf.layers.Layer[]; tensor: SymbolicTensor }[] {
  if (requested.length === 0) throw new InputError('ONNX export: no outputs requested');
  return requested.map((layerName) => {
    const path = findPath(model, layerName);
    if (path === null)
      throw new InputError(`ONNX export: model "${model.name}" has no layer named "${layerName}"`);
    const layer = path[path.length - 1];
    const out = layer.inboundNodes.length > 0 ? layer.getOutputAt(0) : null;
    if (out === null || Array.isArray(out))
      throw new InputError(`ONNX export: layer "${layerName}" does not have exactly one output`);
    return { layerName, path, tensor: out as SymbolicTensor };
  });
}

/**
 * Append the calls of `model` to the graph being built in `g`, fed by `inputs` (its inputs, NHWC
 * as the tfjs model takes them), and return the outputs of the layers named `outputs` in the
 * logical (channels-last) layout. Used by {@link exportToOnnx} and by graphs that embed a
 * backbone cut (the closed-form models, src/models/linear/onnx-graph.ts).
 * @throws InputError for an unknown output layer or an unsupported layer
 */
export function appendLayersModel(
  g: GraphBuilder,
  model: tf.LayersModel,
  inputs: Value[],
  outputs: readonly string[],
): Value[] {
  const targets = outputTargets(model, outputs);
  const conv = new GraphConverter(g, model, inputs);
  return targets.map((target) => {
    let scope = conv.top;
    for (const container of target.path.slice(0, -1)) {
      // A layer inside a sub-model: use that sub-model's first call in its parent.
      const c = container as tf.LayersModel;
      const callIndex = c.inboundNodes.findIndex(
        (n) => n.inputTensors.length > 0 && n.inputTensors.every((t) => !c.inputs.some((x) => x.id === t.id)),
      );
      scope = conv.childScope(scope, c, callIndex >= 0 ? callIndex : 0);
    }
    return g.toLogical(conv.convertTensor(scope, target.tensor));
  });
}

/**
 * Convert `model` to ONNX bytes.
 * @throws InputError naming the layer and its class for an unsupported layer, and for unknown
 *   output layer names or a bad opset.
 */
export function exportToOnnx(model: tf.LayersModel, opts: OnnxExportOptions = {}): Uint8Array {
  const opset = opts.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 13 || opset > 17)
    throw new InputError(`ONNX export: opset ${opset} is not supported (13..17)`);
  const g = new GraphBuilder();
  const inputs = graphInputsOf(g, model, opts);
  const requested = opts.outputs ?? model.outputs.map((t) => t.sourceLayer.name);
  if (requested.length === 0) throw new InputError('ONNX export: no outputs requested');
  const outNames = requested.map((n) => g.reserve(sanitize(n)));
  const values = appendLayersModel(g, model, inputs.values, requested);

  const graphOutputs: ValueInfoProtoObj[] = [];
  values.forEach((v, i) => {
    g.node('Identity', [v.name], {}, `${outNames[i]}_out`, [outNames[i]]);
    graphOutputs.push(valueInfo(outNames[i], v.shape));
  });

  return encodeModel({
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: opset }],
    producer_name: 'polarcad',
    producer_version: '0.1.0',
    doc_string: opts.docString ?? `Exported from TensorFlow.js layers model "${model.name}"`,
    graph: {
      name: sanitize(model.name),
      node: g.nodes,
      initializer: g.initializers,
      input: inputs.infos,
      output: graphOutputs,
    },
    metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
}
