/**
 * `polarcad report`: ONE self-contained HTML file (inline CSS, figures as inline SVG, heatmaps as
 * `data:` URIs, no script, no external font or link: it opens offline) plus the figures as
 * `figures/*.svg` and `.png` beside it. Sections: summary, data set, metrics (with intervals,
 * confusion matrix, ROC, calibration), training curves, comparisons, heatmaps, model card.
 * Every string from a file is HTML-escaped (escape.ts).
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { replaceFolderAtomic, writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { loadReportData, type LoadReportOptions, type ReportData } from './data.js';
import { esc } from './escape.js';
import { buildFigures, type ReportFigures } from './figures.js';
import { comparisonSection } from './sections/comparison.js';
import { datasetSection } from './sections/dataset.js';
import { heatmapSection } from './sections/heatmaps.js';
import { metricsSection } from './sections/metrics.js';
import { modelCardSection } from './sections/model-card.js';
import { reportPdf } from './pdf.js';
import { trainingSection } from './sections/training.js';
import type { Section } from './sections/types.js';

const CSS = `
:root{--fg:#1d1d1f;--muted:#5f6368;--line:#d9dce1;--bg:#fff;--accent:#0072B2;--warn:#b3261e}
*{box-sizing:border-box}
body{font-family:"DejaVu Sans",system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:0;line-height:1.45;font-size:15px}
header{background:#f4f6f8;border-bottom:1px solid var(--line);padding:18px 32px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;color:var(--muted)}
nav{padding:8px 32px;border-bottom:1px solid var(--line);font-size:14px}
nav a{margin-right:16px;color:var(--accent);text-decoration:none}
main{padding:8px 32px 48px;max-width:1400px}
section{margin-top:28px}
h2{font-size:20px;border-bottom:2px solid var(--accent);padding-bottom:4px}
h3{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:14px}
th,td{border:1px solid var(--line);padding:5px 9px;text-align:left;vertical-align:top}
thead th{background:#f4f6f8}
caption{caption-side:top;text-align:left;font-weight:bold;padding:4px 0}
td.best{background:#e6f2fa}
.ci{color:var(--muted);font-size:12px}
.desc{font-weight:normal;color:var(--muted);font-size:12px;max-width:360px}
.na{color:var(--muted);font-style:italic}
.alert{border:2px solid var(--warn);background:#fdecea;color:var(--warn);padding:10px 14px;margin:12px 0;border-radius:4px}
.warn{color:var(--warn)}
.verdict{border-left:4px solid var(--accent);padding:4px 10px;margin:8px 0}
.figrow{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
figure{margin:8px 0}
figure.chart .svg svg{max-width:100%;height:auto}
figcaption{font-size:13px;color:var(--muted);max-width:720px}
.files{font-size:11px}
.heatgrid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:16px}
.heat img{width:100%;height:auto;border:1px solid var(--line)}
dl.card dt{font-weight:bold;margin-top:10px}
dl.card dd{margin:2px 0 0 0}
.facts td:first-child{font-weight:bold}
code{font-size:13px;background:#f4f6f8;padding:1px 4px;border-radius:3px;word-break:break-all}
footer{color:var(--muted);font-size:12px;padding:16px 32px;border-top:1px solid var(--line)}
`;

function summarySection(data: ReportData): Section {
  const parts: string[] = [];
  for (const w of data.warnings) parts.push(`<div class="alert"><strong>Warning.</strong> ${esc(w)}</div>`);
  parts.push('<p>polarcad is a research tool and a <strong>second reader</strong>, not a diagnosis.</p>');
  // the paired tests' verdicts up front, so the best-looking row is not read as the better model
  for (const v of data.paired?.verdicts ?? [])
    parts.push(`<p class="verdict"><strong>${esc(v)}</strong></p>`);
  if (data.facts.length > 0)
    parts.push(
      `<table class="facts"><tbody>${data.facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</tbody></table>`,
    );
  if (data.notes.length > 0)
    parts.push(`<ul class="notes">${data.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  return { id: 'summary', title: 'Summary', html: parts.join('\n') };
}

/** The sections of a report, in page order. */
export function reportSections(data: ReportData, figs: ReportFigures): Section[] {
  return [
    summarySection(data),
    datasetSection(data),
    metricsSection(data, figs),
    trainingSection(data, figs),
    comparisonSection(data, figs),
    heatmapSection(data),
    modelCardSection(data),
  ];
}

