/**
 * `--colormap SPEC`, the one colour-map option of the commands that read uptake from exported maps
 * (`prepare`, `score`, `train`, `predict`, `serve`): a built-in name, a CSV table or a colour-bar
 * image, resolved by `resolveColormap` (src/polarmap/custom-colormap.ts).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Colormap } from '../../polarmap/colormaps.js';
import { isBuiltinColormap } from '../../polarmap/colormaps.js';
import { resolveColormap } from '../../polarmap/custom-colormap.js';

/**
 * Add `--colormap <spec>` to a command; `fallback` says what is used without it (for the help).
 * @example withColormap(program.command('serve'), "the trained run's, else recognised")
 */
export function withColormap(cmd: Command, fallback: string): Command {
  return cmd.option(
    '--colormap <spec>',
    `colour map of the exports: gray|hot|cool|rainbow, a CSV table or a colour-bar image (default: ${fallback})`,
  );
}

/**
 * The colour map of a `--colormap` value, or undefined when the option was not given.
 * @throws InputError for an unknown name or an unreadable table / colour bar.
 */
export async function colormapOption(spec: string | undefined): Promise<Colormap | undefined> {
  return spec === undefined ? undefined : resolveColormap(spec);
}

/**
 * A `--colormap` value kept for later (a run's options, read again on `--resume`): a built-in name
 * as it is, a file as an absolute path.
 * @example colormapSpec('thermal.csv') // '/home/me/study/thermal.csv'
 */
export function colormapSpec(spec: string): string {
  return isBuiltinColormap(spec) ? spec : resolve(spec);
}
