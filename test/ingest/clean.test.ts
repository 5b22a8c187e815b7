import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Disc, RgbImage } from '../../src/domain/image.js';
import { VIEWS } from '../../src/domain/views.js';
import { boxToDisc, cleanDisc, cropDisc } from '../../src/ingest/clean.js';
import { findDiscs } from '../../src/ingest/discs.js';
import { getColormap, type BuiltinColormapName } from '../../src/polarmap/colormaps.js';
import { clockAngleDeg } from '../../src/polarmap/geometry.js';
import { generateCohort, renderPage } from '../../src/synth/index.js';
import { InputError } from '../../src/util/errors.js';
import { drawPage } from './fixtures.js';

/** Mean absolute error per channel value over the pixels of the inscribed disc with normalised radius <= rMax. */
function discMae(a: RgbImage, b: RgbImage, rMax = 1): number {
  const n = a.width;
  assert.equal(b.width, n);
  const c = (n - 1) / 2;
  let s = 0;
  let k = 0;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (Math.hypot(x - c, y - c) > rMax * (n / 2)) continue;
      for (let ch = 0; ch < 3; ch++) s += Math.abs(a.data[(y * n + x) * 3 + ch] - b.data[(y * n + x) * 3 + ch]);
      k += 3;
    }
  }
  return s / k;
}

describe('boxToDisc and cropDisc geometry', () => {
  it('boxToDisc: centre of the box (pixel-centre coordinates), radius half the shorter side', () => {
    assert.deepEqual(boxToDisc({ x: 10, y: 20, width: 100, height: 80 }), { cx: 59.5, cy: 59.5, radius: 40 });
    assert.throws(() => boxToDisc({ x: 0, y: 0, width: 0, height: 5 }), InputError);
  });

  it('crops with the disc inscribed (centre (n-1)/2, radius n/2) and black outside', () => {
    // R = x and G = y everywhere, so a correct crop reads its own source coordinates back:
    // output (i, j) samples (cx + i - (n-1)/2, cy + j - (n-1)/2) = (35.8 + i, 16.2 + j) for cx 60.3, cy 40.7, n 50.
    const W = 120;
    const H = 90;
    const data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data.set([x, y, 77], (y * W + x) * 3);
    const img = { width: W, height: H, data };
    const out = cropDisc(img, { cx: 60.3, cy: 40.7, radius: 25 });
    assert.equal(out.width, 50);
    for (let j = 0; j < 50; j++) {
      for (let i = 0; i < 50; i++) {
        const p = (j * 50 + i) * 3;
        const inside = Math.hypot(i - 24.5, j - 24.5) <= 25;
        assert.deepEqual([...out.data.subarray(p, p + 3)], inside ? [Math.round(35.8 + i), Math.round(16.2 + j), 77] : [0, 0, 0], `(${i}, ${j})`);
      }
    }
    const small = cleanDisc(img, { cx: 60.3, cy: 40.7, radius: 25 }, { outSize: 20 }).image;
    assert.equal(small.width, 20);
    assert.equal(small.height, 20);
    assert.deepEqual([...small.data.subarray(0, 3)], [0, 0, 0], 'corner outside the disc is black');
    // margin shrinks the disc: radius 25 - 5 = 20 -> 40 px
    assert.equal(cropDisc(img, { cx: 60.3, cy: 40.7, radius: 25 }, { margin: 5 }).width, 40);
  });

  it('rejects discs outside the image or too small, with InputError', () => {
    const img = { width: 50, height: 50, data: new Uint8Array(50 * 50 * 3) };
    assert.throws(() => cleanDisc(img, { cx: 200, cy: 20, radius: 10 }), InputError);
    assert.throws(() => cleanDisc(img, { cx: 20, cy: 20, radius: 1 }), InputError);
  });
});

