/**
 * PDF pages (ISO 32000-1, written by pdf-lib): a flowing A4 document of headings, paragraphs,
 * tables and PNG images with page breaks, and the report as PDF ({@link reportPdf}: the report's
 * sections, metrics with their intervals, figures and heatmaps, the same numbers as report.html).
 * Text is set in the standard Helvetica fonts (no font file shipped); characters outside their
 * WinAnsi encoding are written in ASCII (≥ as >=, − as -, ★ as *).
 */
import { PDFDocument, StandardFonts, rgb, type PDFFont, type PDFPage } from 'pdf-lib';
import { METRICS_ROW_FIGURES, type IntervalValue, type MetricsRow } from '../evaluate/metrics-row.js';
import type { ReportData } from './data.js';
import { formatP } from '../evaluate/paired.js';
import { subgroupRows } from './sections/table.js';

const A4 = { width: 595.28, height: 841.89 } as const;
const MARGIN = 48;
const INK = rgb(0.11, 0.11, 0.12);
const MUTED = rgb(0.37, 0.39, 0.41);
const WARN = rgb(0.7, 0.15, 0.12);
const LINE = rgb(0.85, 0.86, 0.88);

const ASCII: Readonly<Record<string, string>> = {
  '≥': '>=',
  '≤': '<=',
  '−': '-',
  '★': '*',
  '→': '->',
  '✓': 'v',
  '✗': 'x',
  '·': '-',
};

/**
 * Text the standard fonts can encode: known symbols in ASCII, any other character outside WinAnsi
 * as `?`.
 * @example pdfSafe('SSS ≥ 4') // 'SSS >= 4'
 */
export function pdfSafe(s: string): string {
  let out = '';
  for (const ch of s) {
    const a = ASCII[ch];
    if (a !== undefined) out += a;
    else if (ch === '\t') out += ' ';
    else if (ch.charCodeAt(0) < 0x20) out += ' ';
    else if (
      ch.charCodeAt(0) < 0x7f ||
      /[\u00a0-\u00ff\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u20ac]/.test(ch)
    )
      out += ch;
    else out += '?';
  }
  return out;
}

/** Options of a paragraph. */
export interface TextStyle {
  readonly size?: number;
  readonly bold?: boolean;
  readonly color?: 'ink' | 'muted' | 'warn';
}

/**
 * A flowing PDF document: each call adds below the previous one, starting a new A4 page when the
 * content does not fit.
 * @example const d = await PdfFlow.create('title'); d.heading('Result'); d.paragraph('P(CAD) 0.81'); await d.save()
 */
export class PdfFlow {
  private page: PDFPage;
  private y: number;
  private constructor(
    readonly doc: PDFDocument,
    private readonly font: PDFFont,
    private readonly bold: PDFFont,
  ) {
    this.page = doc.addPage([A4.width, A4.height]);
    this.y = A4.height - MARGIN;
  }

  /** A new document with its title (document information and first heading). */
  static async create(title: string): Promise<PdfFlow> {
    const doc = await PDFDocument.create();
    doc.setTitle(pdfSafe(title));
    doc.setProducer('polarcad (pdf-lib)');
    doc.setCreator('polarcad');
    // fixed dates: the same inputs give the same file
    doc.setCreationDate(new Date(0));
    doc.setModificationDate(new Date(0));
    const flow = new PdfFlow(
      doc,
      await doc.embedFont(StandardFonts.Helvetica),
      await doc.embedFont(StandardFonts.HelveticaBold),
    );
    flow.paragraph(title, { size: 18, bold: true });
    return flow;
  }

  private get width(): number {
    return A4.width - 2 * MARGIN;
  }

  private need(h: number): void {
    if (this.y - h < MARGIN) {
      this.page = this.doc.addPage([A4.width, A4.height]);
      this.y = A4.height - MARGIN;
    }
  }

  private wrap(text: string, font: PDFFont, size: number, width: number): string[] {
    const lines: string[] = [];
    for (const para of pdfSafe(text).split('\n')) {
      let line = '';
      for (const word of para.split(/ +/)) {
        const next = line === '' ? word : `${line} ${word}`;
        if (font.widthOfTextAtSize(next, size) <= width || line === '') line = next;
        else {
          lines.push(line);
          line = word;
        }
        // a single word wider than the line (a long path): cut it
        while (font.widthOfTextAtSize(line, size) > width && line.length > 1) {
          let k = line.length - 1;
          while (k > 1 && font.widthOfTextAtSize(line.slice(0, k), size) > width) k--;
          lines.push(line.slice(0, k));
          line = line.slice(k);
        }
      }
      lines.push(line);
    }
    return lines;
  }

