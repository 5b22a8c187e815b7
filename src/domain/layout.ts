/**
 * Page layouts: which disc of an export page is which view (docs/manifest.md, column `layout`).
 * As a string: rows top to bottom separated by `/`, views left to right separated by `,`, `-` for a
 * disc to ignore (e.g. `stress_ac,rest_ac/stress_nac,rest_nac`). Parsed: rows of cells, `null` for
 * a disc to ignore. The one place that reads and writes the layout string (manifest, synth, CLI).
 */
import { VIEWS, isView, type View } from './views.js';

/** A page layout: rows top to bottom, views left to right; null = a disc to ignore. */
export type Layout = (View | null)[][];

/** The vendor default as a string: the 2x2 order of `VIEWS`. */
export const DEFAULT_LAYOUT_SPEC = 'stress_ac,rest_ac/stress_nac,rest_nac';

/** The vendor default, parsed. */
export const DEFAULT_LAYOUT: Layout = [
  ['stress_ac', 'rest_ac'],
  ['stress_nac', 'rest_nac'],
];

/**
 * Parse a layout string such as `stress_ac,rest_ac/stress_nac,rest_nac` (cells trimmed).
 * Returns the layout, or a message naming the problem (empty cell, unknown view, a view twice,
 * no view at all) for the caller to attach to its file/row/option.
 */
export function parseLayout(s: string): Layout | string {
  // a common slip: rows separated by ';' (or '|') instead of '/'
  const sep = /[;|]/.exec(s)?.[0];
  if (sep !== undefined)
    return `layout "${s}": rows are separated by "/", not "${sep}" (e.g. ${s
      .split(sep)
      .map((r) => r.trim())
      .join('/')}); cells in a row by ","`;
  const rows = s.split('/').map((r) => r.split(',').map((c) => c.trim()));
  const seen = new Set<string>();
  const layout: Layout = [];
  for (const cells of rows) {
    const out: (View | null)[] = [];
    for (const c of cells) {
      if (c === '') return `empty cell in layout "${s}"`;
      if (c === '-') {
        out.push(null);
        continue;
      }
      if (!isView(c)) return `unknown view "${c}" in layout "${s}" (expected ${VIEWS.join(', ')} or -)`;
      if (seen.has(c)) return `view ${c} appears twice in layout "${s}"`;
      seen.add(c);
      out.push(c);
    }
    layout.push(out);
  }
  if (seen.size === 0) return `layout "${s}" names no view`;
  return layout;
}

/** `parseLayout` for callers that throw: a bad layout is a RangeError with its message. */
export function parseLayoutOrThrow(s: string): Layout {
  const layout = parseLayout(s);
  if (typeof layout === 'string') throw new RangeError(layout);
  return layout;
}

/** The layout string of a parsed layout (inverse of `parseLayout`). */
export function formatLayout(layout: Layout): string {
  return layout.map((r) => r.map((v) => v ?? '-').join(',')).join('/');
}
