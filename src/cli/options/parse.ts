/**
 * The one parser of numeric option values (whole numbers and numbers), shared by every command:
 * each problem is an InputError naming the option and the text given.
 */
import { InputError } from '../../util/errors.js';

/** Bounds of a numeric option. */
export interface Bounds {
  readonly min?: number;
  readonly max?: number;
}

/** True when `s` is a whole number >= 0 written in decimal digits. */
export const isWhole = (s: string): boolean => /^\d+$/.test(s.trim());

function range(b: Bounds): string {
  const min = b.min ?? 0;
  return b.max === undefined ? `>= ${min}` : `in [${min}, ${b.max}]`;
}

/** The message for a bad whole-number option (for callers that collect every problem). */
export function wholeProblem(name: string, s: string, b: Bounds = {}): string | null {
  const n = Number(s);
  if (!isWhole(s) || n < (b.min ?? 0) || (b.max !== undefined && n > b.max))
    return `${name} must be a whole number ${range(b)}, got "${s}"`;
  return null;
}

/**
 * A whole number given as option `name`.
 * @throws InputError naming the option
 * @example wholeNumber('--batch-size', '16', { min: 1 }) // 16
 */
export function wholeNumber(name: string, s: string, b: Bounds = {}): number {
  const problem = wholeProblem(name, s, b);
  if (problem !== null) throw new InputError(problem);
  return Number(s);
}

/** A whole number >= 0 (or within `b`) given as `name`, or undefined when absent. @throws InputError naming the option */
export function wholeOption(name: string, s: string | undefined, b: Bounds = {}): number | undefined {
  return s === undefined ? undefined : wholeNumber(name, s, b);
}

/** A finite number given as `name`, or undefined when absent. @throws InputError naming the option */
export function numberOption(name: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v)) throw new InputError(`${name} must be a number, got "${s}"`);
  return v;
}

/**
 * The items of a comma-separated option `name` (trimmed, empty items dropped); with `unique`, an
 * item given twice is refused.
 * @throws InputError naming the option when no item is given (or, with `unique`, one is repeated)
 * @example listOption('--backbones', 'VGG16, ResNet50') // ['VGG16', 'ResNet50']
 */
export function listOption(name: string, s: string, opts: { unique?: boolean } = {}): string[] {
  const items = s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  if (items.length === 0) throw new InputError(`${name}: give at least one item, got "${s}"`);
  if (opts.unique === true && new Set(items).size !== items.length)
    throw new InputError(`${name}: an item is repeated in "${s}"`);
  return items;
}

/** One option of a command: flags, help text and (optional) default, as commander takes them. */
export type OptionSpec = readonly [flags: string, description: string, defaultValue?: string];

/** Add options to `cmd` from a table (one row per option). */
export function addOptions<
  C extends { option(flags: string, description: string, defaultValue?: string): C },
>(cmd: C, specs: readonly OptionSpec[]): C {
  for (const [flags, description, defaultValue] of specs)
    if (defaultValue === undefined) cmd.option(flags, description);
    else cmd.option(flags, description, defaultValue);
  return cmd;
}
