/**
 * `polarcad score` through `main()`: exit codes, the files written, prepared and raw manifests
 * giving the same scores, a saved normal database reused, and clear errors for bad input.
 * Cohort: 24 generated patients (12 CAD), easy, rainbow single-map PNGs, prepared by `prepare`.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { SCORES_CSV_COLUMNS } from '../../src/evaluate/score-run.js';
import type { MetricsFile } from '../../src/evaluate/metrics-row.js';
import { stratifiedHoldout } from '../../src/ingest/splits.js';
import { loadNormalDatabase } from '../../src/polarmap/normal-database.js';
import { OUTPUT_MARKER } from '../../src/util/output.js';
import { cli } from '../helpers/cli.js';
import { writePreparedCohort } from '../helpers/cohort.js';

const run = cli;

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

describe('polarcad score', () => {
  let root: string;
  let raw: string;
  let prep: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'polarcad-score-cli-'));
    const c = await writePreparedCohort(root, {
      patients: 24,
      seed: 4,
      colormap: 'rainbow',
      grid: true,
      canvas: 160,
    });
    raw = c.rawManifest;
    prep = c.manifest;
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('scores a prepared manifest: scores.csv, metrics.json, normal-db.json, score.json, summary on stdout', async () => {
    const out = join(root, 'o1');
    const r = await run(['score', prep, '--out', out, '--min-normals', '8', '--resamples', '200']);
    assert.equal(r.code, 0, r.err);
    // prepared crops: the colour map prepare recorded in report.json, not recognised afresh (issue 13)
    assert.match(r.out, /scored 24 patients \(prepared crops, colour map rainbow \(recorded by prepare, coverage 94\.8%\)\)/);
    assert.match(r.out, /metrics on 4 patients: hold-out test part \(20%, stratified, seed 1\)/);
    assert.match(r.out, /^apostolopoulos_nac\s+4\s/m);
    assert.deepEqual((await readdir(out)).sort(), [
      OUTPUT_MARKER,
      'metrics.json',
      'normal-db.json',
      'score.json',
      'scores.csv',
    ]);

    const rows = parse(await readFile(join(out, 'scores.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    assert.equal(rows.length, 24);
    assert.deepEqual(Object.keys(rows[0]), SCORES_CSV_COLUMNS);
    // id, label, sex, split, fold + per correction: SSS, SRS, SDS, segmental SDS, 3 percents, 2 TPDs,
    // 6 territory sums, 2 rules, unscored count, 2 strata, 17 stress + 17 rest segment scores
    assert.equal(SCORES_CSV_COLUMNS.length, 5 + 2 * (9 + 6 + 2 + 1 + 2 + 34));
    // 12 CAD + 12 normal: round(12 x 0.2) = 2 of each in the test part, the one `polarcad train` holds out: stratifiedHoldout, 20%, seed 1
    const split = stratifiedHoldout(
      rows.map((x) => ({ id: x.patient_id, label: x.label === 'CAD' ? 1 : 0 })),
      { testFraction: 0.2, seed: 1 },
    );
    assert.deepEqual(
      rows
        .filter((x) => x.split === 'test')
        .map((x) => x.patient_id)
        .sort(),
      split.test,
    );
    for (const x of rows) {
      // SDS = SSS - SRS, and the SSS is the sum of the 17 stress segment scores
      assert.equal(Number(x.sds_ac), Number(x.sss_ac) - Number(x.srs_ac));
      let sum = 0;
      for (let k = 1; k <= 17; k++) sum += Number(x[`stress_s${k}_ac`]);
      assert.equal(sum, Number(x.sss_ac));
      assert.equal(x.rule_sss4_ac, Number(x.sss_ac) >= 4 ? '1' : '0');
    }

    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as MetricsFile;
    assert.equal(metrics.format, 'polarcad-metrics');
    assert.equal(metrics.command, 'score');
    assert.deepEqual(
      metrics.rows.map((m) => [m.name, m.kind, m.n]),
      [
        ['sss4_ac', 'rule', 4],
        ['apostolopoulos_ac', 'rule', 4],
        ['sss_ac', 'score', 4],
        ['tpd_ac', 'score', 4],
        ['sss4_nac', 'rule', 4],
        ['apostolopoulos_nac', 'rule', 4],
        ['sss_nac', 'score', 4],
        ['tpd_nac', 'score', 4],
      ],
    );
    const sss4 = metrics.rows[0];
    assert.equal(sss4.accuracy?.method, 'wilson');
    assert.equal(sss4.auc?.method, 'bootstrap');
    assert.equal(metrics.rows[2].accuracy, null);

    const info = JSON.parse(await readFile(join(out, 'score.json'), 'utf8')) as {
      normalDatabases: { normalIds: string[] }[];
      colormap: { name: string; recognised: boolean; source: string };
    };
    const trainNormals = rows
      .filter((x) => x.split === 'train' && x.label === 'normal')
      .map((x) => x.patient_id)
      .sort();
    assert.deepEqual(info.normalDatabases[0].normalIds, trainNormals);
    assert.equal(info.colormap.source, 'prepared');
    const db = await loadNormalDatabase(join(out, 'normal-db.json'));
    assert.equal(db.minStudies, 8);
    assert.equal(db.colormap, 'rainbow', 'normal-db.json records the colour map its normals were read with');
    assert.equal(
      db.strata.find((s) => s.state === 'stress' && s.correction === 'AC' && s.sex === null)?.n,
      trainNormals.length,
    );
  });

  it("a raw manifest gives the same scores (prepare's per-study step), and saves the normal database", async () => {
    const out = join(root, 'o2');
    const dbFile = join(root, 'db.json');
    const r = await run([
      'score',
      raw,
      '--out',
      out,
      '--min-normals',
      '8',
      '--resamples',
      '200',
      '--save-normal-db',
      dbFile,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /raw exports, colour map rainbow \(recognised, coverage \d+\.\d%\)/);
    assert.doesNotMatch(r.err, /WARNING/, 'a sure recognition (94.8% coverage) prints no warning');
    assert.equal(
      await readFile(join(out, 'scores.csv'), 'utf8'),
      await readFile(join(root, 'o1', 'scores.csv'), 'utf8'),
    );
    assert.equal(await readFile(dbFile, 'utf8'), await readFile(join(root, 'o1', 'normal-db.json'), 'utf8'));

    // reuse it: nothing fitted, same scores for everyone
    const out3 = join(root, 'o3');
    const r3 = await run([
      'score',
      prep,
      '--out',
      out3,
      '--normal-db',
      dbFile,
      '--split',
      'all-train',
      '--resamples',
      '50',
    ]);
    assert.equal(r3.code, 0, r3.err);
    assert.match(r3.out, /metrics on 24 patients: all patients; given normal database/);
    const a = parse(await readFile(join(root, 'o1', 'scores.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    const b = parse(await readFile(join(out3, 'scores.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    assert.deepEqual(
      b.map((x) => x.sss_nac),
      a.map((x) => x.sss_nac),
    );
  });

  it('cv writes one normal database per fold', async () => {
    const out = join(root, 'o4');
    const r = await run([
      'score',
      prep,
      '--out',
      out,
      '--split',
      'cv',
      '--folds',
      '3',
      '--min-normals',
      '6',
      '--resamples',
      '50',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((await readdir(join(out, 'normal-db'))).sort(), [
      'fold-01.json',
      'fold-02.json',
      'fold-03.json',
    ]);
    const rows = parse(await readFile(join(out, 'scores.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    assert.ok(rows.every((x) => x.split === 'test' && ['1', '2', '3'].includes(x.fold)));
  });

  it('bad input: exit code 2, a clear message, nothing written', async () => {
    const bad = join(root, 'bad');
    let r = await run(['score', prep, '--out', bad]);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /too few normal patients in the training part \(stress_ac: 10, .*at least 20 per view.*--min-normals/,
    );

    const text = await readFile(prep, 'utf8');
    const lines = text.trimEnd().split('\n');
    const onlyNormal = join(root, 'prep', 'normal-only.csv');
    await writeFile(
      onlyNormal,
      [lines[0], ...lines.slice(1).filter((l) => l.split(',')[1] === 'normal')].join('\n') + '\n',
    );
    r = await run(['score', onlyNormal, '--out', bad, '--min-normals', '2']);
    assert.equal(r.code, 2);
    assert.match(r.err, /both classes are needed but the manifest has 0 CAD and 12 normal/);

    r = await run(['score', prep, '--out', bad, '--split', 'loo']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--split must be one of holdout, cv, all-train, got "loo"/);

    r = await run(['score', prep, '--out', bad, '--split', 'cv', '--save-normal-db', join(root, 'x.json')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--save-normal-db needs --split holdout or all-train/);

    r = await run(['score', prep, '--out', bad, '--colormap', 'jet']);
    assert.equal(r.code, 2);

    r = await run(['score', prep, '--out', bad, '--normal-db', join(root, 'missing.json')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /normal database .*missing\.json: cannot read file/);

    assert.equal(await exists(bad), false);
  });
});
