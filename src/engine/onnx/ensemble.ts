/**
 * One ONNX graph of an ensemble of TensorFlow.js layers models that take the same image: every
 * member is appended to the graph on the one input (`appendLayersModel`), and the graph's first
 * output is the element-wise mean of the members' outputs (ONNX `Mean`), so the graph computes what
 * the ensemble's `predict` computes: the mean of the members' class probabilities. The members'
 * own outputs (and, when asked, each member's output at a named layer, e.g. its CAM layer) follow.
 */
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../../util/errors.js';
import { appendLayersModel, IR_VERSION } from './export.js';
import { GraphBuilder } from './graph.js';
import { DataType, encodeModel, type DimObj, type ValueInfoProtoObj } from './schema.js';

/** Options of {@link exportEnsembleToOnnx}. */
export interface EnsembleOnnxOptions {
  /** Name of the mean output (default 'probabilities'). */
  meanName?: string;
  /** A layer of every member whose output is exposed too, as `member_K_<layer>` (e.g. the CAM layer). */
  memberLayer?: string;
  /** ONNX opset, 13..17 (default 17). */
  opset?: number;
  metadata?: Readonly<Record<string, string>>;
  docString?: string;
}

function valueInfo(name: string, shape: readonly (number | null)[]): ValueInfoProtoObj {
  const dim: DimObj[] = shape.map((d, i) =>
    d === null ? { dim_param: i === 0 ? 'batch' : `${name}_d${i}` } : { dim_value: d },
  );
  return { name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim } } } };
}

const shapeOf = (t: tf.SymbolicTensor): (number | null)[] =>
  t.shape.map((d) => (d === null || d === undefined || d < 0 ? null : d));

/**
 * Convert the members (each one image input [batch, H, W, C] of the same shape, one output of the
 * same shape) to one ONNX graph: outputs `probabilities` (the mean), then `member_1` ..
 * `member_K` (each member's output), then `member_K_<layer>` when `memberLayer` is given.
 * @throws InputError for fewer than 2 members, members of different input or output shapes, an
 *   unsupported layer, or a bad opset
 */
export function exportEnsembleToOnnx(
  members: readonly tf.LayersModel[],
  opts: EnsembleOnnxOptions = {},
): Uint8Array {
  const opset = opts.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 13 || opset > 17)
    throw new InputError(`ONNX export: opset ${opset} is not supported (13..17)`);
  if (members.length < 2)
    throw new InputError(`ONNX export: an ensemble needs 2 or more members, got ${members.length}`);
  const inShape = shapeOf(members[0].inputs[0]);
  const outShape = shapeOf(members[0].outputs[0]);
  members.forEach((m, i) => {
    if (m.inputs.length !== 1 || m.outputs.length !== 1)
      throw new InputError(`ONNX export: ensemble member ${i + 1} must have one input and one output`);
    if (JSON.stringify(shapeOf(m.inputs[0])) !== JSON.stringify(inShape))
      throw new InputError(`ONNX export: ensemble member ${i + 1}'s input differs from member 1's`);
    if (JSON.stringify(shapeOf(m.outputs[0])) !== JSON.stringify(outShape))
      throw new InputError(`ONNX export: ensemble member ${i + 1}'s output differs from member 1's`);
  });
  const g = new GraphBuilder();
  const input = { name: g.reserve('input'), shape: inShape, nchw: false };
  const meanName = g.reserve(opts.meanName ?? 'probabilities');
  const outNames = members.map((_, i) => g.reserve(`member_${i + 1}`));
  const layerNames =
    opts.memberLayer === undefined
      ? []
      : members.map((_, i) =>
          g.reserve(`member_${i + 1}_${opts.memberLayer?.replace(/[^A-Za-z0-9_.-]/g, '_')}`),
        );
  const graphOutputs: ValueInfoProtoObj[] = [valueInfo(meanName, outShape)];
  const layerOutputs: ValueInfoProtoObj[] = [];
  const outs = members.map((m, i) => {
    const want = [
      m.outputs[0].sourceLayer.name,
      ...(opts.memberLayer !== undefined ? [opts.memberLayer] : []),
    ];
    const [y, layer] = appendLayersModel(g, m, [input], want);
    g.node('Identity', [y.name], {}, `${outNames[i]}_out`, [outNames[i]]);
    graphOutputs.push(valueInfo(outNames[i], y.shape));
    if (layer !== undefined) {
      g.node('Identity', [layer.name], {}, `${layerNames[i]}_out`, [layerNames[i]]);
      layerOutputs.push(valueInfo(layerNames[i], layer.shape));
    }
    return y.name;
  });
  g.node('Mean', outs, {}, 'ensemble_mean', [meanName]);
  return encodeModel({
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: opset }],
    producer_name: 'polarcad',
    producer_version: '0.1.0',
    doc_string:
      opts.docString ??
      `Ensemble of ${members.length} TensorFlow.js layers models: ${meanName} = mean of the members' outputs`,
    graph: {
      name: 'ensemble',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(input.name, inShape)],
      output: [...graphOutputs, ...layerOutputs],
    },
    metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
}
