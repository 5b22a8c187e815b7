/**
 * Attribution on hand-made heatmaps. Reference shares come from the AREAS of the 17-segment
 * model (rings at normalised radii 0.25 / 0.5 / 0.75 / 1, Cerqueira et al. 2002): for a heatmap
 * that is constant on a set of segments, each segment's share is its area over the set's area,
 * so the references below are computed analytically, not from `segmentLabels`:
 *   basal segment   (1 - 0.75^2) / 6    = 0.0729167   (x pi)
 *   mid segment     (0.75^2 - 0.5^2) / 6 = 0.0520833
 *   apical segment  (0.5^2 - 0.25^2) / 4 = 0.046875
 *   apex            0.25^2               = 0.0625
 * Territories of a uniform heatmap (AHA default map): LAD = 2(.0729167 + .0520833 + .046875) + .0625
 * = 0.40625; LCx = RCA = 2(.0729167 + .0520833) + .046875 = 0.296875.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attributeHeatmap,
  attributeTile,
  describeAttribution,
  wallOf,
} from '../../src/explain/attribution.js';
import { segmentLabels } from '../../src/polarmap/geometry.js';
import { DEFAULT_TERRITORIES, type TerritoryMap } from '../../src/polarmap/territories.js';
import { InputError } from '../../src/util/errors.js';

const SIZE = 400;
const AREA = {
  basal: (1 - 0.75 ** 2) / 6,
  mid: (0.75 ** 2 - 0.5 ** 2) / 6,
  apical: (0.5 ** 2 - 0.25 ** 2) / 4,
  apex: 0.25 ** 2,
};
/** pixel discretisation at 400 px: shares agree with the analytic areas to about 1% relative */
const close = (got: number, want: number, what: string): void =>
  assert.ok(Math.abs(got - want) < 0.01 * want + 1e-3, `${what}: ${got} vs ${want}`);

/** A heatmap with value `value(segment)` on every pixel of the disc. */
function heat(value: (segment: number) => number, size = SIZE): Float32Array {
  const labels = segmentLabels(size);
  return Float32Array.from(labels, (s) => (s === 0 ? 0 : value(s)));
}

