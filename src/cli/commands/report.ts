/**
 * `polarcad report RUN_DIR [--out FILE] [--with DIR ...]`: one self-contained HTML report (plus
 * figures/*.svg|png) of a train run, experiment, score, evaluate, cv or demo folder
 * (library: src/report/html.ts; docs/reports.md).
 *
 * `--out` follows the rule of every command (src/util/output.ts): the HTML (and the PDF beside it)
 * may be new or polarcad's own report; the `figures/` folder beside it is replaced only when it is
 * new or polarcad's report figures (marked), or lies in one of the report's own folders.
 */
import { dirname, extname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeReport } from '../../report/html.js';
import { checkOutputDir, claimOutputFile, writeOutputMarker } from '../../util/output.js';

/** The PDF written beside `html` by `--pdf` (as src/report/html.ts names it). */
function pdfBeside(html: string): string {
  return html.slice(0, html.length - extname(html).length) + '.pdf';
}

/**
 * Check `--out FILE` of a report of `dirs` before anything is written; returns whether the
 * figures folder beside it must be marked as polarcad's after writing (it is outside `dirs`).
 */
async function claimReportOut(out: string, dirs: readonly string[], pdf: boolean): Promise<boolean> {
  await claimOutputFile(out, 'html');
  if (pdf) await claimOutputFile(pdfBeside(resolve(out)), 'pdf');
  const folder = dirname(resolve(out));
  if (dirs.some((d) => resolve(d) === folder)) return false; // the report's own folder
  await checkOutputDir(join(folder, 'figures'), 'report');
  return true;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'write one self-contained HTML report (and figures/*.svg|png) for a train, experiment, score, evaluate, cv or demo folder',
    )
    .argument('<dir>', 'output folder of polarcad train / experiment / score / evaluate / cv / demo')
    .option('--out <file>', 'HTML file to write (default DIR/report.html); figures go to figures/ beside it')
    .option(
      '--with <dirs...>',
      'more folders to put in the same report (e.g. a polarcad score folder beside a training run)',
    )
    .option('--title <text>', 'report title')
    .option('--pdf', 'also write the report as PDF beside the HTML (report.pdf)')
    .action(async (dir: string, o: { out?: string; with?: string[]; title?: string; pdf?: boolean }) => {
      const markFigures =
        o.out !== undefined && (await claimReportOut(o.out, [dir, ...(o.with ?? [])], o.pdf === true));
      const r = await writeReport(dir, {
        ...(o.out ? { out: o.out } : {}),
        ...(o.with ? { with: o.with } : {}),
        ...(o.title ? { title: o.title } : {}),
        ...(o.pdf === true ? { pdf: true } : {}),
      });
      if (markFigures) await writeOutputMarker(join(dirname(r.html), 'figures'), 'report');
      process.stdout.write(`report written to ${r.html} (${r.figures.length} figures)\n`);
      if (r.pdf !== undefined) process.stdout.write(`PDF: ${r.pdf}\n`);
    });
}
