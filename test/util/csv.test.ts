/**
 * CSV output is safe for spreadsheets (issue 12): text cells starting with = + - @ tab or CR are
 * written with a leading quote (predict's CSV, a prepared manifest), numbers are untouched, and
 * polarcad reads its own manifests back unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadManifest, manifestToCsv } from '../../src/ingest/manifest.js';
import { formatCsv } from '../../src/workflows/predict.js';
import { safeCell, stringify, unescapeCell } from '../../src/util/csv.js';

const RISKY = ['=HYPERLINK("http://x","y")', '+1-202', '-cmd', '@SUM(A1)', '\tx', '\rx'];

test('risky text cells get a leading quote; numbers and plain text do not', () => {
  for (const s of RISKY) {
    assert.equal(safeCell(s), `'${s}`);
    assert.equal(unescapeCell(safeCell(s)), s);
  }
  for (const s of ['-0.25', '+3', '1e-3', 'P001', '', "'quoted"]) assert.equal(safeCell(s), s);
  const rows = parse(
    stringify([
      ['a', 'b'],
      ['=1+2', -0.5],
    ]),
  ) as string[][];
  assert.deepEqual(rows[1], ["'=1+2", '-0.5']);
});

test("predict's CSV: a study named like a formula is written as text", () => {
  const csv = formatCsv([
    { study: '=cmd|" /C calc"!A0', label: null, result: null, heatmap: null, error: '@bad' },
  ]);
  const rows = parse(csv) as string[][];
  assert.equal(rows[1][0], `'=cmd|" /C calc"!A0`);
  assert.equal(rows[1][rows[0].indexOf('error')], `'@bad`);
});

test('a manifest with formula-like ids and paths is written safely and reads back unchanged', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'polarcad-csv-'));
  try {
    await mkdir(join(dir, '=img'));
    await writeFile(join(dir, '=img', '+a.png'), 'x');
    const m0 = join(dir, 'm0.csv');
    await writeFile(m0, 'patient_id,label,stress_ac\n-P1,1,=img/+a.png\n-P2,0,=img/+a.png\n');
    const m = await loadManifest(m0);
    assert.deepEqual(
      m.rows.map((r) => r.patientId),
      ['-P1', '-P2'],
    );
    const text = manifestToCsv(m.rows, dir);
    for (const line of text.trim().split('\n').slice(1)) assert.match(line, /^'[=-]/);
    assert.doesNotMatch(text, /,=img/);
    const m1 = join(dir, 'm1.csv');
    await writeFile(m1, text);
    const back = await loadManifest(m1);
    assert.deepEqual(
      back.rows.map((r) => [r.patientId, r.views.stress_ac]),
      m.rows.map((r) => [r.patientId, r.views.stress_ac]),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
