/**
 * The HTML report from fixture folders written by the test (train run, score folder, experiment
 * folder): sections filled, figures written and inlined, figures recomputed with intervals match
 * independent reference values, best-of-column marking, escaping of hostile strings, no network
 * reference, the --select-on test warning, the embedded-weights statement, and input errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { loadReportData, readPredictions } from '../../src/report/data.js';
import { esc, inlineSvg } from '../../src/report/escape.js';
import { writeReport } from '../../src/report/html.js';
import { InputError } from '../../src/util/errors.js';
import { writeExperimentDir, writeManifest, writeScoreDir, writeTrainRun } from './fixtures.js';

let dir = '';
let manifest = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-report-'));
  manifest = await writeManifest(join(dir, 'data'));
  await writeTrainRun(join(dir, 'run'), manifest, {
    weightsDescription: 'embedded default: nsfwjs <img src=x onerror=alert(1)>',
  });
  await writeScoreDir(join(dir, 'score'), manifest);
  await writeExperimentDir(join(dir, 'exp'), manifest);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sectionOf(html: string, id: string): string {
  const m = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html);
  assert.ok(m, `section ${id} missing`);
  return m[1];
}

describe('escaping', () => {
  test('esc turns every HTML-special character into an entity', () => {
    assert.equal(
      esc(`<a href="x" onclick='y'>&</a>`),
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });
  test('inlineSvg drops the XML namespaces (no http reference left)', () => {
    const s = inlineSvg(
      '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="2"><image xlink:href="#a"/></svg>',
    );
    assert.equal(s, '<svg width="2"><image href="#a"/></svg>');
  });
});

describe('report of a train run with a score folder', () => {
  let html = '';
  before(async () => {
    const r = await writeReport(join(dir, 'run'), { with: [join(dir, 'score')] });
    html = await readFile(r.html, 'utf8');
  });

  test('is one self-contained page: no script, no http(s) reference, no external resource', () => {
    assert.doesNotMatch(html, /https?:\/\//);
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /<link\b/i);
    assert.doesNotMatch(html, /\bsrc="(?!data:)/);
    assert.match(html, /<style>/);
  });

  test('has every section, in order', () => {
    const ids = [...html.matchAll(/<section id="([^"]+)">/g)].map((m) => m[1]);
    assert.deepEqual(ids, [
      'summary',
      'dataset',
      'metrics',
      'training',
      'comparison',
      'heatmaps',
      'model-card',
    ]);
  });

  test('data set: Table 1 counts, sex and age by class, and the split', () => {
    const s = sectionOf(html, 'dataset');
    // fixture: CAD 10 (6 M, 4 F, ages 60..69: mean 64.5, SD sqrt(55/6) = 3.03); normal 10 (3 M, 7 F, ages 50..59)
    assert.match(
      s,
      /<th scope="row">Patients<\/th><td>10 \(50\.0%\)<\/td><td>10 \(50\.0%\)<\/td><td>20<\/td>/,
    );
    assert.match(
      s,
      /<th scope="row">Male<\/th><td>6 \(60\.0%\)<\/td><td>3 \(30\.0%\)<\/td><td>9 \(45\.0%\)<\/td>/,
    );
    assert.match(s, /64\.5 ± 3\.0 \(60–69\)/);
    assert.match(s, /54\.5 ± 3\.0 \(50–59\)/);
    assert.match(s, /Training<\/th><td>4<\/td><td>4<\/td><td>8<\/td>/);
    assert.match(s, /Test<\/th><td>5<\/td><td>5<\/td><td>10<\/td>/);
  });

  test('metrics: recomputed from predictions.csv, matching independent reference values', async () => {
    const data = await loadReportData(join(dir, 'run'));
    const row = data.networks[0].row;
    // TP 4, FN 1, TN 4, FP 1 by construction; accuracy 8/10 with the Wilson interval of
    // statsmodels 0.13.5 proportion_confint(8, 10, method='wilson') = (0.4901625, 0.9433178)
    assert.deepEqual(row.confusion, { tp: 4, fp: 1, tn: 4, fn: 1 });
    assert.equal(row.accuracy?.estimate, 0.8);
    assert.ok(Math.abs((row.accuracy?.lo ?? 0) - 0.4901625) < 1e-6);
    assert.ok(Math.abs((row.accuracy?.hi ?? 0) - 0.9433178) < 1e-6);
    // sensitivity 4/5: proportion_confint(4, 5, method='wilson') = (0.3755, 0.9638)
    assert.ok(Math.abs((row.sensitivity?.lo ?? 0) - 0.37552) < 1e-4);
    // AUC by hand: the four highest positives beat all 5 negatives (20 pairs), 0.3 beats 3 -> 23/25
    assert.equal(row.auc?.estimate, 0.92);
    const s = sectionOf(html, 'metrics');
    assert.match(s, /0\.800 <span class="ci">\[0\.490, 0\.943\]<\/span>/);
    assert.match(s, /0\.920 <span class="ci">\[/);
    // Brier by hand: sum (p - y)^2 = .01+.04+.09+.16+.49+.3025+.16+.04+.01+.0025 = 1.305 -> 0.1305
    assert.match(s, /Brier score <strong>0\.131<\/strong>/);
  });

  test('figures: ROC with operating points and the SSS curve, confusion, calibration, training, comparison; written as SVG and PNG', async () => {
    const s = sectionOf(html, 'metrics');
    assert.match(s, /<figure id="fig-roc"/);
    assert.match(s, /<svg[^>]*class="marks"/);
    assert.match(s, /t = 0\.50/);
    assert.match(s, /SSS \(AC\)/);
    assert.match(s, /t = 4\.00/);
    assert.match(s, /fig-confusion-mobilenetv2/);
    assert.match(s, /fig-calibration-mobilenetv2/);
    assert.match(sectionOf(html, 'training'), /fig-training-mobilenetv2/);
    for (const f of [
      'roc',
      'confusion-mobilenetv2',
      'calibration-mobilenetv2',
      'training-mobilenetv2',
      'comparison-auc',
    ]) {
      for (const ext of ['svg', 'png'])
        assert.ok((await stat(join(dir, 'run', 'figures', `${f}.${ext}`))).size > 500, `${f}.${ext}`);
    }
  });

  test('comparison: the network beside the semi-quantitative rows, best of each column marked', () => {
    const s = sectionOf(html, 'comparison');
    assert.match(s, /side by side/);
    for (const name of ['mobilenetv2', 'sss4_ac', 'sss_ac']) assert.match(s, new RegExp(`>${name}<div`));
    // sensitivity: SSS >= 4 has 1.000 vs the network's 0.800 -> the rule's cell is marked
    assert.match(s, /<td class="best"><strong>★ 1\.000 <span class="ci">\[0\.566, 1\.000\]/);
    // AUC: network 0.920 is the best of 0.920, 0.800, 0.840
    assert.match(s, /<td class="best"><strong>★ 0\.920/);
  });

  test('heatmaps say not available; the model card says the embedded default was used, escaped', () => {
    assert.match(sectionOf(html, 'heatmaps'), /Not available/);
    const card = sectionOf(html, 'model-card');
    assert.match(card, /second reader/);
    assert.match(card, /not a diagnosis/);
    assert.match(card, /The embedded default was used, not ImageNet weights/);
    assert.match(card, /nsfwjs &lt;img src=x onerror=alert\(1\)&gt;/);
    assert.doesNotMatch(html, /<img src=x/);
  });
});

describe('report of an experiment folder', () => {
  test('comparison table of the runs, best marked, skipped row noted, names escaped', async () => {
    const r = await writeReport(join(dir, 'exp'));
    const html = await readFile(r.html, 'utf8');
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /B&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    const s = sectionOf(html, 'comparison');
    assert.match(s, /Backbones, two-stage transfer learning/);
    // run B separates the classes perfectly: AUC 1 (best), accuracy 9/10 (best); run A 0.92 / 0.8
    assert.match(s, /<td class="best"><strong>★ 1\.000 <span class="ci">\[1\.000, 1\.000\]/);
    assert.match(s, /<td class="best"><strong>★ 0\.900/);
    assert.match(s, /C: skipped: no ImageNet weights/);
    // sensitivity is 0.8 in both: a tie marks both
    assert.equal([...s.matchAll(/★ 0\.800/g)].length, 2);
  });
});

describe('warnings and errors', () => {
  test('--select-on test runs get a loud warning on top and in the model card', async () => {
    await writeTrainRun(join(dir, 'leaky'), manifest, {
      selectOn: 'test',
      weightsSource: 'keras-cache',
      weightsDescription: 'ImageNet weights',
    });
    const r = await writeReport(join(dir, 'leaky'));
    const html = await readFile(r.html, 'utf8');
    assert.match(sectionOf(html, 'summary'), /class="alert".*TEST set/);
    assert.match(sectionOf(html, 'model-card'), /WARNING: the kept epochs were selected on the TEST set/);
  });

  test('a folder that is not polarcad output is refused, naming it', async () => {
    await assert.rejects(
      loadReportData(join(dir, 'data')),
      (e: unknown) => e instanceof InputError && /data: not a polarcad output folder/.test(e.message),
    );
    await assert.rejects(
      loadReportData(join(dir, 'nope')),
      (e: unknown) => e instanceof InputError && /nope: no such folder/.test(e.message),
    );
  });

  test('a bad probability names the file, row and column', async () => {
    const p = join(dir, 'bad.csv');
    await writeFile(p, 'patient_id,label,prob\nP1,1,0.3\nP2,0,1.7\n');
    await assert.rejects(
      readPredictions(p),
      (e: unknown) => e instanceof InputError && e.message.includes('bad.csv: row 3, column prob: "1.7"'),
    );
  });

  test('through main(): polarcad report DIR --out FILE', async () => {
    const out = join(dir, 'elsewhere', 'r.html');
    assert.equal(await main(['report', join(dir, 'run'), '--with', join(dir, 'score'), '--out', out]), 0);
    assert.ok((await stat(join(dir, 'elsewhere', 'figures', 'roc.svg'))).size > 0);
    assert.equal(await main(['report', join(dir, 'data')]), 2);
  });
});
