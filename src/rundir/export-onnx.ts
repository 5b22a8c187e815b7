/**
 * `polarcad export MODEL_DIR --format onnx`: a saved TensorFlow.js layers model folder
 * (`model.json` + weight shards, optionally `polarcad.json` beside them) written as one
 * standalone ONNX file whose `metadata_props` document the preprocessing the model expects; a
 * closed-form run (`linear-model.json`) as one graph of its members and stacker
 * ({@link exportClosedForm}).
 * The `polarcad.json` format is described in docs/engine.md ("ONNX Runtime path").
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { ScalingMode } from '../domain/scaling.js';
import { loadTfjsFolder } from '../models/weights/tfjs-folder.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, errorMessage } from '../util/errors.js';
import { pathExists, readTextFile } from '../util/fs.js';
import { exportToOnnx } from '../engine/onnx/export.js';
import { DEFAULT_PREPARE_SIZE } from '../ingest/prepare.js';
import { polarModelToOnnx, type PolarOnnxInput } from '../models/linear/onnx-graph.js';
import { openLinearModel } from './linear.js';
import { isEnsembleModel, openEnsemble } from './ensemble.js';
import { exportEnsembleToOnnx } from '../engine/onnx/ensemble.js';
import { MODEL_FILES } from './files.js';
import { SavedModelInfoSchema, verifyChecksums, type SavedModelInfo } from './model.js';

/** `polarcad.json` as export reads it: every field optional (any tfjs folder can be exported). */
export const PolarcadModelInfo = SavedModelInfoSchema.partial();
export type PolarcadModelInfo = z.infer<typeof PolarcadModelInfo>;

/** What each scaling mode does to an RGB pixel in [0, 255] (Keras `preprocess_input`). */
export const SCALING_FORMULA: Readonly<Record<ScalingMode, string>> = {
  raw: 'x (RGB, 0..255, unchanged)',
  unit: 'x / 255 (RGB)',
  tf: 'x / 127.5 - 1 (RGB)',
  caffe: 'RGB -> BGR, then x - [103.939, 116.779, 123.68] (B, G, R)',
  torch: '(x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] (RGB)',
};

/** Options of {@link exportModelFolder}. */
export interface ExportFolderOptions {
  /** Output layer names (default: camLayer + model outputs when camLayer is given, else the model outputs). */
  outputs?: readonly string[];
  opset?: number;
}

/** Result of {@link exportModelFolder}. */
export interface ExportFolderResult {
  out: string;
  bytes: number;
  outputs: string[];
  metadata: Record<string, string>;
}

