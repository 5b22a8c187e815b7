/**
 * HTML escaping for the report: every string that comes from a file (manifest fields, patient ids,
 * descriptions, notes) goes through {@link esc} before it is put in the page, so a field such as
 * `<script>` or `"><img onerror=...>` shows as text and never runs.
 */

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape text for HTML element content and (double- or single-quoted) attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A number with `digits` decimals, or an en dash when it is null / not finite. */
export function num(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/** A base64 `data:` URI (images embedded in the page, so it opens offline). */
export function dataUri(mime: string, bytes: Uint8Array): string {
  return `data:${mime};base64,${Buffer.from(bytes).toString('base64')}`;
}

/**
 * Make a standalone SVG document fit for inline use in HTML: drop the XML prolog and the `xmlns`
 * declarations (the HTML parser puts `<svg>` in the SVG namespace itself), so the page carries no
 * http(s) reference at all.
 */
export function inlineSvg(svg: string): string {
  return svg
    .replace(/<\?xml[^>]*\?>\s*/g, '')
    .replace(/\s+xmlns(:\w+)?="[^"]*"/g, '')
    .replace(/\bxlink:href=/g, 'href=');
}
