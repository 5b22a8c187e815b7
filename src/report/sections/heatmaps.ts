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
      html: `<p class="na">Not available: ${data.heatmapNote !== undefined ? `the heatmaps of the run could not be made: ${esc(data.heatmapNote)}` : 'this folder has no trained model to explain and no explanation output (heatmaps/index.json)'}.</p>`,
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
                `<figure class="heat"><img alt="${esc(`Heatmap of patient ${x.id}`)}" src="${dataUri('image/png', x.png)}"><figcaption><strong>${esc(x.id)}</strong>, P(CAD) ${num(x.prob, 2)}. ${esc(x.caption)}</figcaption></figure>`,
            )
            .join('');
    return `<div class="heatcol"><h3>${esc(title)}</h3>${body}</div>`;
  });
  return {
    id: 'heatmaps',
    title: 'Class-activation heatmaps',
    html: `<p>${
      data.networks[0]?.closedForm !== undefined
        ? "The model's evidence for CAD per segment and view (its exact contribution to the logit), on one fixed colour scale for every patient: a confident normal study looks quiet. Each disc of a multi-view model shows its own evidence."
        : 'Grad-CAM (or CAM) of the CAD class over the polar map: where the network looked, not a perfusion measurement. Brighter = more influence on the CAD score.'
    } The sentence under each picture is read from the same heatmap, as <code>polarcad predict</code> prints it.</p><div class="heatgrid">${cols.join('')}</div>`,
  };
}
