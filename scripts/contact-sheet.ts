/**
 * Contact sheet of synthetic stress-AC polar maps: normal patients on the top row, CAD patients on
 * the bottom row, each captioned with its label (and lesions). Re-run with
 * `node --import tsx scripts/contact-sheet.ts [out.png] [seed]`; default docs/images/contact-sheet.png.
 * Images come from the synthetic renderer (src/synth); the cleaned-crop version belongs to ingest.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { getColormap } from '../src/polarmap/colormaps.js';
import { generateCohort, renderSingleMap } from '../src/synth/index.js';
import type { SyntheticPatient } from '../src/synth/index.js';
import { writeFileAtomic } from '../src/util/atomic.js';

const PER_ROW = 6;
const TILE = 260;

function caption(p: SyntheticPatient): string {
  if (p.label === 0) return `${p.id} normal${p.variants.includes('lbbb') ? ' (LBBB)' : ''}`;
  if (p.variants.includes('balanced_3vd')) return `${p.id} CAD balanced 3VD`;
  return `${p.id} CAD ${p.lesions.map((l) => `${l.vessel} ${l.stenosis}%${l.kind === 'scar' ? ' scar' : ''}`).join(', ')}`;
}

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const out = process.argv[2] ?? join(root, 'docs', 'images', 'contact-sheet.png');
  const seed = process.argv[3] ?? 'contact-sheet';
  const { patients } = generateCohort({ patients: 40, seed });
  const rows = [
    patients.filter((p) => p.label === 0).slice(0, PER_ROW),
    patients.filter((p) => p.label === 1).slice(0, PER_ROW),
  ];
  const cm = getColormap('rainbow');
  const tiles: sharp.OverlayOptions[] = [];
  for (const [r, row] of rows.entries()) {
    for (const [c, p] of row.entries()) {
      const { image } = await renderSingleMap(p.maps.stress_ac, {
        colormap: cm,
        caption: caption(p),
        grid: true,
        canvas: TILE,
      });
      const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
        .png()
        .toBuffer();
      tiles.push({ input: png, left: c * TILE, top: 40 + r * TILE });
    }
  }
  const title = `<svg xmlns="http://www.w3.org/2000/svg" width="${PER_ROW * TILE}" height="40"><text x="10" y="27" font-family="DejaVu Sans" font-size="20" fill="#fff">Synthetic stress AC polar maps (seed ${seed}): top normal, bottom CAD</text></svg>`;
  tiles.push({ input: Buffer.from(title), left: 0, top: 0 });
  const sheet = await sharp({
    create: { width: PER_ROW * TILE, height: 40 + 2 * TILE, channels: 3, background: '#000' },
  })
    .composite(tiles)
    .png()
    .toBuffer();
  await writeFileAtomic(out, sheet);
  process.stdout.write(`contact sheet: ${out}\n`);
}

await main();
