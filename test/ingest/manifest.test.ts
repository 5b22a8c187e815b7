import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadManifest,
  hashFile,
  parseLayout,
  parseLabel,
  formatLayout,
  manifestToCsv,
  DEFAULT_LAYOUT,
} from '../../src/ingest/manifest.js';
import { InputErrors, InputError } from '../../src/util/errors.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-manifest-'));
  // Referenced "images": the manifest only checks that files exist, not their content.
  await mkdir(join(dir, 'img'), { recursive: true });
  for (const f of ['a.png', 'b.png', 'c.png', 'd.png', 'page1.jpg', 'page2.jpg'])
    await writeFile(join(dir, 'img', f), 'x');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function csv(text: string): Promise<string> {
  const p = join(dir, `m${n++}.csv`);
  await writeFile(p, text);
  return p;
}

/** Load a manifest that must fail; return its problems (asserting the summary names the file). */
async function problemsOf(path: string, opts = {}): Promise<readonly string[]> {
  try {
    await loadManifest(path, opts);
  } catch (e) {
    assert.ok(e instanceof InputErrors, `expected InputErrors, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${path}: ${e.problems.length} problem`), e.message);
    for (const p of e.problems) assert.ok(e.message.includes(p));
    return e.problems;
  }
  assert.fail('manifest was accepted');
}

describe('parseLabel / parseLayout', () => {
  it('maps the documented label spellings', () => {
    for (const s of ['CAD', 'cad', ' 1 ', 'Abnormal']) assert.equal(parseLabel(s), 1, s);
    for (const s of ['normal', 'NORMAL', '0']) assert.equal(parseLabel(s), 0, s);
    assert.equal(parseLabel(''), null);
    assert.equal(parseLabel('maybe'), undefined);
  });

  it('parses layouts with ignored discs and rejects bad ones', () => {
    assert.deepEqual(parseLayout('stress_ac,rest_ac/stress_nac,rest_nac'), DEFAULT_LAYOUT);
    assert.deepEqual(parseLayout('stress_ac, - ,rest_ac'), [['stress_ac', null, 'rest_ac']]);
    assert.equal(formatLayout([['stress_ac', null], ['rest_ac']]), 'stress_ac,-/rest_ac');
    assert.match(String(parseLayout('stress_ac,rest')), /unknown view "rest"/);
    assert.match(String(parseLayout('stress_ac/stress_ac')), /stress_ac appears twice/);
    assert.match(String(parseLayout('-,-')), /names no view/);
    assert.match(String(parseLayout('stress_ac,,rest_ac')), /empty cell/);
  });
});

