import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { type Colormap, ColormapInverter, getColormap } from '../../src/polarmap/colormaps.js';
import {
  colormapFromColorbar,
  colormapFromCsvText,
  loadColormapCsv,
  loadColormapImage,
  resolveColormap,
} from '../../src/polarmap/custom-colormap.js';
import { InputError } from '../../src/util/errors.js';

const dirP = mkdtemp(join(tmpdir(), 'polarcad-cmap-'));
after(async () => rm(await dirP, { recursive: true, force: true }));

function rowsOf(cm: Colormap): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < cm.entries; i++) out.push([cm.table[i * 3], cm.table[i * 3 + 1], cm.table[i * 3 + 2]]);
  return out;
}

/**
 * A colour-bar picture of `cm`: each table entry drawn as `px` pixels along the long axis, `thick`
 * pixels across, low end at the bottom (vertical) or left (horizontal), unless `highFirst`.
 */
function barImage(cm: Colormap, vertical: boolean, px: number, thick: number, highFirst = false) {
  const long = cm.entries * px;
  const width = vertical ? thick : long;
  const height = vertical ? long : thick;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const along = vertical ? height - 1 - y : x; // 0 at the low end
      let e = Math.floor(along / px);
      if (highFirst) e = cm.entries - 1 - e;
      data.set(cm.table.subarray(e * 3, e * 3 + 3), (y * width + x) * 3);
    }
  }
  return { width, height, data };
}

test('CSV with header, 0-255 values, equals the source table', async () => {
  const hot = getColormap('hot');
  const csv =
    'r,g,b\n' +
    rowsOf(hot)
      .map((r) => r.join(','))
      .join('\n') +
    '\n';
  const path = join(await dirP, 'hot.csv');
  await writeFile(path, csv);
  const cm = await loadColormapCsv(path);
  assert.equal(cm.entries, 256);
  assert.deepEqual(cm.table, hot.table);
  assert.equal(cm.name, 'hot.csv');
});

test('CSV without header, 0-1 values (6 decimals), comments and blank lines, equals the source table', () => {
  const rb = getColormap('rainbow');
  const lines = rowsOf(rb).map((r) => r.map((v) => (v / 255).toFixed(6)).join(', '));
  const csv = `# exported LUT\n\n${lines.join('\r\n')}\n`;
  const cm = colormapFromCsvText(csv, 'rb.csv');
  assert.deepEqual(cm.table, rb.table);
});

test('CSV problems: every bad row named with file, row and column', () => {
  const csv = 'r,g,b\n0,0,0\n10,twenty,30\n1,2\n300,0,0\n';
  try {
    colormapFromCsvText(csv, 'lut.csv');
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof InputError);
    assert.match(e.message, /lut\.csv/);
    assert.match(e.message, /row 3, column g: "twenty" is not a number/);
    assert.match(e.message, /row 4: expected 3 values/);
    assert.match(e.message, /row 5, column r: 300 is outside/);
  }
  assert.throws(
    () => colormapFromCsvText('r,g,b\n0,0,0\n', 'one.csv'),
    (e: Error) => e instanceof InputError && /one\.csv.*at least 2/.test(e.message),
  );
  assert.throws(
    () => colormapFromCsvText('-1,0,0\n0,0,0\n', 'neg.csv'),
    /neg\.csv: 1 bad row.*\n.*row 1, column r/,
  );
});

test('missing CSV file: InputError naming the path', async () => {
  const path = join(await dirP, 'nope.csv');
  await assert.rejects(
    loadColormapCsv(path),
    (e: Error) => e instanceof InputError && e.message.includes(path),
  );
});

test('vertical colour-bar PNG (3 px per entry, low end at the bottom) equals the source table', async () => {
  for (const name of ['gray', 'hot', 'cool', 'rainbow'] as const) {
    const src = getColormap(name);
    const bar = barImage(src, true, 3, 24);
    const path = join(await dirP, `${name}-bar.png`);
    await sharp(bar.data, { raw: { width: bar.width, height: bar.height, channels: 3 } })
      .png()
      .toFile(path);
    const cm = await loadColormapImage(path);
    assert.equal(cm.entries, 256, name);
    assert.deepEqual(cm.table, src.table, name);
  }
});

