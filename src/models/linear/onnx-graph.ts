/**
 * A closed-form polar-map model (src/models/linear/polar-model.ts) as one ONNX graph, computing
 * exactly what {@link PolarModelPredictor} computes once the colour map has been read back:
 *
 * - inputs, per view the members use (see {@link polarOnnxInputs}): the relative uptake read
 *   through the colour map at the crop side (`uptake_<view>`, NaN where unreadable) for segment
 *   members; the uptake redrawn in grey and resized to the backbone's input side
 *   (`grey<N>_<view>`) for CNN members; the RGB crop (`rgb_<view>`) for pixel members; the raw
 *   clinical values (`clinical`, NaN = missing; numeric columns only) for a clinical member;
 * - segment member: segment means over the uptake grid, a MatMul with the pixel -> segment mask
 *   (and the same over the readable-pixel mask for the counts);
 * - CNN member: the backbone's scaling, the backbone up to the recorded layer (the same converter
 *   as `polarcad export` of a network), segment pooling as a MatMul with the 17-segment weight
 *   matrix over the feature grid;
 * - pixel member: polarcad's resize as two MatMuls (src/ingest/preprocess.ts `resizeMatrix`),
 *   rounded like the 8-bit image, / 255;
 * - each member: standardiser and ridge head folded into (x - mean) . (w / sd) + b: its logit;
 * - the stacker (clipped member logits, weights, intercept), the temperature when the model has
 *   one, and a Sigmoid: P(CAD).
 * Outputs: `p_cad` [batch] and `member_logits` [batch, members] (the members in model order).
 *
 * {@link polarOnnxFeeds} computes the inputs from a study's crops, as a reference for other
 * runtimes and for the tests.
 */
import type { RgbImage } from '../../domain/image.js';
import { scalePixels } from '../../domain/scaling.js';
import type { View } from '../../domain/views.js';
import { initBackend } from '../../engine/backend.js';
import { appendLayersModel, IR_VERSION } from '../../engine/onnx/export.js';
import { GraphBuilder, type Value } from '../../engine/onnx/graph.js';
import { DataType, encodeModel, type ValueInfoProtoObj } from '../../engine/onnx/schema.js';
import { logit } from '../../evaluate/calibration.js';
import { resizeRgb, resizeMatrix } from '../../ingest/preprocess.js';
import { N_SEGMENTS, segmentLabels } from '../../polarmap/geometry.js';
import { DEFAULT_MAX_COLOR_DISTANCE, rgbToUptake } from '../../polarmap/read-uptake.js';
import { InputError } from '../../util/errors.js';
import { loadBackbone } from '../weights/resolve.js';
import type { ClinicalValues } from './clinical.js';
import { colormapOfRecord, uptakeImage, type MemberFeatures, type PatientCrops } from './featurizers.js';
import type { PolarModel } from './polar-model.js';
import { segmentPooling } from './segment-pooling.js';
import { LOGIT_CLIP, type LinearMember } from './stacked.js';

/** One graph input: its name, shape (batch first), what it holds. */
export interface PolarOnnxInput {
  readonly name: string;
  readonly kind: 'uptake' | 'grey' | 'rgb' | 'clinical';
  readonly view: View | null;
  readonly dims: readonly (number | 'batch')[];
  readonly description: string;
}

/** Graph output names. */
export const POLAR_ONNX_OUTPUTS = { probability: 'p_cad', memberLogits: 'member_logits' } as const;

/** The metadata format tag of a closed-form ONNX export. */
export const POLAR_ONNX_FORMAT = 'polarcad-onnx-closed-form/1';

const uptakeName = (v: View): string => `uptake_${v}`;
const greyName = (side: number, v: View): string => `grey${side}_${v}`;
const rgbName = (v: View): string => `rgb_${v}`;
const CLINICAL_INPUT = 'clinical';

function imageViews(f: MemberFeatures): readonly View[] {
  return f.kind === 'clinical' ? [] : f.views;
}

