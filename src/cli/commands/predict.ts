/**
 * `polarcad predict MODEL IMAGES... | --manifest M [--format table|csv|json] [--out DIR]
 *   [--normal-db FILE] [--colormap SPEC] [--layout L] [--threads N]`: CAD probability, decision,
 * territory summary, SSS/SRS/SDS (with a normal database) and Grad-CAM overlays per study
 * (library: src/workflows/predict.ts).
 */
import { parseClinicalValues } from '../../models/linear/clinical.js';
import type { Command } from 'commander';
import { parseLayout } from '../../ingest/manifest.js';
import { loadPredictor } from '../../predict/predictor.js';
import {
  PREDICT_FORMATS,
  formatCsv,
  formatJson,
  formatTable,
  runPredict,
  type PredictFormat,
} from '../../workflows/predict.js';
import { colormapOption, withColormap } from '../options/colormap.js';
import { loadNormalDatabase } from '../../polarmap/normal-database.js';
import { InputError } from '../../util/errors.js';
import { createProgress } from '../progress.js';
import { claimOutputDir } from '../../util/output.js';
import { withForce } from '../options/out.js';

interface PredictCliOptions {
  manifest?: string;
  clinicalValues?: string;
  format: string;
  out?: string;
  normalDb?: string;
  colormap?: string;
  layout?: string;
  threads?: string;
  force?: boolean;
  strict?: boolean;
  pdf?: boolean;
  dicom?: boolean;
}

export function registerPredict(program: Command): void {
  withColormap(
    withForce(program.command('predict')),
    'the one recorded with the trained run, else recognised in each study',
  )
    .description(
      'CAD probability, decision at the operating threshold, Grad-CAM territory summary and (with --normal-db) SSS/SRS/SDS for each study; export pages or single maps, JPEG, PNG or DICOM',
    )
    .argument('<model>', 'run directory of polarcad train (or a model folder with polarcad.json)')
    .argument(
      '[images...]',
      'export pages, or single maps named after their view (P001_stress_ac.png ...); maps of one patient form one study',
    )
    .option('--manifest <file>', 'a manifest (docs/manifest.md) instead of image files: one study per row')
    .option('--format <f>', `output: ${PREDICT_FORMATS.join(', ')}`, 'table')
    .option('--out <dir>', "write each study's Grad-CAM overlay figure there (<study>.gradcam.png)")
    .option('--normal-db <file>', 'normal database (polarcad score --save-normal-db) for SSS/SRS/SDS')
    .option('--layout <layout>', 'layout of export pages (default stress_ac,rest_ac/stress_nac,rest_nac)')
    .option(
      '--clinical-values <list>',
      'clinical values for a model trained with --clinical, e.g. age=63,sex=M (missing ones are imputed, with a warning)',
    )
    .option('--threads <n>', 'ONNX Runtime threads (default: every core)')
    .option(
      '--strict',
      "refuse a study whose colour map is not the model's training colour map (default: warn)",
    )
    .option('--pdf', "with --out: each study's result as a PDF (<study>.pdf)")
    .option(
      '--dicom',
      "with --out: each study's result as DICOM: a Secondary Capture of the overlay (<study>.sc.dcm) and an Encapsulated PDF (<study>.pdf.dcm), in the input's study when the input is DICOM",
    )
    .action(async (model: string, images: string[], o: PredictCliOptions) => {
      if ((o.pdf === true || o.dicom === true) && o.out === undefined)
        throw new InputError(`--${o.pdf === true ? 'pdf' : 'dicom'} writes files: give --out DIR`);
      if (!(PREDICT_FORMATS as readonly string[]).includes(o.format))
        throw new InputError(`--format must be one of ${PREDICT_FORMATS.join(', ')}, got "${o.format}"`);
      const layout = o.layout === undefined ? undefined : parseLayout(o.layout);
      if (typeof layout === 'string') throw new InputError(`--layout: ${layout}`);
      const threads = o.threads === undefined ? undefined : Number(o.threads);
      if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1))
        throw new InputError(`--threads must be a positive integer, got "${o.threads}"`);
      if (o.out !== undefined)
        await claimOutputDir(o.out, 'predict', { inputs: [model, ...images], force: o.force, create: true });
      const normalDb = o.normalDb === undefined ? undefined : await loadNormalDatabase(o.normalDb);
      const colormap = await colormapOption(o.colormap);
      const predictor = await loadPredictor(model, {
        ...(normalDb ? { normalDb } : {}),
        ...(threads !== undefined ? { threads } : {}),
      });
      const progress = createProgress('predict');
      try {
        const rows = await runPredict(predictor, {
          images,
          ...(o.manifest !== undefined ? { manifest: o.manifest } : {}),
          ...(o.out !== undefined ? { out: o.out } : {}),
          ...(layout !== undefined ? { layout } : {}),
          ...(colormap !== undefined ? { colormap } : {}),
          ...(o.strict === true ? { strict: true } : {}),
          ...(o.clinicalValues !== undefined ? { clinical: parseClinicalValues(o.clinicalValues) } : {}),
          ...(o.pdf === true ? { pdf: true } : {}),
          ...(o.dicom === true ? { dicom: true } : {}),
          onProgress: (d, t) => progress.update(d, t),
        });
        progress.stop();
        const format = o.format as PredictFormat;
        process.stdout.write(
          format === 'json' ? formatJson(rows) : format === 'csv' ? formatCsv(rows) : formatTable(rows),
        );
        for (const r of rows)
          for (const w of r.result?.warnings ?? [])
            process.stderr.write(`polarcad predict: WARNING: ${r.study}: ${w}\n`);
        const bad = rows.filter((r) => r.error !== null);
        if (bad.length > 0) {
          throw new InputError(
            `${bad.length} of ${rows.length} stud${rows.length === 1 ? 'y' : 'ies'} could not be read:\n${bad.map((r) => `  - ${r.study}: ${r.error}`).join('\n')}`,
          );
        }
      } finally {
        progress.stop();
        await predictor.dispose();
      }
    });
}