/** The whole page as one HTML string (no script, no external reference). */
export function renderHtml(data: ReportData, figs: ReportFigures, generated = new Date()): string {
  const sections = reportSections(data, figs);
  const nav = sections.map((s) => `<a href="#${esc(s.id)}">${esc(s.title)}</a>`).join('');
  const body = sections
    .map((s) => `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>\n${s.html}\n</section>`)
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(data.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(data.title)}</h1><p>${esc(data.kinds.join(' + '))} · <code>${esc(data.dir)}</code></p></header>
<nav>${nav}</nav>
<main>
${body}
</main>
<footer>Written by polarcad on ${esc(generated.toISOString().slice(0, 19).replace('T', ' '))} UTC. Self-contained: opens without a network. Figures also in figures/ as SVG and PNG.</footer>
</body>
</html>
`;
}

/**
 * The report's data with the heatmaps of its training run made now (`runHeatmapItems`: the
 * pipeline of `predict`) when the folder has none: every run's report has heatmaps, not only the
 * demo's. A run whose model or images cannot be read keeps none, with the reason.
 */
async function withRunHeatmaps(data: ReportData): Promise<ReportData> {
  const run = data.networks[0];
  if (data.heatmaps !== null || data.kinds[0] !== 'train' || run === undefined) return data;
  // loaded on demand: the model runtimes are not needed by reports without a run
  const { runHeatmapItems } = await import('./heatmaps.js');
  try {
    return { ...data, heatmaps: await runHeatmapItems(run.dir) };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { ...data, heatmapNote: e.message };
  }
}

/** Options of {@link writeReport}. */
export interface WriteReportOptions extends LoadReportOptions {
  /** HTML file to write (default DIR/report.html); figures go to figures/ beside it */
  readonly out?: string;
  /** also write the report as PDF beside the HTML (same name, `.pdf`) */
  readonly pdf?: boolean;
}

/** Result of {@link writeReport}. */
export interface WrittenReport {
  readonly html: string;
  readonly figures: readonly string[];
  readonly data: ReportData;
  /** the PDF, when asked for */
  readonly pdf?: string;
}

/**
 * Read `dir` (see `loadReportData`), render the figures and write the report.
 * @throws InputError for a folder that is not a polarcad output folder or malformed files in it
 */
export async function writeReport(dir: string, opts: WriteReportOptions = {}): Promise<WrittenReport> {
  const data = await withRunHeatmaps(await loadReportData(dir, opts));
  const out = resolve(opts.out ?? join(dir, 'report.html'));
  // figures/ is swapped into place only when every figure and the page are written
  const pdf = opts.pdf === true ? out.slice(0, out.length - extname(out).length) + '.pdf' : undefined;
  const figs = await replaceFolderAtomic(join(dirname(out), 'figures'), async (tmp) => {
    const f = await buildFigures(data, tmp);
    if (pdf !== undefined) {
      const pngs = await Promise.all(
        f.all.map(async (g) => ({
          title: g.title,
          caption: g.caption,
          png: new Uint8Array(await readFile(join(tmp, `${g.name}.png`))),
        })),
      );
      await writeFileAtomic(pdf, await reportPdf(data, pngs));
    }
    await writeFileAtomic(out, renderHtml(data, f));
    return f;
  });
  return {
    html: out,
    figures: figs.all.map((f) => join(dirname(out), 'figures', `${f.name}.svg`)),
    data,
    ...(pdf !== undefined ? { pdf } : {}),
  };
}