  /** A wrapped paragraph. */
  paragraph(text: string, style: TextStyle = {}): void {
    const size = style.size ?? 10;
    const font = style.bold === true ? this.bold : this.font;
    const color = style.color === 'warn' ? WARN : style.color === 'muted' ? MUTED : INK;
    for (const line of this.wrap(text, font, size, this.width)) {
      this.need(size * 1.35);
      this.y -= size * 1.35;
      this.page.drawText(line, { x: MARGIN, y: this.y, size, font, color });
    }
    this.y -= size * 0.5;
  }

  /** A section heading with a rule under it. */
  heading(text: string): void {
    this.need(40);
    this.y -= 8;
    this.paragraph(text, { size: 13, bold: true });
    this.page.drawLine({
      start: { x: MARGIN, y: this.y + 3 },
      end: { x: MARGIN + this.width, y: this.y + 3 },
      thickness: 1,
      color: rgb(0, 0.45, 0.7),
    });
    this.y -= 4;
  }

  /** A table: header row in bold, cells wrapped in equal-share columns (or `widths`, fractions). */
  table(head: readonly string[], rows: readonly (readonly string[])[], widths?: readonly number[]): void {
    const size = 8;
    const lh = size * 1.3;
    const share = widths ?? head.map(() => 1 / head.length);
    const cols = share.map((w) => w * this.width);
    const drawRow = (cells: readonly string[], font: PDFFont): void => {
      const wrapped = cells.map((c, i) => this.wrap(c, font, size, cols[i] - 6));
      const h = Math.max(...wrapped.map((w) => w.length)) * lh + 4;
      this.need(h);
      let x = MARGIN;
      wrapped.forEach((lines, i) => {
        lines.forEach((l, k) =>
          this.page.drawText(l, { x: x + 3, y: this.y - (k + 1) * lh, size, font, color: INK }),
        );
        x += cols[i];
      });
      this.y -= h;
      this.page.drawLine({
        start: { x: MARGIN, y: this.y },
        end: { x: MARGIN + this.width, y: this.y },
        thickness: 0.5,
        color: LINE,
      });
    };
    drawRow(head, this.bold);
    for (const r of rows) drawRow(r, this.font);
    this.y -= 8;
  }

  /** A PNG image scaled to fit `maxWidth` points (default the text width) and the page, with a caption. */
  async image(png: Uint8Array, caption?: string, maxWidth?: number): Promise<void> {
    const img = await this.doc.embedPng(png);
    const w0 = Math.min(maxWidth ?? this.width, this.width);
    const scale = Math.min(w0 / img.width, (A4.height - 2 * MARGIN - 40) / img.height, 1);
    const w = img.width * scale;
    const h = img.height * scale;
    this.need(h + 6);
    this.y -= h;
    this.page.drawImage(img, { x: MARGIN, y: this.y, width: w, height: h });
    this.y -= 6;
    if (caption !== undefined) this.paragraph(caption, { size: 8, color: 'muted' });
  }

  /** The document's bytes. */
  async save(): Promise<Uint8Array> {
    return this.doc.save();
  }
}

const n3 = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(3);
const iv = (v: IntervalValue | null): string =>
  v === null || v.estimate === null ? '-' : `${n3(v.estimate)} [${n3(v.lo)}, ${n3(v.hi)}]`;

/** Rows as a PDF table: name, n, each figure "estimate [lo, hi]" (the numbers of report.html). */
function metricsRows(flow: PdfFlow, rows: readonly MetricsRow[]): void {
  flow.table(
    ['', 'n', ...METRICS_ROW_FIGURES.map((f) => (f === 'auc' ? 'AUC' : f[0].toUpperCase() + f.slice(1)))],
    rows.map((r) => [r.name, String(r.n), ...METRICS_ROW_FIGURES.map((f) => iv(r[f]))]),
    [0.16, 0.05, ...METRICS_ROW_FIGURES.map(() => 0.79 / METRICS_ROW_FIGURES.length)],
  );
}

/** A rendered figure of the report as PNG, with its title and caption. */
export interface PdfFigure {
  readonly title: string;
  readonly caption: string;
  readonly png: Uint8Array;
}

/**
 * The report as a PDF: summary (warnings, facts, notes), data set, metrics with 95% intervals, the
 * figures, the comparison tables and the heatmaps; the same data as report.html
 * (`loadReportData`), so the same numbers.
 * @example await writeFile('report.pdf', await reportPdf(data, figures))
 */
