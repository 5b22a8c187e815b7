/**
 * Subgroup results: the metrics of one evaluation within each value of a categorical column (sex,
 * whose attenuation artefacts differ, breast in women and diaphragm in men, Burrell & MacDonald
 * 2006; or any categorical clinical column of the manifest), each with its 95% intervals
 * (src/evaluate/intervals.ts). Reporting per subgroup with intervals, not only a pooled figure,
 * follows STARD 2015 (Bossuyt et al., item 26) and TRIPOD (Collins et al. 2015).
 */
import type { Label } from '../domain/views.js';
import type { StudyRow } from '../ingest/manifest.js';
import { InputError } from '../util/errors.js';
import { metricsWithIntervals } from './intervals.js';
import { metricsRowFromIntervals, type MetricsRow } from './metrics-row.js';

/** A column with at most this many distinct values is categorical. */
export const MAX_LEVELS = 12;

/** One subgroup's row. */
export interface SubgroupRow {
  readonly column: string;
  /** the value, or `(missing)` */
  readonly value: string;
  readonly row: MetricsRow;
}

/** The value of `column` for a manifest row: `sex` is the parsed column, others the clinical cells. */
function valueOf(r: StudyRow, column: string): string {
  const v = column === 'sex' ? r.sex : r.clinical[column];
  return v === undefined || v.trim() === '' ? '(missing)' : v.trim();
}

/**
 * The columns to break results down by: `requested` checked against the manifest (an unknown or
 * non-categorical column is an InputError naming it and the usable ones), or by default `sex` when
 * the manifest has it.
 * @example subgroupColumns(manifest, ['sex', 'diabetes']) // ['sex', 'diabetes']
 */
export function subgroupColumns(
  manifest: {
    readonly path: string;
    readonly clinicalColumns: readonly string[];
    readonly rows: readonly StudyRow[];
  },
  requested?: readonly string[],
): string[] {
  const levels = (c: string): number => new Set(manifest.rows.map((r) => valueOf(r, c))).size;
  const usable = ['sex', ...manifest.clinicalColumns].filter((c) => levels(c) <= MAX_LEVELS);
  if (requested === undefined) return manifest.rows.some((r) => r.sex !== undefined) ? ['sex'] : [];
  for (const c of requested) {
    if (c !== 'sex' && !manifest.clinicalColumns.includes(c))
      throw new InputError(
        `--by ${c}: ${manifest.path} has no column "${c}" (categorical columns: ${usable.join(', ') || 'none'})`,
      );
    if (levels(c) > MAX_LEVELS)
      throw new InputError(
        `--by ${c}: column "${c}" of ${manifest.path} has ${levels(c)} distinct values, not a category (at most ${MAX_LEVELS}); categorical columns: ${usable.join(', ') || 'none'}`,
      );
  }
  return [...requested];
}

/**
 * Metrics with 95% intervals within each value of each column, on the patients `keep` (indices
 * into `rows`); values in first-seen order. Undefined figures (AUC in a one-class subgroup) are null.
 * @example subgroupRows(rows, labels, probs, [0, 1, 2], ['sex'], { threshold: 0.5, seed: 1, name: 'hybrid' })
 */
export function subgroupRows(
  rows: readonly StudyRow[],
  labels: readonly Label[],
  probs: readonly number[],
  keep: readonly number[],
  columns: readonly string[],
  o: { threshold: number; seed: number | string; resamples?: number; name: string; evaluatedOn: string },
): SubgroupRow[] {
  const out: SubgroupRow[] = [];
  for (const column of columns) {
    const groups = new Map<string, number[]>();
    for (const i of keep) {
      const v = valueOf(rows[i], column);
      groups.set(v, [...(groups.get(v) ?? []), i]);
    }
    for (const [value, idx] of groups) {
      const mw = metricsWithIntervals(
        idx.map((i) => labels[i]),
        idx.map((i) => probs[i]),
        {
          threshold: o.threshold,
          seed: `${String(o.seed)}/subgroup/${column}/${value}`,
          resamples: o.resamples,
        },
      );
      out.push({
        column,
        value,
        row: metricsRowFromIntervals(
          {
            name: `${o.name} ${column}=${value}`,
            description: `${o.name}, patients with ${column} = ${value}`,
            kind: 'model',
            evaluatedOn: `${o.evaluatedOn}, ${column} = ${value} (${idx.length} patients)`,
          },
          mw,
        ),
      });
    }
  }
  return out;
}
