/**
 * Issue 13, subgroups: the report of a `polarcad evaluate` folder whose metrics.json holds results
 * by subgroup (`evaluate --by sex,smoker`: src/evaluate/subgroups.ts, intervals computed once)
 * shows them as a table in report.html and in report.pdf, with the stored intervals; a folder
 * without subgroups shows no such table. The folder is written here in evaluate's file formats,
 * its subgroup rows computed by `subgroupRows` itself.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Label } from '../../src/domain/views.js';
import { subgroupRows, type SubgroupRow } from '../../src/evaluate/subgroups.js';
import { loadManifest } from '../../src/ingest/manifest.js';
import { cli } from '../helpers/cli.js';
import { writeManifest } from './fixtures.js';

let dir = '';
let groups: SubgroupRow[] = [];

/** A `polarcad evaluate` folder over the 20 patients of `writeManifest` plus a `smoker` column. */
async function writeEvaluateDir(out: string, manifest: string, withSubgroups: boolean): Promise<void> {
  await mkdir(out, { recursive: true });
  const m = await loadManifest(manifest, { checkFiles: false });
  const labels = m.rows.map((r) => r.label as Label);
  // informative but imperfect probabilities, different per patient
  const probs = m.rows.map((r, i) =>
    Math.min(0.97, Math.max(0.03, (r.label === 1 ? 0.62 : 0.38) + (((i * 7) % 9) - 4) * 0.06)),
  );
  groups = subgroupRows(
    m.rows,
    labels,
    probs,
    m.rows.map((_, i) => i),
    ['sex', 'smoker'],
    {
      threshold: 0.5,
      seed: 1,
      resamples: 200,
      name: 'mobilenetv2',
      evaluatedOn: 'manifest.csv',
    },
  );
  await writeFile(
    join(out, 'predictions.csv'),
    ['patient_id,label,prob', ...m.rows.map((r, i) => `${r.patientId},${r.label},${probs[i]}`)].join('\n') +
      '\n',
  );
  await writeFile(
    join(out, 'metrics.json'),
    JSON.stringify({
      format: 'polarcad-metrics',
      command: 'evaluate',
      ...(withSubgroups ? { subgroups: groups } : {}),
    }),
  );
  await writeFile(
    join(out, 'evaluate.json'),
    JSON.stringify({
      name: 'mobilenetv2',
      description: 'MobileNetV2 evaluated on a new manifest',
      manifest: { path: manifest },
      threshold: { value: 0.5, rule: 'default 0.5' },
    }),
  );
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-subgroups-report-'));
  const base = await writeManifest(join(dir, 'data'));
  // a categorical clinical column beside sex
  const lines = (await readFile(base, 'utf8')).trim().split('\n');
  const manifest = join(dir, 'data', 'with-smoker.csv');
  await writeFile(
    manifest,
    [`${lines[0]},smoker`, ...lines.slice(1).map((l, i) => `${l},${i % 3 === 0 ? 'yes' : 'no'}`)].join('\n') +
      '\n',
  );
  await writeEvaluateDir(join(dir, 'eval'), manifest, true);
  await writeEvaluateDir(join(dir, 'plain'), manifest, false);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A PDF's text in reading order (pdftotext without -layout: a wrapped cell stays together). */
function pdfText(pdf: string): string {
  const r = spawnSync('pdftotext', [pdf, '-'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const f3 = (x: number | null): string => (x === null ? '–' : x.toFixed(3));

test('report.html and report.pdf of an evaluation show its subgroup table with the stored intervals', async () => {
  const r = await cli(['report', join(dir, 'eval'), '--pdf']);
  assert.equal(r.code, 0, r.err);
  const html = await readFile(join(dir, 'eval', 'report.html'), 'utf8');
  const i = html.indexOf('<h3 id="subgroups">Subgroups</h3>');
  assert.ok(i > 0, 'a Subgroups heading');
  const table = html.slice(i, html.indexOf('</table>', i));
  assert.match(table, /<caption>Results by subgroup \(95% CI\)<\/caption>/);
  assert.deepEqual(groups.map((g) => `${g.column} = ${g.value}`).sort(), [
    'sex = F',
    'sex = M',
    'smoker = no',
    'smoker = yes',
  ]);
  const pdf = pdfText(join(dir, 'eval', 'report.pdf')).replace(/\s+/g, ' ');
  assert.match(pdf, /Subgroups The same patients by subgroup/);
  for (const g of groups) {
    const rowHtml = table.slice(table.indexOf(`>${g.column} = ${g.value}<`)).split('</tr>')[0];
    assert.ok(rowHtml.length > 20, `a row for ${g.column} = ${g.value}`);
    assert.ok(
      rowHtml.includes(`<td>${g.row.n} (${g.row.positives}/${g.row.negatives})</td>`),
      `${g.value}: n`,
    );
    const acc = g.row.accuracy;
    assert.ok(acc !== null && acc.estimate !== null);
    assert.ok(
      rowHtml.includes(`${f3(acc.estimate)} <span class="ci">[${f3(acc.lo)}, ${f3(acc.hi)}]</span>`),
      `${g.column} = ${g.value}: accuracy ${f3(acc.estimate)} [${f3(acc.lo)}, ${f3(acc.hi)}]`,
    );
    assert.ok(pdf.includes(`${g.column} = ${g.value}`), `the PDF names ${g.column} = ${g.value}`);
    assert.ok(
      pdf.includes(`${f3(acc.estimate)} [${f3(acc.lo)}, ${f3(acc.hi)}]`),
      `the PDF shows ${g.value}'s accuracy`,
    );
  }
});

test('an evaluation without subgroups has no subgroup table', async () => {
  const r = await cli(['report', join(dir, 'plain'), '--pdf']);
  assert.equal(r.code, 0, r.err);
  const html = await readFile(join(dir, 'plain', 'report.html'), 'utf8');
  assert.ok(!html.includes('id="subgroups"'));
  assert.ok(!pdfText(join(dir, 'plain', 'report.pdf')).includes('Subgroups'));
});
