/**
 * `polarcad export MODEL --out FILE [--format onnx]`: a trained model as a standalone ONNX file.
 * A network (a TensorFlow.js layers model folder, or a run's model/) is converted layer by layer;
 * a closed-form run (`train --model hybrid|cnn-segments|segment-logistic|pixel-logistic`) becomes
 * one graph of its members and stacker (src/models/linear/onnx-graph.ts). `--out` follows the rule
 * of every command (src/util/output.ts): a new file, or an ONNX file polarcad exported, outside
 * the model folder.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_PREPARE_SIZE } from '../../ingest/prepare.js';
import {
  exportClosedForm,
  exportEnsemble,
  exportModelFolder,
  isClosedFormModel,
} from '../../rundir/export-onnx.js';
import { isEnsembleModel } from '../../rundir/ensemble.js';
import { InputError } from '../../util/errors.js';
import { claimOutputFile } from '../../util/output.js';
import { wholeOption } from '../options/parse.js';

/** The model folder of `model` (a folder, or its model.json). */
async function modelFolderOf(model: string): Promise<string> {
  try {
    return (await stat(model)).isDirectory() ? model : dirname(model);
  } catch {
    return model; // a missing model is reported by the exporter
  }
}

interface ExportOptions {
  format: string;
  out: string;
  outputs?: string;
  opset: string;
  cropSize?: string;
}

async function exportClosedFormRun(model: string, opts: ExportOptions, opset: number): Promise<void> {
  if (opts.outputs !== undefined)
    throw new InputError(
      `--outputs: ${model} is a closed-form model; its graph's outputs are always p_cad and member_logits`,
    );
  const cropSize = wholeOption('--crop-size', opts.cropSize, { min: 17 });
  const r = await exportClosedForm(model, opts.out, {
    opset,
    ...(cropSize !== undefined ? { cropSize } : {}),
  });
  process.stdout.write(
    `wrote ${r.out} (${(r.bytes / 2 ** 20).toFixed(1)} MiB; closed-form ${r.metadata['polarcad.recipe']}; inputs: ${r.inputs.map((i) => `${i.name} [${i.dims.join('x')}]`).join(', ')}; outputs: ${r.outputs.join(', ')})\n`,
  );
}

async function exportEnsembleRun(model: string, opts: ExportOptions, opset: number): Promise<void> {
  if (opts.outputs !== undefined)
    throw new InputError(
      `--outputs: ${model} is a fold ensemble; its graph's outputs are always probabilities (the members' mean), member_K and member_K_<camLayer>`,
    );
  const r = await exportEnsemble(model, opts.out, { opset });
  process.stdout.write(
    `wrote ${r.out} (${(r.bytes / 2 ** 20).toFixed(1)} MiB; ${r.metadata['polarcad.ensemble']}; outputs: ${r.outputs.join(', ')}; scaling: ${r.metadata['polarcad.scaling']})\n`,
  );
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write a trained model as a standalone ONNX file: a network (a TensorFlow.js layers model folder: model.json + weights [+ polarcad.json], e.g. RUN/model) layer by layer; a fold ensemble (train --ensemble K) as one graph averaging its members; a closed-form run (--model hybrid|cnn-segments|segment-logistic|pixel-logistic) as one graph from the uptake / grey / RGB images of each view to P(CAD) and the member logits (inputs documented in the file and in docs/export.md)',
    )
    .argument('<model>', 'run directory, model folder (or its model.json)')
    .requiredOption('--out <file>', 'ONNX file to write')
    .option('--format <format>', "output format (only 'onnx')", 'onnx')
    .option(
      '--outputs <layers>',
      'networks only: comma-separated layer names to expose as outputs (default: camLayer from polarcad.json + model outputs)',
    )
    .option(
      '--crop-size <pixels>',
      `closed-form runs only: side of the square crops the uptake and RGB inputs take (the --size of prepare; default ${DEFAULT_PREPARE_SIZE})`,
    )
    .option('--opset <n>', 'ONNX opset 13..17', '17')
    .action(async (model: string, opts: ExportOptions) => {
      if (opts.format !== 'onnx')
        throw new InputError(`--format: unsupported format "${opts.format}" (only "onnx")`);
      const opset = Number(opts.opset);
      if (!Number.isInteger(opset)) throw new InputError(`--opset: "${opts.opset}" is not an integer`);
      await claimOutputFile(opts.out, 'onnx', { inputs: [await modelFolderOf(model)] });
      if (await isClosedFormModel(await modelFolderOf(model))) return exportClosedFormRun(model, opts, opset);
      if (opts.cropSize !== undefined)
        throw new InputError(`--crop-size: ${model} is a network; it applies to closed-form runs only`);
      if (await isEnsembleModel(model)) return exportEnsembleRun(model, opts, opset);
      const outputs = opts.outputs
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      const r = await exportModelFolder(model, opts.out, { outputs, opset });
      process.stdout.write(
        `wrote ${r.out} (${(r.bytes / 2 ** 20).toFixed(1)} MiB; outputs: ${r.outputs.join(', ')}; scaling: ${r.metadata['polarcad.scaling']})\n`,
      );
    });
}
