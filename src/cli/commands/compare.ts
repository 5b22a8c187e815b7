/**
 * `polarcad compare RUN RUN... [--names a,b,c] --out DIR`: runs side by side on their common test
 * patients with paired DeLong (AUC) and McNemar (accuracy) tests, a Markdown and CSV table and the
 * ROC curves overlaid (library: src/workflows/compare.ts; docs/reports.md).
 */
import type { Command } from 'commander';
import { compareRuns } from '../../workflows/compare.js';
import { claimOutputDir } from '../../util/output.js';
import { withForce } from '../options/out.js';
import { InputError } from '../../util/errors.js';

export function registerCompare(program: Command): void {
  withForce(program.command('compare'))
    .description(
      'compare runs on their common test patients: metrics with 95% CIs, paired DeLong and McNemar tests, DIR/compare.md, compare.csv, pairs.csv, roc.svg',
    )
    .argument('<runs...>', 'two or more run directories (train, evaluate or cv folders)')
    .requiredOption('--out <dir>', 'output folder (replaced only when the comparison succeeds)')
    .option('--names <list>', 'comma-separated names of the runs, in order (default: their model names)')
    .option('--seed <n>', 'bootstrap seed of intervals recomputed on the common patients', '1')
    .action(async (runs: string[], o: { out: string; names?: string; seed: string; force?: boolean }) => {
      const names = o.names?.split(',').map((s) => s.trim());
      if (names !== undefined && names.some((n) => n === ''))
        throw new InputError(`--names: an empty name in "${o.names}"`);
      await claimOutputDir(o.out, 'compare', { inputs: runs, force: o.force });
      const r = await compareRuns(runs, {
        out: o.out,
        ...(names !== undefined ? { names } : {}),
        seed: /^\d+$/.test(o.seed.trim()) ? Number(o.seed) : o.seed,
      });
      process.stdout.write(`${r.markdown}\nwritten to ${r.out}\n`);
    });
}
