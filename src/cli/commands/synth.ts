/**
 * `polarcad synth --out DIR [--patients 218] [--prevalence 0.51] [--seed 1] [--colormap rainbow]
 * [--layout single|page] [--format png|jpeg] [--difficulty realistic] [--no-grid] [--map-size 128]`:
 * a synthetic cohort with ground truth (library: src/synth, docs/synth.md).
 */
import type { Command } from 'commander';
import { BUILTIN_COLORMAPS, getColormap, isBuiltinColormap } from '../../polarmap/colormaps.js';
import { DIFFICULTIES, type Difficulty } from '../../synth/types.js';
import { synthesizeToDir } from '../../synth/synthesize.js';
import { DEFAULT_LAYOUT_SPEC, parseLayout } from '../../domain/layout.js';
import { isWhole } from '../options/parse.js';
import { InputError, InputErrors } from '../../util/errors.js';
import { createProgress } from '../progress.js';
import { claimOutputDir } from '../../util/output.js';
import { withForce } from '../options/out.js';

interface SynthCliOptions {
  out: string;
  force?: boolean;
  patients: string;
  prevalence: string;
  seed: string;
  colormap: string;
  layout: string;
  pageLayout: string;
  format: string;
  difficulty: string;
  grid: boolean;
  mapSize: string;
  idPrefix: string;
  workers?: string;
  volumes?: boolean;
}

export function registerSynth(program: Command): void {
  withForce(program.command('synth'))
    .description(
      'generate a synthetic SPECT MPI polar-map cohort with ground truth: images, manifest.csv, ground_truth.csv',
    )
    .requiredOption('--out <dir>', 'output folder (replaced only when the run succeeds)')
    .option('--patients <n>', 'number of patients', '218')
    .option('--prevalence <p>', 'fraction with CAD, 0..1 (Hai et al. 2022: 0.51)', '0.51')
    .option('--seed <seed>', 'random seed (number or text); same seed, same bytes', '1')
    .option('--colormap <name>', BUILTIN_COLORMAPS.join('|'), 'rainbow')
    .option('--layout <layout>', 'single (one image per map) or page (one export page per patient)', 'single')
    .option('--page-layout <spec>', 'disc arrangement of pages (docs/manifest.md)', DEFAULT_LAYOUT_SPEC)
    .option('--format <format>', 'png or jpeg', 'png')
    .option('--difficulty <level>', DIFFICULTIES.join('|'), 'realistic')
    .option('--no-grid', 'do not draw the 17-segment grid and numbers over the maps')
    .option('--map-size <pixels>', 'side of the simulated polar-map raster', '128')
    .option(
      '--id-prefix <text>',
      'first letters of the patient ids (P0001, ...); another prefix gives an independent cohort whose ids cannot clash',
      'P',
    )
    .option('--workers <n>', 'worker threads (default: cores, at most 4)')
    .option(
      '--volumes',
      'also write 3-D SPECT volumes (NIfTI) of every map with their true geometry and maps, and volumes.csv',
    )
    .action(async (o: SynthCliOptions) => {
      const problems: string[] = [];
      if (!isWhole(o.patients) || Number(o.patients) < 1)
        problems.push(`--patients: must be a whole number >= 1, got "${o.patients}"`);
      const prevalence = Number(o.prevalence);
      if (o.prevalence.trim() === '' || !(prevalence >= 0 && prevalence <= 1))
        problems.push(`--prevalence: must be a number in [0, 1], got "${o.prevalence}"`);
      if (!isBuiltinColormap(o.colormap))
        problems.push(`--colormap: must be one of ${BUILTIN_COLORMAPS.join(', ')}, got "${o.colormap}"`);
      if (o.layout !== 'single' && o.layout !== 'page')
        problems.push(`--layout: must be single or page, got "${o.layout}"`);
      if (o.format !== 'png' && o.format !== 'jpeg')
        problems.push(`--format: must be png or jpeg, got "${o.format}"`);
      if (!(DIFFICULTIES as readonly string[]).includes(o.difficulty))
        problems.push(`--difficulty: must be one of ${DIFFICULTIES.join(', ')}, got "${o.difficulty}"`);
      if (!isWhole(o.mapSize) || Number(o.mapSize) < 16 || Number(o.mapSize) > 1024)
        problems.push(`--map-size: must be a whole number in [16, 1024], got "${o.mapSize}"`);
      if (o.workers !== undefined && (!isWhole(o.workers) || Number(o.workers) < 1))
        problems.push(`--workers: must be a whole number >= 1, got "${o.workers}"`);
      if (o.seed.trim() === '') problems.push('--seed: must not be empty');
      if (!/^[A-Za-z][A-Za-z0-9_-]{0,15}$/.test(o.idPrefix))
        problems.push(
          `--id-prefix: must be 1-16 letters, digits, '_' or '-' starting with a letter, got "${o.idPrefix}"`,
        );
      const pageLayout = parseLayout(o.pageLayout);
      if (typeof pageLayout === 'string') problems.push(`--page-layout: ${pageLayout}`);
      if (problems.length === 1) throw new InputError(problems[0]);
      if (problems.length > 1) throw new InputErrors('synth: invalid options', problems);

      await claimOutputDir(o.out, 'synth', { force: o.force });
      const seed = /^-?\d+$/.test(o.seed.trim()) ? Number(o.seed) : o.seed;
      const progress = createProgress('synth');
      const t0 = Date.now();
      try {
        const r = await synthesizeToDir(
          {
            patients: Number(o.patients),
            prevalence,
            seed,
            difficulty: o.difficulty as Difficulty,
            mapSize: Number(o.mapSize),
            idPrefix: o.idPrefix,
          },
          o.out,
          {
            layout: o.layout as 'single' | 'page',
            format: o.format as 'png' | 'jpeg',
            colormap: getColormap(o.colormap as (typeof BUILTIN_COLORMAPS)[number]),
            grid: o.grid,
            pageLayout: o.pageLayout,
            volumes: o.volumes ?? false,
            onProgress: (done, total) => progress.update(done, total),
          },
          { workers: o.workers === undefined ? undefined : Number(o.workers) },
        );
        progress.stop();
        const s = ((Date.now() - t0) / 1000).toFixed(1);
        process.stdout.write(
          `synth: ${r.patients} patients (${r.cad} CAD, ${r.patients - r.cad} normal), ${o.layout} ${o.format}, seed ${o.seed}, into ${o.out} in ${s} s\n`,
        );
      } finally {
        progress.stop();
      }
    });
}
