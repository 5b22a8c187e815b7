import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type NormalSample,
  buildNormalDatabase,
  loadNormalDatabase,
  normalLimits,
  normaliseSegments,
  parseNormalDatabase,
  saveNormalDatabase,
  viewAcquisition,
} from '../../src/polarmap/normal-database.js';
import { InputError } from '../../src/util/errors.js';

const dirP = mkdtemp(join(tmpdir(), 'polarcad-ndb-'));
after(async () => rm(await dirP, { recursive: true, force: true }));

const close = (a: number, b: number, tol = 1e-12) => Math.abs(a - b) <= tol;

/** 17 raw segment means: segment 1 at `peak` (the hottest), segment 2 at `s2 * peak`, the rest at 0.8 * peak. */
function segs(s2: number, peak = 1): number[] {
  const v = new Array<number>(17).fill(0.8 * peak);
  v[0] = peak;
  v[1] = s2 * peak;
  return v;
}

/**
 * Hand-made cohort. Stress AC: F segment 2 = 0.7, 0.8, 0.9 (mean 0.8, SD 0.1);
 * M segment 2 = 0.6, 0.6 (mean 0.6, SD 0). Pooled AC stress: 0.7, 0.8, 0.9, 0.6, 0.6:
 * mean 3.6/5 = 0.72, SD = sqrt((0.02^2+0.08^2+0.18^2+0.12^2+0.12^2)/4) = sqrt(0.017) = 0.130384.
 * Raw counts are in arbitrary units (peak 250 or 1) to check the normalisation.
 * One rest NAC study of unknown sex.
 */
const SAMPLES: NormalSample[] = [
  { state: 'stress', correction: 'AC', sex: 'F', segments: segs(0.7, 250) },
  { state: 'stress', correction: 'AC', sex: 'F', segments: segs(0.8) },
  { state: 'stress', correction: 'AC', sex: 'F', segments: segs(0.9, 40) },
  { state: 'stress', correction: 'AC', sex: 'M', segments: segs(0.6) },
  { state: 'stress', correction: 'AC', sex: 'M', segments: segs(0.6, 3) },
  { state: 'rest', correction: 'NAC', segments: segs(0.5) },
];

test('normaliseSegments divides by the largest finite segment mean and keeps NaN', () => {
  const raw = segs(0.5, 200);
  raw[5] = Number.NaN;
  const n = normaliseSegments(raw);
  assert.equal(n[0], 1);
  assert.equal(n[1], 0.5);
  assert.ok(close(n[2], 0.8));
  assert.ok(Number.isNaN(n[5]));
  assert.throws(() => normaliseSegments(new Array(17).fill(Number.NaN)), /no positive/);
  assert.throws(() => normaliseSegments([1, 2, 3]), /17/);
});

test('viewAcquisition splits a view into state and correction', () => {
  assert.deepEqual(viewAcquisition('stress_ac'), { state: 'stress', correction: 'AC' });
  assert.deepEqual(viewAcquisition('rest_nac'), { state: 'rest', correction: 'NAC' });
});

test('strata statistics match hand-computed means and SDs', () => {
  const db = buildNormalDatabase(SAMPLES, { minStudies: 2 });
  const get = (state: string, correction: string | null, sex: string | null) =>
    db.strata.find((s) => s.state === state && s.correction === correction && s.sex === sex);
  const f = get('stress', 'AC', 'F')!;
  assert.equal(f.n, 3);
  assert.ok(close(f.mean[1]!, 0.8));
  assert.ok(close(f.sd[1]!, 0.1));
  assert.ok(close(f.mean[0]!, 1) && f.sd[0] === 0);
  const m = get('stress', 'AC', 'M')!;
  assert.ok(close(m.mean[1]!, 0.6) && close(m.sd[1]!, 0));
  const pooled = get('stress', 'AC', null)!;
  assert.equal(pooled.n, 5);
  assert.ok(close(pooled.mean[1]!, 0.72));
  assert.ok(close(pooled.sd[1]!, Math.sqrt(0.017)));
  // the all-pooled stress stratum holds the same 5 studies; no stress NAC stratum exists
  assert.equal(get('stress', null, null)!.n, 5);
  assert.equal(get('stress', 'NAC', null), undefined);
  // the rest study of unknown sex only enters sex-pooled strata; one study has no SD
  assert.equal(get('rest', 'NAC', 'F'), undefined);
  const rest = get('rest', 'NAC', null)!;
  assert.equal(rest.n, 1);
  assert.ok(close(rest.mean[1]!, 0.5));
  assert.equal(rest.sd[1], null);
});

