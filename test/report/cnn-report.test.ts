/**
 * Issue 13: "heatmaps in every run's report": the report of a `polarcad train --model cnn` run
 * (MobileNetV2 with random weights at 64 px, a few epochs: seconds) shows Grad-CAM heatmaps of its
 * test patients, made by the pipeline of `predict` (src/report/heatmaps.ts), not "Not available";
 * the PDF carries them too.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { cli } from '../helpers/cli.js';
import { tinyCnnTrainArgs } from '../helpers/runs.js';
import { writePreparedCohort, TINY_STRESS_AC } from '../helpers/cohort.js';

let dir = '';
let preparedManifest = '';
const run = (): string => join(dir, 'cnn');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-cnn-report-'));
  const { manifest } = await writePreparedCohort(dir, TINY_STRESS_AC);
  const r = await cli(tinyCnnTrainArgs(manifest, run(), { cacheDir: join(dir, 'cache') }));
  assert.equal(r.code, 0, r.err);
  preparedManifest = manifest;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sectionOf = (html: string, id: string): string => {
  const i = html.indexOf(`<section id="${id}">`);
  return html.slice(i, html.indexOf('</section>', i));
};

test("a cnn train run's report shows Grad-CAM heatmaps of its test patients (HTML and PDF)", async () => {
  const r = await cli(['report', run(), '--pdf']);
  assert.equal(r.code, 0, r.err);
  const html = await readFile(join(run(), 'report.html'), 'utf8');
  const heat = sectionOf(html, 'heatmaps');
  assert.doesNotMatch(heat, /Not available/);
  const figs = [
    ...heat.matchAll(
      /<img alt="Heatmap of patient ([^"]+)" src="data:image\/png;base64,([A-Za-z0-9+/=]+)"><figcaption><strong>\1<\/strong>, P\(CAD\) (\d\.\d+)/g,
    ),
  ];
  assert.ok(figs.length >= 1, 'at least one heatmap image');
  // each heatmap is one of the run's test patients, with its probability, and a real picture
  const preds = parse(await readFile(join(run(), 'predictions.csv'), 'utf8'), { columns: true }) as Record<
    string,
    string
  >[];
  const runProb = new Map(preds.map((p) => [p.patient_id, Number(p.prob)]));
  for (const [, id, b64, prob] of figs) {
    assert.ok(runProb.has(id), `${id} is a test patient of the run`);
    // one number per patient: the caption's P(CAD) is the run's own (the prepared crops are read as
    // train read them, not found and cut again)
    assert.ok(
      Math.abs(Number(prob) - (runProb.get(id) as number)) <= 0.006,
      `${id}: caption P(CAD) ${prob}, predictions.csv ${runProb.get(id)}`,
    );
    const img = sharp(Buffer.from(b64, 'base64'));
    const meta = await img.metadata();
    assert.ok((meta.width ?? 0) >= 200 && (meta.height ?? 0) >= 100, `${id}: ${meta.width}x${meta.height}`);
    const stats = await img.stats();
    assert.ok(
      stats.channels.slice(0, 3).some((c) => c.stdev > 10),
      `${id}: the heatmap figure is not blank`,
    );
  }
  const t = spawnSync('pdftotext', [join(run(), 'report.pdf'), '-'], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const text = t.stdout.replace(/\s+/g, ' ');
  assert.doesNotMatch(text, /Heatmaps Not available/);
  assert.ok(text.includes(`${figs[0][1]} (`), `the PDF captions heatmap ${figs[0][1]}`);
});

test("predict --manifest on the run's prepared manifest gives each test patient the run's own P(CAD)", async () => {
  const r = await cli(['predict', run(), '--manifest', preparedManifest, '--format', 'json']);
  assert.equal(r.code, 0, r.err);
  const got = new Map(
    (JSON.parse(r.out) as { study: string; probability: number }[]).map((s) => [s.study, s.probability]),
  );
  const preds = parse(await readFile(join(run(), 'predictions.csv'), 'utf8'), { columns: true }) as Record<
    string,
    string
  >[];
  assert.ok(preds.length >= 2);
  for (const p of preds) {
    const q = got.get(p.patient_id);
    assert.ok(q !== undefined, `${p.patient_id} predicted`);
    assert.ok(Math.abs(q - Number(p.prob)) < 1e-5, `${p.patient_id}: predict ${q}, run ${p.prob}`);
  }
});
