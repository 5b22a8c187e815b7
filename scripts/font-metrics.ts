/**
 * Generates `src/report/charts/dejavu-metrics.json`: the advance widths of DejaVu Sans (Book and
 * Bold) for the characters charts use, read from the TrueType files' `cmap` (format 4), `hhea`
 * and `hmtx` tables (OpenType spec, https://learn.microsoft.com/typography/opentype/spec/).
 * Vega measures text to lay out axes and legends; without a canvas it guesses 0.8 em per
 * character, which is ~40% too wide for DejaVu Sans. With these widths the layout matches what
 * librsvg draws. Re-run with `node --import tsx scripts/font-metrics.ts [fontDir]`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/util/atomic.js';

interface FontWidths {
  unitsPerEm: number;
  /** advance width (font units) per code point */
  widths: Map<number, number>;
}

function tableOffsets(buf: Buffer): Map<string, number> {
  const numTables = buf.readUInt16BE(4);
  const out = new Map<string, number>();
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + 16 * i;
    out.set(buf.toString('latin1', rec, rec + 4), buf.readUInt32BE(rec + 8));
  }
  return out;
}

/** Glyph index of each requested code point via the Unicode BMP (3,1) format-4 cmap subtable. */
function glyphIndices(buf: Buffer, cmap: number, codePoints: number[]): Map<number, number> {
  const n = buf.readUInt16BE(cmap + 2);
  let sub = -1;
  for (let i = 0; i < n; i++) {
    const rec = cmap + 4 + 8 * i;
    if (buf.readUInt16BE(rec) === 3 && buf.readUInt16BE(rec + 2) === 1)
      sub = cmap + buf.readUInt32BE(rec + 4);
  }
  if (sub < 0 || buf.readUInt16BE(sub) !== 4) throw new Error('no (3,1) format-4 cmap subtable');
  const segX2 = buf.readUInt16BE(sub + 6);
  const ends = sub + 14;
  const starts = ends + segX2 + 2;
  const deltas = starts + segX2;
  const rangeOffsets = deltas + segX2;
  const out = new Map<number, number>();
  for (const cp of codePoints) {
    for (let s = 0; s < segX2 / 2; s++) {
      if (buf.readUInt16BE(ends + 2 * s) < cp) continue;
      const start = buf.readUInt16BE(starts + 2 * s);
      if (start > cp) break;
      const delta = buf.readInt16BE(deltas + 2 * s);
      const ro = buf.readUInt16BE(rangeOffsets + 2 * s);
      let g: number;
      if (ro === 0) g = (cp + delta) & 0xffff;
      else {
        const at = rangeOffsets + 2 * s + ro + 2 * (cp - start);
        g = buf.readUInt16BE(at);
        if (g !== 0) g = (g + delta) & 0xffff;
      }
      if (g !== 0) out.set(cp, g);
      break;
    }
  }
  return out;
}

async function readWidths(file: string, codePoints: number[]): Promise<FontWidths> {
  const buf = await readFile(file);
  const t = tableOffsets(buf);
  const head = t.get('head');
  const hhea = t.get('hhea');
  const hmtx = t.get('hmtx');
  const cmap = t.get('cmap');
  if (head === undefined || hhea === undefined || hmtx === undefined || cmap === undefined) {
    throw new Error(`${file}: missing head/hhea/hmtx/cmap table`);
  }
  const unitsPerEm = buf.readUInt16BE(head + 18);
  const numHMetrics = buf.readUInt16BE(hhea + 34);
  const widths = new Map<number, number>();
  for (const [cp, g] of glyphIndices(buf, cmap, codePoints)) {
    widths.set(cp, buf.readUInt16BE(hmtx + 4 * Math.min(g, numHMetrics - 1)));
  }
  return { unitsPerEm, widths };
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** Printable ASCII, Latin-1, Greek, and the punctuation/maths signs charts print. */
const CODE_POINTS = [
  ...range(0x20, 0x7e),
  ...range(0xa0, 0xff),
  ...range(0x391, 0x3c9),
  0x2013,
  0x2014,
  0x2018,
  0x2019,
  0x201c,
  0x201d,
  0x2022,
  0x2026,
  0x2190,
  0x2191,
  0x2192,
  0x2193,
  0x2212,
  0x2264,
  0x2265,
  0x2248,
  0x25c6,
  0x25cf,
  0x2605,
];

/** One face as JSON: `unitsPerEm` and `[code point, advance width]` pairs, one pair a line. */
function encode(f: FontWidths): string {
  const entries = [...f.widths.entries()].sort((a, b) => a[0] - b[0]);
  const pairs = entries.map(([c, w]) => `      [${c}, ${w}]`).join(',\n');
  return `{\n    "unitsPerEm": ${f.unitsPerEm},\n    "widths": [\n${pairs}\n    ]\n  }`;
}

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = process.argv[2] ?? '/usr/share/fonts/truetype/dejavu';
  const book = await readWidths(join(dir, 'DejaVuSans.ttf'), CODE_POINTS);
  const bold = await readWidths(join(dir, 'DejaVuSans-Bold.ttf'), CODE_POINTS);
  const generator =
    'scripts/font-metrics.ts from DejaVuSans.ttf and DejaVuSans-Bold.ttf (hmtx advance widths via the format-4 cmap); do not edit by hand';
  const json = `{\n  "generator": ${JSON.stringify(generator)},\n  "book": ${encode(book)},\n  "bold": ${encode(bold)}\n}\n`;
  await writeFileAtomic(join(root, 'src', 'report', 'charts', 'dejavu-metrics.json'), json);
  console.log(`book ${book.widths.size} glyphs, bold ${bold.widths.size} glyphs`);
}

await main();