async function readInfo(dir: string): Promise<{ info: PolarcadModelInfo; text: string | null }> {
  const p = join(dir, MODEL_FILES.info);
  if (!(await pathExists(p))) return { info: {}, text: null };
  const text = await readTextFile(p);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${p}: not valid JSON (${errorMessage(e)})`);
  }
  const parsed = PolarcadModelInfo.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(`${p}: field "${issue.path.join('.') || '(root)'}": ${issue.message}`);
  }
  return { info: parsed.data, text };
}

/** Options of {@link exportClosedForm}. */
export interface ExportClosedFormOptions {
  /** side of the square crops the graph's uptake / RGB inputs take (default: prepare's, 256) */
  cropSize?: number;
  opset?: number;
  /** feature cache folder of the self-check (default: the engine's) */
  cacheDir?: string;
}

/** Result of {@link exportClosedForm}. */
export interface ExportClosedFormResult {
  out: string;
  bytes: number;
  inputs: PolarOnnxInput[];
  outputs: string[];
  metadata: Record<string, string>;
}

/** Does `dir` (a run or a model folder) hold a closed-form model (`linear-model.json`)? */
export async function isClosedFormModel(dir: string): Promise<boolean> {
  for (const d of [dir, join(dir, 'model')]) if (await pathExists(join(d, MODEL_FILES.linear))) return true;
  return false;
}

/**
 * Export a closed-form run (`train --model hybrid|cnn-segments|segment-logistic|pixel-logistic`)
 * or its model folder to the ONNX file `out` (written atomically): the model is opened as predict
 * opens it (complete run, checksum, self-check), then built as one graph
 * (src/models/linear/onnx-graph.ts) whose inputs, outputs and preprocessing are in its
 * doc_string and metadata_props.
 * @throws InputError for an unfinished or changed run, and for a member that cannot be expressed
 */
export async function exportClosedForm(
  runOrModel: string,
  out: string,
  opts: ExportClosedFormOptions = {},
): Promise<ExportClosedFormResult> {
  const opened = await openLinearModel(
    runOrModel,
    opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {},
  );
  await opened.predictor.dispose();
  const model = opened.predictor.model;
  const source = basename(opened.runDir ?? opened.modelDir);
  const r = await polarModelToOnnx(model, {
    cropSize: opts.cropSize ?? DEFAULT_PREPARE_SIZE,
    ...(opts.opset !== undefined ? { opset: opts.opset } : {}),
    source,
    metadata: { 'polarcad.json': JSON.stringify(opened.info) },
  });
  await writeFileAtomic(out, r.bytes);
  return { out, bytes: r.bytes.length, inputs: r.inputs, outputs: r.outputs, metadata: r.metadata };
}

/** Options of {@link exportEnsemble}. */
export interface ExportEnsembleOptions {
  opset?: number;
}

/**
 * Export a fold ensemble (`train --model cnn --ensemble K`; a run or its model folder) to the ONNX
 * file `out` (written atomically) as ONE graph: the members opened as predict opens them (complete
 * run, checksums, self-checks), each run on the one input, output `probabilities` = the mean of
 * the members' class probabilities (what predict, serve and evaluate compute), then each member's
 * probabilities (`member_K`) and its CAM-layer map (`member_K_<camLayer>`, the maps whose Grad-CAM
 * predict averages); the preprocessing is in the metadata as for one network.
 * @throws InputError for an unfinished or changed run and for layers the exporter does not support
 */
export async function exportEnsemble(
  runOrModel: string,
  out: string,
  opts: ExportEnsembleOptions = {},
): Promise<ExportFolderResult> {
  const opened = await openEnsemble(runOrModel);
  try {
    const { info } = opened;
    const k = opened.members.length;
    const cam = info.camLayer;
    const outputs = [
      'probabilities',
      ...opened.members.map((_, i) => `member_${i + 1}`),
      ...(cam !== undefined ? opened.members.map((_, i) => `member_${i + 1}_${cam}`) : []),
    ];
    const [, h, w, c] = opened.members[0].inputs[0].shape;
    const metadata: Record<string, string> = {
      'polarcad.format': 'polarcad-onnx/1',
      'polarcad.source': basename(opened.runDir ?? opened.modelDir),
      'polarcad.kind': 'ensemble',
      'polarcad.ensemble': `fold ensemble of ${k} members; probabilities = mean of the members' class probabilities`,
      'polarcad.input_name': 'input',
      'polarcad.input_layout': 'NHWC float32 [batch, height, width, channels]',
      'polarcad.input_shape': JSON.stringify(['batch', h ?? 'height', w ?? 'width', c ?? 'channels']),
      'polarcad.input_size': String(info.inputSize),
      'polarcad.scaling': info.scaling,
      'polarcad.scaling_formula': SCALING_FORMULA[info.scaling],
      'polarcad.outputs': JSON.stringify(outputs),
      'polarcad.output_layout': 'channels-last (as TensorFlow.js)',
      'polarcad.backbone': info.backbone,
      'polarcad.json': JSON.stringify(info),
    };
    if (info.classes !== undefined) metadata['polarcad.classes'] = JSON.stringify(info.classes);
    if (cam !== undefined) metadata['polarcad.cam_layer'] = cam;
    const bytes = exportEnsembleToOnnx(opened.members, {
      ...(cam !== undefined ? { memberLayer: cam } : {}),
      ...(opts.opset !== undefined ? { opset: opts.opset } : {}),
      metadata,
      docString: `polarcad fold ensemble of ${k} members exported from ${metadata['polarcad.source']}; input ${metadata['polarcad.input_layout']}, scaling: ${metadata['polarcad.scaling_formula']}; output probabilities = mean of the members' probabilities`,
    });
    await writeFileAtomic(out, bytes);
    return { out, bytes: bytes.length, outputs, metadata };
  } finally {
    opened.dispose();
  }
}

