import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createUptakeMap } from '../../src/domain/image.js';
import { segmentLabels } from '../../src/polarmap/geometry.js';
import {
  type NormalLimits,
  type NormalSample,
  buildNormalDatabase,
} from '../../src/polarmap/normal-database.js';
import {
  UNSCORED,
  fractionalDeficit,
  percentMyocardium,
  perfusionDeficit,
  perfusionDeficitMap,
  ruleApostolopoulos,
  ruleSss4,
  scoreFromZ,
  scoreMap,
  scoreStudy,
  summedScores,
  territoryScores,
} from '../../src/polarmap/scoring.js';
import { DEFAULT_TERRITORIES } from '../../src/polarmap/territories.js';
import { InputError } from '../../src/util/errors.js';

const close = (a: number, b: number, tol = 1e-9) => Math.abs(a - b) <= tol;

/** Normal limits with the same mean and SD in every segment. */
function flatLimits(mean: number, sd: number): NormalLimits {
  return {
    stratum: { state: 'stress', correction: 'AC', sex: null },
    fallback: false,
    n: 30,
    mean: new Float64Array(17).fill(mean),
    sd: new Float64Array(17).fill(sd),
  };
}

/** A 17-vector with `fill` everywhere and the given (1-based segment -> value) overrides. */
function vec(fill: number, set: Record<number, number> = {}): number[] {
  const v = new Array<number>(17).fill(fill);
  for (const [s, x] of Object.entries(set)) v[Number(s) - 1] = x;
  return v;
}

test('hand example: one segment at 40% vs normal mean 0.8 SD 0.05 -> z 8, score 4, SSS 4, 5.9%', () => {
  const r = scoreMap(vec(1, { 4: 0.4 }), flatLimits(0.8, 0.05));
  // z = (0.8 - 0.4) / 0.05 = 8 ; other segments z = (0.8 - 1) / 0.05 = -4
  assert.ok(close(r.z[3], 8));
  assert.ok(close(r.z[0], -4));
  assert.equal(r.scores[3], 4);
  assert.deepEqual(
    [...r.scores].filter((_, i) => i !== 3),
    new Array(16).fill(0),
  );
  assert.equal(r.summed, 4);
  assert.ok(close(r.percentMyocardium, (4 / 68) * 100)); // 5.882...%
  assert.equal(r.percentMyocardium.toFixed(1), '5.9');
  // deficit: limit L = 0.8 - 2 * 0.05 = 0.7, d = (0.7 - 0.4) / 0.7 = 3/7, TPD = 100 * (3/7) / 17 = 2.521%
  assert.ok(close(r.deficit, (100 * 3) / 7 / 17));
  assert.equal(r.unscored, 0);
});

test('raw counts are normalised to the hottest segment before scoring', () => {
  const a = scoreMap(vec(1, { 4: 0.4 }), flatLimits(0.8, 0.05));
  const b = scoreMap(vec(180, { 4: 72 }), flatLimits(0.8, 0.05));
  assert.deepEqual(b.scores, a.scores);
  assert.ok(close(b.normalised[3], 0.4));
});

test('score boundaries with the default z cut-offs 2 / 3 / 4 / 5.5 and the 35% floor', () => {
  const cases: [number, number][] = [
    [-3, 0],
    [1.999, 0],
    [2, 1],
    [2.999, 1],
    [3, 2],
    [3.999, 2],
    [4, 3],
    [5.499, 3],
    [5.5, 4],
    [20, 4],
  ];
  for (const [z, want] of cases) assert.equal(scoreFromZ(z, 0.8), want, `z=${z}`);
  // below the absolute floor scores 4 whatever z says
  assert.equal(scoreFromZ(0.5, 0.34), 4);
  assert.equal(scoreFromZ(0.5, 0.35), 0);
  assert.equal(scoreFromZ(Number.NaN, 0.5), UNSCORED);
  // configurable
  assert.equal(scoreFromZ(2.2, 0.8, { thresholds: { equivocal: 2.5 } }), 0);
  assert.equal(scoreFromZ(0.5, 0.2, { absentFloor: 0 }), 0);
  assert.throws(
    () => scoreFromZ(1, 1, { thresholds: { moderate: 1.5 } }),
    (e: Error) =>
      e instanceof InputError &&
      /thresholds\.moderate \(1\.5\) must be greater than thresholds\.equivocal/.test(e.message),
  );
});

test('SD floor: a zero SD in the normal limits is raised to 0.02', () => {
  // z = (0.8 - 0.75) / 0.02 = 2.5 -> score 1 (without the floor z would be infinite -> 4)
  const r = scoreMap(vec(1, { 9: 0.75 }), flatLimits(0.8, 0));
  assert.ok(close(r.z[8], 2.5));
  assert.equal(r.scores[8], 1);
});

