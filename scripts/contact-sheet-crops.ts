/**
 * Contact sheet of what the model sees: stress-AC crops that `prepare` cut from synthetic vendor
 * export pages (disc found automatically, outside blanked, grid lines and labels removed),
 * normal patients on the top row and CAD patients on the bottom row, for one colour map.
 * Re-run with `node --import tsx scripts/contact-sheet-crops.ts [out.png] [colormap] [seed]`;
 * default docs/images/contact-sheet-crops.png, rainbow.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type sharp from 'sharp';
import { getColormap, isBuiltinColormap } from '../src/polarmap/colormaps.js';
import { generateCohort, renderPage } from '../src/synth/index.js';
import { findDiscs } from '../src/ingest/discs.js';
import { cleanDisc } from '../src/ingest/clean.js';
import {
  PER_ROW,
  TITLE_HEIGHT,
  caption,
  rgbToPng,
  sheetRows,
  textSvg,
  writeSheet,
} from './contact-sheet-lib.js';

const CROP = 224;
const TILE_W = 250;
const TILE_H = 270;

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const out = process.argv[2] ?? join(root, 'docs', 'images', 'contact-sheet-crops.png');
  const cmName = process.argv[3] ?? 'rainbow';
  if (!isBuiltinColormap(cmName)) throw new Error(`unknown colour map ${cmName}`);
  const seed = process.argv[4] ?? 'contact-sheet';
  const { patients } = generateCohort({ patients: 40, seed });
  const tiles: sharp.OverlayOptions[] = [];
  for (const [r, row] of sheetRows(patients).entries()) {
    for (const [c, p] of row.entries()) {
      const page = await renderPage(p, { colormap: getColormap(cmName), grid: true });
      // the pipeline's own path: find the four discs, take the first in reading order (stress AC)
      const discs = findDiscs(page.image, { expected: 4 });
      const { image } = cleanDisc(page.image, discs[0], { outSize: CROP });
      const left = c * TILE_W;
      const top = TITLE_HEIGHT + r * TILE_H;
      tiles.push({ input: await rgbToPng(image), left: left + (TILE_W - CROP) / 2, top });
      const text = textSvg(caption(p, { markScars: false }), {
        width: TILE_W,
        height: 30,
        x: TILE_W / 2,
        y: 20,
        size: 12,
        anchor: 'middle',
      });
      tiles.push({ input: text, left, top: top + CROP + 4 });
    }
  }
  const title = `Cleaned stress AC crops from synthetic export pages (${cmName}, seed ${seed}): top normal, bottom CAD`;
  await writeSheet(out, title, tiles, PER_ROW * TILE_W, 2 * TILE_H);
}

await main();
