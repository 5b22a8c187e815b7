/**
 * The one place polarcad writes CSV: `stringify` is csv-stringify's, with every text cell made
 * safe for spreadsheets (CSV injection, OWASP): a cell that starts with `=`, `+`, `-`, `@`, a tab
 * or a carriage return (a file name like `=HYPERLINK(...)`, a patient id like `+1-202`) is written
 * with a leading `'`, so Excel, LibreOffice and Google Sheets show it as text instead of running it
 * as a formula. Numbers (typed, or text that is a plain decimal number such as `-0.25`) are left
 * as they are. polarcad's own CSV readers undo the quote (`unescapeCell`), so a manifest written by
 * `prepare` reads back the same ids and paths.
 */
import { stringify as csvStringify, type Input, type Options } from 'csv-stringify/sync';

const RISKY = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A text cell made safe for spreadsheets (see the module comment).
 * @example safeCell('=1+2') // "'=1+2"
 */
export function safeCell(s: string): string {
  return RISKY.test(s) && !PLAIN_NUMBER.test(s) ? `'${s}` : s;
}

/**
 * The text of a cell written by {@link safeCell}.
 * @example unescapeCell("'=1+2") // '=1+2'
 */
export function unescapeCell(s: string): string {
  return s.startsWith("'") && RISKY.test(s.slice(1)) && !PLAIN_NUMBER.test(s.slice(1)) ? s.slice(1) : s;
}

/**
 * CSV text of `records` (csv-stringify's options), every text cell through {@link safeCell}.
 * @example stringify([['patient_id', 'prob'], ['=cmd', 0.5]]) // "patient_id,prob\n'=cmd,0.5\n"
 */
export function stringify(records: Input, options: Options = {}): string {
  return csvStringify(records, { ...options, cast: { ...options.cast, string: (v: string) => safeCell(v) } });
}
