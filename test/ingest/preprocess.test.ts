import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RgbImage } from '../../src/domain/image.js';
import { VIEWS, type View } from '../../src/domain/views.js';
import { resizeRgb, tile2x2, toModelInput } from '../../src/ingest/preprocess.js';
import { scalePixels } from '../../src/domain/scaling.js';
import { InputError } from '../../src/util/errors.js';

/** An image whose three channels are given per pixel by f(x, y). */
function image(
  width: number,
  height: number,
  f: (x: number, y: number) => [number, number, number],
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(f(x, y), (y * width + x) * 3);
  return { width, height, data };
}
const channel = (img: RgbImage, c: number): number[] =>
  Array.from({ length: img.width * img.height }, (_, i) => img.data[i * 3 + c]);

describe('resizeRgb', () => {
  it('downsamples 4x4 -> 2x2 by exact area averaging', () => {
    // R = 0..15 row-major; 2x2 block means: (0+1+4+5)/4 = 2.5 -> 3, 4.5 -> 5, 10.5 -> 11, 12.5 -> 13 (round half up)
    const img = image(4, 4, (x, y) => [y * 4 + x, 200, 7]);
    const out = resizeRgb(img, 2, 2);
    assert.deepEqual(channel(out, 0), [3, 5, 11, 13]);
    assert.deepEqual(channel(out, 1), [200, 200, 200, 200]);
    assert.deepEqual(channel(out, 2), [7, 7, 7, 7]);
  });

  it('weights partially covered source pixels by their covered fraction (3 -> 2)', () => {
    // out0 covers source [0, 1.5): (0 * 1 + 90 * 0.5) / 1.5 = 30; out1 covers [1.5, 3): (90 * 0.5 + 180 * 1) / 1.5 = 150
    const img = image(3, 1, (x) => [[0, 90, 180][x], 0, 0]);
    assert.deepEqual(channel(resizeRgb(img, 2, 1), 0), [30, 150]);
  });

  it('upsamples bilinearly with half-pixel centres (2 -> 4)', () => {
    // source x = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1 -> 0, 25, 75, 100
    const img = image(2, 1, (x) => [x * 100, 0, 0]);
    assert.deepEqual(channel(resizeRgb(img, 4, 1), 0), [0, 25, 75, 100]);
  });

  it('keeps a constant image constant for arbitrary sizes and rejects bad sizes', () => {
    const img = image(37, 23, () => [12, 34, 56]);
    for (const [w, h] of [
      [10, 7],
      [64, 50],
      [37, 5],
    ]) {
      const out = resizeRgb(img, w, h);
      assert.equal(out.data.length, w * h * 3);
      for (let i = 0; i < w * h; i++)
        assert.deepEqual([...out.data.subarray(i * 3, i * 3 + 3)], [12, 34, 56]);
    }
    assert.throws(() => resizeRgb(img, 0, 4));
    assert.throws(() => resizeRgb(img, 2.5, 4));
  });
});

describe('scaling modes', () => {
  // one pixel R=10, G=128, B=255; expected values computed by hand (python):
  const px = new Uint8Array([10, 128, 255]);
  const close = (a: Float32Array, b: number[]): void =>
    b.forEach((v, i) => assert.ok(Math.abs(a[i] - v) < 1e-5, `${a[i]} vs ${v} at ${i}`));
  it('raw keeps [0, 255]', () => close(scalePixels(px, 'raw'), [10, 128, 255]));
  it('unit divides by 255', () => close(scalePixels(px, 'unit'), [10 / 255, 128 / 255, 1]));
  it('tf maps to [-1, 1]: x / 127.5 - 1', () => close(scalePixels(px, 'tf'), [-0.9215686, 0.0039216, 1]));
  it('caffe reorders to BGR and subtracts the ImageNet mean (103.939, 116.779, 123.68)', () =>
    close(scalePixels(px, 'caffe'), [255 - 103.939, 128 - 116.779, 10 - 123.68]));
  it('torch normalises with ImageNet mean/SD', () =>
    close(scalePixels(px, 'torch'), [-1.9466564, 0.2051821, 2.64]));
});

describe('toModelInput', () => {
  it('resizes to size x size (HWC) then scales', () => {
    const img = image(4, 4, (x, y) => [y * 4 + x, 0, 255]);
    const t = toModelInput(img, 2, 'unit');
    assert.equal(t.length, 2 * 2 * 3);
    // R plane after area resize: 3, 5, 11, 13 (see above)
    assert.deepEqual(
      Array.from({ length: 4 }, (_, i) => Math.round(t[i * 3] * 255)),
      [3, 5, 11, 13],
    );
    assert.ok(Math.abs(t[2] - 1) < 1e-6);
  });
});

describe('tile2x2', () => {
  const colours: Record<View, [number, number, number]> = {
    stress_ac: [255, 0, 0],
    rest_ac: [0, 255, 0],
    stress_nac: [0, 0, 255],
    rest_nac: [255, 255, 0],
  };
  const maps = Object.fromEntries(
    VIEWS.map((v, i) => [v, image(10 + i * 7, 10 + i * 7, () => colours[v])]),
  ) as Record<View, RgbImage>;

  it('places stress AC top-left, rest AC top-right, stress NAC bottom-left, rest NAC bottom-right', () => {
    const t = tile2x2(maps, 8);
    assert.equal(t.width, 8);
    assert.equal(t.height, 8);
    const at = (x: number, y: number): number[] => [...t.data.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3)];
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const view = VIEWS[(y < 4 ? 0 : 2) + (x < 4 ? 0 : 1)];
        assert.deepEqual(at(x, y), colours[view], `pixel (${x}, ${y}) should be ${view}`);
      }
    }
  });

  it('names a missing view and rejects odd sizes', () => {
    const partial: Partial<Record<View, RgbImage>> = { ...maps };
    delete partial.rest_nac;
    assert.throws(
      () => tile2x2(partial, 8),
      (e: unknown) => e instanceof InputError && /rest_nac/.test(e.message),
    );
    assert.throws(() => tile2x2(maps, 7));
  });
});
