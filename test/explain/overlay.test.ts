/**
 * Overlays: bilinear resize against tfjs' `resizeBilinear(halfPixelCenters=true)`, colour-map
 * tables against matplotlib's published data (`_cm_listed.py`), disc masks, normalisation,
 * blending by hand, the figure's PNG size and masking (outside the disc = the original pixels),
 * and the atomic write next to the original.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initBackend, tf } from '../../src/engine/backend.js';
import type { RgbImage } from '../../src/domain/image.js';
import {
  blendHeatmap,
  discMask,
  displayedHeatmap,
  evidenceWeight,
  heatmapLut,
  heatmapOnMap,
  overlayPathFor,
  renderOverlayFigure,
  resizeBilinear,
  writeOverlayBeside,
} from '../../src/explain/overlay.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

const root = mkdtempSync(join(tmpdir(), 'polarcad-overlay-test-'));
before(async () => {
  await initBackend('cpu');
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A square polar-map-like image: coloured inside the inscribed disc, dark gray outside. */
function mapImage(n: number): RgbImage {
  const data = new Uint8Array(n * n * 3);
  const c = (n - 1) / 2;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const o = (y * n + x) * 3;
      if ((x - c) ** 2 + (y - c) ** 2 > (n / 2) ** 2) {
        data.set([30 + (x % 5), 30, 40 + (y % 7)], o);
        continue;
      }
      data.set([200 - x, 100 + (y % 50), 50 + ((x + y) % 100)], o);
    }
  }
  return { width: n, height: n, data };
}

describe('resizeBilinear', () => {
  for (const [h, w, oh, ow] of [
    [7, 7, 96, 96],
    [7, 7, 5, 5],
    [3, 5, 10, 7],
  ] as const) {
    test(`${h}x${w} -> ${oh}x${ow} equals tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=true)`, () => {
      const rng = new Rng(h * 100 + ow);
      const src = Float32Array.from({ length: h * w }, () => rng.uniform(-1, 2));
      const got = resizeBilinear(src, h, w, oh, ow);
      const want = tf.tidy(
        () =>
          tf.image
            .resizeBilinear(tf.tensor3d(src, [h, w, 1]), [oh, ow], false, true)
            .dataSync() as Float32Array,
      );
      for (let i = 0; i < want.length; i++)
        assert.ok(Math.abs(got[i] - want[i]) < 1e-5, `pixel ${i}: ${got[i]} vs ${want[i]}`);
    });
  }
  test('bad sizes are InputErrors', () => {
    assert.throws(() => resizeBilinear(new Float32Array(3), 2, 2, 4, 4), InputError);
    assert.throws(() => resizeBilinear(new Float32Array(4), 2, 2, 0, 4), InputError);
  });
});

test('colour maps: end points and midpoints of matplotlib viridis / inferno (matplotlib _cm_listed.py, x 255 rounded)', () => {
  // _viridis_data[0] = [0.267004, 0.004874, 0.329415]; [255] = [0.993248, 0.906157, 0.143936]
  assert.deepEqual([...heatmapLut('viridis').subarray(0, 3)], [68, 1, 84]);
  assert.deepEqual([...heatmapLut('viridis').subarray(765, 768)], [253, 231, 37]);
  // _inferno_data[0] = [0.001462, 0.000466, 0.013866]; [255] = [0.988362, 0.998364, 0.644924]
  assert.deepEqual([...heatmapLut('inferno').subarray(0, 3)], [0, 0, 4]);
  assert.deepEqual([...heatmapLut('inferno').subarray(765, 768)], [252, 255, 164]);
  // _viridis_data[128] = [0.128729, 0.563265, 0.551229] -> (33, 144, 141); d3 interpolates 256 entries at i/255
  const mid = [...heatmapLut('viridis').subarray(128 * 3, 128 * 3 + 3)];
  [33, 144, 141].forEach((v, c) => assert.ok(Math.abs(mid[c] - v) <= 1, `viridis[128] ${mid} vs 33,144,141`));
  assert.throws(() => heatmapLut('jet' as 'inferno'), InputError);
});

test('disc masks: area pi r^2 (one disc, or four in a 2x2 tile)', () => {
  const m = discMask(200);
  const count = m.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(count - Math.PI * 100 * 100) / (Math.PI * 1e4) < 0.01, `${count}`);
  assert.equal(m[0], 0);
  assert.equal(m[100 * 200 + 100], 1);
  const t = discMask(200, 'tile2x2');
  const tc = t.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(tc - 4 * Math.PI * 50 * 50) / (4 * Math.PI * 2500) < 0.01, `${tc}`);
  assert.equal(t[50 * 200 + 150], 1); // centre of the top-right disc
  assert.equal(t[100 * 200 + 100], 0); // where the four discs meet
  assert.throws(() => discMask(201, 'tile2x2'), InputError);
});