test('horizontal bar with the maximum on the left, read with reverse, equals the source table', async () => {
  const src = getColormap('hot');
  const bar = barImage(src, false, 2, 10, true);
  const path = join(await dirP, 'hot-h.png');
  await sharp(bar.data, { raw: { width: bar.width, height: bar.height, channels: 3 } })
    .png()
    .toFile(path);
  assert.deepEqual((await loadColormapImage(path, { reverse: true })).table, src.table);
  // without reverse the table comes out upside down
  const flipped = await loadColormapImage(path);
  assert.deepEqual(rowsOf(flipped), rowsOf(src).reverse());
});

test('a bar inside a white page with a black frame: crop selects it; the centre line ignores side frames', () => {
  const src = getColormap('cool');
  const bar = barImage(src, true, 1, 9);
  const W = 40;
  const H = bar.height + 20;
  const page = new Uint8Array(W * H * 3).fill(255);
  // bar at (15, 10); a one-pixel black frame on its left and right edges
  for (let y = 0; y < bar.height; y++) {
    for (let x = 0; x < bar.width; x++) {
      const c =
        x === 0 || x === bar.width - 1
          ? [0, 0, 0]
          : [...bar.data.subarray((y * bar.width + x) * 3, (y * bar.width + x) * 3 + 3)];
      page.set(c, ((10 + y) * W + 15 + x) * 3);
    }
  }
  const cm = colormapFromColorbar(
    { width: W, height: H, data: page },
    { crop: { x: 15, y: 10, width: 9, height: bar.height } },
  );
  assert.deepEqual(cm.table, src.table);
  assert.throws(
    () =>
      colormapFromColorbar(
        { width: W, height: H, data: page },
        { crop: { x: 35, y: 0, width: 9, height: 5 } },
      ),
    InputError,
  );
});

// Measured: 342 entries (JPEG noise splits runs), worst error 0.70/255; indexing entries by rank
// instead of by position along the bar gave 8.2/255 on the same image.
test('JPEG colour bar (q95): every source colour is decoded within 1.5/255 of its true uptake', async () => {
  const src = getColormap('hot');
  const bar = barImage(src, true, 4, 32);
  const path = join(await dirP, 'hot-bar.jpg');
  await sharp(bar.data, { raw: { width: bar.width, height: bar.height, channels: 3 } })
    .jpeg({ quality: 95 })
    .toFile(path);
  const cm = await loadColormapImage(path);
  const inv = new ColormapInverter(cm);
  let worst = 0;
  for (let i = 0; i < 256; i++) {
    const v = inv.invert(src.table[i * 3], src.table[i * 3 + 1], src.table[i * 3 + 2]).value;
    worst = Math.max(worst, Math.abs(v - i / 255));
  }
  assert.ok(worst <= 1.5 / 255, `worst uptake error ${worst * 255}/255 with ${cm.entries} entries`);
});

test('resolveColormap: built-in names, .csv and image paths, clear errors otherwise', async () => {
  assert.equal(await resolveColormap('hot'), getColormap('hot'));
  const dir = await dirP;
  const csv = join(dir, 'g.csv');
  await writeFile(csv, '0,0,0\n128,128,128\n255,255,255\n');
  assert.deepEqual([...(await resolveColormap(csv)).table], [0, 0, 0, 128, 128, 128, 255, 255, 255]);
  const bar = barImage(getColormap('gray'), true, 1, 5);
  const png = join(dir, 'g.PNG');
  await sharp(bar.data, { raw: { width: bar.width, height: bar.height, channels: 3 } })
    .png()
    .toFile(png);
  assert.deepEqual((await resolveColormap(png)).table, getColormap('gray').table);
  await assert.rejects(
    resolveColormap('jet'),
    (e: Error) => e instanceof InputError && /"jet".*gray, hot, cool, rainbow/.test(e.message),
  );
  await assert.rejects(
    resolveColormap(join(dir, 'missing.png')),
    (e: Error) => e instanceof InputError && e.message.includes('missing.png'),
  );
  const notImage = join(dir, 'bad.png');
  await writeFile(notImage, 'not an image');
  await assert.rejects(
    resolveColormap(notImage),
    (e: Error) => e instanceof InputError && e.message.includes('bad.png'),
  );
});