export async function reportPdf(data: ReportData, figures: readonly PdfFigure[]): Promise<Uint8Array> {
  const flow = await PdfFlow.create(data.title);
  flow.paragraph(`${data.kinds.join(' + ')} - ${data.dir}`, { size: 8, color: 'muted' });
  flow.heading('Summary');
  for (const w of data.warnings) flow.paragraph(`Warning. ${w}`, { color: 'warn', bold: true });
  flow.paragraph('polarcad is a research tool and a second reader, not a diagnosis.');
  for (const v of data.paired?.verdicts ?? []) flow.paragraph(v, { bold: true });
  if (data.facts.length > 0) flow.table(['', ''], data.facts, [0.3, 0.7]);
  for (const n of data.notes) flow.paragraph(`- ${n}`, { size: 9 });
  if (data.dataset !== undefined) {
    const d = data.dataset;
    flow.heading('Data set');
    flow.table(
      ['', 'CAD', 'normal'],
      [
        ['patients', String(d.byClass.cad.n), String(d.byClass.normal.n)],
        [
          'male / female / unknown',
          `${d.byClass.cad.male} / ${d.byClass.cad.female} / ${d.byClass.cad.sexUnknown}`,
          `${d.byClass.normal.male} / ${d.byClass.normal.female} / ${d.byClass.normal.sexUnknown}`,
        ],
        [
          'age, mean (SD)',
          `${n3(d.byClass.cad.ageMean)} (${n3(d.byClass.cad.ageSd)})`,
          `${n3(d.byClass.normal.ageMean)} (${n3(d.byClass.normal.ageSd)})`,
        ],
      ],
      [0.4, 0.3, 0.3],
    );
  }
  flow.heading('Metrics');
  const rows = data.networks.map((n) => n.row);
  if (rows.length > 0) {
    flow.paragraph(
      `On ${rows[0].evaluatedOn}. 95% intervals: Wilson for accuracy, sensitivity, specificity and precision; stratified percentile bootstrap for AUC and F1.${data.thresholdRule ? ` Threshold: ${data.thresholdRule}.` : ''}`,
      { size: 9 },
    );
    metricsRows(flow, rows);
  } else if (data.semiquant.length > 0) metricsRows(flow, data.semiquant);
  else flow.paragraph('Not available: no predictions in this folder.', { color: 'muted' });
  if (data.subgroups !== undefined && data.subgroups.length > 0) {
    flow.heading('Subgroups');
    flow.paragraph(
      'The same patients by subgroup (sex; categorical clinical columns), each figure with its 95% interval.',
      { size: 9 },
    );
    metricsRows(flow, subgroupRows(data.subgroups));
  }
  for (const f of figures) {
    flow.paragraph(f.title, { bold: true, size: 10 });
    await flow.image(f.png, f.caption, 360);
  }
  for (const t of data.comparisons) {
    flow.heading(t.title);
    metricsRows(flow, t.rows);
    for (const n of t.notes) flow.paragraph(`- ${n}`, { size: 8, color: 'muted' });
  }
  if (data.paired !== undefined) {
    flow.heading(data.paired.title);
    for (const v of data.paired.verdicts) flow.paragraph(v, { size: 9 });
    flow.table(
      ['A', 'B', 'AUC A - B [95% CI]', 'DeLong p', 'acc. A - B', 'A+ B-', 'A- B+', 'McNemar p'],
      data.paired.pairs.map((p) => [
        p.a,
        p.b,
        `${n3(p.aucDifference)} [${n3(p.aucDifferenceCi[0])}, ${n3(p.aucDifferenceCi[1])}]`,
        formatP(p.delongP),
        n3(p.accuracyA - p.accuracyB),
        String(p.aRightBWrong),
        String(p.aWrongBRight),
        formatP(p.mcnemarP),
      ]),
      [0.16, 0.16, 0.2, 0.1, 0.1, 0.07, 0.07, 0.14],
    );
    flow.paragraph(
      'DeLong et al. (1988) for two correlated AUCs; McNemar (1947) on the discordant patients. A+ B-: A right and B wrong. No correction for multiple comparisons.',
      { size: 8, color: 'muted' },
    );
  }
  flow.heading('Heatmaps');
  if (data.heatmaps === null || data.heatmaps.length === 0)
    flow.paragraph('Not available: no explanation output in this folder.', { color: 'muted' });
  else
    for (const h of data.heatmaps)
      await flow.image(h.png, `${h.id} (${h.outcome}, P(CAD) ${n3(h.prob)}): ${h.caption}`, 240);
  return flow.save();
}