test('normalLimits: exact stratum, then fallback to pooled sex, pooled correction, all pooled', () => {
  const db = buildNormalDatabase(SAMPLES, { minStudies: 3 });
  const fac = normalLimits(db, { state: 'stress', correction: 'AC', sex: 'F' });
  assert.deepEqual(fac.stratum, { state: 'stress', correction: 'AC', sex: 'F' });
  assert.equal(fac.fallback, false);
  assert.ok(close(fac.mean[1], 0.8) && close(fac.sd[1], 0.1));
  // men: only 2 < 3 studies -> AC, any sex (5 studies)
  const mac = normalLimits(db, { state: 'stress', correction: 'AC', sex: 'M' });
  assert.deepEqual(mac.stratum, { state: 'stress', correction: 'AC', sex: null });
  assert.equal(mac.fallback, true);
  assert.equal(mac.n, 5);
  assert.ok(close(mac.mean[1], 0.72));
  // NAC women: no NAC stress data -> any correction, F (3 studies)
  const fnac = normalLimits(db, { state: 'stress', correction: 'NAC', sex: 'F' });
  assert.deepEqual(fnac.stratum, { state: 'stress', correction: null, sex: 'F' });
  // NAC men -> all pooled
  assert.deepEqual(normalLimits(db, { state: 'stress', correction: 'NAC', sex: 'M' }).stratum, {
    state: 'stress',
    correction: null,
    sex: null,
  });
  // unknown sex and correction: pooled stratum, not a fallback
  const any = normalLimits(db, { state: 'stress' });
  assert.deepEqual(any.stratum, { state: 'stress', correction: null, sex: null });
  assert.equal(any.fallback, false);
  // rest has a single study: no usable stratum
  assert.throws(
    () => normalLimits(db, { state: 'rest', correction: 'NAC' }),
    (e: Error) => e instanceof InputError && /no rest stratum has at least 3/.test(e.message),
  );
});

test('a segment measured in too few studies makes the stratum unusable (per-segment counts)', () => {
  const samples: NormalSample[] = [0.7, 0.8, 0.9].map((s2) => ({
    state: 'stress',
    sex: 'F',
    segments: segs(s2),
  }));
  const holed = segs(0.8);
  holed[9] = Number.NaN;
  samples.push(
    { state: 'stress', sex: 'M', segments: segs(0.8) },
    { state: 'stress', sex: 'M', segments: holed },
  );
  const db = buildNormalDatabase(samples, { minStudies: 2 });
  const m = db.strata.find((s) => s.sex === 'M' && s.correction === null)!;
  assert.equal(m.count[9], 1);
  assert.equal(m.count[0], 2);
  const lim = normalLimits(db, { state: 'stress', sex: 'M' });
  assert.equal(lim.stratum.sex, null, 'segment 10 has 1 < 2 male studies: falls back to pooled sex');
  assert.equal(db.strata.find((s) => s.sex === null && s.correction === null)!.count[9], 4);
});

test('bad input: wrong segment count names the study; minStudies must be >= 2', () => {
  assert.throws(
    () => buildNormalDatabase([{ state: 'rest', segments: [1, 2], id: 'P007' }]),
    (e: Error) => e instanceof InputError && /P007.*17/.test(e.message),
  );
  assert.throws(() => buildNormalDatabase(SAMPLES, { minStudies: 1 }), InputError);
});

test('JSON round trip through a file gives the same database and the same limits', async () => {
  const db = buildNormalDatabase(SAMPLES, { minStudies: 2 });
  const path = join(await dirP, 'ndb.json');
  await saveNormalDatabase(path, db);
  const text = await readFile(path, 'utf8');
  assert.ok(text.includes('"format": "polarcad-normal-db"'));
  const back = await loadNormalDatabase(path);
  assert.deepEqual(back, db);
  const q = { state: 'stress', correction: 'AC', sex: 'M' } as const;
  assert.deepEqual(normalLimits(back, q), normalLimits(db, q));
});

test('invalid JSON databases: InputError naming the file and the JSON path', async () => {
  const db = buildNormalDatabase(SAMPLES, { minStudies: 2 });
  const broken = JSON.parse(JSON.stringify(db));
  broken.strata[0].sd = broken.strata[0].sd.slice(0, 16);
  broken.strata[1].sex = 'X';
  assert.throws(
    () => parseNormalDatabase(broken, 'ndb.json'),
    (e: Error) =>
      e instanceof InputError &&
      /ndb\.json/.test(e.message) &&
      /strata\.0\.sd/.test(e.message) &&
      /strata\.1\.sex/.test(e.message),
  );
  assert.throws(() => parseNormalDatabase({ ...db, format: 'other' }, 'x.json'), /format/);
  const dir = await dirP;
  await writeFile(join(dir, 'bad.json'), '{ not json');
  await assert.rejects(
    loadNormalDatabase(join(dir, 'bad.json')),
    (e: Error) => e instanceof InputError && /bad\.json.*not valid JSON/.test(e.message),
  );
  await assert.rejects(
    loadNormalDatabase(join(dir, 'none.json')),
    (e: Error) => e instanceof InputError && /none\.json/.test(e.message),
  );
});
