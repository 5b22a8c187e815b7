/**
 * Contact sheet of synthetic stress-AC polar maps: normal patients on the top row, CAD patients on
 * the bottom row, each captioned with its label (and lesions). Re-run with
 * `node --import tsx scripts/contact-sheet.ts [out.png] [seed]`; default docs/images/contact-sheet.png.
 * Images come from the synthetic renderer (src/synth); the cleaned-crop version belongs to ingest.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type sharp from 'sharp';
import { getColormap } from '../src/polarmap/colormaps.js';
import { generateCohort, renderSingleMap } from '../src/synth/index.js';
import { PER_ROW, TITLE_HEIGHT, caption, rgbToPng, sheetRows, writeSheet } from './contact-sheet-lib.js';

const TILE = 260;

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const out = process.argv[2] ?? join(root, 'docs', 'images', 'contact-sheet.png');
  const seed = process.argv[3] ?? 'contact-sheet';
  const { patients } = generateCohort({ patients: 40, seed });
  const cm = getColormap('rainbow');
  const tiles: sharp.OverlayOptions[] = [];
  for (const [r, row] of sheetRows(patients).entries()) {
    for (const [c, p] of row.entries()) {
      const { image } = await renderSingleMap(p.maps.stress_ac, {
        colormap: cm,
        caption: caption(p, { markScars: true }),
        grid: true,
        canvas: TILE,
      });
      tiles.push({ input: await rgbToPng(image), left: c * TILE, top: TITLE_HEIGHT + r * TILE });
    }
  }
  const title = `Synthetic stress AC polar maps (seed ${seed}): top normal, bottom CAD`;
  await writeSheet(out, title, tiles, PER_ROW * TILE, 2 * TILE);
}

await main();