test('a segment with no value is unscored and left out of the sums', () => {
  const r = scoreMap(vec(1, { 4: 0.4, 12: Number.NaN }), flatLimits(0.8, 0.05));
  assert.equal(r.scores[11], UNSCORED);
  assert.ok(Number.isNaN(r.z[11]));
  assert.equal(r.unscored, 1);
  assert.equal(r.summed, 4);
  // deficit averages over the 16 segments with a value: 100 * (3/7) / 16
  assert.ok(close(r.deficit, (100 * 3) / 7 / 16));
});

test('SSS, SRS, SDS = SSS - SRS and the segmental SDS on hand-made score vectors', () => {
  // stress: seg1 3, seg2 2, seg7 1; rest: seg1 3, seg3 2
  const stress = vec(0, { 1: 3, 2: 2, 7: 1 });
  const rest = vec(0, { 1: 3, 3: 2 });
  // SSS 6, SRS 5, SDS 1; segmental: seg2 2 + seg7 1 = 3 (seg3 is worse at rest and does not cancel)
  assert.deepEqual(summedScores(stress, rest), { sss: 6, srs: 5, sds: 1, sdsSegmental: 3 });
  // reverse redistribution: SDS negative, reported as such; segmental SDS 0
  assert.deepEqual(summedScores(vec(0, { 1: 1 }), vec(0, { 1: 3 })), {
    sss: 1,
    srs: 3,
    sds: -2,
    sdsSegmental: 0,
  });
  // unscored segments are skipped in every sum
  assert.deepEqual(summedScores(vec(0, { 5: 4, 6: UNSCORED }), vec(0, { 5: UNSCORED, 6: 2 })), {
    sss: 4,
    srs: 2,
    sds: 2,
    sdsSegmental: 0,
  });
  assert.ok(close(percentMyocardium(68), 100));
  assert.ok(close(percentMyocardium(17), 25));
});

test('per-territory sums with the default and a custom territory map', () => {
  // all ones: LAD has 7 segments, LCx 5, RCA 5
  assert.deepEqual(territoryScores(vec(1)), { LAD: 7, LCx: 5, RCA: 5 });
  // seg3 (basal inferoseptal, RCA) 4, seg16 (apical lateral, LCx) 2, seg17 (apex, LAD) 1
  const s = vec(0, { 3: 4, 16: 2, 17: 1 });
  assert.deepEqual(territoryScores(s), { LAD: 1, LCx: 2, RCA: 4 });
  // right-dominant variant: apex to RCA
  const custom = {
    ...DEFAULT_TERRITORIES,
    LAD: [1, 2, 7, 8, 13, 14] as const,
    RCA: [3, 4, 9, 10, 15, 17] as const,
  };
  assert.deepEqual(territoryScores(s, custom), { LAD: 0, LCx: 2, RCA: 5 });
  assert.throws(() => territoryScores(s, { ...DEFAULT_TERRITORIES, LAD: [1, 2] }), /not assigned/);
});

test('decision rules: SSS >= 4, and Apostolopoulos AC (SSS > 0, SDS > 0) / NAC (SSS > 3, SDS > 1)', () => {
  assert.equal(ruleSss4({ sss: 3 }), false);
  assert.equal(ruleSss4({ sss: 4 }), true);
  const table: [number, number, 'AC' | 'NAC', boolean][] = [
    [1, 1, 'AC', true],
    [1, 0, 'AC', false],
    [0, 0, 'AC', false],
    [4, 2, 'NAC', true],
    [3, 2, 'NAC', false],
    [4, 1, 'NAC', false],
    [1, 1, 'NAC', false],
  ];
  for (const [sss, sds, c, want] of table)
    assert.equal(ruleApostolopoulos({ sss, sds }, c), want, `${sss} ${sds} ${c}`);
});

test('fractional deficit: 0 at the normal limit, 1 at no uptake, linear in between', () => {
  // mean 0.8, SD 0.05, k 2 -> limit 0.7
  assert.ok(close(fractionalDeficit(0.7, 0.8, 0.05), 0, 1e-12));
  assert.equal(fractionalDeficit(0.9, 0.8, 0.05), 0);
  assert.ok(close(fractionalDeficit(0.35, 0.8, 0.05), 0.5));
  assert.equal(fractionalDeficit(0, 0.8, 0.05), 1);
  assert.ok(close(fractionalDeficit(0.35, 0.8, 0.05, { deficitLimitSd: 0 }), 0.45 / 0.8));
  assert.ok(Number.isNaN(fractionalDeficit(0.5, Number.NaN, 0.05)));
});