/** The columns of a clinical member, refused (naming member and column) unless all numeric. */
function numericClinical(m: LinearMember): { name: string; mean: number }[] {
  if (m.features.kind !== 'clinical') return [];
  return m.features.columns.map((c) => {
    if (c.kind !== 'numeric')
      throw new InputError(
        `member "${m.name}": clinical column "${c.name}" is categorical (levels ${c.levels.join(', ')}); the ONNX export takes numeric clinical values only, so this model has no ONNX export (predict, serve and evaluate load the run directly)`,
      );
    return { name: c.name, mean: c.mean };
  });
}

/**
 * The inputs of the ONNX graph of `model` for crops of side `cropSize`, in graph order: views in
 * the model's order, per view uptake, grey (one per backbone input side), RGB as the members
 * need them; then the clinical vector.
 * @throws InputError for a clinical member with a categorical column
 */
export function polarOnnxInputs(model: PolarModel, cropSize: number): PolarOnnxInput[] {
  const out: PolarOnnxInput[] = [];
  const add = (i: PolarOnnxInput): void => {
    if (!out.some((o) => o.name === i.name)) out.push(i);
  };
  for (const v of model.views)
    for (const m of model.members) {
      const f = m.features;
      if (!imageViews(f).includes(v)) continue;
      if (f.kind === 'segment')
        add({
          name: uptakeName(v),
          kind: 'uptake',
          view: v,
          dims: ['batch', cropSize, cropSize],
          description: `relative uptake 0..1 of the ${v} crop (square, disc inscribed, ${cropSize} px) read through the colour map "${model.colormap.name}" (nearest table entry); NaN where the colour is farther than ${DEFAULT_MAX_COLOR_DISTANCE} (RGB distance) from every table entry (NaN or infinite values count as unreadable); values outside the disc are ignored`,
        });
      else if (f.kind === 'cnn-segments')
        add({
          name: greyName(f.inputSize, v),
          kind: 'grey',
          view: v,
          dims: ['batch', f.inputSize, f.inputSize],
          description: `grey level 0..255 of the ${v} uptake redrawn in grey (round(uptake * 255); 0 outside the disc and where unreadable) at the crop side, then resized to ${f.inputSize} px by polarcad's resize (area averaging when shrinking, bilinear with half-pixel centres when enlarging) and rounded`,
        });
      else if (f.kind === 'pixel')
        add({
          name: rgbName(v),
          kind: 'rgb',
          view: v,
          dims: ['batch', cropSize, cropSize, 3],
          description: `the ${v} crop as RGB 0..255 (square, disc inscribed, ${cropSize} px, channels last)`,
        });
    }
  for (const m of model.members) {
    const cols = numericClinical(m);
    if (cols.length > 0)
      add({
        name: CLINICAL_INPUT,
        kind: 'clinical',
        view: null,
        dims: ['batch', cols.length],
        description: `clinical values in the order ${cols.map((c) => c.name).join(', ')}; NaN (or infinite) = missing, imputed with the training mean (${cols.map((c) => `${c.name} ${c.mean.toPrecision(6)}`).join(', ')}) plus a missing indicator`,
      });
  }
  return out;
}

function f32(xs: ArrayLike<number>): Float32Array {
  return Float32Array.from(xs);
}

/** Builds the graph of one model; each input and shared value is made once. */
class PolarGraph {
  readonly g = new GraphBuilder();
  private readonly memo = new Map<string, string>();

  constructor(
    readonly model: PolarModel,
    readonly cropSize: number,
  ) {}

  private once(key: string, make: () => string): string {
    let v = this.memo.get(key);
    if (v === undefined) {
      v = make();
      this.memo.set(key, v);
    }
    return v;
  }

  private scalar(hint: string, x: number): string {
    return this.once(`scalar:${x}`, () => this.g.constF32(hint, [], f32([x])));
  }

  private op(
    op: string,
    inputs: string[],
    hint: string,
    attrs: Record<string, number | number[]> = {},
  ): string {
    return this.g.node(op, inputs, attrs, hint)[0];
  }

  private reshape(x: string, shape: number[], hint: string): string {
    return this.op('Reshape', [x, this.g.constI64('shape', shape)], hint);
  }

