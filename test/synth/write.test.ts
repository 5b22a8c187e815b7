import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { VIEWS } from '../../src/domain/views.js';
import { getColormap } from '../../src/polarmap/colormaps.js';
import { generateCohort } from '../../src/synth/cohort.js';
import { synthesizeToDir } from '../../src/synth/synthesize.js';
import { writeCohort, truthColumns, type WriteOptions } from '../../src/synth/write.js';

async function hashTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else
        out.set(
          relative(dir, p),
          createHash('sha256')
            .update(await readFile(p))
            .digest('hex'),
        );
    }
  };
  await walk(dir);
  return out;
}

const single: WriteOptions = {
  layout: 'single',
  format: 'png',
  colormap: getColormap('rainbow'),
  grid: true,
  canvas: 160,
};
const readCsv = async (p: string): Promise<Record<string, string>[]> =>
  parse(await readFile(p), { columns: true }) as Record<string, string>[];

test('writeCohort: same seed -> identical bytes; different seed -> different images; workers give the same bytes', async () => {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-synth-'));
  try {
    const opts = { patients: 3, seed: 42, mapSize: 48 };
    await writeCohort(generateCohort(opts), join(root, 'a'), single);
    await writeCohort(generateCohort(opts), join(root, 'b'), single);
    await writeCohort(generateCohort({ ...opts, seed: 43 }), join(root, 'c'), single);
    await synthesizeToDir(opts, join(root, 'w'), single, { workers: 2 });
    const [a, b, c, w] = await Promise.all(['a', 'b', 'c', 'w'].map((d) => hashTree(join(root, d))));
    assert.equal(
      a.size,
      3 * 4 + 4,
      '12 images + manifest.csv, ground_truth.csv, synth.json, the --out marker',
    );
    assert.deepEqual(a, b);
    assert.deepEqual(w, a, 'streaming / worker path writes the same bytes');
    for (const v of VIEWS) assert.notEqual(a.get(`P0001/${v}.png`), c.get(`P0001/${v}.png`));
    // no temporary directories left behind
    assert.deepEqual((await readdir(root)).sort(), ['a', 'b', 'c', 'w']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('manifest.csv follows docs/manifest.md (single and page layouts); ground_truth.csv is complete', async () => {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-synth-'));
  try {
    const cohort = generateCohort({ patients: 4, seed: 'm', mapSize: 48, prevalence: 0.5 });
    await writeCohort(cohort, join(root, 's'), single);
    const m = await readCsv(join(root, 's', 'manifest.csv'));
    assert.deepEqual(Object.keys(m[0]), ['patient_id', 'label', 'sex', 'age', ...VIEWS]);
    for (const row of m) {
      assert.match(row.patient_id, /^[A-Za-z0-9._-]+$/);
      assert.ok(['CAD', 'normal'].includes(row.label));
      assert.ok(['F', 'M'].includes(row.sex));
      assert.ok(Number(row.age) > 18);
      for (const v of VIEWS) {
        const meta = await sharp(join(root, 's', row[v])).metadata();
        assert.equal(meta.width, 160);
        assert.equal(meta.format, 'png');
      }
    }
    assert.equal(m.filter((r) => r.label === 'CAD').length, 2);

    const t = await readCsv(join(root, 's', 'ground_truth.csv'));
    assert.deepEqual(Object.keys(t[0]), truthColumns());
    assert.equal(truthColumns().length, 12 + 4 + 4 * 34);
    for (const [i, row] of t.entries()) {
      const p = cohort.patients[i];
      assert.equal(row.patient_id, p.id);
      assert.equal(Number(row.label), p.label);
      assert.equal(Number(row.stress_ac_u5), Number(p.truth.uptake.stress_ac[4].toFixed(4)));
      assert.equal(Number(row.rest_nac_s17), p.truth.scores.rest_nac[16]);
      assert.equal(row.lesions.split(';').filter(Boolean).length, p.lesions.length);
    }

    // the disc recorded in ground_truth.csv is where the image has colour
    const [cx, cy, r] = t[0].disc_stress_ac.split(',').map(Number);
    const { data, info } = await sharp(join(root, 's', m[0].stress_ac))
      .raw()
      .toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number): number =>
      data[(y * info.width + x) * info.channels] +
      data[(y * info.width + x) * info.channels + 1] +
      data[(y * info.width + x) * info.channels + 2];
    assert.ok(at(cx + Math.round(r * 0.3), cy + Math.round(r * 0.3)) > 0, 'disc pixel coloured');
    assert.equal(
      at(Math.round(cx - r * 0.85), Math.round(cy + r * 0.85)),
      0,
      'outside the disc (lower-left corner of its box) black',
    );

    await writeCohort(cohort, join(root, 'p'), { ...single, layout: 'page', format: 'jpeg' });
    const mp = await readCsv(join(root, 'p', 'manifest.csv'));
    assert.deepEqual(Object.keys(mp[0]), ['patient_id', 'label', 'sex', 'age', 'page', 'layout']);
    assert.equal(mp[0].page, 'pages/P0001.jpg');
    assert.equal(mp[0].layout, 'stress_ac,rest_ac/stress_nac,rest_nac');
    const meta = await sharp(join(root, 'p', mp[0].page)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 1640, 1068]);
    assert.ok((await stat(join(root, 'p', 'ground_truth.csv'))).size > 1000);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('bad write options are rejected before anything is written', async () => {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-synth-'));
  try {
    const cohort = generateCohort({ patients: 1, seed: 1, mapSize: 32 });
    await assert.rejects(
      writeCohort(cohort, join(root, 'x'), { ...single, pageLayout: 'foo', layout: 'page' }),
      /layout "foo"/,
    );
    await assert.rejects(
      writeCohort(cohort, join(root, 'x'), { ...single, format: 'gif' as 'png' }),
      /format/,
    );
    assert.deepEqual(await readdir(root), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
