/**
 * `polarcad demo [--out demo] [--quick]`: synthetic cohort -> prepare -> the default model beside the
 * network alone and both baselines -> held-out evaluation -> semi-quantitative baseline -> heatmaps
 * -> report, offline on the embedded default weights (library: src/workflows/demo.ts; docs/reports.md).
 */
import type { Command } from 'commander';
import { runDemo } from '../../workflows/demo.js';
import { withForce } from '../options/out.js';
import { wholeOption } from '../options/parse.js';
import { createProgress, formatDuration, stepClock, type Progress } from '../progress.js';

interface DemoCli {
  out: string;
  quick?: boolean;
  force?: boolean;
  patients?: string;
  seed: string;
  weights: string;
  cacheDir?: string;
  heatmaps: boolean;
}

export function registerDemo(program: Command): void {
  withForce(program.command('demo'))
    .description(
      'the whole story offline: 218 synthetic patients, prepare, the default model beside the network alone and every baseline on the same held-out patients, heatmaps, report',
    )
    .option('--out <dir>', 'output folder (a previous demo there is replaced)', 'demo')
    .option('--quick', 'small and fast: 40 patients (a first look; tests)')
    .option('--patients <n>', 'number of synthetic patients (default 218, --quick 40)')
    .option('--seed <n>', 'seed of the cohort, split, training and intervals', '1')
    .option('--weights <w>', 'imagenet (Keras cache, else the embedded default) | a weights file', 'imagenet')
    .option('--cache-dir <dir>', 'feature cache folder (default OUT/.cache)')
    .option('--no-heatmaps', 'skip the heatmaps')
    .action(async (o: DemoCli) => {
      let bar: Progress | null = null;
      let label = '';
      const stop = (): void => {
        bar?.stop();
        bar = null;
      };
      const steps = stepClock();
      let lastStep = 0;
      let stepCount = 0;
      // each step's own time, printed when it ends (the next step starts, or the demo ends)
      const stepDone = (ms: number | null): void => {
        if (ms !== null && lastStep > 0)
          process.stderr.write(`[${lastStep}/${stepCount}] done in ${formatDuration(ms)}\n`);
      };
      const onProgress = (l: string, done: number, total: number): void => {
        if (l !== label) {
          stop();
          label = l;
          bar = createProgress(l);
        }
        bar?.update(done, total);
      };
      try {
        const r = await runDemo({
          out: o.out,
          quick: o.quick === true,
          force: o.force === true,
          patients: wholeOption('--patients', o.patients, { min: 20 }),
          seed: wholeOption('--seed', o.seed, { min: 0 }),
          weights: o.weights,
          ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
          heatmaps: o.heatmaps,
          onStep: (i, n, text) => {
            stop();
            stepDone(steps.next());
            lastStep = i;
            stepCount = n;
            process.stderr.write(`[${i}/${n}] ${text}\n`);
          },
          onProgress,
          onWarning: (m) => {
            stop();
            process.stderr.write(`${m}\n`);
          },
        });
        stop();
        stepDone(steps.end());
        process.stdout.write(
          `\npolarcad demo: done in ${r.seconds.total.toFixed(0)} s\n\n${r.table}\nreport: ${r.report}\n`,
        );
      } finally {
        stop();
      }
    });
}
