/**
 * The metrics section: each network's figures with 95% intervals, the confusion matrix, the ROC
 * curve(s) with the operating point, and the calibration plot with the Brier score and ECE.
 */
import type { ReportData } from '../data.js';
import { esc, inlineSvg, num } from '../escape.js';
import type { Figure, ReportFigures } from '../figures.js';
import { metricsTable, subgroupRows } from './table.js';
import type { Section } from './types.js';

/** An inline figure: the chart's SVG made inline-safe ({@link inlineSvg}) in the page. */
export function figureHtml(f: Figure): string {
  return `<figure id="fig-${esc(f.name)}" class="chart"><div class="svg">${inlineSvg(f.svg)}</div><figcaption>${esc(f.caption)} <span class="files">(figures/${esc(f.name)}.svg, .png)</span></figcaption></figure>`;
}

export function metricsSection(data: ReportData, figs: ReportFigures): Section {
  const parts: string[] = [];
  if (data.networks.length === 0 && data.semiquant.length === 0) {
    return {
      id: 'metrics',
      title: 'Metrics',
      html: '<p class="na">Not available: no predictions in this folder.</p>',
    };
  }
  const rows = data.networks.map((n) => n.row);
  if (rows.length > 0) {
    parts.push(
      `<p>On ${esc(rows[0].evaluatedOn)}. Intervals are 95%: Wilson for accuracy, sensitivity, specificity and precision; stratified percentile bootstrap (2,000 resamples, seeded) for AUC and F1. A patient is called CAD when the probability is at or above the threshold${data.thresholdRule ? ` (${esc(data.thresholdRule)})` : ''}.</p>`,
      metricsTable(rows, { caption: 'Networks (95% CI)' }),
    );
  } else {
    parts.push(
      `<p>Semi-quantitative analysis only: ${esc(data.semiquantNote ?? '')}.</p>`,
      metricsTable(data.semiquant, { caption: 'Semi-quantitative rules and scores (95% CI)' }),
    );
  }
  if (data.subgroups !== undefined && data.subgroups.length > 0)
    parts.push(
      '<h3 id="subgroups">Subgroups</h3><p>The same patients by subgroup (sex: attenuation artefacts differ, breast in women and diaphragm in men; categorical clinical columns), each figure with its 95% interval. Small subgroups have wide intervals; a figure left out (–) is undefined there (e.g. AUC with one class).</p>',
      metricsTable(subgroupRows(data.subgroups), { caption: 'Results by subgroup (95% CI)' }),
    );
  const grid: string[] = [];
  if (figs.roc) grid.push(figureHtml(figs.roc));
  if (figs.confusion) grid.push(figureHtml(figs.confusion));
  if (grid.length > 0) parts.push(`<div class="figrow">${grid.join('')}</div>`);
  if (figs.calibration && figs.calibrationSummary) {
    const c = figs.calibrationSummary;
    parts.push(
      `<h3>Calibration</h3><p>Brier score <strong>${num(c.brier)}</strong> (0 is perfect; always answering the prevalence scores p(1−p)), expected calibration error <strong>${num(c.ece)}</strong>, maximum calibration error ${num(c.mce)} (${c.bins} equal-width bins).</p>`,
      figureHtml(figs.calibration),
    );
  }
  return { id: 'metrics', title: 'Metrics', html: parts.join('\n') };
}