describe('loadManifest: valid input', () => {
  it('reads view rows: labels, sex, age, absolute paths, boxes, clinical columns, hash', async () => {
    const text =
      '\ufeffpatient_id,label,sex,age,stress_ac,rest_ac,box_stress_ac,smoker\n' +
      'P1,CAD,m,64,img/a.png,img/b.png,"10,20,30,40",yes\n' +
      '\n' + // a blank line: skipped, so the next record is row 3 on line 4
      'P2,normal,F,58.5,img/c.png,,,no\n' +
      'P3,,,,img/d.png,,,\n';
    const p = await csv(text);
    const m = await loadManifest(p);
    assert.equal(m.dir, dir);
    assert.equal(m.path, p);
    assert.deepEqual(m.clinicalColumns, ['smoker']);
    assert.equal(m.rows.length, 3);
    const [a, b, c] = m.rows;
    assert.deepEqual(a, {
      row: 2,
      patientId: 'P1',
      label: 1,
      sex: 'M',
      age: 64,
      views: { stress_ac: join(dir, 'img/a.png'), rest_ac: join(dir, 'img/b.png') },
      boxes: { stress_ac: { x: 10, y: 20, width: 30, height: 40 } },
      clinical: { smoker: 'yes' },
    });
    assert.equal(b.row, 3);
    assert.equal(b.label, 0);
    assert.equal(b.age, 58.5);
    assert.deepEqual(b.views, { stress_ac: join(dir, 'img/c.png') });
    assert.equal(c.label, null);
    assert.equal(c.sex, undefined);
    assert.equal(c.age, undefined);
    assert.equal(m.sha256, await hashFile(p));
  });

  it('hashFile is sha256 (FIPS 180-2 test vector "abc")', async () => {
    const p = join(dir, 'abc.txt');
    await writeFile(p, 'abc');
    assert.equal(await hashFile(p), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('reads page rows with default and custom layouts', async () => {
    const p = await csv(
      'patient_id,label,page,layout,box_rest_ac\n' +
        'Q1,1,img/page1.jpg,,\n' +
        'Q2,0,img/page2.jpg,"stress_ac,-,rest_ac","5,6,7,8"\n',
    );
    const m = await loadManifest(p);
    assert.deepEqual(m.rows[0].page, { path: join(dir, 'img/page1.jpg'), layout: DEFAULT_LAYOUT });
    assert.deepEqual(m.rows[0].views, {});
    assert.deepEqual(m.rows[1].page, {
      path: join(dir, 'img/page2.jpg'),
      layout: [['stress_ac', null, 'rest_ac']],
    });
    assert.deepEqual(m.rows[1].boxes, { rest_ac: { x: 5, y: 6, width: 7, height: 8 } });
  });

  it('manifestToCsv round-trips through loadManifest', async () => {
    const p = await csv(
      'patient_id,label,sex,age,stress_ac,rest_ac,box_rest_ac,note\n' +
        'P1,CAD,M,64,img/a.png,img/b.png,"1,2,3,4","a, b"\nP2,0,,,img/c.png,,,\n',
    );
    const m = await loadManifest(p);
    const out = manifestToCsv(m.rows, dir, m.clinicalColumns);
    assert.equal(
      out,
      'patient_id,label,sex,age,stress_ac,rest_ac,box_rest_ac,note\n' +
        'P1,CAD,M,64,img/a.png,img/b.png,"1,2,3,4","a, b"\n' +
        'P2,normal,,,img/c.png,,,\n',
    );
    const again = await loadManifest(await csv(out));
    assert.deepEqual(again.rows, m.rows);
  });
});

describe('loadManifest: bad input, every problem at once', () => {
  it('a missing manifest names the file', async () => {
    const p = join(dir, 'nope.csv');
    await assert.rejects(
      loadManifest(p),
      (e: unknown) => e instanceof InputError && e.message === `${p}: manifest not found`,
    );
  });

  it('missing required columns', async () => {
    const p = await csv('id,stress_ac\nP1,img/a.png\n');
    assert.deepEqual(await problemsOf(p), [
      'row 1: missing required column patient_id (column "id" found: rename it patient_id)',
      'row 1: missing required column label',
    ]);
  });

  it('header problems: unnamed, repeated and unknown box columns, no image column', async () => {
    const p = await csv('patient_id,label,,label,box_stress\nP1,1,x,1,\n');
    assert.deepEqual(await problemsOf(p), [
      'row 1: column 3 has no name',
      'row 1: column label appears twice',
      'row 1: column box_stress names an unknown view "stress" (expected box_ followed by stress_ac, rest_ac, stress_nac, rest_nac)',
      'row 1: no image column: give view columns (stress_ac, rest_ac, stress_nac, rest_nac) or a page column',
    ]);
  });

  it('collects every row problem with its row and column', async () => {
    const text = [
      'patient_id,label,sex,age,stress_ac,rest_ac,page,layout,box_stress_ac',
      'P1,CAD,M,64,img/a.png,,,,', // row 2: fine
      'P1,normal,F,50,img/b.png,,,,', // row 3: duplicate id
      'p1,normal,F,50,img/b.png,,,,', // row 4: duplicate id (case-insensitive: ids become folder names)
      'P4,maybe,X,abc,img/a.png,,,,', // row 5: unknown label, bad sex, bad age
      'P5,1,,,,,,,', // row 6: no view and no page
      'P6,1,,,img/a.png,,img/page1.jpg,,', // row 7: both
      'P7,1,,,,,img/page1.jpg,"stress_ac,rest/stress_nac",', // row 8: unknown view in layout
      'P8,1,,,img/a.png,,,,"1,2,0,4"', // row 9: bad box (zero width)
      'P9,1,,,img/a.png,,,,"1,2,3"', // row 10: bad box (3 numbers)
      'P10,1,,,,img/b.png,,,"1,2,3,4"', // row 11: box for a view without image
      'P11,1,,,img/missing.png,,,,', // row 12: referenced file missing
      'P 12,1,,,img/a.png,,,,', // row 13: bad id
      'P13,1,,200,img/a.png,,,,', // row 14: implausible age
      'P14,1,,,img/a.png', // row 15: too few fields
      '..,1,,,img/a.png,,,,', // row 16: id that would escape the output folder
    ].join('\n');
    const p = await csv(text + '\n');
    const problems = await problemsOf(p);
    const expected = [
      'row 3, column patient_id: duplicate patient id "P1" (first on row 2)',
      'row 4, column patient_id: duplicate patient id "p1" (first on row 2)',
      'row 5, column label: unknown label "maybe" (expected CAD, 1, abnormal, normal, 0, or empty)',
      'row 5, column sex: sex must be F or M, got "X"',
      'row 5, column age: age must be a number of years, got "abc"',
      'row 6: no view image and no page (give stress_ac/rest_ac/stress_nac/rest_nac columns or a page)',
      'row 7: has both view images (stress_ac) and a page; give one or the other',
      'row 8, column layout: unknown view "rest" in layout "stress_ac,rest/stress_nac" (expected stress_ac, rest_ac, stress_nac, rest_nac or -)',
      'row 9, column box_stress_ac: box width and height must be positive',
      'row 10, column box_stress_ac: box must be "x,y,width,height" in whole pixels, got "1,2,3"',
      'row 11, column box_stress_ac: a box is given but there is no stress_ac image',
      'row 13, column patient_id: patient id may contain only letters, digits, "-", "_" and "."',
      'row 14, column age: age 200 is not plausible (0 to 130 years)',
      'row 15: has 5 fields, the header has 9',
      'row 16, column patient_id: patient id may not be "." or ".."',
      `row 12, column stress_ac: file not found: ${join(dir, 'img/missing.png')}`,
    ];
    assert.deepEqual(problems, expected);
  });

  it('reports the line too when blank lines make it differ from the row', async () => {
    const p = await csv('patient_id,label,stress_ac\n\n\nP1,bad,img/a.png\n');
    assert.deepEqual(await problemsOf(p), [
      'row 2 (line 4), column label: unknown label "bad" (expected CAD, 1, abnormal, normal, 0, or empty)',
    ]);
  });

  it('one class only when both are required; empty labels when labels are required', async () => {
    const p = await csv('patient_id,label,stress_ac\nP1,CAD,img/a.png\nP2,1,img/b.png\nP3,,img/c.png\n');
    assert.equal((await loadManifest(p)).rows.length, 3); // fine by default
    assert.deepEqual(await problemsOf(p, { requireBothClasses: true }), [
      'both classes are needed but the manifest has 2 CAD and 0 normal labelled rows',
    ]);
    assert.deepEqual(await problemsOf(p, { requireLabels: true }), [
      'row 4, column label: label is empty but labels are required',
    ]);
  });

  it('a header without rows, and invalid CSV', async () => {
    assert.deepEqual(await problemsOf(await csv('patient_id,label,stress_ac\n')), [
      'the manifest has a header but no patient rows',
    ]);
    const bad = await csv('patient_id,label,stress_ac\nP1,"1,img/a.png\n');
    await assert.rejects(
      loadManifest(bad),
      (e: unknown) => e instanceof InputError && e.message.startsWith(`${bad}: not a valid CSV file (`),
    );
  });

  it('checkFiles: false skips the existence check', async () => {
    const p = await csv('patient_id,label,stress_ac\nP1,1,img/ghost.png\n');
    assert.equal((await problemsOf(p)).length, 1);
    assert.equal(
      (await loadManifest(p, { checkFiles: false })).rows[0].views.stress_ac,
      join(dir, 'img/ghost.png'),
    );
  });
});