  /** The pixel -> segment mask of the crop (cropSize^2 x 17). */
  private segmentMask(): string {
    return this.once('segmentMask', () => {
      const s = this.cropSize;
      const labels = segmentLabels(s);
      const m = new Float32Array(s * s * N_SEGMENTS);
      labels.forEach((l, p) => {
        if (l > 0) m[p * N_SEGMENTS + l - 1] = 1;
      });
      return this.g.constF32('segment_mask', [s * s, N_SEGMENTS], m);
    });
  }

  /** [batch, 17] segment means of one view's uptake over its readable pixels (0 when none). */
  private segmentMeans(v: View): string {
    return this.once(`segments:${v}`, () => {
      const s = this.cropSize;
      const u = this.reshape(uptakeName(v), [-1, s * s], `${v}_uptake_flat`);
      const bad = this.op(
        'Or',
        [this.op('IsNaN', [u], `${v}_nan`), this.op('IsInf', [u], `${v}_inf`)],
        `${v}_unreadable`,
      );
      const filled = this.op('Where', [bad, this.scalar('zero', 0), u], `${v}_uptake_filled`);
      const readable = this.op('Cast', [this.op('Not', [bad], `${v}_readable_b`)], `${v}_readable`, {
        to: DataType.FLOAT,
      });
      const sums = this.op('MatMul', [filled, this.segmentMask()], `${v}_segment_sums`);
      const counts = this.op('MatMul', [readable, this.segmentMask()], `${v}_segment_counts`);
      const safe = this.op('Max', [counts, this.scalar('one', 1)], `${v}_segment_counts_safe`);
      return this.op('Div', [sums, safe], `${v}_segment_means`);
    });
  }

  /** [batch, 3 side^2] of one view: the crop resized to side x side, rounded, / 255 (channels last). */
  private pixels(v: View, side: number): string {
    return this.once(`pixels:${v}:${side}`, () => {
      const s = this.cropSize;
      const ry = this.g.constF32(`resize_${s}_${side}`, [side, s], f32(resizeMatrix(s, side)));
      const rxT = this.g.constF32(
        `resize_${s}_${side}_t`,
        [s, side],
        f32(transpose(resizeMatrix(s, side), side, s)),
      );
      const chw = this.op('Transpose', [rgbName(v)], `${v}_rgb_chw`, { perm: [0, 3, 1, 2] });
      const rows = this.op('MatMul', [ry, chw], `${v}_resize_rows`);
      const small = this.op('MatMul', [rows, rxT], `${v}_resize`);
      // Math.round of a non-negative value: floor(x + 0.5); then the 8-bit range
      const rounded = this.op(
        'Floor',
        [this.op('Add', [small, this.scalar('half', 0.5)], `${v}_half`)],
        `${v}_round`,
      );
      const bytes = this.op(
        'Clip',
        [rounded, this.scalar('zero', 0), this.scalar('byte_max', 255)],
        `${v}_bytes`,
      );
      const hwc = this.op('Transpose', [bytes], `${v}_small_hwc`, { perm: [0, 2, 3, 1] });
      const flat = this.reshape(hwc, [-1, 3 * side * side], `${v}_pixels_flat`);
      return this.op('Div', [flat, this.scalar('byte_max', 255)], `${v}_pixels`);
    });
  }

