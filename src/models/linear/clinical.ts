/**
 * Clinical variables as a member of a closed-form polar-map model (`polarcad train --clinical
 * age,sex`): the papers' future work (Hai et al. 2022; Apostolopoulos et al. 2020) and what
 * commercial deep-learning MPI readers add to the images (Betancur et al. 2018 fused age, sex and
 * the images for the same reason).
 *
 * Encoding, fitted on the training patients only and saved with the model:
 *   - a numeric column (every non-empty training value is a number): the value, or the training
 *     mean when missing, plus a 0/1 "missing" indicator (mean imputation with an indicator;
 *     Little & Rubin 2019, 3.4);
 *   - any other column: one 0/1 column per level seen in training (an unseen level counts as
 *     missing), plus the "missing" indicator.
 * The member is a ridge logistic regression on these columns (C by cross-validation, like every
 * member); the stacker fuses its out-of-fold logit with the image members' (late fusion).
 */
import { z } from 'zod';
import { InputError } from '../../util/errors.js';

/** One patient's clinical values, by column name; '' or undefined = missing. */
export type ClinicalValues = Readonly<Record<string, string | undefined>>;

const numericColumn = z.object({ name: z.string().min(1), kind: z.literal('numeric'), mean: z.number() });
const categoricalColumn = z.object({
  name: z.string().min(1),
  kind: z.literal('categorical'),
  levels: z.array(z.string()),
});

/** How a column is turned into numbers (recorded in the saved model). */
export const clinicalColumnSchema = z.discriminatedUnion('kind', [numericColumn, categoricalColumn]);
export type ClinicalColumn = z.infer<typeof clinicalColumnSchema>;

const isMissing = (s: string | undefined): boolean => s === undefined || s.trim() === '';
const asNumber = (s: string): number => (s.trim() === '' ? Number.NaN : Number(s));

/**
 * Fit the encoding of `columns` on training patients' values.
 * @throws InputError when a column is empty for every training patient
 * @example fitClinicalEncoding(['age', 'sex'], [{ age: '63', sex: 'M' }, { age: '', sex: 'F' }])
 * // [{ name: 'age', kind: 'numeric', mean: 63 }, { name: 'sex', kind: 'categorical', levels: ['F', 'M'] }]
 */
export function fitClinicalEncoding(
  columns: readonly string[],
  values: readonly ClinicalValues[],
): ClinicalColumn[] {
  return columns.map((name) => {
    const seen = values.map((v) => v[name]).filter((s): s is string => !isMissing(s));
    if (seen.length === 0)
      throw new InputError(`--clinical ${name}: no training patient has a value in column '${name}'`);
    const numbers = seen.map(asNumber);
    if (numbers.every(Number.isFinite))
      return { name, kind: 'numeric', mean: numbers.reduce((a, b) => a + b, 0) / numbers.length };
    return { name, kind: 'categorical', levels: [...new Set(seen.map((s) => s.trim()))].sort() };
  });
}

/** Names of the encoded columns, in vector order (for reports). */
export function encodedNames(columns: readonly ClinicalColumn[]): string[] {
  return columns.flatMap((c) =>
    c.kind === 'numeric'
      ? [c.name, `${c.name}_missing`]
      : [...c.levels.map((l) => `${c.name}=${l}`), `${c.name}_missing`],
  );
}

/** The column of each encoded position (for per-variable evidence). */
export function encodedOwners(columns: readonly ClinicalColumn[]): string[] {
  return columns.flatMap((c) => Array<string>(c.kind === 'numeric' ? 2 : c.levels.length + 1).fill(c.name));
}

/**
 * A patient's encoded clinical vector (see the module comment).
 * @example encodeClinical([{ name: 'age', kind: 'numeric', mean: 60 }], { age: '' }) // [60, 1]
 */
export function encodeClinical(columns: readonly ClinicalColumn[], values: ClinicalValues): Float64Array {
  const out: number[] = [];
  for (const c of columns) {
    const raw = values[c.name];
    if (c.kind === 'numeric') {
      const x = isMissing(raw) ? Number.NaN : asNumber(raw as string);
      out.push(Number.isFinite(x) ? x : c.mean, Number.isFinite(x) ? 0 : 1);
    } else {
      const level = isMissing(raw) ? null : (raw as string).trim();
      const k = level === null ? -1 : c.levels.indexOf(level);
      out.push(...c.levels.map((_, j) => (j === k ? 1 : 0)), k < 0 ? 1 : 0);
    }
  }
  return Float64Array.from(out);
}

/** The columns that are missing (or an unseen level) in a patient's values. */
export function missingClinical(columns: readonly ClinicalColumn[], values: ClinicalValues): string[] {
  return columns
    .filter((c) => {
      const raw = values[c.name];
      if (isMissing(raw)) return true;
      return c.kind === 'numeric'
        ? !Number.isFinite(asNumber(raw as string))
        : !c.levels.includes((raw as string).trim());
    })
    .map((c) => c.name);
}

/**
 * Parse `--clinical-values age=63,sex=M` (predict) into values.
 * @throws InputError naming the bad item
 * @example parseClinicalValues('age=63,sex=M') // { age: '63', sex: 'M' }
 */
export function parseClinicalValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      throw new InputError(`--clinical-values: expected NAME=VALUE items separated by commas, got "${item}"`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}
