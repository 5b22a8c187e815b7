import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RgbImage } from '../../src/domain/image.js';
import { getColormap, uptakeToRgb, type BuiltinColormapName } from '../../src/polarmap/colormaps.js';
import { normalisedRadius } from '../../src/polarmap/geometry.js';
import {
  ColormapRecogniser,
  recogniseImageColormap,
  recognitionDoubt,
} from '../../src/polarmap/recognise-colormap.js';
import { Rng } from '../../src/util/rng.js';

/** A square crop painted with `name` at the uptakes `value(x, y)` inside the disc, black outside. */
function paint(name: BuiltinColormapName, size: number, value: (x: number, y: number) => number): RgbImage {
  const cm = getColormap(name);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      if (normalisedRadius(x, y, size) <= 1) uptakeToRgb(cm, value(x, y), data, (y * size + x) * 3);
  return { width: size, height: size, data };
}

test('recogniseImageColormap: a normal rainbow crop (uptake 0.75-1, red/yellow/white only) is rainbow, not hot', () => {
  // uptake 0.75..1 is drawn with only the colours the hot table also has (at other uptakes); the
  // per-image median-distance test formerly in ingest/clean.ts called this very image 'hot' (checked
  // against that code at commit 4d5a37d)
  const img = paint('rainbow', 64, (x, y) => 0.75 + (0.25 * (x + y)) / 126);
  assert.equal(recogniseImageColormap(img)?.name, 'rainbow');
});

test('recogniseImageColormap: each built-in table over a full uptake ramp is recognised as itself', () => {
  for (const name of ['gray', 'hot', 'cool', 'rainbow'] as const) {
    assert.equal(recogniseImageColormap(paint(name, 48, (x) => x / 47))?.name, name, name);
  }
});

test('recogniseImageColormap: random colours fit no table -> undefined', () => {
  const rng = new Rng(3);
  const img = paint('gray', 48, () => 0);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.int(0, 255);
  assert.equal(recogniseImageColormap(img), undefined);
});

test('recognitionDoubt: sure for a clean map; unsure (with its coverage) for low coverage or a close runner-up', () => {
  const rec = new ColormapRecogniser();
  rec.add(paint('cool', 96, (x) => 0.3 + (0.6 * x) / 96));
  const r = rec.result();
  assert.equal(r.colormap.name, 'cool');
  assert.ok(r.runnerUp !== null && r.runnerUp.name !== 'cool');
  assert.equal(recognitionDoubt(r), null);
  const cool = getColormap('cool');
  assert.match(
    recognitionDoubt({ colormap: cool, coverage: 0.72, runnerUp: { name: 'hot', coverage: 0.3 } }) ?? '',
    /cool was recognised unsure: only 72\.0% coverage \(sure from 90\.0%\); give it with --colormap/,
  );
  assert.match(
    recognitionDoubt({ colormap: cool, coverage: 0.95, runnerUp: { name: 'hot', coverage: 0.93 } }) ?? '',
    /unsure: hot is close behind \(93\.0% against 95\.0%\)/,
  );
});
