/**
 * `polarcad export MODEL_DIR --format onnx --out FILE`: a trained model as a standalone ONNX file.
 * `--out` follows the rule of every command (src/util/output.ts): a new file, or an ONNX file
 * polarcad exported, outside the model folder.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { exportModelFolder } from '../../rundir/export-onnx.js';
import { InputError } from '../../util/errors.js';
import { claimOutputFile } from '../../util/output.js';

/** The model folder of `model` (a folder, or its model.json). */
async function modelFolderOf(model: string): Promise<string> {
  try {
    return (await stat(model)).isDirectory() ? model : dirname(model);
  } catch {
    return model; // a missing model is reported by the exporter
  }
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write a saved TensorFlow.js layers model folder (model.json + weights [+ polarcad.json]) as a standalone ONNX file',
    )
    .argument('<model>', 'model folder (or its model.json)')
    .requiredOption('--format <format>', "output format (only 'onnx')")
    .requiredOption('--out <file>', 'ONNX file to write')
    .option(
      '--outputs <layers>',
      'comma-separated layer names to expose as outputs (default: camLayer from polarcad.json + model outputs)',
    )
    .option('--opset <n>', 'ONNX opset 13..17', '17')
    .action(async (model: string, opts: { format: string; out: string; outputs?: string; opset: string }) => {
      if (opts.format !== 'onnx')
        throw new InputError(`--format: unsupported format "${opts.format}" (only "onnx")`);
      const opset = Number(opts.opset);
      if (!Number.isInteger(opset)) throw new InputError(`--opset: "${opts.opset}" is not an integer`);
      const outputs = opts.outputs
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      await claimOutputFile(opts.out, 'onnx', { inputs: [await modelFolderOf(model)] });
      const r = await exportModelFolder(model, opts.out, { outputs, opset });
      process.stdout.write(
        `wrote ${r.out} (${(r.bytes / 2 ** 20).toFixed(1)} MiB; outputs: ${r.outputs.join(', ')}; scaling: ${r.metadata['polarcad.scaling']})\n`,
      );
    });
}
