/**
 * Comparison tables: experiments (backbones, strategies, fine-tune depth) and the networks beside
 * the semi-quantitative rules (as Apostolopoulos et al. 2020, Table 2), best value of each column
 * marked; the AUC forest plot; cross-validation folds with mean ± SD.
 */
import type { ReportData } from '../data.js';
import { esc, num } from '../escape.js';
import type { ReportFigures } from '../figures.js';
import { figureHtml } from './metrics.js';
import { metricsTable } from './table.js';
import type { Section } from './types.js';

export function comparisonSection(
  data: ReportData,
  figs: ReportFigures,
  inline: (svg: string) => string,
): Section {
  const parts: string[] = [];
  for (const t of data.comparisons) {
    parts.push(`<h3>${esc(t.title)}</h3>`, metricsTable(t.rows, { markBest: true }));
    if (t.notes.length > 0)
      parts.push(`<ul class="notes">${t.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  }
  if (parts.length > 0)
    parts.push(
      '<p class="legend">★ bold: best value of the column (higher is better for every figure). Intervals overlap more often than not on a small test set: the best value is not necessarily better.</p>',
    );
  if (figs.comparison) parts.push(figureHtml(figs.comparison, inline));
  if (data.cv !== undefined) {
    const cv = data.cv;
    const head =
      '<tr><th>Fold</th><th>n</th><th>Threshold</th><th>Accuracy</th><th>Sensitivity</th><th>Specificity</th><th>AUC</th><th>Epochs kept</th></tr>';
    const body = cv.folds
      .map(
        (f) =>
          `<tr><td>${f.fold + 1}</td><td>${f.n}</td><td>${num(f.threshold, 2)}</td><td>${num(f.accuracy)}</td><td>${num(f.sensitivity)}</td><td>${num(f.specificity)}</td><td>${num(f.auc)}</td><td>${esc(f.epochs)}</td></tr>`,
      )
      .join('');
    const ms = (k: string): string => {
      const v = cv.mean[k];
      return v === undefined ? '–' : `${num(v.mean)} ± ${num(v.sd)}`;
    };
    parts.push(
      `<h3>Cross-validation: ${cv.k} folds</h3><p>${esc(cv.protocol)}. Each patient is tested once, by a model that never saw them; epochs were chosen on a validation part carved from each fold's training part (nested selection). The pooled row in the metrics section is computed on all out-of-fold predictions together.</p>`,
      `<table class="folds"><thead>${head}</thead><tbody>${body}<tr class="mean"><th scope="row" colspan="3">mean ± SD over folds</th><td>${ms('accuracy')}</td><td>${ms('sensitivity')}</td><td>${ms('specificity')}</td><td>${ms('auc')}</td><td></td></tr></tbody></table>`,
    );
  }
  if (parts.length === 0)
    parts.push(
      '<p class="na">Not available: a single model without experiment or semi-quantitative rows (add a score folder with <code>polarcad report RUN --with SCORE_DIR</code>).</p>',
    );
  return { id: 'comparison', title: 'Comparisons', html: parts.join('\n') };
}
