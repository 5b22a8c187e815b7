/**
 * Issue 13, one vocabulary and helpful hints: `--folds` is the word for cross-validation folds in
 * `cv` and `score` (`--k` still accepted, hidden), a layout written with `;` says rows are
 * separated by `/`, and a manifest with a `patient` column suggests `patient_id`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLayout } from '../../src/domain/layout.js';
import { loadManifest } from '../../src/ingest/manifest.js';
import { foldsOf } from '../../src/cli/options/folds.js';
import { InputError } from '../../src/util/errors.js';
import { cli } from '../helpers/cli.js';

test('--folds and --k: one number of folds, default 10, disagreement refused', () => {
  assert.equal(foldsOf({}), 10);
  assert.equal(foldsOf({ folds: '5' }), 5);
  assert.equal(foldsOf({ k: '3' }), 3);
  assert.equal(foldsOf({ folds: '4', k: '4' }), 4);
  assert.throws(() => foldsOf({ folds: '4', k: '5' }), /--folds 4 and --k 5 disagree/);
  assert.throws(
    () => foldsOf({ k: '1' }),
    (e: unknown) => e instanceof InputError && /--k/.test(e.message),
  );
});

test('cv and score document --folds (and accept --k)', async () => {
  for (const cmd of ['cv', 'score']) {
    const r = await cli([cmd, '--help']);
    assert.match(r.out, /--folds <k>/, cmd);
    assert.doesNotMatch(r.out, /--k <k>/, cmd);
  }
  const bad = await cli([
    'score',
    'nowhere.csv',
    '--out',
    join(tmpdir(), 'x-never'),
    '--split',
    'cv',
    '--k',
    '1',
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--k/);
});

test('a layout with ";" says rows are separated by "/"', () => {
  const m = parseLayout('stress_ac,rest_ac;stress_nac,rest_nac');
  assert.equal(typeof m, 'string');
  assert.match(
    m as string,
    /rows are separated by "\/", not ";" \(e\.g\. stress_ac,rest_ac\/stress_nac,rest_nac\)/,
  );
  assert.notEqual(typeof parseLayout('stress_ac,rest_ac/stress_nac,rest_nac'), 'string');
});

test('a manifest with a "patient" column suggests patient_id', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'polarcad-vocab-'));
  try {
    const p = join(dir, 'm.csv');
    await writeFile(p, 'patient,Diagnosis,stress_ac\nP1,CAD,a.png\n');
    await assert.rejects(loadManifest(p, { checkFiles: false }), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(
        e.message,
        /missing required column patient_id \(column "patient" found: rename it patient_id\)/,
      );
      assert.match(e.message, /missing required column label \(column "Diagnosis" found: rename it label\)/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
