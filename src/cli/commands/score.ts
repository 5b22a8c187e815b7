/**
 * `polarcad score MANIFEST --out DIR [--colormap NAME|FILE] [--seed 1] [--split holdout|cv|all-train]
 *   [--folds 10 (or --k)] [--min-normals 20] [--normal-db FILE] [--save-normal-db FILE] [--input auto|prepared|raw]
 *   [--resamples 2000]`: the semi-quantitative baseline (library: src/evaluate/score-run.ts).
 */
import type { Command } from 'commander';
import { formatMetricsTable } from '../../evaluate/metrics-row.js';
import { SCORE_INPUTS, type ScoreInput } from '../../evaluate/semiquant-read.js';
import { SEMIQUANT_SPLITS, type SemiquantSplit } from '../../evaluate/semiquant.js';
import { scoreManifest } from '../../evaluate/score-run.js';
import { colormapOption, withColormap } from '../options/colormap.js';
import { loadNormalDatabase } from '../../polarmap/normal-database.js';
import { wholeNumber } from '../options/parse.js';
import { InputError } from '../../util/errors.js';
import { createProgress } from '../progress.js';
import { claimOutputDir, claimOutputFile } from '../../util/output.js';
import { withForce } from '../options/out.js';
import { addFoldsOption, foldsOf } from '../options/folds.js';

function parseChoice<T extends string>(name: string, s: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(s))
    throw new InputError(`${name} must be one of ${choices.join(', ')}, got "${s}"`);
  return s as T;
}

interface ScoreCliOptions {
  out: string;
  force?: boolean;
  colormap?: string;
  seed: string;
  split: string;
  folds?: string;
  k?: string;
  minNormals: string;
  normalDb?: string;
  saveNormalDb?: string;
  input: string;
  resamples: string;
  strict?: boolean;
}

const COLORMAP_SOURCE_WORDS = {
  given: 'given with --colormap',
  prepared: 'recorded by prepare',
  recognised: 'recognised',
} as const;

export function registerScore(program: Command): void {
  addFoldsOption(
    withColormap(withForce(program.command('score')), 'recognised among the built-in ones'),
    'folds for --split cv',
  )
    .description(
      'semi-quantitative baseline: segment scores, SSS/SRS/SDS, TPD and the published rules against a normal database fitted on the training normals; writes DIR/scores.csv, DIR/metrics.json, DIR/normal-db.json',
    )
    .argument(
      '<manifest>',
      'labelled manifest: prepared by `polarcad prepare`, or raw exports (docs/manifest.md)',
    )
    .requiredOption('--out <dir>', 'output folder (replaced only when the run succeeds)')
    .option('--seed <n>', 'seed of the split and of the bootstrap intervals', '1')
    .option(
      '--split <kind>',
      `holdout (stratified 80/20, as train), cv (k-fold, database refitted per fold) or all-train (resubstitution)`,
      'holdout',
    )
    .option('--min-normals <n>', 'normal training studies needed per view for the normal database', '20')
    .option('--normal-db <file>', 'use this normal database (JSON) instead of fitting one')
    .option('--save-normal-db <file>', 'also write the fitted normal database to this file')
    .option('--input <kind>', `auto (prepared if DIR has prepare's report.json), prepared or raw`, 'auto')
    .option('--resamples <n>', 'bootstrap resamples for the AUC and F1 intervals', '2000')
    .option(
      '--strict',
      'refuse a --normal-db fitted with maps in another colour map than the one read here (default: warn)',
    )
    .action(async (manifest: string, o: ScoreCliOptions) => {
      const split = parseChoice<SemiquantSplit>('--split', o.split, SEMIQUANT_SPLITS);
      const input = parseChoice<ScoreInput>('--input', o.input, SCORE_INPUTS);
      const seed = /^\d+$/.test(o.seed.trim()) ? Number(o.seed) : o.seed;
      const colormap = await colormapOption(o.colormap);
      const normalDb = o.normalDb === undefined ? undefined : await loadNormalDatabase(o.normalDb);
      await claimOutputDir(o.out, 'score', {
        inputs: [manifest, ...(o.normalDb !== undefined ? [o.normalDb] : [])],
        force: o.force,
      });
      if (o.saveNormalDb !== undefined)
        await claimOutputFile(o.saveNormalDb, 'normaldb', {
          inputs: [manifest, ...(o.normalDb !== undefined ? [o.normalDb] : [])],
          option: '--save-normal-db',
        });
      const progress = createProgress('score');
      try {
        const r = await scoreManifest(manifest, {
          out: o.out,
          split,
          seed,
          folds: foldsOf(o),
          minNormals: wholeNumber('--min-normals', o.minNormals, { min: 2 }),
          resamples: wholeNumber('--resamples', o.resamples, { min: 1 }),
          input,
          ...(colormap ? { colormap } : {}),
          ...(normalDb ? { normalDb } : {}),
          ...(o.saveNormalDb === undefined ? {} : { saveNormalDb: o.saveNormalDb }),
          ...(o.strict === true ? { strict: true } : {}),
          onProgress: (done, total) => progress.update(done, total),
        });
        progress.stop();
        for (const w of [r.colormap.doubt, r.colormap.normalDbWarning])
          if (w !== null) process.stderr.write(`polarcad score: WARNING: ${w}\n`);
        const test = r.patients.filter((p) => p.split === 'test').length;
        process.stdout.write(
          `scored ${r.patients.length} patients (${r.raw ? 'raw exports' : 'prepared crops'}, colour map ${r.colormap.name} (${COLORMAP_SOURCE_WORDS[r.colormap.source]}${r.colormap.coverage !== null ? `, coverage ${(100 * r.colormap.coverage).toFixed(1)}%` : ''})) into ${r.out}\n` +
            `metrics on ${test} patients: ${r.evaluatedOn}\n\n${formatMetricsTable(r.metrics)}`,
        );
      } finally {
        progress.stop();
      }
    });
}
