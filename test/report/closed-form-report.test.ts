/**
 * Issue 13: the report of a closed-form run (`polarcad train`, default `--model hybrid`) shows the
 * model beside both baselines with the stored intervals, paired DeLong / McNemar tests with a
 * plain verdict, the reliability diagram with the ECE of metrics.json, and the model's evidence
 * heatmaps with the sentence `predict` gives; `report A --with B` shows the pair of `compare`.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { formatP, pairVerdict, type RunPair } from '../../src/evaluate/paired.js';
import { cli } from '../helpers/cli.js';
import { writePreparedCohort } from '../helpers/cohort.js';

let dir = '';
let manifest = '';
const run = (): string => join(dir, 'hybrid');
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-cf-report-'));
  ({ manifest } = await writePreparedCohort(dir, {
    patients: 40,
    seed: 5,
    colormap: 'hot',
    grid: false,
    canvas: 128,
    prepare: { size: 64 },
  }));
  const cache = ['--cache-dir', join(dir, 'cache')];
  assert.equal((await cli(['train', manifest, '--out', run(), ...cache])).code, 0);
  const seg = ['train', manifest, '--model', 'segment-logistic', '--out', join(dir, 'seg'), ...cache];
  assert.equal((await cli(seg)).code, 0);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** AUC by counting (Mann-Whitney), independent of src/evaluate. */
function aucByCounting(labels: number[], probs: number[]): number {
  let s = 0;
  let n = 0;
  labels.forEach((l, i) => {
    if (l !== 1) return;
    labels.forEach((m, j) => {
      if (m !== 0) return;
      n++;
      s += probs[i] > probs[j] ? 1 : probs[i] === probs[j] ? 0.5 : 0;
    });
  });
  return s / n;
}

const sectionOf = (html: string, id: string): string => {
  const i = html.indexOf(`<section id="${id}">`);
  return html.slice(i, html.indexOf('</section>', i));
};

test('pairVerdict: states plainly whether A beats B', () => {
  const p = (d: number, pv: number): RunPair => ({
    a: 'hybrid',
    b: 'segment-logistic',
    aucA: 0.8 + d,
    aucB: 0.8,
    aucDifference: d,
    aucDifferenceCi: [d - 0.1, d + 0.1],
    delongP: pv,
    accuracyA: 0.8,
    accuracyB: 0.8,
    aRightBWrong: 1,
    aWrongBRight: 1,
    mcnemarP: 1,
    mcnemarMethod: 'exact',
  });
  assert.match(pairVerdict(p(0.1, 0.01), 50), /^hybrid beats segment-logistic on these 50 patients/);
  assert.match(pairVerdict(p(0.1, 0.2), 50), /^hybrid does not beat segment-logistic/);
  assert.match(pairVerdict(p(-0.1, 0.01), 50), /^hybrid is WORSE than segment-logistic/);
});

