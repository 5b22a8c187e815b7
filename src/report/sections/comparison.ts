/**
 * Comparison tables: experiments (backbones, strategies, fine-tune depth) and the networks beside
 * the semi-quantitative rules (as Apostolopoulos et al. 2020, Table 2), best value of each column
 * marked; the AUC forest plot; cross-validation folds with mean ± SD.
 */
import { formatP } from '../../evaluate/paired.js';
import type { ReportData } from '../data.js';
import { esc, num } from '../escape.js';
import type { ReportFigures } from '../figures.js';
import { figureHtml } from './metrics.js';
import { metricsTable } from './table.js';
import type { Section } from './types.js';

/**
 * The paired tests as HTML: one plain sentence per pair of the first model (does it beat the
 * other), then the table of `polarcad compare` (DeLong for the AUCs, McNemar for the accuracies).
 */
export function pairedHtml(data: ReportData): string {
  const p = data.paired;
  if (p === undefined)
    return data.pairedNote === undefined ? '' : `<p class="na">${esc(data.pairedNote)}</p>`;
  const head =
    '<tr><th>A</th><th>B</th><th>AUC A</th><th>AUC B</th><th>AUC A − B [95% CI]</th><th>DeLong p</th><th>Accuracy A − B</th><th>A right, B wrong</th><th>A wrong, B right</th><th>McNemar p</th></tr>';
  const body = p.pairs
    .map(
      (x) =>
        `<tr><td>${esc(x.a)}</td><td>${esc(x.b)}</td><td>${num(x.aucA)}</td><td>${num(x.aucB)}</td><td>${num(x.aucDifference)} <span class="ci">[${num(x.aucDifferenceCi[0])}, ${num(x.aucDifferenceCi[1])}]</span></td><td>${esc(formatP(x.delongP))}</td><td>${num(x.accuracyA - x.accuracyB)}</td><td>${x.aRightBWrong}</td><td>${x.aWrongBRight}</td><td>${esc(formatP(x.mcnemarP))} (${esc(x.mcnemarMethod)})</td></tr>`,
    )
    .join('');
  return [
    `<h3>${esc(p.title)}</h3>`,
    ...p.verdicts.map((v) => `<p class="verdict"><strong>${esc(v)}</strong></p>`),
    `<table class="pairs"><thead>${head}</thead><tbody>${body}</tbody></table>`,
    '<p class="legend">DeLong et al. (1988) for two correlated AUCs; McNemar (1947) on the discordant patients (exact below 25), each model at its own threshold. No correction for multiple comparisons. "Does not beat" means no significant difference at 0.05, not that the models are equal: on a small test set, read the interval of the difference.</p>',
  ].join('\n');
}

export function comparisonSection(data: ReportData, figs: ReportFigures): Section {
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
  const paired = pairedHtml(data);
  if (paired !== '') parts.push(paired);
  if (figs.comparison) parts.push(figureHtml(figs.comparison));
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
