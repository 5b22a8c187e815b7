/**
 * Contact sheet of what the model sees: stress-AC crops that `prepare` cut from synthetic vendor
 * export pages (disc found automatically, outside blanked, grid lines and labels removed),
 * normal patients on the top row and CAD patients on the bottom row, for one colour map.
 * Re-run with `node --import tsx scripts/contact-sheet-crops.ts [out.png] [colormap] [seed]`;
 * default docs/images/contact-sheet-crops.png, rainbow.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { getColormap, isBuiltinColormap } from '../src/polarmap/colormaps.js';
import { generateCohort, renderPage } from '../src/synth/index.js';
import type { SyntheticPatient } from '../src/synth/index.js';
import { findDiscs } from '../src/ingest/discs.js';
import { cleanDisc } from '../src/ingest/clean.js';
import { writeFileAtomic } from '../src/util/atomic.js';

const PER_ROW = 6;
const CROP = 224;
const TILE_W = 250;
const TILE_H = 270;

function caption(p: SyntheticPatient): string {
  if (p.label === 0) return `${p.id} normal${p.variants.includes('lbbb') ? ' (LBBB)' : ''}`;
  if (p.variants.includes('balanced_3vd')) return `${p.id} CAD balanced 3VD`;
  return `${p.id} CAD ${p.lesions.map((l) => `${l.vessel} ${l.stenosis}%`).join(', ')}`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const out = process.argv[2] ?? join(root, 'docs', 'images', 'contact-sheet-crops.png');
  const cmName = process.argv[3] ?? 'rainbow';
  if (!isBuiltinColormap(cmName)) throw new Error(`unknown colour map ${cmName}`);
  const seed = process.argv[4] ?? 'contact-sheet';
  const { patients } = generateCohort({ patients: 40, seed });
  const rows = [
    patients.filter((p) => p.label === 0).slice(0, PER_ROW),
    patients.filter((p) => p.label === 1).slice(0, PER_ROW),
  ];
  const tiles: sharp.OverlayOptions[] = [];
  for (const [r, row] of rows.entries()) {
    for (const [c, p] of row.entries()) {
      const page = await renderPage(p, { colormap: getColormap(cmName), grid: true });
      // the pipeline's own path: find the four discs, take the first in reading order (stress AC)
      const discs = findDiscs(page.image, { expected: 4 });
      const { image } = cleanDisc(page.image, discs[0], { outSize: CROP });
      const png = await sharp(image.data, { raw: { width: CROP, height: CROP, channels: 3 } }).png().toBuffer();
      const left = c * TILE_W;
      const top = 40 + r * TILE_H;
      tiles.push({ input: png, left: left + (TILE_W - CROP) / 2, top });
      const text = `<svg xmlns="http://www.w3.org/2000/svg" width="${TILE_W}" height="30"><text x="${TILE_W / 2}" y="20" text-anchor="middle" font-family="DejaVu Sans" font-size="12" fill="#fff">${escapeXml(caption(p))}</text></svg>`;
      tiles.push({ input: Buffer.from(text), left, top: top + CROP + 4 });
    }
  }
  const title = `<svg xmlns="http://www.w3.org/2000/svg" width="${PER_ROW * TILE_W}" height="40"><text x="10" y="27" font-family="DejaVu Sans" font-size="20" fill="#fff">Cleaned stress AC crops from synthetic export pages (${cmName}, seed ${escapeXml(seed)}): top normal, bottom CAD</text></svg>`;
  tiles.push({ input: Buffer.from(title), left: 0, top: 0 });
  const sheet = await sharp({
    create: { width: PER_ROW * TILE_W, height: 40 + 2 * TILE_H, channels: 3, background: '#000' },
  })
    .composite(tiles)
    .png()
    .toBuffer();
  await writeFileAtomic(out, sheet);
  process.stdout.write(`contact sheet: ${out}\n`);
}

await main();