  /** [batch, V * 17 * C]: one CNN member's segment-pooled features, views in order. */
  private async cnnFeatures(
    f: Extract<MemberFeatures, { kind: 'cnn-segments' }>,
    hint: string,
  ): Promise<string> {
    await initBackend('wasm');
    const lb = await loadBackbone(f.backbone, { weights: f.weights });
    try {
      if (f.weightsSha256 !== undefined && lb.weights.sha256 !== f.weightsSha256)
        throw new InputError(
          `${f.backbone} weights (${lb.weights.description}) have sha256 ${String(lb.weights.sha256)}, but the model was trained with ${f.weightsSha256}: give the same weights`,
        );
      const n = f.inputSize;
      const probe = scalePixels(Uint8Array.from([0, 0, 0, 255, 255, 255]), lb.spec.scaling);
      const offset = this.g.constF32(`${hint}_scale_offset`, [3], probe.subarray(0, 3));
      const gain = this.g.constF32(
        `${hint}_scale_gain`,
        [3],
        f32([0, 1, 2].map((c) => (probe[3 + c] - probe[c]) / 255)),
      );
      const views = f.views.map((v) => {
        const grey = this.reshape(greyName(n, v), [-1, n, n, 1], `${hint}_${v}_grey`);
        return this.op(
          'Add',
          [this.op('Mul', [grey, gain], `${hint}_${v}_gain`), offset],
          `${hint}_${v}_scaled`,
        );
      });
      const batch = views.length === 1 ? views[0] : this.op('Concat', views, `${hint}_views`, { axis: 0 });
      const input: Value = { name: batch, shape: [null, n, n, 3], nchw: false };
      const [map] = appendLayersModel(this.g, lb.model, [input], [f.layer]);
      const cells = f.grid * f.grid;
      const sp = segmentPooling(f.grid, f.inputSize);
      const grid = this.reshape(map.name, [f.views.length, -1, cells, f.channels], `${hint}_grid`);
      const pool = this.g.constF32(`${hint}_segment_pooling`, [N_SEGMENTS, cells], f32(sp.weights));
      const pooled = this.op('MatMul', [pool, grid], `${hint}_pooled`);
      const byPatient = this.op('Transpose', [pooled], `${hint}_pooled_bp`, { perm: [1, 0, 2, 3] });
      return this.reshape(byPatient, [-1, f.views.length * N_SEGMENTS * f.channels], `${hint}_features`);
    } finally {
      lb.model.dispose();
    }
  }

  /** [batch, 2K]: the clinical encoding (value or training mean, missing indicator) per column. */
  private clinicalFeatures(cols: { name: string; mean: number }[]): string {
    const k = cols.length;
    const x = CLINICAL_INPUT;
    const bad = this.op(
      'Or',
      [this.op('IsNaN', [x], 'clinical_nan'), this.op('IsInf', [x], 'clinical_inf')],
      'clinical_missing_b',
    );
    const means = this.g.constF32('clinical_means', [k], f32(cols.map((c) => c.mean)));
    const filled = this.reshape(
      this.op('Where', [bad, means, x], 'clinical_filled'),
      [-1, k, 1],
      'clinical_values',
    );
    const ind = this.reshape(
      this.op('Cast', [bad], 'clinical_missing', { to: DataType.FLOAT }),
      [-1, k, 1],
      'clinical_ind',
    );
    const pairs = this.op('Concat', [filled, ind], 'clinical_pairs', { axis: 2 });
    return this.reshape(pairs, [-1, 2 * k], 'clinical_encoded');
  }

  private async features(m: LinearMember, hint: string): Promise<string> {
    const f = m.features;
    const concat = (xs: string[]): string =>
      xs.length === 1 ? xs[0] : this.op('Concat', xs, `${hint}_x`, { axis: 1 });
    switch (f.kind) {
      case 'segment':
        return concat(f.views.map((v) => this.segmentMeans(v)));
      case 'pixel':
        return concat(f.views.map((v) => this.pixels(v, f.side)));
      case 'cnn-segments':
        return this.cnnFeatures(f, hint);
      case 'clinical':
        return this.clinicalFeatures(numericClinical(m));
    }
  }

  /** [batch, 1]: one member's logit, (x - mean) . (w / sd) + b. */
  async memberLogit(m: LinearMember, k: number): Promise<string> {
    const hint = `m${k}`;
    const x = await this.features(m, hint);
    const p = m.weights.length;
    const mean = this.g.constF32(`${hint}_mean`, [1, p], f32(m.mean));
    const w = this.g.constF32(`${hint}_weights`, [p, 1], f32(m.weights.map((wj, j) => wj / m.scale[j])));
    const centred = this.op('Sub', [x, mean], `${hint}_centred`);
    const z = this.op('MatMul', [centred, w], `${hint}_dot`);
    return this.op(
      'Add',
      [z, this.g.constF32(`${hint}_intercept`, [1], f32([m.intercept]))],
      `${hint}_logit`,
    );
  }

