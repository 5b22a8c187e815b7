/**
 * The one word for the number of cross-validation folds: `--folds K` (`cv`, `score --split cv`).
 * `--k K` is accepted too (the name `cv` had first), hidden from the help; giving both with
 * different values is an error.
 */
import { Option, type Command } from 'commander';
import { InputError } from '../../util/errors.js';
import { wholeNumber } from './parse.js';

/**
 * Add `--folds <k>` (and the hidden alias `--k <k>`) to a command.
 * @example addFoldsOption(program.command('cv'), 'folds (Apostolopoulos et al. 2020: 10)')
 */
export function addFoldsOption(cmd: Command, description: string): Command {
  return cmd
    .option('--folds <k>', `${description} (default 10)`)
    .addOption(new Option('--k <k>', 'same as --folds').hideHelp());
}

/**
 * The folds given by `--folds` or `--k` (default 10), a whole number >= 2 (k-fold cross-validation,
 * Stone 1974).
 * @example foldsOf({ k: '5' }) // 5
 * @throws InputError for a bad number, or --folds and --k that disagree
 */
export function foldsOf(o: { folds?: string; k?: string }): number {
  const folds = o.folds === undefined ? undefined : wholeNumber('--folds', o.folds, { min: 2 });
  const k = o.k === undefined ? undefined : wholeNumber('--k', o.k, { min: 2 });
  if (folds !== undefined && k !== undefined && folds !== k)
    throw new InputError(`--folds ${folds} and --k ${k} disagree: give one (--folds)`);
  return folds ?? k ?? 10;
}
