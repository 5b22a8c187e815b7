/**
 * `polarcad evaluate MODEL_OR_RUN_DIR MANIFEST --out DIR [--threshold 0.5 | --sensitivity 0.9]`:
 * a saved model on a labelled manifest (library: src/workflows/evaluate.ts), then the report.
 */
import type { Command } from 'commander';
import { evaluateModel } from '../../workflows/evaluate.js';
import { isLinearModel } from '../../rundir/linear.js';
import { evaluateLinear } from '../../workflows/evaluate-linear.js';
import { formatMetricsTable } from '../../evaluate/metrics-row.js';
import { writeReport } from '../../report/html.js';
import { InputError } from '../../util/errors.js';
import { createProgress } from '../progress.js';
import { claimOutputDir } from '../../util/output.js';
import { withForce } from '../options/out.js';

function fraction(name: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v)) throw new InputError(`${name} must be a number, got "${s}"`);
  return v;
}

export function registerEvaluate(program: Command): void {
  withForce(program.command('evaluate'))
    .description(
      'evaluate a saved model on a labelled manifest: metric table with 95% CIs, DIR/predictions.csv, DIR/metrics.json, DIR/report.html',
    )
    .argument('<model>', 'run directory of `polarcad train` (or its model/ folder)')
    .argument('<manifest>', 'labelled manifest.csv of prepared polar maps (`polarcad prepare`)')
    .requiredOption('--out <dir>', 'output folder (replaced only when the run succeeds)')
    .option('--threshold <t>', 'operating threshold on P(CAD) (default 0.5)')
    .option(
      '--sensitivity <s>',
      "choose the threshold on the run's validation patients to reach this sensitivity",
    )
    .option('--seed <n>', 'bootstrap seed', '1')
    .option('--resamples <n>', 'bootstrap resamples for the AUC and F1 intervals', '2000')
    .option(
      '--allow-overlap',
      'evaluate patients the run trained or selected on too, reported apart with a warning (default: refuse them)',
    )
    .option(
      '--by <columns>',
      'comma-separated categorical columns to report subgroups by, with 95% CIs (default: sex, when the manifest has it)',
    )
    .option('--no-report', 'do not write report.html')
    .option('--pdf', 'also write the report as PDF (report.pdf)')
    .action(
      async (
        model: string,
        manifest: string,
        o: {
          out: string;
          threshold?: string;
          sensitivity?: string;
          seed: string;
          resamples: string;
          report: boolean;
          allowOverlap?: boolean;
          by?: string;
          pdf?: boolean;
          force?: boolean;
        },
      ) => {
        if (!/^\d+$/.test(o.resamples.trim()) || Number(o.resamples) < 1)
          throw new InputError(`--resamples must be a whole number >= 1, got "${o.resamples}"`);
        await claimOutputDir(o.out, 'evaluate', { inputs: [model, manifest], force: o.force });
        const progress = createProgress('evaluate');
        try {
          const r = await ((await isLinearModel(model)) ? evaluateLinear : evaluateModel)(model, manifest, {
            out: o.out,
            threshold: fraction('--threshold', o.threshold),
            sensitivity: fraction('--sensitivity', o.sensitivity),
            seed: /^\d+$/.test(o.seed.trim()) ? Number(o.seed) : o.seed,
            resamples: Number(o.resamples),
            allowOverlap: o.allowOverlap === true,
            ...(o.by !== undefined ? { by: o.by.split(',').map((c) => c.trim()) } : {}),
            onProgress: (_s, d, t) => progress.update(d, t),
          });
          progress.stop();
          if (r.overlapWarning !== undefined) process.stderr.write(`warning: ${r.overlapWarning}\n`);
          process.stdout.write(
            `threshold ${r.threshold.value} (${r.threshold.rule})\n\n${formatMetricsTable(r.rows)}\n${r.subgroups.length > 0 ? `subgroups (95% CI):\n${formatMetricsTable(r.subgroups.map((g) => ({ ...g.row, name: `${g.column}=${g.value}` })))}\n` : ''}written to ${r.out}\n`,
          );
          if (o.report) {
            const rep = await writeReport(r.out, o.pdf === true ? { pdf: true } : {});
            process.stdout.write(`report: ${rep.html}\n${rep.pdf !== undefined ? `PDF: ${rep.pdf}\n` : ''}`);
          }
        } finally {
          progress.stop();
        }
      },
    );
}
