import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RgbImage } from '../../src/domain/image.js';
import { VIEWS, type Label, type View } from '../../src/domain/views.js';
import { augmentPatient, balanceByAugmentation, randomAngle, rotateMap, rotatePatient } from '../../src/ingest/augment.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

/** A random square map (n x n), black outside the inscribed disc. */
function randomMap(n: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(n * n * 3);
  const c = (n - 1) / 2;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (Math.hypot(x - c, y - c) > n / 2) continue;
      for (let ch = 0; ch < 3; ch++) data[(y * n + x) * 3 + ch] = rng.int(1, 255);
    }
  }
  return { width: n, height: n, data };
}
const px = (img: RgbImage, x: number, y: number): number[] => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
const inside = (x: number, y: number, n: number): boolean => Math.hypot(x - (n - 1) / 2, y - (n - 1) / 2) <= n / 2;

describe('rotateMap', () => {
  for (const n of [31, 32]) {
    it(`rotation by +90 degrees (clockwise) is the exact pixel permutation out(x, y) = in(y, n-1-x) (n=${n})`, () => {
      // Clockwise quarter turn on screen (y down): the pixel at (y, n-1-x) lands on (x, y); e.g. the
      // top-centre pixel (anterior) moves to the right-centre (lateral).
      const img = randomMap(n, n);
      const rot = rotateMap(img, 90);
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          assert.deepEqual(px(rot, x, y), inside(x, y, n) ? px(img, y, n - 1 - x) : [0, 0, 0], `pixel (${x}, ${y})`);
        }
      }
      // -90 undoes +90 exactly; 180 = two quarter turns; 360 and 0 are the identity
      assert.deepEqual(rotateMap(rot, -90).data, img.data);
      assert.deepEqual(rotateMap(img, 180).data, rotateMap(rot, 90).data);
      assert.deepEqual(rotateMap(img, 360).data, img.data);
      assert.deepEqual(rotateMap(img, 0).data, img.data);
    });
  }

  it('moves a feature at 12 o clock to about 1:30 for +45 degrees and keeps the outside black', () => {
    const n = 101;
    const c = 50;
    const data = new Uint8Array(n * n * 3);
    // a bright 5x5 square centred 40 px above the centre (anterior)
    for (let y = c - 42; y <= c - 38; y++) for (let x = c - 2; x <= c + 2; x++) data.fill(250, (y * n + x) * 3, (y * n + x) * 3 + 3);
    const rot = rotateMap({ width: n, height: n, data }, 45);
    // brightness-weighted centroid of the rotated feature: expected (c + 40 sin 45, c - 40 cos 45) = (78.28, 21.72)
    let sw = 0;
    let sx = 0;
    let sy = 0;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const v = rot.data[(y * n + x) * 3];
        sw += v;
        sx += v * x;
        sy += v * y;
        if (!inside(x, y, n)) assert.deepEqual(px(rot, x, y), [0, 0, 0]);
      }
    }
    assert.ok(Math.abs(sx / sw - 78.28) < 0.3 && Math.abs(sy / sw - 21.72) < 0.3, `centroid (${sx / sw}, ${sy / sw})`);
    // bilinear interpolation preserves the feature's total brightness (25 px x 250) within a few percent
    assert.ok(Math.abs(sw - 25 * 250) / (25 * 250) < 0.05, `total ${sw}`);
  });

  it('rejects non-square images', () => {
    assert.throws(() => rotateMap({ width: 4, height: 5, data: new Uint8Array(60) }, 10));
  });
});

describe('augmentPatient', () => {
  const maps = Object.fromEntries(VIEWS.map((v, i) => [v, randomMap(41, 100 + i)])) as Record<View, RgbImage>;

  it('rotates all views of a patient by the same random angle in [-45, 45]', () => {
    for (const seed of [1, 2, 3]) {
      const angle = randomAngle(new Rng(seed));
      assert.ok(angle >= -45 && angle <= 45 && angle !== 0);
      const out = augmentPatient(maps, new Rng(seed));
      const expected = rotatePatient(maps, angle);
      for (const v of VIEWS) assert.deepEqual(out[v]?.data, expected[v]?.data, `view ${v}, seed ${seed}`);
    }
    // identical input views stay identical (they cannot have been turned by different angles)
    const same = { stress_ac: maps.stress_ac, rest_ac: maps.stress_ac, stress_nac: maps.stress_ac };
    const out = augmentPatient(same, new Rng(11));
    assert.deepEqual(out.rest_ac?.data, out.stress_ac?.data);
    assert.deepEqual(out.stress_nac?.data, out.stress_ac?.data);
    assert.notDeepEqual(out.stress_ac?.data, maps.stress_ac.data);
    assert.equal(out.rest_nac, undefined);
  });
});

describe('balanceByAugmentation', () => {
  const cohort = (normal: number, cad: number): { id: string; label: Label }[] => [
    ...Array.from({ length: normal }, (_, i) => ({ id: `n${i}`, label: 0 as Label })),
    ...Array.from({ length: cad }, (_, i) => ({ id: `c${i}`, label: 1 as Label })),
  ];
  const count = (items: { label: Label; angle: number }[], label: Label, original: boolean): number =>
    items.filter((it) => it.label === label && (it.angle === 0) === original).length;

  it('brings both classes to target/2 with more copies for the minority class', () => {
    const out = balanceByAugmentation(cohort(40, 7), 100, new Rng(4));
    // class 0: 40 originals + 10 copies; class 1: 7 originals + 43 copies (6 each, one patient 7)
    assert.equal(count(out, 0, true), 40);
    assert.equal(count(out, 0, false), 10);
    assert.equal(count(out, 1, true), 7);
    assert.equal(count(out, 1, false), 43);
    const perCad = new Map<string, number>();
    for (const it of out) if (it.label === 1 && it.angle !== 0) perCad.set(it.id, (perCad.get(it.id) ?? 0) + 1);
    assert.deepEqual([...perCad.values()].sort(), [6, 6, 6, 6, 6, 6, 7]);
    assert.ok(out.every((it) => it.angle >= -45 && it.angle <= 45));
    assert.deepEqual(balanceByAugmentation(cohort(40, 7), 100, new Rng(4)), out, 'same seed, same list');
  });

  it('never trims a class above its goal, and errors for an empty class', () => {
    const out = balanceByAugmentation(cohort(60, 10), 100, new Rng(1));
    assert.equal(count(out, 0, true), 60);
    assert.equal(count(out, 0, false), 0);
    assert.equal(count(out, 1, true) + count(out, 1, false), 50);
    assert.throws(() => balanceByAugmentation(cohort(10, 0), 20, new Rng(1)), InputError);
    assert.throws(() => balanceByAugmentation(cohort(10, 3), -1, new Rng(1)), InputError);
  });
});
