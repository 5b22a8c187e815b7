/**
 * Page layouts: which disc of an export page is which view (docs/manifest.md, column `layout`):
 * rows top to bottom separated by `/`, views left to right separated by `,`, `-` for a disc to ignore.
 */
import { isView, type View } from '../domain/views.js';

export const DEFAULT_LAYOUT = 'stress_ac,rest_ac/stress_nac,rest_nac';

export type LayoutCell = View | '-';

/** Parse a layout string; throws RangeError naming the problem. */
export function parseLayout(layout: string): LayoutCell[][] {
  const rows = layout.split('/').map((row) => row.split(',').map((c) => c.trim()));
  const seen = new Set<string>();
  for (const row of rows) {
    for (const cell of row) {
      if (cell === '-') continue;
      if (!isView(cell))
        throw new RangeError(
          `layout "${layout}": "${cell}" is not a view (stress_ac, rest_ac, stress_nac, rest_nac) or "-"`,
        );
      if (seen.has(cell)) throw new RangeError(`layout "${layout}": view ${cell} appears twice`);
      seen.add(cell);
    }
  }
  if (seen.size === 0) throw new RangeError(`layout "${layout}": names no view`);
  return rows as LayoutCell[][];
}
