/**
 * `polarcad prepare MANIFEST --out DIR [--size 256] [--views all|stress_ac,...] [--max-pixels N] [--skip-bad]
 *   [--colormap NAME|CSV|BAR.png] [--quiet]`: clean polar-map crops from raw exports (library:
 * src/ingest/prepare.ts); report.json records the crops' colour map (given or recognised).
 */
import type { Command } from 'commander';
import { VIEWS, isView, type View } from '../../domain/views.js';
import { wholeNumber } from '../options/parse.js';
import { InputError } from '../../util/errors.js';
import { BUILTIN_COLORMAPS, getColormap, isBuiltinColormap } from '../../polarmap/colormaps.js';
import { prepare, DEFAULT_PREPARE_SIZE } from '../../ingest/prepare.js';
import { DEFAULT_MAX_PIXELS } from '../../ingest/readers.js';
import { createProgress } from '../progress.js';
import { claimOutputDir } from '../../util/output.js';
import { withForce } from '../options/out.js';
import { QUIET_OPTION } from '../options/quiet.js';
import { colormapOption, withColormap } from '../options/colormap.js';

function parseViews(s: string): 'all' | View[] {
  if (s.trim() === 'all') return 'all';
  const parts = s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const bad = parts.filter((p) => !isView(p));
  if (bad.length > 0 || parts.length === 0) {
    throw new InputError(
      `--views: unknown view${bad.length === 1 ? '' : 's'} ${bad.join(', ') || '(none given)'}; expected all or a comma-separated list of ${VIEWS.join(', ')}`,
    );
  }
  return parts.filter(isView);
}

interface PrepareCliOptions {
  out: string;
  size: string;
  views: string;
  maxPixels: string;
  skipBad?: boolean;
  force?: boolean;
  quiet?: boolean;
  volumeColormap?: string;
  colormap?: string;
}

export function registerPrepare(program: Command): void {
  withColormap(
    withForce(program.command('prepare')),
    'recognised among the built-in ones; recorded in report.json for score/train/predict',
  )
    .description(
      'find, crop and clean the polar maps of a manifest; writes DIR/<patient>/<view>.png, DIR/manifest.csv and a report',
    )
    .argument('<manifest>', 'study manifest CSV (docs/manifest.md)')
    .requiredOption('--out <dir>', 'output folder (replaced only when the run succeeds)')
    .option('--size <pixels>', 'side of the cleaned square crops', String(DEFAULT_PREPARE_SIZE))
    .option(
      '--views <list>',
      `all, or a comma-separated list of ${VIEWS.join(', ')} (each row must have them)`,
      'all',
    )
    .option(
      '--max-pixels <n>',
      'reject input images with more pixels (decompression bombs)',
      String(DEFAULT_MAX_PIXELS),
    )
    .option(
      '--skip-bad',
      'leave out patients with an unusable image (and say why in the report) instead of failing',
    )
    .option(
      '--volume-colormap <name>',
      `colour map of the maps made from volume columns: ${BUILTIN_COLORMAPS.join('|')} (default: --colormap's, else rainbow)`,
    )
    .option(...QUIET_OPTION)
    .action(async (manifest: string, o: PrepareCliOptions) => {
      if (o.volumeColormap !== undefined && !isBuiltinColormap(o.volumeColormap))
        throw new InputError(
          `--volume-colormap: must be one of ${BUILTIN_COLORMAPS.join(', ')}, got "${o.volumeColormap}"`,
        );
      const colormap = await colormapOption(o.colormap);
      await claimOutputDir(o.out, 'prepare', { inputs: [manifest], force: o.force });
      const quiet = o.quiet === true;
      const progress = quiet ? null : createProgress('prepare');
      try {
        const report = await prepare(manifest, {
          out: o.out,
          size: wholeNumber('--size', o.size),
          views: parseViews(o.views),
          maxPixels: wholeNumber('--max-pixels', o.maxPixels),
          skipBad: o.skipBad ?? false,
          ...(o.volumeColormap !== undefined ? { volumeColormap: getColormap(o.volumeColormap) } : {}),
          ...(colormap !== undefined ? { colormap } : {}),
          onProgress: (done, total) => progress?.update(done, total),
        });
        progress?.stop();
        const cm = report.colormap;
        if (cm?.doubt != null) process.stderr.write(`polarcad prepare: WARNING: ${cm.doubt}\n`);
        const { ok, skipped, total } = report.patients;
        if (!quiet)
          process.stdout.write(
            `prepared ${ok} of ${total} patients into ${report.out}${skipped > 0 ? ` (${skipped} skipped, see report.csv)` : ''}\n` +
              `colour map ${cm === null ? 'not recognised (give --colormap to score or train)' : `${cm.name} (${cm.source}${cm.coverage !== null ? `, coverage ${(100 * cm.coverage).toFixed(1)}%` : ''})`}\n`,
          );
      } finally {
        progress?.stop();
      }
    });
}
