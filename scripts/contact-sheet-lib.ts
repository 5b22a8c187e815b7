/**
 * What the two contact-sheet scripts share: the patients shown (normal top row, CAD bottom row),
 * their captions, and the composition of tiles and a title into one PNG written atomically.
 */
import sharp from 'sharp';
import type { SyntheticPatient } from '../src/synth/index.js';
import { writeFileAtomic } from '../src/util/atomic.js';

/** Tiles per row. */
export const PER_ROW = 6;
/** Height of the title band above the tiles. */
export const TITLE_HEIGHT = 40;

/** The first `PER_ROW` normal patients, then the first `PER_ROW` CAD patients. */
export function sheetRows(patients: readonly SyntheticPatient[]): SyntheticPatient[][] {
  return [
    patients.filter((p) => p.label === 0).slice(0, PER_ROW),
    patients.filter((p) => p.label === 1).slice(0, PER_ROW),
  ];
}

/** "P007 normal (LBBB)", "P012 CAD balanced 3VD", "P003 CAD LAD 90%[ scar], ..." */
export function caption(p: SyntheticPatient, opts: { markScars: boolean }): string {
  if (p.label === 0) return `${p.id} normal${p.variants.includes('lbbb') ? ' (LBBB)' : ''}`;
  if (p.variants.includes('balanced_3vd')) return `${p.id} CAD balanced 3VD`;
  return `${p.id} CAD ${p.lesions.map((l) => `${l.vessel} ${l.stenosis}%${opts.markScars && l.kind === 'scar' ? ' scar' : ''}`).join(', ')}`;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A raw RGB image as PNG bytes. */
export async function rgbToPng(image: { width: number; height: number; data: Uint8Array }): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
}

/** One line of white text as an SVG overlay. */
export function textSvg(
  text: string,
  box: { width: number; height: number; x: number; y: number; size: number; anchor?: 'start' | 'middle' },
): Buffer {
  const anchor = box.anchor === 'middle' ? ' text-anchor="middle"' : '';
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${box.width}" height="${box.height}"><text x="${box.x}" y="${box.y}"${anchor} font-family="DejaVu Sans" font-size="${box.size}" fill="#fff">${escapeXml(text)}</text></svg>`,
  );
}

/** Compose the tiles under a title on black (`width` x `TITLE_HEIGHT + height`) and write the PNG to `out`. */
export async function writeSheet(
  out: string,
  title: string,
  tiles: sharp.OverlayOptions[],
  width: number,
  height: number,
): Promise<void> {
  const all = [
    ...tiles,
    { input: textSvg(title, { width, height: TITLE_HEIGHT, x: 10, y: 27, size: 20 }), left: 0, top: 0 },
  ];
  const sheet = await sharp({
    create: { width, height: TITLE_HEIGHT + height, channels: 3, background: '#000' },
  })
    .composite(all)
    .png()
    .toBuffer();
  await writeFileAtomic(out, sheet);
  process.stdout.write(`contact sheet: ${out}\n`);
}
