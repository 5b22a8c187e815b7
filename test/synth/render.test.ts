import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createUptakeMap, type RgbImage, type UptakeMap } from '../../src/domain/image.js';
import { VIEWS, type View } from '../../src/domain/views.js';
import { getColormap, uptakeToRgb } from '../../src/polarmap/colormaps.js';
import { segmentLabels } from '../../src/polarmap/geometry.js';
import { generateCohort } from '../../src/synth/cohort.js';
import { renderPage, renderSingleMap, PAGE_HEIGHT, PAGE_WIDTH } from '../../src/synth/render.js';
import { parseLayoutOrThrow } from '../../src/domain/layout.js';
import type { SyntheticPatient } from '../../src/synth/types.js';

/** A map of constant uptake `value` on the disc. */
function constantMap(size: number, value: number): UptakeMap {
  const m = createUptakeMap(size);
  const lab = segmentLabels(size);
  for (let i = 0; i < lab.length; i++) if (lab[i] !== 0) m.data[i] = value;
  return m;
}

const px = (img: RgbImage, x: number, y: number): number[] => {
  const o = (y * img.width + x) * 3;
  return [img.data[o], img.data[o + 1], img.data[o + 2]];
};

function colourOf(value: number): number[] {
  const out = new Uint8Array(3);
  uptakeToRgb(getColormap('rainbow'), Math.fround(value), out, 0); // maps store float32
  return [...out];
}

test('renderSingleMap: canvas size, disc pixels carry the map colour, far outside is black', async () => {
  const cm = getColormap('rainbow');
  const { image, disc } = await renderSingleMap(constantMap(64, 0.8), {
    colormap: cm,
    caption: 'Stress AC',
    grid: false,
    canvas: 320,
  });
  assert.equal(image.width, 320);
  assert.equal(image.height, 320);
  const want = colourOf(0.8);
  let inside = 0;
  let outsideBlack = 0;
  let outside = 0;
  for (let y = 0; y < 320; y++) {
    for (let x = 0; x < 320; x++) {
      const d = Math.hypot(x - disc.cx, y - disc.cy);
      if (d < disc.radius - 1.5) {
        assert.deepEqual(px(image, x, y), want, `inside (${x},${y})`);
        inside++;
      } else if (d > disc.radius + 2 && y > 40 && x < disc.cx + disc.radius + 6) {
        // away from the caption (top) and the colour bar (right)
        outside++;
        if (px(image, x, y).every((c) => c === 0)) outsideBlack++;
      }
    }
  }
  assert.ok(inside > 0.95 * Math.PI * (disc.radius - 1.5) ** 2, `inside pixels ${inside}`);
  assert.equal(outsideBlack, outside, 'everything away from disc, caption and bar is black');
  // the caption is drawn: some bright pixels in the top band
  let bright = 0;
  for (let y = 0; y < 30; y++) for (let x = 0; x < 320; x++) if (px(image, x, y)[0] > 200) bright++;
  assert.ok(bright > 50, `caption pixels ${bright}`);
});

test('renderSingleMap with grid: segment lines and numbers drawn over the disc', async () => {
  const cm = getColormap('gray');
  const { image, disc } = await renderSingleMap(constantMap(64, 0.3), {
    colormap: cm,
    caption: 'x',
    grid: true,
  });
  assert.equal(image.width, 320);
  // on the ring circle at r = 0.5 R (12 o'clock) the pixel is much brighter than gray 0.3 (77)
  const y = Math.round(disc.cy - disc.radius * 0.5);
  const col = [-1, 0, 1].map((dy) => px(image, Math.round(disc.cx + disc.radius * 0.1), y + dy)[0]);
  assert.ok(Math.max(...col) > 140, `grid line brightness ${col}`);
});

test('renderPage: 1640x1068, four discs where reported, black between them', async () => {
  const vals: Record<View, number> = { stress_ac: 0.9, rest_ac: 0.7, stress_nac: 0.5, rest_nac: 0.3 };
  const [p] = generateCohort({ patients: 1, seed: 1, mapSize: 32 }).patients;
  const fake: SyntheticPatient = {
    ...p,
    maps: {
      stress_ac: constantMap(32, 0.9),
      rest_ac: constantMap(32, 0.7),
      stress_nac: constantMap(32, 0.5),
      rest_nac: constantMap(32, 0.3),
    },
  };
  const { image, discs } = await renderPage(fake, { colormap: getColormap('rainbow'), grid: false });
  assert.equal(image.width, PAGE_WIDTH);
  assert.equal(image.height, PAGE_HEIGHT);
  assert.deepEqual(Object.keys(discs).sort(), [...VIEWS].sort());
  for (const v of VIEWS) {
    const d = discs[v]!;
    for (const [dx, dy] of [
      [0, 0],
      [0.5, 0.5],
      [-0.7, 0.2],
      [0.1, -0.8],
    ]) {
      assert.deepEqual(
        px(image, Math.round(d.cx + dx * d.radius), Math.round(d.cy + dy * d.radius)),
        colourOf(vals[v]),
        `${v} (${dx},${dy})`,
      );
    }
    for (const a of [45, 135, 225, 315]) {
      const r = d.radius + 8;
      const x = Math.round(d.cx + r * Math.sin((a * Math.PI) / 180));
      const y = Math.round(d.cy - r * Math.cos((a * Math.PI) / 180));
      assert.deepEqual(px(image, x, y), [0, 0, 0], `${v} outside at ${a} degrees`);
    }
  }
  // default layout: stress AC top-left, rest AC top-right, stress NAC bottom-left
  assert.ok(discs.stress_ac!.cx < discs.rest_ac!.cx && discs.stress_ac!.cy === discs.rest_ac!.cy);
  assert.ok(discs.stress_nac!.cy > discs.stress_ac!.cy);
});

test('renderPage honours a custom layout with ignored cells', async () => {
  const [p] = generateCohort({ patients: 1, seed: 2, mapSize: 32 }).patients;
  const { discs } = await renderPage(p, {
    colormap: getColormap('hot'),
    layout: 'rest_ac,-,stress_ac',
    grid: true,
  });
  assert.deepEqual(Object.keys(discs).sort(), ['rest_ac', 'stress_ac']);
  assert.ok(discs.rest_ac!.cx < discs.stress_ac!.cx);
  assert.throws(() => parseLayoutOrThrow('stress_ac,stress_ac'), /twice/);
  assert.throws(() => parseLayoutOrThrow('stress,rest'), /unknown view "stress"/);
});
