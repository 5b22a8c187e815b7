import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateCohort, generatePatient, resolveCohortOptions } from '../../src/synth/cohort.js';
import { phantomFields } from '../../src/synth/phantom.js';
import { polarGrid } from '../../src/synth/polar-grid.js';
import { sampleScenario, stressDepthOfStenosis, type Scenario } from '../../src/synth/scenario.js';
import { computeTruth, scoreOfLoss } from '../../src/synth/truth.js';
import { DEFAULT_TERRITORIES } from '../../src/polarmap/territories.js';
import { VIEWS } from '../../src/domain/views.js';
import { Rng } from '../../src/util/rng.js';

const mean = (a: readonly number[]): number => a.reduce((p, q) => p + q, 0) / a.length;
const segs = (arr: readonly number[], ids: readonly number[]): number[] => ids.map((s) => arr[s - 1]);

test('same seed -> identical maps and truth; different seed -> different maps', () => {
  const a = generateCohort({ patients: 4, seed: 7, mapSize: 48 });
  const b = generateCohort({ patients: 4, seed: 7, mapSize: 48 });
  const c = generateCohort({ patients: 4, seed: 8, mapSize: 48 });
  for (let i = 0; i < 4; i++) {
    for (const v of VIEWS) assert.deepEqual(a.patients[i].maps[v].data, b.patients[i].maps[v].data);
    assert.deepEqual(a.patients[i].truth, b.patients[i].truth);
  }
  assert.notDeepEqual(a.patients[0].maps.stress_ac.data, c.patients[0].maps.stress_ac.data);
});

test('prevalence: exactly round(n * p) CAD patients; ids P0001..; labels match lesions', () => {
  for (const [n, p] of [
    [20, 0.51],
    [7, 0],
    [7, 1],
    [9, 0.3],
  ] as const) {
    const c = generateCohort({ patients: n, prevalence: p, seed: 'prev', mapSize: 32 });
    assert.equal(c.patients.filter((x) => x.label === 1).length, Math.round(n * p), `n=${n} p=${p}`);
    assert.deepEqual(c.patients.map((x) => x.id).slice(0, 2), ['P0001', 'P0002'].slice(0, Math.min(2, n)));
    for (const x of c.patients) assert.equal(x.lesions.length > 0, x.label === 1, `${x.id}: CAD iff lesions`);
  }
});

test('maps are valid UptakeMaps: values in [0,1], max 1, 0 outside the disc', () => {
  const c = generateCohort({ patients: 3, seed: 1, mapSize: 64 });
  const g = polarGrid(64);
  const inside = new Set(g.inside);
  for (const p of c.patients) {
    for (const v of VIEWS) {
      const d = p.maps[v].data;
      let max = 0;
      for (let i = 0; i < d.length; i++) {
        assert.ok(d[i] >= 0 && d[i] <= 1);
        if (!inside.has(i)) assert.equal(d[i], 0);
        max = Math.max(max, d[i]);
      }
      assert.equal(max, 1);
    }
  }
});

test('normal LV: true segment uptake mostly within 0.6-1 (about 0.75-0.95 typical) with normal scores', () => {
  const c = generateCohort({ patients: 12, prevalence: 0, seed: 3, difficulty: 'easy', mapSize: 64 });
  const all = c.patients.flatMap((p) => p.truth.uptake.stress_ac);
  const m = mean(all);
  assert.ok(m > 0.75 && m < 0.95, `mean normal uptake ${m}`);
  for (const p of c.patients) assert.equal(p.truth.sss, 0, `${p.id} (easy normals have no LBBB) SSS 0`);
});

/** A scenario with no attenuation and a single lesion, built on a sampled normal patient. */
function withLesion(vessel: 'LAD' | 'LCx' | 'RCA', site: 'proximal' | 'distal'): Scenario {
  const base = sampleScenario(new Rng('lesion-test'), 0, 'easy');
  return {
    ...base,
    attenuation: [],
    variants: [],
    lesions: [
      {
        vessel,
        stenosis: 90,
        site,
        kind: 'ischaemia',
        stressDepth: 0.45,
        restDepth: 0.02,
        warp: { shiftDeg: 0, widthScale: 1 },
        radialCut: 0.6,
      },
    ],
  };
}

test('defects land in their territory (LAD lowers LAD segments far more than RCA/LCx), reversible at rest', () => {
  const g = polarGrid(96);
  for (const vessel of ['LAD', 'LCx', 'RCA'] as const) {
    const s = withLesion(vessel, 'proximal');
    const t = computeTruth(g, phantomFields(g, s));
    const normal = computeTruth(g, phantomFields(g, { ...s, lesions: [] }));
    const drop = (ids: readonly number[]): number =>
      mean(segs(normal.uptake.stress_ac, ids)) - mean(segs(t.uptake.stress_ac, ids));
    const own = drop(DEFAULT_TERRITORIES[vessel]);
    // the core of a 0.45-deep defect: relative uptake falls by roughly 0.45 x 0.85 ~ 0.3 on average
    assert.ok(own > 0.2, `${vessel}: own territory drop ${own}`);
    for (const other of (['LAD', 'LCx', 'RCA'] as const).filter((v) => v !== vessel)) {
      const d = drop(DEFAULT_TERRITORIES[other].filter((x) => x !== 17));
      assert.ok(d < own / 3, `${vessel}: ${other} drop ${d} vs own ${own}`);
    }
    // reversible: rest scores ~0, stress scores > 0 in the territory; SDS > 0
    assert.ok(mean(segs(t.scores.stress_ac, DEFAULT_TERRITORIES[vessel])) >= 1.5);
    assert.equal(t.srs, 0);
    assert.ok(t.sds > 5);
  }
});

