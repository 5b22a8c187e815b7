import * as vega from 'vega';
import { DEJAVU_SANS, DEJAVU_SANS_BOLD, type FaceMetrics } from './dejavu-metrics.js';

/** The subset of a Vega text scene item that text measurement reads. */
interface TextItem {
  text?: unknown;
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
}

interface Face {
  em: number;
  widths: Map<number, number>;
  fallback: number;
}

function face(m: FaceMetrics): Face {
  const widths = new Map<number, number>(m.widths.map(([c, w]) => [c, w] as [number, number]));
  // unknown characters: the width of a lower-case 'o', a typical glyph
  return { em: m.unitsPerEm, widths, fallback: widths.get(0x6f) ?? m.unitsPerEm * 0.6 };
}

const BOOK = face(DEJAVU_SANS);
const BOLD = face(DEJAVU_SANS_BOLD);

function isBold(weight: number | string | undefined): boolean {
  if (weight === undefined) return false;
  if (typeof weight === 'number') return weight >= 600;
  return weight === 'bold' || weight === 'bolder' || Number(weight) >= 600;
}

/**
 * Width in pixels of `text` set in DejaVu Sans at `fontSize` px (advance widths, no kerning).
 * Exported for tests and for callers that lay out text next to charts.
 */
export function dejaVuTextWidth(text: string, fontSize: number, bold = false): number {
  const f = bold ? BOLD : BOOK;
  let units = 0;
  for (const ch of text) units += f.widths.get(ch.codePointAt(0) ?? 0) ?? f.fallback;
  return (units / f.em) * fontSize;
}

/** Vega's text-measurement hook; undocumented in its typings, but the supported way (vl-convert uses it). */
interface TextMetrics {
  width: (item: TextItem, text?: unknown) => number;
}

let installed = false;

/**
 * Make Vega measure text with DejaVu Sans advance widths instead of its canvas-less estimate
 * (0.8 em per character, ~40% too wide), so axis titles, legends and padding fit what librsvg
 * draws. Idempotent; changes Vega's global `textMetrics.width` for this process.
 */
export function installDejaVuTextMetrics(): void {
  if (installed) return;
  const tm = (vega as unknown as { textMetrics: TextMetrics }).textMetrics;
  tm.width = (item: TextItem, text?: unknown): number => {
    const raw = text ?? item.text;
    const s = raw === null || raw === undefined ? '' : String(raw).trim();
    if (s.length === 0) return 0;
    const size = item.fontSize === undefined ? 11 : Number(item.fontSize) || 0;
    const w = dejaVuTextWidth(s, size, isBold(item.fontWeight));
    // Vega truncates text longer than `limit` (with an ellipsis) to fit within it
    return item.limit !== undefined && item.limit > 0 ? Math.min(w, item.limit) : w;
  };
  installed = true;
}
