/**
 * The results table shared by the metric and comparison sections: one row per network, rule or
 * score, each figure as "estimate [lo, hi]" (95% CI), and, when asked, the best estimate of each
 * column marked (bold, with a ★ and a `best` class; every figure here is better when higher).
 */
import { METRICS_ROW_FIGURES, type IntervalValue, type MetricsRow } from '../../evaluate/metrics-row.js';
import type { SubgroupRow } from '../../evaluate/subgroups.js';
import { esc, num } from '../escape.js';

const HEADINGS: Readonly<Record<(typeof METRICS_ROW_FIGURES)[number], string>> = {
  accuracy: 'Accuracy',
  auc: 'AUC',
  specificity: 'Specificity',
  sensitivity: 'Sensitivity',
  precision: 'Precision',
  f1: 'F1',
};

function cell(v: IntervalValue | null, best: boolean): string {
  if (v === null || v.estimate === null) return '<td class="na">–</td>';
  const body = `${num(v.estimate)} <span class="ci">[${num(v.lo)}, ${num(v.hi)}]</span>`;
  return best ? `<td class="best"><strong>★ ${body}</strong></td>` : `<td>${body}</td>`;
}

/** Best estimate per figure among `rows` (ties: all marked); undefined when no row has one. */
export function bestPerColumn(rows: readonly MetricsRow[]): Map<string, number> {
  const best = new Map<string, number>();
  for (const f of METRICS_ROW_FIGURES) {
    const xs = rows
      .map((r) => r[f]?.estimate)
      .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    if (xs.length > 0) best.set(f, Math.max(...xs));
  }
  return best;
}

/**
 * The threshold cell: a probability threshold only for rows that have one. A decision rule's (or a
 * reader's) yes/no calls are scored as 0/1 at 0.5 internally, but that is no threshold a reader
 * could apply, so such rows (and continuous scores) show "–".
 */
function thresholdCell(r: MetricsRow): string {
  return r.threshold === null || r.kind === 'rule' || r.kind === 'reader' ? '–' : esc(r.threshold);
}

/** The results table as HTML (every string escaped). */
export function metricsTable(
  rows: readonly MetricsRow[],
  opts: { markBest?: boolean; caption?: string } = {},
): string {
  const best = opts.markBest === true && rows.length > 1 ? bestPerColumn(rows) : new Map<string, number>();
  const head = `<tr><th>Row</th><th>Kind</th><th>n (CAD/normal)</th><th>Threshold</th>${METRICS_ROW_FIGURES.map((f) => `<th>${HEADINGS[f]}</th>`).join('')}</tr>`;
  const body = rows
    .map((r) => {
      const cells = METRICS_ROW_FIGURES.map((f) => {
        const v = r[f];
        const b = best.get(f);
        return cell(
          v,
          b !== undefined && v !== null && v.estimate !== null && Math.abs(v.estimate - b) < 1e-12,
        );
      }).join('');
      return `<tr><th scope="row" title="${esc(r.description)}">${esc(r.name)}<div class="desc">${esc(r.description)}</div></th><td>${esc(r.kind)}</td><td>${r.n} (${r.positives}/${r.negatives})</td><td>${thresholdCell(r)}</td>${cells}</tr>`;
    })
    .join('\n');
  const caption = opts.caption === undefined ? '' : `<caption>${esc(opts.caption)}</caption>`;
  return `<table class="metrics">${caption}<thead>${head}</thead><tbody>\n${body}\n</tbody></table>`;
}

/**
 * Subgroup rows as table rows named `column = value` (the HTML and PDF reports show the same).
 * @example subgroupRows(data.subgroups)[0].name // 'sex = F'
 */
export function subgroupRows(groups: readonly SubgroupRow[]): MetricsRow[] {
  return groups.map((g) => ({ ...g.row, name: `${g.column} = ${g.value}` }));
}
