import { InputError } from '../../util/errors.js';
import { PALETTE } from './theme.js';

/** Throw an `InputError` naming `where` unless `x` is a finite number. */
export function requireFinite(x: number, where: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x))
    throw new InputError(`${where} must be a finite number, got ${String(x)}`);
  return x;
}

/** Throw unless `x` is a finite number in [lo, hi]. */
export function requireInRange(x: number, lo: number, hi: number, where: string): number {
  requireFinite(x, where);
  if (x < lo || x > hi) throw new InputError(`${where} must be in [${lo}, ${hi}], got ${x}`);
  return x;
}

/** Throw unless `x` is a non-negative integer. */
export function requireCount(x: number, where: string): number {
  requireFinite(x, where);
  if (x < 0 || !Number.isInteger(x))
    throw new InputError(`${where} must be a non-negative integer, got ${x}`);
  return x;
}

/** Throw unless the array has at least one element. */
export function requireNonEmpty<T>(xs: readonly T[], where: string): readonly T[] {
  if (!Array.isArray(xs) || xs.length === 0) throw new InputError(`${where} is empty: nothing to plot`);
  return xs;
}

/** Throw unless every name is a non-empty string and names are unique. */
export function requireUniqueNames(names: readonly string[], where: string): void {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (typeof n !== 'string' || n.trim() === '')
      throw new InputError(`${where}[${i}].name must be a non-empty string`);
    if (seen.has(n))
      throw new InputError(`${where}[${i}].name ${JSON.stringify(n)} is used twice; names must be unique`);
    seen.add(n);
  });
}

/** Fixed-point formatting that never prints "-0.000". */
export function fixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

/** Percentage with one decimal ("84.0%"), or an em dash when undefined (0/0). */
export function percent(num: number, den: number): string {
  return den > 0 ? `${fixed((100 * num) / den, 1)}%` : '—';
}

/**
 * Throw unless `series` (a chart's curves or runs, one palette colour each) is non-empty, its names
 * are unique non-empty strings and there are no more than the palette has colours; `chart` and
 * `noun` name them in the messages, e.g. ('rocChart', 'curves').
 */
export function requireSeries(series: readonly { name: string }[], chart: string, noun: string): void {
  const where = `${chart}: ${noun}`;
  requireNonEmpty(series, where);
  requireUniqueNames(
    series.map((s) => s.name),
    where,
  );
  if (series.length > PALETTE.length)
    throw new RangeError(`${chart}: at most ${PALETTE.length} ${noun}, got ${series.length}`);
}