test('heatmapOnMap: resized, 0 outside the disc, negative clipped, max 1', () => {
  const src = Float32Array.from([0, 1, 2, -1, 4, 1, 0, 2, 3]);
  const mask = discMask(30);
  const h = heatmapOnMap(src, 3, 3, 30, mask);
  const up = resizeBilinear(src, 3, 3, 30, 30);
  let max = 0;
  for (let i = 0; i < 900; i++) if (mask[i]) max = Math.max(max, up[i]);
  for (let i = 0; i < 900; i++) {
    const want = mask[i] === 1 ? Math.max(0, up[i]) / max : 0;
    assert.ok(Math.abs(h[i] - want) < 1e-6);
  }
  assert.equal(Math.max(...h), 1);
  assert.ok(
    heatmapOnMap(new Float32Array(9), 3, 3, 30, mask).every((v) => v === 0),
    'an all-zero map stays 0',
  );
});

test('heatmapOnMap, 2x2 tile: each disc resized from its own quadrant (no heat across the seam)', () => {
  const size = 48;
  const n = size / 2;
  const mask = discMask(size, 'tile2x2');
  const rng = new Rng(5);
  const src = Float32Array.from({ length: 64 }, () => rng.uniform(0, 1)); // 8 x 8 grid, 4 x 4 per quadrant
  const got = heatmapOnMap(src, 8, 8, size, mask, 'tile2x2');
  // by hand: the bilinear resize of each 4 x 4 block to its 24 x 24 quadrant, masked, over the common maximum
  const want = new Float32Array(size * size);
  for (let qy = 0; qy < 2; qy++) {
    for (let qx = 0; qx < 2; qx++) {
      const block = Float32Array.from({ length: 16 }, (_, k) => src[(qy * 4 + Math.floor(k / 4)) * 8 + qx * 4 + (k % 4)]);
      const up = resizeBilinear(block, 4, 4, n, n);
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const i = (qy * n + y) * size + qx * n + x;
          want[i] = mask[i] === 1 ? up[y * n + x] : 0;
        }
    }
  }
  const max = Math.max(...want);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i] / max) < 1e-6, `pixel ${i}`);
  // one hot cell of the top-left quadrant, right at the seam: no heat on the other three discs
  const hot = new Float32Array(64);
  hot[3 * 8 + 3] = 1;
  const h = heatmapOnMap(hot, 8, 8, size, mask, 'tile2x2');
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      if (x >= n || y >= n) assert.equal(h[y * size + x], 0, `(${x}, ${y}) outside the top-left disc`);
  assert.equal(Math.max(...h), 1);
  // whereas the resize across the whole tile leaks it into the neighbouring discs
  const whole = heatmapOnMap(hot, 8, 8, size, mask);
  let leak = 0;
  for (let y = 0; y < size; y++) for (let x = n; x < size; x++) if (mask[y * size + x] === 1) leak += whole[y * size + x];
  assert.ok(leak > 0);
  // an odd grid (7 x 7): the middle row/column is shared, and the result stays in [0, 1]
  const odd = heatmapOnMap(Float32Array.from({ length: 49 }, (_, k) => k % 5), 7, 7, size, mask, 'tile2x2');
  assert.equal(Math.max(...odd), 1);
  assert.ok(odd.every((v, i) => v >= 0 && (mask[i] === 1 || v === 0)));
  assert.throws(() => heatmapOnMap(src, 8, 8, 47, discMask(47), 'tile2x2'), InputError);
});

test('displayed heatmap on a fixed scale: the same Grad-CAM reads quiet at P(CAD) = 0.10 and bright at 0.95', () => {
  const src = Float32Array.from([0, 0.2, 1, 0.1, 0.5, 0.9, 0, 0, 0.3]);
  const mask = discMask(40);
  const relative = heatmapOnMap(src, 3, 3, 40, mask);
  assert.equal(Math.max(...relative), 1, 'the relative heatmap is divided by its own maximum');
  const normal = displayedHeatmap(relative, evidenceWeight(0.1));
  const cad = displayedHeatmap(relative, evidenceWeight(0.95));
  const maxN = Math.max(...normal);
  const maxC = Math.max(...cad);
  assert.ok(Math.abs(maxN - 0.1) < 1e-6, `normal study: displayed maximum ${maxN}`);
  assert.ok(Math.abs(maxC - 0.95) < 1e-6, `CAD study: displayed maximum ${maxC}`);
  assert.ok(maxN < 0.2 * maxC, `P=0.10 maximum ${maxN} is far below P=0.95 maximum ${maxC}`);
  for (let i = 0; i < relative.length; i++) {
    assert.ok(Math.abs(normal[i] - 0.1 * relative[i]) < 1e-6);
    assert.ok(Math.abs(cad[i] - 0.95 * relative[i]) < 1e-6);
  }
  // the weight is clamped to [0, 1]; a NaN probability shows nothing
  assert.deepEqual([evidenceWeight(-0.2), evidenceWeight(1.7), evidenceWeight(Number.NaN)], [0, 1, 0]);
  // and the rendered overlay of the normal study is darker (inferno: low = dark) than the CAD study's
  const img = mapImage(40);
  const lum = (h: Float32Array): number => {
    const o = blendHeatmap(img, h, mask, { underlay: 'gray' });
    let sum = 0;
    for (let i = 0; i < 1600; i++) if (mask[i] === 1) sum += o.data[i * 3] + o.data[i * 3 + 1] + o.data[i * 3 + 2];
    return sum;
  };
  assert.ok(lum(normal) < lum(cad), 'the normal study renders darker');
});