test('distal lesions spare the basal segments of their territory', () => {
  const g = polarGrid(96);
  const t = computeTruth(g, phantomFields(g, withLesion('LAD', 'distal')));
  const basal = mean(segs(t.scores.stress_ac, [1, 2]));
  const apical = mean(segs(t.scores.stress_ac, [13, 14, 17]));
  assert.equal(basal, 0);
  assert.ok(apical >= 2, `apical LAD scores ${apical}`);
});

test('attenuation: NAC lowers the anterior wall in women, the inferior wall in men; AC removes most of it', () => {
  const c = generateCohort({ patients: 40, prevalence: 0, seed: 11, mapSize: 48 });
  const ant = [1, 7, 13];
  const inf = [4, 10, 15];
  const gap = (p: (typeof c.patients)[number], ids: number[]): number =>
    mean(segs(p.truth.uptake.stress_ac, ids)) - mean(segs(p.truth.uptake.stress_nac, ids));
  const women = c.patients.filter((p) => p.variants.includes('breast_attenuation'));
  const men = c.patients.filter((p) => p.sex === 'M' && p.variants.includes('diaphragm_attenuation'));
  assert.ok(
    women.length >= 3 && men.length >= 3,
    `${women.length} women, ${men.length} men with attenuation`,
  );
  for (const p of women)
    assert.ok(gap(p, ant) > gap(p, inf) && gap(p, ant) > 0.02, `${p.id} anterior AC-NAC gap ${gap(p, ant)}`);
  for (const p of men)
    assert.ok(gap(p, inf) > gap(p, ant) && gap(p, inf) > 0.02, `${p.id} inferior AC-NAC gap ${gap(p, inf)}`);
  // attenuation is the same at stress and rest: no summed difference, and not scored as a defect
  for (const p of [...women, ...men]) {
    if (p.variants.includes('lbbb')) continue;
    assert.equal(p.truth.sss, 0);
  }
  // the noisy maps show it too: mean over women of the NAC-AC anterior difference in the pixels
  const g = polarGrid(48);
  let diff = 0;
  for (const p of women) {
    for (let k = 0; k < g.inside.length; k++) {
      if (ant.includes(g.segment[k]))
        diff += p.maps.stress_ac.data[g.inside[k]] - p.maps.stress_nac.data[g.inside[k]];
    }
  }
  assert.ok(diff > 0, 'NAC maps darker anteriorly than AC maps in women');
});

test('hard cases: balanced three-vessel disease is CAD with no relative defect; LBBB is a normal with a septal defect', () => {
  const o = resolveCohortOptions({ patients: 400, seed: 'hard', difficulty: 'hard', mapSize: 32 });
  let balanced = 0;
  let lbbb = 0;
  for (let i = 0; i < 400 && (balanced === 0 || lbbb === 0); i++) {
    const label = i % 2 === 0 ? 1 : 0;
    const s = sampleScenario(new Rng('hard').fork(`patient/${i}`).fork('scenario'), label, 'hard');
    if (label === 1 && s.variants.includes('balanced_3vd') && balanced === 0) {
      const p = generatePatient('hard', i, 400, 1, o);
      assert.equal(p.lesions.length, 3);
      assert.equal(p.truth.sss, 0, 'balanced disease vanishes after normalisation to the maximum');
      balanced++;
    }
    if (label === 0 && s.variants.includes('lbbb') && lbbb === 0) {
      const p = generatePatient('hard', i, 400, 0, o);
      const septal = mean(segs(p.truth.scores.stress_ac, [8, 9, 14]));
      assert.ok(septal > 0, `LBBB septal stress score ${septal}`);
      assert.ok(p.truth.srs > 0, 'LBBB defect also at rest');
      lbbb++;
    }
  }
  assert.equal(balanced, 1);
  assert.equal(lbbb, 1);
});

test('score bands and stenosis severity', () => {
  // SCORE_LOSS_BOUNDS = [0.1, 0.2, 0.35, 0.5]
  assert.deepEqual([0, 0.099, 0.1, 0.25, 0.4, 0.5, 0.9].map(scoreOfLoss), [0, 0, 1, 2, 3, 4, 4]);
  // 0.62 * ((s - 45) / 54)^1.3: 45% -> 0, 99% -> 0.62; monotone
  assert.equal(stressDepthOfStenosis(45), 0);
  assert.ok(Math.abs(stressDepthOfStenosis(99) - 0.62) < 1e-12);
  assert.ok(stressDepthOfStenosis(70) < stressDepthOfStenosis(90));
});

test('bad options are rejected naming the field', () => {
  assert.throws(() => generateCohort({ patients: 0, seed: 1 }), /patients/);
  assert.throws(() => generateCohort({ patients: 2, seed: 1, prevalence: 1.5 }), /prevalence/);
  assert.throws(() => generateCohort({ patients: 2, seed: 1, mapSize: 8 }), /mapSize/);
});
