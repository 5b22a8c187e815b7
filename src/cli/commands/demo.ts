/**
 * `polarcad demo [--out demo] [--quick]`: synthetic cohort -> prepare -> MobileNetV2 warm-up +
 * fine-tune -> held-out evaluation -> semi-quantitative baseline -> Grad-CAM -> report, offline on
 * the embedded default weights (library: src/workflows/demo.ts; docs/reports.md).
 */
import type { Command } from 'commander';
import { runDemo } from '../../workflows/demo.js';
import { withForce } from '../options/out.js';
import type { TrainEvent } from '../../train/trainer.js';
import { wholeOption } from '../options/parse.js';
import { createProgress, type Progress } from '../progress.js';

interface DemoCli {
  out: string;
  quick?: boolean;
  force?: boolean;
  patients?: string;
  seed: string;
  warmupEpochs?: string;
  finetuneEpochs?: string;
  weights: string;
  inputSize?: string;
  cacheDir?: string;
  heatmaps: boolean;
}

export function registerDemo(program: Command): void {
  withForce(program.command('demo'))
    .description(
      'the whole story offline: 218 synthetic patients, prepare, MobileNetV2 warm-up + fine-tune, held-out evaluation, semi-quantitative baseline, report',
    )
    .option('--out <dir>', 'output folder (a previous demo there is replaced)', 'demo')
    .option('--quick', 'small and fast: 40 patients, 4 + 2 epochs (a first look; tests)')
    .option('--patients <n>', 'number of synthetic patients (default 218, --quick 40)')
    .option('--seed <n>', 'seed of the cohort, split, training and intervals', '1')
    .option('--warmup-epochs <n>', 'warm-up epochs (default 100, --quick 4)')
    .option('--finetune-epochs <n>', 'fine-tuning epochs (default 30, --quick 2)')
    .option('--weights <w>', 'imagenet (Keras cache, else the embedded default) | none', 'imagenet')
    .option('--input-size <px>', 'input side (only with --weights none)')
    .option('--cache-dir <dir>', 'feature cache folder (default OUT/.cache)')
    .option('--no-heatmaps', 'skip the Grad-CAM heatmaps')
    .action(async (o: DemoCli) => {
      let bar: Progress | null = null;
      let label = '';
      const stop = (): void => {
        bar?.stop();
        bar = null;
      };
      const t0 = performance.now();
      const onProgress = (l: string, done: number, total: number): void => {
        if (l !== label) {
          stop();
          label = l;
          bar = createProgress(l);
        }
        bar?.update(done, total);
      };
      const onTrainEvent = (e: TrainEvent): void => {
        if (e.type === 'features') onProgress(`${e.stage} features`, e.done, e.total);
        else if (e.type === 'stage-start') onProgress(`${e.stage} epochs`, e.startEpoch - 1, e.epochs);
        else if (e.type === 'epoch') {
          onProgress(`${e.row.stage} epochs`, e.row.epoch, e.epochs);
          if (!process.stderr.isTTY && (e.row.epoch % 10 === 0 || e.row.epoch === e.epochs)) {
            process.stderr.write(
              `  ${e.row.stage} epoch ${e.row.epoch}/${e.epochs}: val_acc ${e.row.valAccuracy.toFixed(3)}\n`,
            );
          }
        }
      };
      try {
        const r = await runDemo({
          out: o.out,
          quick: o.quick === true,
          force: o.force === true,
          patients: wholeOption('--patients', o.patients, { min: 20 }),
          seed: wholeOption('--seed', o.seed, { min: 0 }),
          warmupEpochs: wholeOption('--warmup-epochs', o.warmupEpochs, { min: 0 }),
          finetuneEpochs: wholeOption('--finetune-epochs', o.finetuneEpochs, { min: 0 }),
          weights: o.weights,
          inputSize: wholeOption('--input-size', o.inputSize, { min: 32 }),
          ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
          heatmaps: o.heatmaps,
          onStep: (i, n, text) => {
            stop();
            process.stderr.write(`[${i}/${n}] ${text} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
          },
          onProgress,
          onTrainEvent,
          onWarning: (m) => {
            stop();
            process.stderr.write(`${m}\n`);
          },
        });
        stop();
        process.stdout.write(
          `\npolarcad demo: done in ${r.seconds.total.toFixed(0)} s\n\n${r.table}\nreport: ${r.report}\n`,
        );
      } finally {
        stop();
      }
    });
}