test('blendHeatmap: outside the mask unchanged; inside = gray underlay and colour by hand', () => {
  const img = mapImage(40);
  const mask = discMask(40);
  const heat = Float32Array.from({ length: 1600 }, (_, i) => (i % 40) / 39);
  const out = blendHeatmap(img, heat, mask, { colormap: 'viridis', alpha: 0.8, alphaMin: 0.2 });
  const lut = heatmapLut('viridis');
  for (let i = 0; i < 1600; i++) {
    const o = i * 3;
    if (mask[i] === 0) {
      assert.deepEqual([...out.data.subarray(o, o + 3)], [...img.data.subarray(o, o + 3)]);
      continue;
    }
    const v = heat[i];
    const a = 0.2 + 0.6 * v;
    const lum = 0.299 * img.data[o] + 0.587 * img.data[o + 1] + 0.114 * img.data[o + 2];
    const k = Math.round(v * 255) * 3;
    for (let c = 0; c < 3; c++) assert.equal(out.data[o + c], Math.round(lum * (1 - a) + lut[k + c] * a));
  }
  assert.throws(() => blendHeatmap(img, heat, mask, { alpha: 0.1, alphaMin: 0.5 }), InputError);
});

describe('renderOverlayFigure', () => {
  test('PNG of the reported size; original panel = the image; overlay panel = the image outside the disc, changed inside', async () => {
    const n = 96;
    const img = mapImage(n);
    const mask = discMask(n);
    const heat = heatmapOnMap(Float32Array.from([0, 0.2, 1, 0.1, 0.5, 0.9, 0, 0, 0.3]), 3, 3, n, mask);
    const { png, layout } = await renderOverlayFigure(img, heat, mask, {
      caption: 'The model looked mostly at the inferior wall (RCA territory, 64% of the heatmap).',
    });
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, layout.width);
    assert.equal(info.height, layout.height);
    assert.ok(layout.width >= 2 * n && layout.height >= n);
    const px = (x: number, y: number): number[] => [
      ...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3),
    ];
    let inside = 0;
    let changed = 0;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const want = [...img.data.subarray((y * n + x) * 3, (y * n + x) * 3 + 3)];
        assert.deepEqual(
          px(layout.original.x + x, layout.original.y + y),
          want,
          `original panel (${x}, ${y})`,
        );
        const ov = px(layout.overlay.x + x, layout.overlay.y + y);
        if (mask[y * n + x] === 0) assert.deepEqual(ov, want, `overlay panel outside the disc (${x}, ${y})`);
        else {
          inside++;
          if (ov.some((v, c) => v !== want[c])) changed++;
        }
      }
    }
    assert.ok(changed > 0.95 * inside, `${changed} of ${inside} disc pixels changed`);
    // the colour bar: the top row is the colour map's maximum, the bottom row its minimum
    const lut = heatmapLut('inferno');
    assert.deepEqual(px(layout.legend.x + 2, layout.legend.y), [...lut.subarray(765, 768)]);
    assert.deepEqual(px(layout.legend.x + 2, layout.legend.y + layout.legend.height - 1), [
      ...lut.subarray(0, 3),
    ]);
  });

  test('non-square images are refused', async () => {
    await assert.rejects(
      renderOverlayFigure(
        { width: 4, height: 3, data: new Uint8Array(36) },
        new Float32Array(12),
        new Uint8Array(12),
      ),
      InputError,
    );
  });
});

test('writeOverlayBeside: next to the original, atomic (no temporary file left)', async () => {
  const dir = join(root, 'scans');
  const original = join(dir, 'P0001_stress.png');
  assert.equal(overlayPathFor(original), join(dir, 'P0001_stress.gradcam.png'));
  assert.equal(overlayPathFor('/a/b/x.dcm', '.cam.png'), '/a/b/x.cam.png');
  const png = new Uint8Array(
    await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } })
      .png()
      .toBuffer(),
  );
  rmSync(dir, { recursive: true, force: true });
  const out = await writeOverlayBeside(original, png);
  assert.ok(existsSync(out));
  assert.deepEqual(readdirSync(dir), ['P0001_stress.gradcam.png']);
});
