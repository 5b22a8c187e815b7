/**
 * `polarcad cv MANIFEST --backbone NAME --k 10 --out DIR [train options]`: k-fold cross-validation
 * of a training configuration end to end (library: src/evaluate/cv-run.ts), then the report.
 */
import type { Command } from 'commander';
import { runCrossValidation } from '../../evaluate/cv-run.js';
import { formatMetricsTable } from '../../evaluate/metrics-row.js';
import { writeReport } from '../../report/html.js';
import { INPUT_MODES, type InputMode } from '../../train/run.js';
import { InputError } from '../../util/errors.js';

function int(name: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s.trim())) throw new InputError(`${name} must be a whole number, got "${s}"`);
  return Number(s);
}

interface CvCli {
  backbone?: string;
  k: string;
  out?: string;
  weights: string;
  input: string;
  head: string;
  warmupEpochs: string;
  finetuneEpochs: string;
  batchSize: string;
  unfreeze?: string;
  augment: string;
  seed: string;
  patience?: string;
  inputSize?: string;
  cacheDir?: string;
  resamples: string;
  report: boolean;
}

export function registerCv(program: Command): void {
  program
    .command('cv')
    .description(
      'k-fold cross-validation of a training configuration end to end: per-fold and pooled results, epochs chosen inside each fold',
    )
    .argument('<manifest>', 'manifest.csv written by `polarcad prepare`')
    .option('--backbone <name>', 'backbone from `polarcad models`')
    .option('--k <n>', 'folds (Apostolopoulos et al. 2020: 10)', '10')
    .option('--out <dir>', 'output folder')
    .option('--weights <w>', 'imagenet | none | PATH', 'imagenet')
    .option('--input <mode>', `model input: ${INPUT_MODES.join(' | ')}`, 'stress_ac')
    .option('--head <head>', 'hai | apostolopoulos', 'hai')
    .option('--warmup-epochs <n>', 'head-only epochs', '100')
    .option('--finetune-epochs <n>', 'fine-tuning epochs', '30')
    .option('--batch-size <n>', 'batch size', '16')
    .option(
      '--unfreeze <n>',
      'top backbone layers trainable when fine-tuning (default: Hai et al. Table 2 depth)',
    )
    .option(
      '--augment <n>',
      'class-balanced rotation augmentation of each training part to N items (0 = off)',
      '0',
    )
    .option('--seed <n>', 'seed of the folds, splits, initialisation and intervals', '1')
    .option('--patience <n>', 'early stopping patience')
    .option('--input-size <px>', 'override the input side (only with --weights none)')
    .option('--cache-dir <dir>', 'feature cache folder (default OUT/.cache)')
    .option('--resamples <n>', 'bootstrap resamples for the pooled AUC and F1 intervals', '2000')
    .option('--no-report', 'do not write report.html')
    .action(async (manifest: string, c: CvCli) => {
      if (c.backbone === undefined)
        throw new InputError('cv: --backbone is required (see `polarcad models`)');
      if (c.out === undefined) throw new InputError('cv: --out DIR is required');
      if (c.head !== 'hai' && c.head !== 'apostolopoulos')
        throw new InputError(`--head must be hai or apostolopoulos, got "${c.head}"`);
      const r = await runCrossValidation(
        {
          manifest,
          out: c.out,
          backbone: c.backbone,
          k: int('--k', c.k),
          weights: c.weights,
          input: c.input as InputMode,
          head: c.head,
          warmupEpochs: int('--warmup-epochs', c.warmupEpochs),
          finetuneEpochs: int('--finetune-epochs', c.finetuneEpochs),
          batchSize: int('--batch-size', c.batchSize),
          unfreeze: int('--unfreeze', c.unfreeze),
          augment: int('--augment', c.augment),
          seed: int('--seed', c.seed),
          patience: int('--patience', c.patience),
          inputSize: int('--input-size', c.inputSize),
          ...(c.cacheDir !== undefined ? { cacheDir: c.cacheDir } : {}),
          resamples: int('--resamples', c.resamples),
          onFold: (f, k) => process.stderr.write(`fold ${f}/${k}\n`),
        },
        { onWarning: (m) => process.stderr.write(`${m}\n`) },
      );
      const lines = r.cv.folds.map(
        (f) =>
          `fold ${f.fold + 1}: n ${f.metrics.n}, accuracy ${f.metrics.accuracy.toFixed(3)}, AUC ${Number.isFinite(f.metrics.auc) ? f.metrics.auc.toFixed(3) : 'n/a'}`,
      );
      const s = r.cv.summary;
      process.stdout.write(
        `${lines.join('\n')}\nmean ± SD over folds: accuracy ${s.accuracy.mean.toFixed(3)} ± ${s.accuracy.sd.toFixed(3)}, AUC ${s.auc.mean.toFixed(3)} ± ${s.auc.sd.toFixed(3)}\n\npooled out-of-fold (95% CI):\n${formatMetricsTable([r.pooled])}\nwritten to ${r.out}\n`,
      );
      if (c.report) process.stdout.write(`report: ${(await writeReport(r.out)).html}\n`);
    });
}