  /** [batch, 1]: the final logit from the members' logits (stacker, then temperature). */
  finalLogit(logits: string): string {
    const { stacker, temperature } = this.model;
    let z: string;
    if (stacker.C === null && stacker.weights.length === 1)
      z = logits; // the identity stacker
    else {
      const clipped = this.op(
        'Clip',
        [logits, this.scalar('neg_clip', -LOGIT_CLIP), this.scalar('pos_clip', LOGIT_CLIP)],
        'member_logits_clipped',
      );
      const a = this.g.constF32('stacker_weights', [stacker.weights.length, 1], f32(stacker.weights));
      const s = this.op('MatMul', [clipped, a], 'stacker_dot');
      z = this.op(
        'Add',
        [s, this.g.constF32('stacker_intercept', [1], f32([stacker.intercept]))],
        'stacker_logit',
      );
    }
    if (temperature === null) return z;
    // applyTemperature on probabilities: logit(p) clipped at p in [1e-6, 1 - 1e-6], / T
    const lim = logit(1);
    const c = this.op(
      'Clip',
      [z, this.scalar('neg_t_clip', -lim), this.scalar('pos_t_clip', lim)],
      'logit_t_clipped',
    );
    return this.op('Div', [c, this.scalar('temperature', temperature)], 'logit_calibrated');
  }
}

function transpose(m: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
  return t;
}