describe('cleanDisc removes grid lines and labels (hand-drawn pages)', () => {
  const cases: [BuiltinColormapName, string][] = [
    ['gray', '#ffffff'],
    ['hot', '#ffffff'],
    ['cool', '#a0a0a0'],
    ['rainbow', '#a0a0a0'],
  ];
  for (const [cm, colour] of cases) {
    it(`${cm} map, ${colour} grid: MAE to the grid-free render drops by > 5x`, async (t) => {
      const page = await drawPage(cm, { gridColour: colour });
      const discs = findDiscs(page.image, { expected: 4 });
      for (const d of discs) {
        const ref = cropDisc(page.clean, d);
        const before = discMae(cropDisc(page.image, d), ref);
        const { image, filled } = cleanDisc(page.image, d);
        const after = discMae(image, ref);
        t.diagnostic(`${cm}/${colour}: MAE inside disc ${before.toFixed(2)} -> ${after.toFixed(2)} (${filled} px filled)`);
        assert.ok(after < before / 5, `MAE ${before.toFixed(2)} -> ${after.toFixed(2)}`);
        assert.ok(filled > 0);
      }
    });
  }

  it('keeps the black defect at the rim black and barely touches a grid-free disc', async () => {
    const page = await drawPage('hot');
    const d = findDiscs(page.clean, { expected: 4 })[0]; // first disc: defect at clock angles 40-120, r > 0.55
    const { image, filled } = cleanDisc(page.image, d);
    const n = image.width;
    const c = (n - 1) / 2;
    let sum = 0;
    let k = 0;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const r = Math.hypot(x - c, y - c) / (n / 2);
        const a = clockAngleDeg(x - c, y - c);
        if (r > 0.62 && r < 0.97 && a > 47 && a < 113) {
          sum += image.data[(y * n + x) * 3] + image.data[(y * n + x) * 3 + 1] + image.data[(y * n + x) * 3 + 2];
          k += 3;
        }
      }
    }
    assert.ok(sum / k < 3, `defect mean ${sum / k}`);
    assert.ok(filled > 0);
    const onClean = cleanDisc(page.clean, d);
    const area = Math.PI * d.radius * d.radius;
    assert.ok(onClean.filled < 0.02 * area, `filled ${onClean.filled} of ${area.toFixed(0)} px on a grid-free disc`);
    assert.ok(discMae(onClean.image, cropDisc(page.clean, d)) < 0.3);
  });
});

describe('cleanDisc on the synthetic generator output (src/synth)', () => {
  const [patient] = generateCohort({ patients: 1, seed: 21, mapSize: 64 }).patients;
  for (const cm of ['gray', 'rainbow'] as const) {
    it(`${cm}: every view's MAE to the generator's grid-free render drops well below the with-grid error`, async (t) => {
      const withGrid = await renderPage(patient, { colormap: getColormap(cm), grid: true });
      const noGrid = await renderPage(patient, { colormap: getColormap(cm), grid: false });
      for (const v of VIEWS) {
        const d = withGrid.discs[v] as Disc;
        const ref = cropDisc(noGrid.image, d);
        const before = discMae(cropDisc(withGrid.image, d), ref);
        const cleaned = cleanDisc(withGrid.image, d).image;
        const after = discMae(cleaned, ref);
        // the outermost 3% ring holds the vendor's rim outline (a one-sided line, half cut off by the crop)
        const beforeInner = discMae(cropDisc(withGrid.image, d), ref, 0.97);
        const afterInner = discMae(cleaned, ref, 0.97);
        t.diagnostic(`${cm} ${v}: MAE whole disc ${before.toFixed(2)} -> ${after.toFixed(2)}; r <= 0.97: ${beforeInner.toFixed(2)} -> ${afterInner.toFixed(2)}`);
        assert.ok(after < 0.4 * before, `${v}: whole disc ${before.toFixed(2)} -> ${after.toFixed(2)}`);
        assert.ok(afterInner < 0.25 * beforeInner, `${v}: r <= 0.97 ${beforeInner.toFixed(2)} -> ${afterInner.toFixed(2)}`);
      }
    });
  }
});