/**
 * Export the tfjs layers model in `modelDir` (a folder or its model.json) to the ONNX file `out`
 * (written atomically), with the preprocessing in the metadata.
 * @throws InputError for a missing / malformed model or polarcad.json, unknown output layers and
 *   layers the exporter does not support.
 */
export async function exportModelFolder(
  modelDir: string,
  out: string,
  opts: ExportFolderOptions = {},
): Promise<ExportFolderResult> {
  const abs = resolve(modelDir);
  let dir = abs;
  try {
    if (!(await stat(abs)).isDirectory()) dir = dirname(abs);
  } catch {
    throw new InputError(`${abs}: no such model folder or model.json`);
  }
  if (await isClosedFormModel(dir))
    throw new InputError(
      `${abs}: a closed-form model; export it with exportClosedForm (polarcad export does this by itself)`,
    );
  if (await isEnsembleModel(dir))
    throw new InputError(
      `${abs}: a fold ensemble; export it with exportEnsemble (polarcad export does this by itself)`,
    );
  const { info, text } = await readInfo(dir);
  await verifyChecksums(dir, info as SavedModelInfo);
  const model = await loadTfjsFolder(abs);
  try {
    const input = model.inputs[0];
    const [, h, w, c] = input.shape;
    if (model.inputs.length !== 1 || input.shape.length !== 4) {
      throw new InputError(
        `${abs}: expected a model with one image input [batch, H, W, C], got ${model.inputs.length} input(s) of shape [${input.shape.join(', ')}]`,
      );
    }
    if (
      info.inputSize !== undefined &&
      ((h !== null && h !== info.inputSize) || (w !== null && w !== info.inputSize))
    ) {
      throw new InputError(
        `${join(dir, 'polarcad.json')}: field "inputSize": ${info.inputSize} does not match the model input ${h}x${w}`,
      );
    }
    const defaultOutputs = model.outputs.map((t) => t.sourceLayer.name);
    const outputs =
      opts.outputs !== undefined
        ? [...opts.outputs]
        : info.camLayer !== undefined
          ? [info.camLayer, ...defaultOutputs.filter((n) => n !== info.camLayer)]
          : defaultOutputs;
    const metadata: Record<string, string> = {
      'polarcad.format': 'polarcad-onnx/1',
      'polarcad.source': basename(dir),
      'polarcad.input_name': 'input',
      'polarcad.input_layout': 'NHWC float32 [batch, height, width, channels]',
      'polarcad.input_shape': JSON.stringify(['batch', h ?? 'height', w ?? 'width', c ?? 'channels']),
      'polarcad.input_size': String(info.inputSize ?? h ?? ''),
      'polarcad.scaling': info.scaling ?? 'unspecified',
      'polarcad.scaling_formula':
        info.scaling !== undefined ? SCALING_FORMULA[info.scaling] : 'unspecified (no polarcad.json)',
      'polarcad.outputs': JSON.stringify(outputs),
      'polarcad.output_layout': 'channels-last (as TensorFlow.js)',
    };
    if (info.backbone !== undefined) metadata['polarcad.backbone'] = info.backbone;
    if (info.classes !== undefined) metadata['polarcad.classes'] = JSON.stringify(info.classes);
    if (info.camLayer !== undefined) metadata['polarcad.cam_layer'] = info.camLayer;
    if (text !== null) metadata['polarcad.json'] = text;
    const bytes = exportToOnnx(model, {
      outputs,
      opset: opts.opset,
      metadata,
      docString: `polarcad model exported from ${basename(dir)}; input ${metadata['polarcad.input_layout']}, scaling: ${metadata['polarcad.scaling_formula']}`,
    });
    await writeFileAtomic(out, bytes);
    return { out, bytes: bytes.length, outputs, metadata };
  } finally {
    model.dispose();
  }
}
