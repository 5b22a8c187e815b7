/**
 * Issue 13: the leak guard of `polarcad evaluate` (patients a run trained or selected on are
 * refused, or with --allow-overlap reported apart with a warning), for both kinds of run (a CNN run
 * and a closed-form `--model hybrid` run), and one interval everywhere: the AUC interval of a
 * run's summary.txt is the one in its metrics.json and in its report.html. A tiny generated
 * cohort: 40 patients, 24 for training (train.csv) and 16 never seen (external.csv).
 * `compare` of two runs on their common test patients (paired DeLong and McNemar) closes it.
 */
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { initBackend } from '../../src/engine/backend.js';
import { cli } from '../helpers/cli.js';
import { tinyCnnTrainArgs } from '../helpers/runs.js';
import { writePreparedCohort } from '../helpers/cohort.js';

let dir = '';
let trainCsv = '';
let externalCsv = '';
let mixedCsv = '';
let trainIds: string[] = [];
let externalIds: string[] = [];
const cnn = (): string => join(dir, 'cnn');
const hybrid = (): string => join(dir, 'hybrid');

type Row = Record<string, string>;
const csv = async (p: string): Promise<Row[]> => parse(await readFile(p, 'utf8'), { columns: true }) as Row[];

before(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'polarcad-overlap-'));
  const { manifest } = await writePreparedCohort(dir, {
    patients: 40,
    seed: 11,
    colormap: 'gray',
    grid: false,
    canvas: 96,
    prepare: { size: 64, views: ['stress_ac'] },
  });
  const [head, ...all] = (await readFile(manifest, 'utf8')).trim().split('\n');
  // label noise on 3 patients never trained on, so that the test AUC has a real interval
  const flip = (l: string): string =>
    l.includes(',CAD,') ? l.replace(',CAD,', ',normal,') : l.replace(',normal,', ',CAD,');
  const lines = all.map((l, i) => (i >= 24 && i < 27 ? flip(l) : l));
  const prep = join(dir, 'prep');
  trainCsv = join(prep, 'train.csv');
  externalCsv = join(prep, 'external.csv');
  mixedCsv = join(prep, 'mixed.csv');
  await writeFile(trainCsv, [head, ...lines.slice(0, 24)].join('\n') + '\n');
  await writeFile(externalCsv, [head, ...lines.slice(24)].join('\n') + '\n');
  // 16 unseen patients and 6 of the training ones
  await writeFile(mixedCsv, [head, ...lines.slice(24), ...lines.slice(0, 6)].join('\n') + '\n');
  trainIds = lines.slice(0, 24).map((l) => l.split(',')[0]);
  externalIds = lines.slice(24).map((l) => l.split(',')[0]);
  const cache = join(dir, 'cache');
  const r = await cli(
    tinyCnnTrainArgs(trainCsv, cnn(), { cacheDir: cache, extra: ['--test-manifest', externalCsv] }),
  );
  assert.equal(r.code, 0, r.err);
  const h = await cli(['train', trainCsv, '--out', hybrid(), '--cache-dir', cache, '--quiet']);
  assert.equal(h.code, 0, h.err);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('evaluate: leak guard', () => {
  test('a CNN run on its own training manifest is refused, naming how many patients and which; nothing is written', async () => {
    const out = join(dir, 'eval-leak');
    const r = await cli(['evaluate', cnn(), trainCsv, '--out', out, '--resamples', '50']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /24 of 24 patients of train\.csv were seen by the run cnn/);
    assert.match(r.err, /trained on/);
    assert.match(r.err, /used to select epochs/); // the run's validation patients
    assert.match(r.err, /very manifest the run was trained on/);
    assert.ok(r.err.includes(trainIds[0]), 'names the patients');
    assert.match(r.err, /--allow-overlap/);
    await assert.rejects(readdir(out), /ENOENT/);
  });

  test('--allow-overlap reports the seen patients apart, with a warning; the headline row is the unseen patients', async () => {
    const out = join(dir, 'eval-mixed');
    const r = await cli([
      'evaluate',
      cnn(),
      mixedCsv,
      '--out',
      out,
      '--resamples',
      '50',
      '--allow-overlap',
      '--pdf',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /warning: 6 of 22 patients of mixed\.csv were seen by the run cnn/);
    const m = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as {
      rows: { name: string; n: number; evaluatedOn: string }[];
    };
    assert.deepEqual(
      m.rows.map((x) => [x.name, x.n]),
      [
        ['mobilenetv2', 16],
        ['mobilenetv2_seen', 6],
      ],
    );
    assert.match(m.rows[0].evaluatedOn, /never saw/);
    const preds = await csv(join(out, 'predictions.csv'));
    assert.equal(preds.length, 22);
    const seen = preds.filter((p) => p.split !== 'unseen').map((p) => p.patient_id);
    assert.deepEqual(seen.sort(), trainIds.slice(0, 6).sort());
    const e = JSON.parse(await readFile(join(out, 'evaluate.json'), 'utf8')) as {
      overlap: { patients: number; of: number };
    };
    assert.deepEqual([e.overlap.patients, e.overlap.of], [6, 22]);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    assert.match(html, /class="alert"><strong>Warning\.<\/strong> 6 of 22 patients/);
    assert.match(html, /Patients the run never saw, and those it trained or selected on/);
    assert.match(html, /mobilenetv2_seen/);
    // the PDF of the report carries the warning too
    const pdf = join(out, 'report.pdf');
    assert.match(r.out, /PDF: .*report\.pdf/);
    assert.equal((await readFile(pdf)).subarray(0, 5).toString('latin1'), '%PDF-');
    if (existsSync('/usr/bin/pdftotext')) {
      const text = spawnSync('pdftotext', [pdf, '-'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
      assert.match(text, /Warning\. 6 of 22 patients of mixed\.csv were seen by the run cnn/);
    }
  });

  test('patients the run never saw are evaluated without a word', async () => {
    const out = join(dir, 'eval-clean');
    const r = await cli(['evaluate', cnn(), externalCsv, '--out', out, '--resamples', '50', '--no-report']);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /seen by the run/);
    const m = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as { rows: { n: number }[] };
    assert.deepEqual(
      m.rows.map((x) => x.n),
      [16],
    );
  });

  test('a closed-form (hybrid) run: its training patients are refused too, its held-out ones accepted', async () => {
    const r = await cli(['evaluate', hybrid(), mixedCsv, '--out', join(dir, 'h-leak'), '--no-report']);
    assert.notEqual(r.code, 0);
    // the hybrid run split train.csv itself: its 80% training part is what it saw
    const cfg = JSON.parse(await readFile(join(hybrid(), 'config.json'), 'utf8')) as {
      resolved: { split: { train: string[]; test: string[] } };
    };
    const seen = trainIds.slice(0, 6).filter((id) => cfg.resolved.split.train.includes(id));
    assert.ok(seen.length > 0);
    assert.match(
      r.err,
      new RegExp(`${seen.length} of 22 patients of mixed\\.csv were seen by the run hybrid`),
    );
    const ok = await cli(['evaluate', hybrid(), externalCsv, '--out', join(dir, 'h-ok'), '--no-report']);
    assert.equal(ok.code, 0, ok.err);
    assert.ok(externalIds.every((id) => !cfg.resolved.split.train.includes(id)));
  });
});

describe('one interval', () => {
  const summaryAuc = (text: string): [string, string, string] => {
    const m = /AUC (\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]/.exec(text);
    assert.ok(m, `no AUC interval in:\n${text}`);
    return [m[1], m[2], m[3]];
  };

  test("a CNN run's summary.txt, metrics.json and report.html show the same AUC interval", async () => {
    const [est, lo, hi] = summaryAuc(await readFile(join(cnn(), 'summary.txt'), 'utf8'));
    assert.notEqual(lo, hi, 'the test needs a non-degenerate interval');
    const m = JSON.parse(await readFile(join(cnn(), 'metrics.json'), 'utf8')) as {
      auc: { estimate: number; lo: number; hi: number };
    };
    assert.deepEqual(
      [m.auc.estimate, m.auc.lo, m.auc.hi].map((x) => x.toFixed(3)),
      [est, lo, hi],
    );
    const r = await cli(['report', cnn()]);
    assert.equal(r.code, 0, r.err);
    const html = await readFile(join(cnn(), 'report.html'), 'utf8');
    assert.ok(
      html.includes(`${est} <span class="ci">[${lo}, ${hi}]</span>`),
      `report.html does not show AUC ${est} [${lo}, ${hi}]`,
    );
  });

  test("a closed-form run's summary.txt and report.html show the same AUC interval", async () => {
    const text = await readFile(join(hybrid(), 'summary.txt'), 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('hybrid '));
    assert.ok(line);
    const m = /(\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]\s*$/.exec(line);
    assert.ok(m);
    const r = await cli(['report', hybrid()]);
    assert.equal(r.code, 0, r.err);
    const html = await readFile(join(hybrid(), 'report.html'), 'utf8');
    assert.ok(html.includes(`${m[1]} <span class="ci">[${m[2]}, ${m[3]}]</span>`), line);
  });
});

describe('report with several runs', () => {
  test('report A --with B of two runs of the same backbone: unique names, both rows', async () => {
    const out = join(dir, 'both.html');
    const r = await cli(['report', cnn(), '--with', join(dir, 'eval-clean'), '--out', out]);
    assert.equal(r.code, 0, r.err);
    const html = await readFile(out, 'utf8');
    assert.match(html, /mobilenetv2 \(eval-clean\)/);
  });

  test('a report that fails leaves no figures/ folder behind', async () => {
    const place = join(dir, 'failing');
    await mkdir(join(place, 'in-the-way.html'), { recursive: true });
    const r = await cli(['report', cnn(), '--out', join(place, 'in-the-way.html')]);
    assert.notEqual(r.code, 0);
    assert.deepEqual(await readdir(place), ['in-the-way.html']);
  });
});

describe('compare', () => {
  test('two runs on their common test patients: table (md, csv), paired DeLong and McNemar, ROC overlay', async () => {
    const ev = join(dir, 'h-ok'); // the hybrid run evaluated on external.csv (the CNN run's test set)
    const out = join(dir, 'cmp');
    const r = await cli(['compare', cnn(), ev, '--names', 'cnn,hybrid', '--out', out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Runs compared on their 16 common test patients/);
    assert.match(r.out, /\| cnn \| hybrid \| -?\d\.\d{3} \[/);
    const rows = await csv(join(out, 'compare.csv'));
    assert.deepEqual(
      rows.map((x) => [x.run, x.n]),
      [
        ['cnn', '16'],
        ['hybrid', '16'],
      ],
    );
    // the CNN run's own test patients are exactly the common ones: its stored interval is shown
    const m = JSON.parse(await readFile(join(cnn(), 'metrics.json'), 'utf8')) as {
      auc: { lo: number; hi: number };
    };
    assert.equal(Number(rows[0].auc_lo), m.auc.lo);
    assert.equal(Number(rows[0].auc_hi), m.auc.hi);
    const pairs = await csv(join(out, 'pairs.csv'));
    assert.equal(pairs.length, 1);
    const p = pairs[0];
    // DeLong on the same patients: AUC difference = the two AUCs' difference; p in [0, 1]
    assert.ok(Math.abs(Number(p.auc_a) - Number(p.auc_b) - Number(p.auc_difference)) < 1e-12);
    assert.ok(Number(p.delong_p) >= 0 && Number(p.delong_p) <= 1);
    // McNemar's discordant counts recounted from the two predictions files
    const a = new Map((await csv(join(cnn(), 'predictions.csv'))).map((x) => [x.patient_id, x]));
    const b = await csv(join(ev, 'predictions.csv'));
    let ab = 0;
    let ba = 0;
    for (const x of b) {
      const y = a.get(x.patient_id);
      assert.ok(y);
      const rightA = (Number(y.prob) >= 0.5 ? 1 : 0) === Number(y.label);
      const rightB = (Number(x.prob) >= 0.5 ? 1 : 0) === Number(x.label);
      if (rightA && !rightB) ab++;
      if (!rightA && rightB) ba++;
    }
    assert.deepEqual([Number(p.a_right_b_wrong), Number(p.a_wrong_b_right)], [ab, ba]);
    assert.ok(Number(p.mcnemar_p) >= 0 && Number(p.mcnemar_p) <= 1);
    const svg = await readFile(join(out, 'roc.svg'), 'utf8');
    assert.match(svg, /<svg/);
    assert.match(svg, /curve: cnn/);
    assert.match(svg, /curve: hybrid/);
    assert.ok((await readdir(out)).includes('roc.png'));
  });

  test('runs without common test patients are refused, naming the problem; nothing is written', async () => {
    const out = join(dir, 'cmp-none');
    const r = await cli(['compare', cnn(), hybrid(), '--out', out]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /have 0 test patients in common/);
    await assert.rejects(readdir(out), /ENOENT/);
    const dup = await cli(['compare', cnn(), hybrid(), '--names', 'a,a', '--out', out]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.err, /"a" is used twice/);
  });
});

describe('evaluate: subgroups', () => {
  test('by sex (default) and by a clinical column, with intervals; recounted from the files', async () => {
    // a categorical clinical column: "site" A for the first half of the external patients, B after
    const [head, ...lines] = (await readFile(externalCsv, 'utf8')).trim().split('\n');
    const withSite = join(dir, 'prep', 'external-site.csv');
    await writeFile(
      withSite,
      [`${head},site`, ...lines.map((l, i) => `${l},${i < 8 ? 'A' : 'B'}`)].join('\n') + '\n',
    );
    const out = join(dir, 'eval-sub');
    const r = await cli(['evaluate', cnn(), withSite, '--out', out, '--by', 'sex,site', '--no-report']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /subgroups \(95% CI\):/);
    assert.match(r.out, /site=A\s+8\s+/);
    const groups = await csv(join(out, 'subgroups.csv'));
    const sex = groups.filter((g) => g.column === 'sex');
    assert.deepEqual(sex.map((g) => g.value).sort(), ['F', 'M']);
    assert.equal(
      sex.reduce((a, g) => a + Number(g.n), 0),
      16,
    );
    // the women's accuracy, recounted from predictions.csv and the manifest
    const sexOf = new Map((await csv(withSite)).map((x) => [x.patient_id, x.sex]));
    const preds = (await csv(join(out, 'predictions.csv'))).filter((p) => sexOf.get(p.patient_id) === 'F');
    const right = preds.filter((p) => (Number(p.prob) >= 0.5 ? 1 : 0) === Number(p.label)).length;
    const f = sex.find((g) => g.value === 'F');
    assert.ok(f);
    assert.equal(Number(f.n), preds.length);
    assert.equal(Number(f.accuracy), right / preds.length);
    assert.ok(Number(f.accuracy_lo) <= Number(f.accuracy) && Number(f.accuracy) <= Number(f.accuracy_hi));
    assert.deepEqual(
      groups.filter((g) => g.column === 'site').map((g) => [g.value, g.n]),
      [
        ['A', '8'],
        ['B', '8'],
      ],
    );
    const m = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as { subgroups: unknown[] };
    assert.equal(m.subgroups.length, groups.length);

    // end to end: `polarcad report` on this evaluate folder shows the same rows as subgroups.csv
    const rep = await cli(['report', out]);
    assert.equal(rep.code, 0, rep.err);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    const at = html.indexOf('<h3 id="subgroups">Subgroups</h3>');
    assert.ok(at > 0, 'report.html has a Subgroups section');
    const table = html.slice(at, html.indexOf('</table>', at));
    for (const g of groups) {
      const row = table.slice(table.indexOf(`>${g.column} = ${g.value}<`)).split('</tr>')[0];
      assert.ok(row.length > 20, `a row for ${g.column} = ${g.value}`);
      const acc = Number(g.accuracy).toFixed(3);
      const ci = `[${Number(g.accuracy_lo).toFixed(3)}, ${Number(g.accuracy_hi).toFixed(3)}]`;
      assert.ok(
        row.includes(`${acc} <span class="ci">${ci}</span>`),
        `${g.column} = ${g.value}: ${acc} ${ci}`,
      );
    }
  });

  test('an unknown --by column is refused, naming it and the categorical columns; nothing written', async () => {
    const out = join(dir, 'eval-sub-bad');
    const r = await cli(['evaluate', cnn(), externalCsv, '--out', out, '--by', 'smoker']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /--by smoker: .*external\.csv has no column "smoker" \(categorical columns: sex/);
    await assert.rejects(readdir(out), /ENOENT/);
  });
});
