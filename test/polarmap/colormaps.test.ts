import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BUILTIN_COLORMAPS,
  ColormapInverter,
  colormapFromRows,
  getColormap,
  uptakeToRgb,
} from '../../src/polarmap/colormaps.js';

/** Rec. 601 luma, the usual perceived-brightness weights. */
const luma = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;

test('every built-in map round-trips all 256 levels: uptake -> colour -> uptake within 1/255, distance 0', () => {
  const rgb = new Uint8Array(3);
  for (const name of BUILTIN_COLORMAPS) {
    const cm = getColormap(name);
    assert.equal(cm.entries, 256);
    const inv = new ColormapInverter(cm);
    for (let i = 0; i < 256; i++) {
      const v = i / 255;
      uptakeToRgb(cm, v, rgb, 0);
      const back = inv.invert(rgb[0], rgb[1], rgb[2]);
      assert.ok(Math.abs(back.value - v) <= 1 / 255, `${name} level ${i}: got ${back.value}`);
      assert.equal(back.distance, 0, `${name} level ${i}`);
    }
  }
});

test('fixed points of the tables: black at 0 and white at 1 for every map, hot is red at 1/3', () => {
  const rgb = new Uint8Array(3);
  for (const name of BUILTIN_COLORMAPS) {
    uptakeToRgb(getColormap(name), 0, rgb, 0);
    assert.deepEqual([...rgb], [0, 0, 0], name);
    uptakeToRgb(getColormap(name), 1, rgb, 0);
    assert.deepEqual([...rgb], [255, 255, 255], name);
  }
  // entry 85 = 85/255 = 1/3 exactly: the red stop of the hot scale
  uptakeToRgb(getColormap('hot'), 85 / 255, rgb, 0);
  assert.deepEqual([...rgb], [255, 0, 0]);
});

test('colours far from the table report a large distance', () => {
  // hot holds (r,0,0), (255,g,0), (255,255,b): pure green is nearest to black or yellow, both at 255
  assert.equal(new ColormapInverter(getColormap('hot')).invert(0, 255, 0).distance, 255);
  // gray: nearest grey level to (0,255,0) is 85 (the channel mean): sqrt(85^2+170^2+85^2) = 208.21
  const g = new ColormapInverter(getColormap('gray')).invert(0, 255, 0);
  assert.ok(
    Math.abs(g.distance - Math.sqrt(85 ** 2 + 170 ** 2 + 85 ** 2)) < 0.1,
    `gray distance ${g.distance}`,
  );
  assert.ok(Math.abs(g.value - 85 / 255) < 1e-9);
  // a colour one unit off a table entry is close
  assert.ok(new ColormapInverter(getColormap('hot')).invert(254, 0, 0).distance <= 1);
});

test('gray, hot and cool are strictly increasing in luminance; rainbow is not (it is a hue scale)', () => {
  for (const name of ['gray', 'hot', 'cool'] as const) {
    const t = getColormap(name).table;
    for (let i = 1; i < 256; i++) {
      const prev = luma(t[i * 3 - 3], t[i * 3 - 2], t[i * 3 - 1]);
      const cur = luma(t[i * 3], t[i * 3 + 1], t[i * 3 + 2]);
      assert.ok(cur > prev, `${name}: luma falls at entry ${i} (${prev} -> ${cur})`);
    }
  }
  const t = getColormap('rainbow').table;
  let falls = 0;
  for (let i = 1; i < 256; i++) {
    if (luma(t[i * 3], t[i * 3 + 1], t[i * 3 + 2]) < luma(t[i * 3 - 3], t[i * 3 - 2], t[i * 3 - 1])) falls++;
  }
  assert.ok(falls > 0);
});

test('colormapFromRows keeps the rows in order and refuses fewer than 2', () => {
  const cm = colormapFromRows('two', [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual([...cm.table], [1, 2, 3, 4, 5, 6]);
  assert.equal(cm.entries, 2);
  assert.throws(() => colormapFromRows('one', [[0, 0, 0]]), /at least 2/);
});
