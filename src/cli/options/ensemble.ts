/**
 * `--ensemble K` of `polarcad train --model cnn`: a fold ensemble of K two-stage networks
 * (src/workflows/train-ensemble.ts). A whole number >= 2, parsed by the one whole-number parser.
 */
import type { OptionSpec } from './parse.js';
import { wholeOption } from './parse.js';

/** The option row (flags and help). */
export const ENSEMBLE_OPTION: OptionSpec = [
  '--ensemble <k>',
  '--model cnn: a fold ensemble of K >= 2 networks, member k trained on the other K-1 folds of the training patients and its epochs selected on fold k; saved and loaded as one model (P(CAD) = mean of the members)',
];

/**
 * The number of members given with `--ensemble`, or undefined when absent.
 * @throws InputError naming `--ensemble` for anything but a whole number >= 2
 * @example ensembleOf('5') // 5
 */
export function ensembleOf(s: string | undefined): number | undefined {
  return wholeOption('--ensemble', s, { min: 2 });
}

/**
 * Why the closed-form recipes take no `--ensemble`: every penalty and the stacker are already
 * chosen by inner 5-fold cross-validation and refitted on all training patients.
 */
export const ENSEMBLE_CLOSED_FORM =
  '--ensemble: only for --model cnn; the closed-form models (hybrid, cnn-segments, *-logistic) already choose every penalty and their stacker by inner 5-fold cross-validation and refit on all training patients (a backbone ensemble of them is --backbone A,B)';
