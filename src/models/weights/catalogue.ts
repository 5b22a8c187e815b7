/**
 * The backbone catalogue shown by `polarcad models`: each row of the table (Hai et al. 2022,
 * Table 2 + Keras facts) with whether ImageNet-style weights are available on this machine and
 * from where (Keras cache, embedded default) — checked on disk, never downloaded.
 */
import { BACKBONES } from '../table.js';
import { EMBEDDED_MODELS } from './embedded.js';
import { weightsAvailability, type ResolveOptions } from './resolve.js';

export interface CatalogueRow {
  readonly name: string;
  readonly inputSize: number;
  readonly scaling: string;
  readonly lrExponent: number;
  readonly featureWidth: number;
  readonly layers: number;
  readonly params: number;
  readonly weights: 'keras-cache' | 'embedded' | 'unavailable';
  readonly weightsPath?: string;
  readonly weightsDescription: string;
}

export interface Catalogue {
  readonly rows: readonly CatalogueRow[];
  /** Provenance notes of the embedded weights (always shown). */
  readonly notes: readonly string[];
}

/** Every backbone of the table with its weights availability. */
export async function backboneCatalogue(
  opts: Pick<ResolveOptions, 'kerasModelsDir'> = {},
): Promise<Catalogue> {
  const rows: CatalogueRow[] = [];
  for (const b of BACKBONES) {
    const w = await weightsAvailability(b.name, opts);
    const source = w.source === 'keras-cache' || w.source === 'embedded' ? w.source : 'unavailable';
    rows.push({
      name: b.name,
      inputSize: b.inputSize,
      scaling: b.scaling,
      lrExponent: b.lrExponent,
      featureWidth: b.featureWidth,
      layers: b.kerasLayerCount,
      params: b.kerasParams,
      weights: source,
      ...('path' in w && w.path !== undefined ? { weightsPath: w.path } : {}),
      weightsDescription: w.description,
    });
  }
  const notes = EMBEDDED_MODELS.map((m) => `embedded (${m.backbone}): ${m.description}`);
  notes.push(
    "'--weights none' always works: random initialisation (training from scratch, strategy 1 of Hai et al. 2022).",
  );
  return { rows, notes };
}

/** Plain-text rendering of the catalogue (fixed-width columns). */
export function formatCatalogue(c: Catalogue): string {
  const head = ['backbone', 'input', 'scaling', 'a', 'features', 'layers', 'params', 'weights'];
  const body = c.rows.map((r) => [
    r.name,
    `${r.inputSize}`,
    r.scaling,
    `${r.lrExponent}`,
    `${r.featureWidth}`,
    `${r.layers}`,
    r.params.toLocaleString('en-US'),
    r.weights === 'keras-cache'
      ? `keras cache: ${r.weightsPath ?? ''}`
      : r.weights === 'embedded'
        ? 'embedded (nsfwjs, NOT ImageNet; see note)'
        : r.weightsDescription,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]): string =>
    cells.map((s, i) => (i === cells.length - 1 ? s : s.padEnd(widths[i]))).join('  ');
  return [line(head), ...body.map(line), '', ...c.notes.map((n) => `note: ${n}`)].join('\n') + '\n';
}
