/**
 * `polarcad report RUN_DIR [--out FILE] [--with DIR ...]`: one self-contained HTML report (plus
 * figures/*.svg|png) of a train run, experiment, score, evaluate, cv or demo folder
 * (library: src/report/html.ts; docs/reports.md).
 */
import type { Command } from 'commander';
import { writeReport } from '../../report/html.js';

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
      const r = await writeReport(dir, {
        ...(o.out ? { out: o.out } : {}),
        ...(o.with ? { with: o.with } : {}),
        ...(o.title ? { title: o.title } : {}),
        ...(o.pdf === true ? { pdf: true } : {}),
      });
      process.stdout.write(`report written to ${r.html} (${r.figures.length} figures)\n`);
      if (r.pdf !== undefined) process.stdout.write(`PDF: ${r.pdf}\n`);
    });
}
