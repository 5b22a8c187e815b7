import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Disc, RgbImage } from '../../src/domain/image.js';
import { VIEWS, VIEW_CAPTIONS } from '../../src/domain/views.js';
import { findDiscs, readingOrder } from '../../src/ingest/discs.js';
import { BUILTIN_COLORMAPS, getColormap } from '../../src/polarmap/colormaps.js';
import { generateCohort, renderPage, renderSingleMap } from '../../src/synth/index.js';
import { InputError } from '../../src/util/errors.js';
import { drawPage, drawSingle, paintColourBar, paintDisc } from './fixtures.js';

/** Centre error (fraction of the true radius) and relative radius error. */
function errors(found: Disc, truth: Disc): { centre: number; radius: number } {
  return { centre: Math.hypot(found.cx - truth.cx, found.cy - truth.cy) / truth.radius, radius: Math.abs(found.radius - truth.radius) / truth.radius };
}

function assertMatches(found: Disc[], truth: readonly Disc[], what: string): { centre: number; radius: number } {
  assert.equal(found.length, truth.length, `${what}: found ${found.length} discs, expected ${truth.length}`);
  let worst = { centre: 0, radius: 0 };
  truth.forEach((t, i) => {
    const e = errors(found[i], t);
    // acceptance bounds of the brief: centre within 2% of the radius, radius within 3%
    assert.ok(e.centre < 0.02, `${what} disc ${i}: centre error ${(e.centre * 100).toFixed(2)}% of r`);
    assert.ok(e.radius < 0.03, `${what} disc ${i}: radius error ${(e.radius * 100).toFixed(2)}%`);
    worst = { centre: Math.max(worst.centre, e.centre), radius: Math.max(worst.radius, e.radius) };
  });
  return worst;
}
const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

describe('findDiscs on hand-drawn exports (defect touching the rim, grid, labels, captions, colour bar)', () => {
  for (const cm of BUILTIN_COLORMAPS) {
    it(`finds the 4 discs of a 1640x1068 page in reading order (${cm})`, async (t) => {
      const page = await drawPage(cm);
      const t0 = performance.now();
      const found = findDiscs(page.image);
      const ms = performance.now() - t0;
      const w = assertMatches(found, page.discs, `${cm} page`);
      t.diagnostic(`${cm} page: worst centre error ${pct(w.centre)} of r, radius error ${pct(w.radius)}, ${ms.toFixed(0)} ms`);
    });
    it(`finds the disc of a single-map image with a gray grid (${cm})`, async (t) => {
      const single = await drawSingle(cm, { gridColour: '#a0a0a0' });
      const w = assertMatches(findDiscs(single.image), [single.disc], `${cm} single`);
      t.diagnostic(`${cm} single: centre error ${pct(w.centre)} of r, radius error ${pct(w.radius)}`);
    });
  }

  it('works on a dark-gray background and with a small disc', async () => {
    const W = 300;
    const H = 260;
    const img: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(28) };
    // paintDisc writes only inside pixels (and anti-aliased rim pixels against black), so draw on black then lift the background
    const disc = { cx: 120.5, cy: 131.2, radius: 41.3 };
    const tmp: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3) };
    paintDisc(tmp, disc.cx, disc.cy, disc.radius, 'hot');
    paintColourBar(tmp, 270, 60, 10, 140, 'hot');
    for (let i = 0; i < tmp.data.length; i++) img.data[i] = Math.max(28, tmp.data[i]);
    assertMatches(findDiscs(img), [disc], 'dark background');
  });
});

describe('findDiscs rejects what is not a disc', () => {
  it('ignores a filled square, a bar, a ring-less blob of text-sized marks; blank image gives none', () => {
    const W = 400;
    const H = 300;
    const img: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3) };
    const fill = (x0: number, y0: number, w: number, h: number, v: number): void => {
      for (let y = y0; y < y0 + h; y++) img.data.fill(v, (y * W + x0) * 3, (y * W + x0 + w) * 3);
    };
    fill(20, 20, 120, 120, 200); // a square (hull circle fit leaves its sides off the circle)
    paintColourBar(img, 360, 20, 20, 260, 'rainbow'); // a colour bar
    for (let k = 0; k < 12; k++) fill(160 + k * 14, 250, 8, 14, 255); // a row of "letters"
    assert.deepEqual(findDiscs(img), []);
    assert.deepEqual(findDiscs({ width: 50, height: 40, data: new Uint8Array(50 * 40 * 3) }), []);
    assert.throws(() => findDiscs(img, { expected: 1 }), (e: unknown) => e instanceof InputError && /found 0 .*expected 1/.test(e.message));
  });

  it('keeps the most circular candidates when more than `expected` are found', async () => {
    const page = await drawPage('hot');
    const one = findDiscs(page.image, { expected: 1 });
    assert.equal(one.length, 1);
    assert.ok(page.discs.some((d) => errors(one[0], d).centre < 0.02));
    assert.throws(() => findDiscs(page.image, { expected: 5 }), InputError);
  });
});

describe('readingOrder', () => {
  it('sorts rows top to bottom (tolerating a slight vertical misalignment), then left to right', () => {
    const d = (cx: number, cy: number): Disc => ({ cx, cy, radius: 100 });
    const sorted = readingOrder([d(700, 520), d(100, 505), d(690, 95), d(110, 110)]);
    assert.deepEqual(sorted, [d(110, 110), d(690, 95), d(100, 505), d(700, 520)]);
  });
});

describe('findDiscs on the synthetic generator output (src/synth)', () => {
  const cohort = generateCohort({ patients: 2, seed: 11, mapSize: 64 });
  for (const cm of BUILTIN_COLORMAPS) {
    it(`finds every disc of a generated page and single-map image (${cm})`, async (t) => {
      const p = cohort.patients[BUILTIN_COLORMAPS.indexOf(cm) % 2];
      const page = await renderPage(p, { colormap: getColormap(cm), grid: true });
      const t0 = performance.now();
      const found = findDiscs(page.image, { expected: 4 });
      const ms = performance.now() - t0;
      const wp = assertMatches(found, VIEWS.map((v) => page.discs[v] as Disc), `${cm} synth page`);
      const single = await renderSingleMap(p.maps.rest_nac, { colormap: getColormap(cm), caption: VIEW_CAPTIONS.rest_nac, grid: cm !== 'gray' });
      const ws = assertMatches(findDiscs(single.image), [single.disc], `${cm} synth single`);
      t.diagnostic(
        `${cm}: page worst centre ${pct(wp.centre)} / radius ${pct(wp.radius)} (${ms.toFixed(0)} ms); single centre ${pct(ws.centre)} / radius ${pct(ws.radius)}`,
      );
    });
  }
});