test('pixel-based deficit: a defect over part of a segment counts by its area; equals segment-based when uniform', () => {
  const size = 101;
  const labels = segmentLabels(size);
  const c = (size - 1) / 2;
  const limits = flatLimits(0.8, 0.05);
  limits.mean[0] = 1; // segment 1 is the hottest, normal limit 1 - 0.1 = 0.9
  const paint = (partial: boolean) => {
    const map = createUptakeMap(size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const l = labels[y * size + x];
        if (l === 0) continue;
        map.data[y * size + x] = l === 1 ? 1 : l === 4 && (!partial || x < c) ? 0.4 : 0.8;
      }
    }
    return map;
  };
  // uniform defect in segment 4: same as the segment-based figure 100 * (3/7) / 17
  const full = perfusionDeficitMap(paint(false), limits);
  assert.ok(close(full, (100 * 3) / 7 / 17, 1e-6), `${full}`);
  // defect over the left part of segment 4 only: fraction f of its pixels, counted here
  let inSeg = 0;
  let left = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (labels[y * size + x] !== 4) continue;
      inSeg++;
      if (x < c) left++;
    }
  }
  const f = left / inSeg;
  const half = perfusionDeficitMap(paint(true), limits);
  assert.ok(close(half, (100 * f * (3 / 7)) / 17, 1e-6), `${half} vs ${(100 * f * (3 / 7)) / 17}`);
  // the segment-based deficit of the averaged segment is smaller: mean 0.4f + 0.8(1-f), d = (0.7 - mean)/0.7
  const segMean = 0.4 * f + 0.8 * (1 - f);
  const seg = perfusionDeficit(vec(0.8, { 1: 1, 4: segMean }), limits);
  assert.ok(close(seg, (100 * Math.max(0, (0.7 - segMean) / 0.7)) / 17, 1e-9));
  assert.ok(seg < half);
});

test('scoreStudy end to end: LAD stress defect, normal rest, against a built database', () => {
  // 20 normal AC studies per state: segment 1 = 1 (hottest), others 0.8 +- d alternately, so the
  // normal mean is 0.8 and the sample SD is d * sqrt(20/19) = 0.05 for d = 0.05 * sqrt(19/20).
  const d = 0.05 * Math.sqrt(19 / 20);
  const samples: NormalSample[] = [];
  for (const state of ['stress', 'rest'] as const) {
    for (let i = 0; i < 20; i++) {
      samples.push({
        state,
        correction: 'AC',
        sex: i % 2 ? 'F' : 'M',
        segments: vec(0.8 + (i % 2 ? d : -d), { 1: 1 }),
      });
    }
  }
  const db = buildNormalDatabase(samples, { minStudies: 20 });
  // stress: segments 7 (mid anterior) and 13 (apical anterior) at 0.55 -> z = 5 -> score 3 each
  // seg 14 (apical septal) at 0.68 -> z = 2.4 -> 1 ; rest: seg 14 at 0.68 -> 1, others normal
  const r = scoreStudy(
    {
      stress: vec(0.8, { 1: 1, 7: 0.55, 13: 0.55, 14: 0.68 }),
      rest: vec(0.8, { 1: 1, 14: 0.68 }),
      correction: 'AC',
      sex: 'F',
    },
    db,
  );
  assert.deepEqual(
    r.stress.limits.stratum,
    { state: 'stress', correction: 'AC', sex: null },
    '10 women < 20: pooled sex',
  );
  assert.ok(close(r.stress.limits.sd[5], 0.05, 1e-12));
  assert.ok(close(r.stress.z[6], 5, 1e-9));
  assert.equal(r.stress.scores[6], 3);
  assert.equal(r.stress.scores[12], 3);
  assert.equal(r.stress.scores[13], 1);
  assert.equal(r.sss, 7);
  assert.equal(r.srs, 1);
  assert.equal(r.sds, 6);
  assert.equal(r.sdsSegmental, 6);
  assert.ok(close(r.percent.stress, (7 / 68) * 100));
  assert.ok(close(r.percent.ischaemic, (6 / 68) * 100));
  assert.deepEqual(r.territories.stress, { LAD: 7, LCx: 0, RCA: 0 });
  assert.deepEqual(r.territories.difference, { LAD: 6, LCx: 0, RCA: 0 });
  assert.deepEqual(r.rules, { sss4: true, apostolopoulos: true });
  // deficit: limit 0.7; segs 7, 13 d = 0.15/0.7; seg 14 d = 0.02/0.7
  assert.ok(close(r.stress.deficit, (100 * (0.15 + 0.15 + 0.02)) / 0.7 / 17, 1e-9));
  // no NAC data and no fallback across states
  assert.throws(
    () =>
      scoreStudy(
        { stress: vec(1), rest: vec(1), correction: 'NAC' },
        buildNormalDatabase(samples.slice(0, 20), { minStudies: 20 }),
      ),
    InputError,
  );
});
