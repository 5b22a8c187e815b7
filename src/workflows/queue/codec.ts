/**
 * How jobs are named and how their results travel: a job id is the SHA-256 of the canonical JSON
 * of its inputs (so the same inputs are the same job, whichever coordinator adds it), and results
 * are JSON in which non-finite numbers (NaN metrics) survive the trip.
 */
import { sha256Hex } from '../../util/hash.js';

/** JSON-compatible data: what a job carries and returns. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/**
 * JSON text of `x` with object keys sorted at every level (undefined members dropped).
 * @example canonicalJson({ b: 1, a: 2 }) // '{"a":2,"b":1}'
 */
export function canonicalJson(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/**
 * The deterministic id of a job of `kind` with `inputs` (no ':' so BullMQ accepts it).
 * @example jobIdOf('experiment', { checksum: 'ab…', unit }) // 'experiment-5d41402abc4b2a76b9719d911017c592'
 */
export function jobIdOf(kind: string, inputs: unknown): string {
  return `${kind}-${sha256Hex(canonicalJson(inputs)).slice(0, 32)}`;
}

const TAG = '$polarcad-number';

/**
 * A result as JSON text, NaN and ±Infinity kept (plain JSON would turn them into null).
 * @example decodeResult(encodeResult({ auc: NaN })) // { auc: NaN }
 */
export function encodeResult(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? { [TAG]: String(v) } : v,
  );
}

/** The inverse of {@link encodeResult}. @example decodeResult<{ n: number }>('{"n":1}').n // 1 */
export function decodeResult<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && TAG in v) return Number((v as Record<string, string>)[TAG]);
    return v;
  }) as T;
}
