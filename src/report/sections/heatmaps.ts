/**
 * The class-activation heatmap grid (Grad-CAM, Selvaraju et al. 2017; Hai et al. 2022 Fig. 5) over
 * true positives, false positives, false negatives and true negatives of the test patients.
 */
import type { ReportData } from '../data.js';
import { dataUri, esc, num } from '../escape.js';
import type { Section } from './types.js';

const OUTCOMES = [
  ['TP', 'True positives (CAD, called CAD)'],
  ['FP', 'False positives (normal, called CAD)'],
  ['FN', 'False negatives (CAD, called normal)'],
  ['TN', 'True negatives (normal, called normal)'],
] as const;

export function heatmapSection(data: ReportData): Section {
  const h = data.heatmaps;
  if (h === null || h.length === 0) {
    return {
      id: 'heatmaps',
      title: 'Class-activation heatmaps',
      html: '<p class="na">Not available: this folder has no explanation output (heatmaps/index.json). Heatmaps come from the explanation module (Grad-CAM at the backbone\'s last convolutional layer).</p>',
    };
  }
  const cols = OUTCOMES.map(([k, title]) => {
    const items = h.filter((x) => x.outcome === k);
    const body =
      items.length === 0
        ? '<p class="na">none in the test part</p>'
        : items
            .map(
              (x) =>
                `<figure class="heat"><img alt="${esc(`Grad-CAM of patient ${x.id}`)}" src="${dataUri('image/png', x.png)}"><figcaption><strong>${esc(x.id)}</strong>, P(CAD) ${num(x.prob, 2)}. ${esc(x.caption)}</figcaption></figure>`,
            )
            .join('');
    return `<div class="heatcol"><h3>${esc(title)}</h3>${body}</div>`;
  });
  return {
    id: 'heatmaps',
    title: 'Class-activation heatmaps',
    html: `<p>Grad-CAM of the CAD class over the stress polar map: where the network looked, not a perfusion measurement. Brighter = more influence on the CAD score.</p><div class="heatgrid">${cols.join('')}</div>`,
  };
}