function valueInfo(name: string, dims: readonly (number | string)[]): ValueInfoProtoObj {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** Options of {@link polarModelToOnnx}. */
export interface PolarOnnxOptions {
  /** side of the square crops the uptake and RGB inputs take (the crops the model was trained on) */
  readonly cropSize: number;
  /** ONNX opset 13..17 (default 17) */
  readonly opset?: number;
  /** what the model is (a run's name), for the doc string */
  readonly source: string;
  /** more metadata_props */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The exported graph, its inputs and its metadata. */
export interface PolarOnnxExport {
  readonly bytes: Uint8Array;
  readonly inputs: PolarOnnxInput[];
  readonly outputs: string[];
  readonly metadata: Record<string, string>;
}

/**
 * Build the ONNX graph of a closed-form model (see the module comment). CNN members re-resolve
 * their recorded backbone weights, which must have the recorded sha256.
 * @throws InputError for a member that cannot be expressed (a categorical clinical column), other
 *   weights than the model was trained with, a bad crop size or opset.
 */
export async function polarModelToOnnx(model: PolarModel, o: PolarOnnxOptions): Promise<PolarOnnxExport> {
  const opset = o.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 13 || opset > 17)
    throw new InputError(`ONNX export: opset ${opset} is not supported (13..17)`);
  if (!Number.isInteger(o.cropSize) || o.cropSize < 17)
    throw new InputError(`ONNX export: crop size ${o.cropSize} must be a whole number of pixels >= 17`);
  const inputs = polarOnnxInputs(model, o.cropSize);
  const pg = new PolarGraph(model, o.cropSize);
  for (const i of inputs) pg.g.reserve(i.name);
  const { probability, memberLogits } = POLAR_ONNX_OUTPUTS;
  pg.g.reserve(probability);
  pg.g.reserve(memberLogits);
  const logits: string[] = [];
  for (const [k, m] of model.members.entries()) logits.push(await pg.memberLogit(m, k));
  const all =
    logits.length === 1 ? logits[0] : pg.g.node('Concat', logits, { axis: 1 }, 'member_logits_cat')[0];
  pg.g.node('Identity', [all], {}, 'member_logits_out', [memberLogits]);
  const p = pg.g.node('Sigmoid', [pg.finalLogit(all)], {}, 'p_cad_2d')[0];
  pg.g.node('Reshape', [p, pg.g.constI64('shape', [-1])], {}, 'p_cad_out', [probability]);
  const metadata: Record<string, string> = {
    'polarcad.format': POLAR_ONNX_FORMAT,
    'polarcad.source': o.source,
    'polarcad.recipe': model.recipe,
    'polarcad.views': JSON.stringify(model.views),
    'polarcad.colormap': model.colormap.name,
    'polarcad.crop_size': String(o.cropSize),
    'polarcad.inputs': JSON.stringify(inputs),
    'polarcad.outputs': JSON.stringify([probability, memberLogits]),
    'polarcad.members': JSON.stringify(model.members.map((m) => m.name)),
    'polarcad.classes': JSON.stringify(['normal', 'cad']),
    ...o.metadata,
  };
  const doc = [
    `polarcad closed-form model (${model.recipe}) exported from ${o.source}.`,
    'Inputs (float32):',
    ...inputs.map((i) => `  ${i.name} [${i.dims.join(', ')}]: ${i.description}`),
    `Outputs: ${probability} [batch]: P(CAD); ${memberLogits} [batch, ${model.members.length}]: the logits of the members ${model.members.map((m) => m.name).join(', ')}.`,
  ].join('\n');
  const bytes = encodeModel({
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: opset }],
    producer_name: 'polarcad',
    producer_version: '0.1.0',
    doc_string: doc,
    graph: {
      name: `polarcad_${model.recipe.replace(/-/g, '_')}`,
      node: pg.g.nodes,
      initializer: pg.g.initializers,
      input: inputs.map((i) => valueInfo(i.name, i.dims)),
      output: [valueInfo(probability, ['batch']), valueInfo(memberLogits, ['batch', model.members.length])],
    },
    metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return { bytes, inputs, outputs: [probability, memberLogits], metadata };
}

/** One input tensor: row-major float32 data and its dimensions. */
export interface PolarOnnxFeed {
  readonly data: Float32Array;
  readonly dims: number[];
}

function cropOf(p: PatientCrops, v: View, i: number, side: number): RgbImage {
  const img = p[v];
  if (img === undefined) throw new InputError(`patient ${i + 1}: view ${v} is missing`);
  if (img.width !== side || img.height !== side)
    throw new InputError(
      `patient ${i + 1}: the ${v} crop is ${img.width}x${img.height}, the graph takes ${side}x${side}`,
    );
  return img;
}

/**
 * The graph's inputs for `patients` (crops of side `cropSize`, every view of the model), computed
 * the way {@link PolarModelPredictor} reads them: the reference for feeding the exported graph.
 * @example
 * const feeds = polarOnnxFeeds(model, [crops], 256); // { uptake_stress_ac: { data, dims: [1, 256, 256] }, ... }
 */
export function polarOnnxFeeds(
  model: PolarModel,
  patients: readonly PatientCrops[],
  cropSize: number,
  clinical: readonly (ClinicalValues | undefined)[] = [],
): Record<string, PolarOnnxFeed> {
  const cm = colormapOfRecord(model.colormap);
  const n = patients.length;
  const out: Record<string, PolarOnnxFeed> = {};
  for (const input of polarOnnxInputs(model, cropSize)) {
    const per = input.dims.slice(1).reduce<number>((a, d) => a * (d as number), 1);
    const data = new Float32Array(n * per);
    patients.forEach((p, i) => {
      const at = i * per;
      if (input.kind === 'clinical') {
        const cols = model.members.flatMap((m) => numericClinical(m));
        cols.forEach((c, j) => {
          const raw = clinical[i]?.[c.name];
          data[at + j] = raw === undefined || raw.trim() === '' ? Number.NaN : Number(raw);
        });
        return;
      }
      const img = cropOf(p, input.view as View, i, cropSize);
      if (input.kind === 'rgb') data.set(img.data, at);
      else if (input.kind === 'uptake') {
        const { map, valid } = rgbToUptake(img, cm);
        for (let q = 0; q < per; q++) data[at + q] = valid[q] === 1 ? map.data[q] : Number.NaN;
      } else {
        const side = input.dims[1] as number;
        const grey = resizeRgb(uptakeImage(img, cm), side, side);
        for (let q = 0; q < per; q++) data[at + q] = grey.data[q * 3];
      }
    });
    out[input.name] = { data, dims: [n, ...input.dims.slice(1).map(Number)] };
  }
  return out;
}
