/** The data set section: Table 1 of Hai et al. (2022) (patients, class balance, sex, age) from the manifest. */
import type { ClassSummary, ReportData } from '../data.js';
import { esc, num } from '../escape.js';
import type { Section } from './types.js';

function pct(k: number, n: number): string {
  return n === 0 ? '–' : `${((100 * k) / n).toFixed(1)}%`;
}

function ageText(c: ClassSummary): string {
  return c.ageMean === null ? '–' : `${num(c.ageMean, 1)} ± ${num(c.ageSd, 1)} (${c.ageMin}–${c.ageMax})`;
}

/** Table 1: per class and in total. */
export function datasetSection(data: ReportData): Section {
  const d = data.dataset;
  if (d === undefined) {
    return {
      id: 'dataset',
      title: 'Data set',
      html: '<p class="na">Not available: the folder does not record the manifest it was trained or scored on.</p>',
    };
  }
  const { cad, normal } = d.byClass;
  const total = cad.n + normal.n;
  const row = (label: string, f: (c: ClassSummary) => string, t: string): string =>
    `<tr><th scope="row">${label}</th><td>${f(cad)}</td><td>${f(normal)}</td><td>${t}</td></tr>`;
  const ages = [cad, normal].filter((c) => c.ageMean !== null);
  const allAge =
    ages.length === 0
      ? '–'
      : `${num((cad.n * (cad.ageMean ?? 0) + normal.n * (normal.ageMean ?? 0)) / Math.max(1, (cad.ageMean !== null ? cad.n : 0) + (normal.ageMean !== null ? normal.n : 0)), 1)}`;
  const rows = [
    row('Patients', (c) => `${c.n} (${pct(c.n, total)})`, String(total)),
    row(
      'Male',
      (c) => `${c.male} (${pct(c.male, c.n)})`,
      `${cad.male + normal.male} (${pct(cad.male + normal.male, total)})`,
    ),
    row(
      'Female',
      (c) => `${c.female} (${pct(c.female, c.n)})`,
      `${cad.female + normal.female} (${pct(cad.female + normal.female, total)})`,
    ),
    ...(cad.sexUnknown + normal.sexUnknown > 0
      ? [row('Sex not given', (c) => String(c.sexUnknown), String(cad.sexUnknown + normal.sexUnknown))]
      : []),
    row('Age, years: mean ± SD (range)', ageText, allAge),
  ];
  let split = '';
  if (d.split !== undefined) {
    const s = d.split;
    const r = (name: string, v: { cad: number; normal: number }, what: string): string =>
      `<tr><th scope="row">${name}</th><td>${v.cad}</td><td>${v.normal}</td><td>${v.cad + v.normal}</td><td>${what}</td></tr>`;
    split = `<h3>Split (patient level, stratified by class)</h3><table><thead><tr><th>Part</th><th>CAD</th><th>Normal</th><th>Total</th><th>Used for</th></tr></thead><tbody>${r('Training', s.train, 'fitting the weights')}${r('Validation', s.validation, 'choosing the kept epoch of each stage')}${r('Test', s.test, 'the reported figures (seen once)')}</tbody></table>`;
  }
  return {
    id: 'dataset',
    title: 'Data set',
    html: `<p>Manifest <code>${esc(d.manifest)}</code>: ${d.patients} patients, ${cad.n} with CAD (${pct(cad.n, total)}) and ${normal.n} without. Laid out as Table 1 of Hai et al. (2022).</p>
<table><thead><tr><th></th><th>CAD</th><th>Normal</th><th>All</th></tr></thead><tbody>${rows.join('')}</tbody></table>${split}`,
  };
}
