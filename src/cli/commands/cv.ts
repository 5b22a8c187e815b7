/**
 * `polarcad cv MANIFEST --backbone NAME --k 10 --out DIR [train options]`: k-fold cross-validation
 * of a training configuration end to end (library: src/workflows/cv.ts), then the report.
 */
import type { Command } from 'commander';
import { runCrossValidation } from '../../workflows/cv.js';
import { formatMetricsTable } from '../../evaluate/metrics-row.js';
import { writeReport } from '../../report/html.js';
import { addFoldsOption, foldsOf } from '../options/folds.js';
import { InputError } from '../../util/errors.js';
import { claimOutputDir } from '../../util/output.js';
import { withForce } from '../options/out.js';
import { queueFoldRunner, sharedPath } from '../../workflows/queue/index.js';
import { parseQueueCli, withQueueOptions, type QueueCli } from '../options/queue.js';
import { progressHook } from './experiment-options.js';
import { trainProgress } from './train.js';
import {
  addTrainingOptions,
  parseTrainingOptions,
  wholeOption,
  type TrainingCli,
} from '../options/training.js';

interface CvCli extends TrainingCli, QueueCli {
  backbone?: string;
  folds?: string;
  k?: string;
  out?: string;
  force?: boolean;
  resamples: string;
  report: boolean;
}

export function registerCv(program: Command): void {
  const cmd = withForce(program.command('cv'))
    .description(
      'k-fold cross-validation of a training configuration end to end: per-fold and pooled results, epochs chosen inside each fold',
    )
    .argument('<manifest>', 'manifest.csv written by `polarcad prepare`')
    .option('--backbone <name>', 'backbone from `polarcad models`')
    .option('--out <dir>', 'output folder');
  addFoldsOption(cmd, 'folds (Apostolopoulos et al. 2020: 10)');
  addTrainingOptions(cmd, {
    augment: 'class-balanced rotation augmentation of each training part to N items (0 = off)',
    seed: 'seed of the folds, splits, initialisation and intervals',
    inputSize: 'override the input side (only with --weights none)',
    cacheDir: 'feature cache folder (default OUT/.cache)',
  })
    .option('--resamples <n>', 'bootstrap resamples for the pooled AUC and F1 intervals', '2000')
    .option('--no-report', 'do not write report.html');
  withQueueOptions(cmd).action(async (manifest: string, c: CvCli) => {
    if (c.backbone === undefined) throw new InputError('cv: --backbone is required (see `polarcad models`)');
    if (c.out === undefined) throw new InputError('cv: --out DIR is required');
    const queue = parseQueueCli(c);
    if (queue !== undefined) {
      // before anything is written: workers find the manifest and write the folds under the shared folder
      sharedPath(manifest, queue.sharedDir);
      sharedPath(c.out, queue.sharedDir, 'the output folder (workers write the folds there)');
    }
    await claimOutputDir(c.out, 'cv', { inputs: [manifest], force: c.force, create: true });
    const progress = progressHook();
    const epochs = trainProgress('bar');
    const r = await runCrossValidation(
      {
        manifest,
        out: c.out,
        backbone: c.backbone,
        k: foldsOf(c),
        ...parseTrainingOptions(c),
        resamples: wholeOption('--resamples', c.resamples),
        onFold: (f, k) => {
          epochs.stopBar();
          process.stderr.write(`fold ${f}/${k}\n`);
        },
        ...(queue !== undefined
          ? {
              runner: queueFoldRunner({
                ...queue,
                log: (line) => process.stderr.write(`${line}\n`),
                onProgress: progress.update,
              }),
            }
          : {}),
      },
      {
        onWarning: (m) => process.stderr.write(`${m}\n`),
        // in process: each fold's training events, as `train` prints them (bars on a terminal,
        // else a line every 10 epochs with the stage's ETA); queued folds report through the queue
        ...(queue === undefined ? { onEvent: epochs.onEvent } : {}),
      },
    ).finally(() => {
      epochs.stopBar();
      progress.stop();
    });
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
