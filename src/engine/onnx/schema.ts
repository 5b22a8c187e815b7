/**
 * The subset of the ONNX IR protobuf schema that polarcad writes and reads, loaded by protobufjs
 * at run time (no hand-rolled protobuf encoding).
 *
 * Source: onnx/onnx, `onnx/onnx.proto3` (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto3),
 * Copyright (c) ONNX Project Contributors, licensed under the Apache License 2.0
 * (SPDX-License-Identifier: Apache-2.0). Only the messages needed for a dense inference graph are
 * kept; every field keeps its official name and field number, so files written with this subset
 * are ordinary ONNX files, and files written by other tools decode (unknown fields are skipped).
 * The subset is data, `onnx-subset.json`, in protobufjs's JSON descriptor form (what
 * `protobuf.parse(proto3Text).root.toJSON()` gives; proto3 packs repeated scalars); tsc copies it
 * next to this module in dist/.
 */
import protobuf from 'protobufjs';
import ONNX_SUBSET from './onnx-subset.json' with { type: 'json' };

/** ONNX `TensorProto.DataType` codes used by polarcad. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** ONNX `AttributeProto.AttributeType` codes used by polarcad. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

let root: protobuf.Root | null = null;

/** The protobufjs type of an ONNX message (`ModelProto`, `TensorProto`, ...), parsed once. */
export function onnxType(name: string): protobuf.Type {
  if (root === null) root = protobuf.Root.fromJSON(ONNX_SUBSET);
  return root.lookupType(`onnx.${name}`);
}

/** Plain-object forms of the messages polarcad builds (field names as in onnx.proto3). */
export interface TensorProtoObj {
  name: string;
  dims: number[];
  data_type: number;
  raw_data?: Uint8Array;
  int64_data?: number[];
}
export interface AttributeProtoObj {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}
export interface NodeProtoObj {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  domain?: string;
  attribute: AttributeProtoObj[];
}
export interface DimObj {
  dim_value?: number;
  dim_param?: string;
}
export interface ValueInfoProtoObj {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: DimObj[] } } };
  doc_string?: string;
}
export interface GraphProtoObj {
  name: string;
  node: NodeProtoObj[];
  initializer: TensorProtoObj[];
  input: ValueInfoProtoObj[];
  output: ValueInfoProtoObj[];
  doc_string?: string;
}
export interface ModelProtoObj {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  graph: GraphProtoObj;
  metadata_props: { key: string; value: string }[];
}

/** Serialise a model object to ONNX bytes (verifies it against the schema first). */
export function encodeModel(model: ModelProtoObj): Uint8Array {
  const T = onnxType('ModelProto');
  const err = T.verify(model);
  if (err !== null) throw new Error(`internal error: invalid ONNX model object: ${err}`);
  return T.encode(T.fromObject(model)).finish();
}

/** A decoded ONNX model's top-level facts (for inspection and tests). */
export interface OnnxModelSummary {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  metadata: Record<string, string>;
  inputs: { name: string; dims: (number | string)[] }[];
  outputs: { name: string; dims: (number | string)[] }[];
  opTypes: Record<string, number>;
  initializerBytes: number;
}

interface DecodedDim {
  dim_value?: number | string;
  dim_param?: string;
}
interface DecodedValueInfo {
  name: string;
  type?: { tensor_type?: { shape?: { dim?: DecodedDim[] } } };
}
interface DecodedModel {
  ir_version?: number | string;
  producer_name?: string;
  opset_import?: { domain?: string; version?: number | string }[];
  metadata_props?: { key?: string; value?: string }[];
  graph?: {
    node?: { op_type?: string }[];
    input?: DecodedValueInfo[];
    output?: DecodedValueInfo[];
    initializer?: { raw_data?: Uint8Array }[];
  };
}

function dimsOf(v: DecodedValueInfo): (number | string)[] {
  return (v.type?.tensor_type?.shape?.dim ?? []).map((d) =>
    d.dim_param !== undefined && d.dim_param !== '' ? d.dim_param : Number(d.dim_value ?? 0),
  );
}

/** Decode ONNX bytes and summarise them (metadata_props, inputs, outputs, op histogram). */
export function summariseOnnx(bytes: Uint8Array): OnnxModelSummary {
  const T = onnxType('ModelProto');
  const m = T.toObject(T.decode(bytes), { longs: Number, bytes: Uint8Array, oneofs: false }) as DecodedModel;
  const metadata: Record<string, string> = {};
  for (const e of m.metadata_props ?? []) metadata[e.key ?? ''] = e.value ?? '';
  const opTypes: Record<string, number> = {};
  for (const n of m.graph?.node ?? []) opTypes[n.op_type ?? ''] = (opTypes[n.op_type ?? ''] ?? 0) + 1;
  return {
    irVersion: Number(m.ir_version ?? 0),
    opsets: (m.opset_import ?? []).map((o) => ({ domain: o.domain ?? '', version: Number(o.version ?? 0) })),
    producer: m.producer_name ?? '',
    metadata,
    inputs: (m.graph?.input ?? []).map((v) => ({ name: v.name, dims: dimsOf(v) })),
    outputs: (m.graph?.output ?? []).map((v) => ({ name: v.name, dims: dimsOf(v) })),
    opTypes,
    initializerBytes: (m.graph?.initializer ?? []).reduce((s, t) => s + (t.raw_data?.length ?? 0), 0),
  };
}