test('report of a hybrid run: baselines with the stored intervals, paired tests, verdicts, ECE, evidence heatmaps, PDF', async () => {
  const r = await cli(['report', run(), '--pdf']);
  assert.equal(r.code, 0, r.err);
  const html = await readFile(join(run(), 'report.html'), 'utf8');
  const metrics = JSON.parse(await readFile(join(run(), 'metrics.json'), 'utf8')) as {
    ece: number;
    rows: { name: string; accuracy: { estimate: number; lo: number; hi: number } }[];
    comparisons: { baseline: string; delongP: number; mcnemarP: number }[];
  };
  const metricsSection = sectionOf(html, 'metrics');
  for (const row of metrics.rows) {
    const a = row.accuracy;
    assert.ok(
      metricsSection.includes(`>${row.name}<div`) &&
        metricsSection.includes(
          `${a.estimate.toFixed(3)} <span class="ci">[${a.lo.toFixed(3)}, ${a.hi.toFixed(3)}]`,
        ),
      `${row.name} with its stored accuracy interval`,
    );
  }
  // paired tests: the stored p values, and AUCs that match a count over predictions.csv
  const preds = parse(await readFile(join(run(), 'predictions.csv'), 'utf8'), { columns: true }) as Record<
    string,
    string
  >[];
  const labels = preds.map((p) => Number(p.label));
  const cmp = sectionOf(html, 'comparison');
  for (const c of metrics.comparisons) {
    const aucB = aucByCounting(
      labels,
      preds.map((p) => Number(p[`prob_${c.baseline.replace('-', '_')}`])),
    );
    const aucA = aucByCounting(
      labels,
      preds.map((p) => Number(p.prob)),
    );
    assert.ok(
      cmp.includes(
        `<tr><td>hybrid</td><td>${c.baseline}</td><td>${aucA.toFixed(3)}</td><td>${aucB.toFixed(3)}</td>`,
      ),
      `pair hybrid / ${c.baseline}`,
    );
    const row = cmp.slice(cmp.indexOf(`<tr><td>hybrid</td><td>${c.baseline}</td>`));
    assert.ok(row.split('</tr>')[0].includes(`<td>${formatP(c.delongP)}</td>`), 'DeLong p as stored');
    assert.ok(row.split('</tr>')[0].includes(`<td>${formatP(c.mcnemarP)} (`), 'McNemar p as stored');
    const verb = c.delongP < 0.05 ? (aucA > aucB ? 'beats' : 'is WORSE than') : 'does not beat';
    const verdict = `hybrid ${verb} ${c.baseline} on these ${labels.length} patients`;
    assert.ok(sectionOf(html, 'summary').includes(verdict), `summary says: ${verdict}`);
  }
  // reliability diagram with the run's ECE
  assert.match(
    metricsSection,
    new RegExp(`expected calibration error <strong>${metrics.ece.toFixed(3)}</strong>`),
  );
  assert.match(metricsSection, /Reliability diagram of hybrid/);
  // heatmaps: the sentence predict prints for the same patient
  const heat = sectionOf(html, 'heatmaps');
  assert.doesNotMatch(heat, /Not available/);
  const caps = [
    ...heat.matchAll(
      /<figcaption><strong>(P\d+)<\/strong>, P\(CAD\) ([\d.]+)\. (?:CAD|normal) patient\. (.*?)<\/figcaption>/g,
    ),
  ];
  assert.ok(caps.length >= 2, 'at least two heatmaps');
  const m = (await import('../../src/ingest/manifest.js')).loadManifest;
  const rows = (await m(manifest)).rows;
  const [, id, prob, sentence] = caps[0];
  const row = rows.find((x) => x.patientId === id);
  assert.ok(row !== undefined);
  const files = Object.values(row.views) as string[];
  const p = await cli(['predict', run(), '--manifest', manifest, '--format', 'json']);
  assert.equal(p.code, 0, p.err);
  const found = JSON.stringify(JSON.parse(p.out));
  assert.ok(found.includes(`"study":"${id}"`), `predict names ${id}`);
  const studyAt = found.indexOf(`"study":"${id}"`);
  const next = found.indexOf('"study":"', studyAt + 5);
  const block = found.slice(studyAt, next < 0 ? undefined : next);
  const res = {
    sentence: JSON.parse(`"${/"sentence":"((?:[^"\\]|\\.)*)"/.exec(block)?.[1] ?? ''}"`) as string,
    probability: Number(/"probability":([\d.e-]+)/.exec(block)?.[1]),
  };
  void files;
  assert.equal(res.sentence.replace(/&/g, '&amp;').replace(/'/g, '&#39;'), sentence);
  assert.equal(Number(prob), Number(res.probability.toFixed(2)));
  // the PDF carries the verdicts
  const { spawnSync } = await import('node:child_process');
  const t = spawnSync('pdftotext', ['-layout', join(run(), 'report.pdf'), '-'], { encoding: 'utf8' });
  if (t.status === 0)
    assert.match(
      t.stdout.replace(/\s+/g, ' '),
      /hybrid (does not beat|beats|is WORSE than) segment-logistic/,
    );
});

test('report A --with B: the pair of polarcad compare on the same patients', async () => {
  const r = await cli(['report', run(), '--with', join(dir, 'seg'), '--out', join(dir, 'with', 'r.html')]);
  assert.equal(r.code, 0, r.err);
  const c = await cli(['compare', run(), join(dir, 'seg'), '--out', join(dir, 'cmp')]);
  assert.equal(c.code, 0, c.err);
  const pair = (
    parse(await readFile(join(dir, 'cmp', 'pairs.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[]
  )[0];
  const html = await readFile(join(dir, 'with', 'r.html'), 'utf8');
  const row = html
    .slice(html.indexOf('<tr><td>hybrid</td><td>segment-logistic (seg)</td>'))
    .split('</tr>')[0];
  assert.ok(row.length > 60, 'the pair hybrid / the seg run');
  assert.ok(row.includes(`<td>${formatP(Number(pair.delong_p))}</td>`));
  assert.ok(row.includes(`<td>${pair.a_right_b_wrong}</td><td>${pair.a_wrong_b_right}</td>`));
  assert.ok(row.includes(`<td>${formatP(Number(pair.mcnemar_p))} (${pair.mcnemar_method})</td>`));
});