describe('attributeHeatmap', () => {
  test('all mass on the inferior wall (segments 4, 10, 15) -> RCA 100%, sentence names the inferior wall', () => {
    const a = attributeHeatmap(
      heat((s) => ([4, 10, 15].includes(s) ? 1 : 0)),
      SIZE,
    );
    assert.equal(a.territories.RCA, 1);
    assert.equal(a.territories.LAD, 0);
    assert.equal(a.territories.LCx, 0);
    const total = AREA.basal + AREA.mid + AREA.apical;
    close(a.segments[3], AREA.basal / total, 'basal inferior'); // 0.4242
    close(a.segments[9], AREA.mid / total, 'mid inferior'); // 0.3030
    close(a.segments[14], AREA.apical / total, 'apical inferior'); // 0.2727
    assert.match(
      a.sentence,
      /^The model looked mostly at the inferior wall \(RCA territory, 100% of the heatmap\)\./,
    );
    assert.match(a.sentence, /Leading segment: basal inferior \(segment 4, 42%\)/);
  });

  test('a uniform heatmap splits by area: LAD 40.6%, LCx 29.7%, RCA 29.7%; the sentence says it is spread', () => {
    const a = attributeHeatmap(
      heat(() => 0.3),
      SIZE,
    );
    close(a.territories.LAD, 0.40625, 'LAD');
    close(a.territories.LCx, 0.296875, 'LCx');
    close(a.territories.RCA, 0.296875, 'RCA');
    close(a.segments[16], AREA.apex, 'apex');
    close(a.segments[0], AREA.basal, 'basal anterior');
    assert.ok(Math.abs(a.segments.reduce((s, x) => s + x, 0) - 1) < 1e-9);
    assert.match(a.sentence, /spread over the territories \(LAD 41%, (LCx|RCA) 30%, (LCx|RCA) 30%\)/);
  });

  test('mass is weighted by value; negative values count as 0; outside the disc is ignored', () => {
    // 3 units on the lateral wall (5, 6, 11, 12, 16: LCx), 1 on the anterior wall (1, 7, 13), -5 on the septum
    const h = heat((s) =>
      [5, 6, 11, 12, 16].includes(s) ? 3 : [1, 7, 13].includes(s) ? 1 : [2, 3, 8, 9, 14].includes(s) ? -5 : 0,
    );
    h[0] = 1000; // a corner pixel: outside the disc
    const a = attributeHeatmap(h, SIZE);
    const lcx = 3 * (2 * AREA.basal + 2 * AREA.mid + AREA.apical);
    const ant = 1 * (AREA.basal + AREA.mid + AREA.apical);
    close(a.territories.LCx, lcx / (lcx + ant), 'LCx'); // 0.8425
    close(a.territories.LAD, ant / (lcx + ant), 'LAD');
    assert.equal(a.territories.RCA, 0);
    // the LCx walls: inferolateral (5, 11) and anterolateral (6, 12) hold equal mass, lateral (16) less
    assert.match(
      a.sentence,
      /^The model looked mostly at the (inferolateral and anterolateral|anterolateral and inferolateral) walls \(LCx territory, 84% of the heatmap\)/,
    );
  });

  test('the apex alone; apex plus the anterior wall', () => {
    assert.match(
      attributeHeatmap(
        heat((s) => (s === 17 ? 1 : 0)),
        SIZE,
      ).sentence,
      /^The model looked mostly at the apex \(LAD territory, 100% of the heatmap\)/,
    );
    const a = attributeHeatmap(
      heat((s) => (s === 17 ? 1 : [1, 7, 13].includes(s) ? 0.5 : 0)),
      SIZE,
    );
    assert.match(a.sentence, /at the anterior wall and the apex \(LAD territory, 100%/);
  });

  test('an empty heatmap: all shares 0 and a sentence saying so', () => {
    const a = attributeHeatmap(new Float32Array(SIZE * SIZE), SIZE);
    assert.equal(a.mass, 0);
    assert.ok(a.segments.every((s) => s === 0));
    assert.deepEqual(a.territories, { LAD: 0, LCx: 0, RCA: 0 });
    assert.match(a.sentence, /empty/);
  });

  test('a configurable territory map: inferolateral segments given to the RCA (right-dominant variant)', () => {
    const t: TerritoryMap = { LAD: DEFAULT_TERRITORIES.LAD, LCx: [6, 12, 16], RCA: [3, 4, 5, 9, 10, 11, 15] };
    const a = attributeHeatmap(
      heat((s) => (s === 5 || s === 11 ? 1 : 0)),
      SIZE,
      { territories: t },
    );
    assert.equal(a.territories.RCA, 1);
    assert.match(a.sentence, /inferolateral wall \(RCA territory/);
  });

  test('bad inputs are InputErrors', () => {
    assert.throws(
      () => attributeHeatmap(new Float32Array(10), 4),
      (e: unknown) => e instanceof InputError && /expected 4x4/.test(e.message),
    );
    const bad = { LAD: [1, 2], LCx: [3], RCA: [3] } as unknown as TerritoryMap;
    assert.throws(
      () => attributeHeatmap(new Float32Array(16), 4, { territories: bad }),
      (e: unknown) => e instanceof InputError && /segment 3 is assigned to both/.test(e.message),
    );
    assert.throws(() => attributeTile(new Float32Array(9), 3), InputError);
  });
});

describe('attributeTile (2x2 AC+NAC tile)', () => {
  test('inferior mass on the stress-AC quadrant only: RCA 100%, stress AC 100%, other views empty', () => {
    const n = 200;
    const q = heat((s) => ([4, 10, 15].includes(s) ? 1 : 0), n);
    const tile = new Float32Array(4 * n * n);
    for (let y = 0; y < n; y++) tile.set(q.subarray(y * n, (y + 1) * n), y * 2 * n); // top-left quadrant
    const a = attributeTile(tile, 2 * n);
    assert.equal(a.territories.RCA, 1);
    assert.equal(a.viewShares.stress_ac, 1);
    assert.equal(a.views.rest_ac.mass, 0);
    assert.equal(a.views.stress_ac.territories.RCA, 1);
    assert.match(
      a.sentence,
      /inferior wall \(RCA territory, 100% of the heatmap\).*Most of it is on the Stress AC map \(100%\)/,
    );
  });

  test('equal mass on two views (rest AC: anterior, stress NAC: inferior) -> halves per view and per territory', () => {
    const n = 120;
    const ant = heat((s) => ([1, 7, 13].includes(s) ? 1 : 0), n);
    const inf = heat((s) => ([4, 10, 15].includes(s) ? 1 : 0), n); // same area as the anterior wall
    const tile = new Float32Array(4 * n * n);
    for (let y = 0; y < n; y++) {
      tile.set(ant.subarray(y * n, (y + 1) * n), y * 2 * n + n); // top-right: rest AC
      tile.set(inf.subarray(y * n, (y + 1) * n), (n + y) * 2 * n); // bottom-left: stress NAC
    }
    const a = attributeTile(tile, 2 * n);
    close(a.viewShares.rest_ac, 0.5, 'rest AC');
    close(a.viewShares.stress_nac, 0.5, 'stress NAC');
    close(a.territories.LAD, 0.5, 'LAD');
    close(a.territories.RCA, 0.5, 'RCA');
  });
});

test('wallOf and describeAttribution', () => {
  assert.equal(wallOf(10), 'inferior');
  assert.equal(wallOf(14), 'septal');
  assert.equal(wallOf(17), 'apex');
  const segments = Array.from({ length: 17 }, () => 0);
  segments[9] = 1;
  assert.equal(
    describeAttribution(segments, { LAD: 0, LCx: 0, RCA: 1 }, 2),
    'The model looked mostly at the inferior wall (RCA territory, 100% of the heatmap). Leading segment: mid inferior (segment 10, 100%).',
  );
  assert.equal(
    describeAttribution(segments, { LAD: 0, LCx: 0, RCA: 0 }, 0, { className: 'normal' }),
    'The heatmap is empty: no part of the map raised the normal score.',
  );
});
