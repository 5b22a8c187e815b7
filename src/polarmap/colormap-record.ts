/**
 * A colour map as a recorded property of prepared data, of a trained run and of a saved model:
 * its name and its full RGB table (so a user table, e.g. a vendor's `thermal.csv`, travels with
 * the data and needs no file later), and, for prepared data and runs, where it came from and how
 * well it fits the images (issue 13: the colour map is carried end to end).
 *
 * One place: `prepare` writes it into report.json, `train` into model/polarcad.json (CNN) or the
 * model file (closed-form models), and `score`, `train`, `predict` and `serve` read it back.
 */
import { z } from 'zod';
import { type Colormap, colormapFromRows, getColormap, isBuiltinColormap } from './colormaps.js';

/** A colour map as recorded in a saved model: its name and its RGB rows. */
export const colormapRecordSchema = z.object({
  name: z.string(),
  rows: z.array(z.tuple([z.number().int(), z.number().int(), z.number().int()])).min(2),
});
export type ColormapRecord = z.infer<typeof colormapRecordSchema>;

/** Record a colour map (name + table). */
export function recordColormap(cm: Colormap): ColormapRecord {
  const rows: [number, number, number][] = [];
  for (let i = 0; i < cm.entries; i++) rows.push([cm.table[i * 3], cm.table[i * 3 + 1], cm.table[i * 3 + 2]]);
  return { name: cm.name, rows };
}

/** The colour map of a record. */
export function colormapOfRecord(r: ColormapRecord): Colormap {
  return colormapFromRows(r.name, r.rows);
}

/** Where a recorded colour map came from: given by the user (`--colormap`) or recognised in the images. */
export const COLORMAP_ORIGINS = ['given', 'recognised'] as const;
export type ColormapOrigin = (typeof COLORMAP_ORIGINS)[number];

/** The colour map of prepared data or of a trained run: the table, its origin and its fit. */
export const recordedColormapSchema = colormapRecordSchema.extend({
  source: z.enum(COLORMAP_ORIGINS),
  /** share of the sampled disc pixels within reach of the table (null when not measured) */
  coverage: z.number().min(0).max(1).nullable(),
  /** why the colour map is unsure (`recognitionDoubt`, or a given table that covers little), or null */
  doubt: z.string().nullable(),
});
export type RecordedColormap = z.infer<typeof recordedColormapSchema>;

/**
 * The colour map in a recorded value: a {@link recordedColormapSchema} / {@link colormapRecordSchema}
 * object (its table), or a built-in name (files written before tables were recorded); null for
 * anything else.
 * @example recordedTable('rainbow')?.name // 'rainbow'
 * @example recordedTable({ name: 'thermal.csv', rows: [[0, 0, 0], [255, 255, 255]] })?.entries // 2
 */
export function recordedTable(value: unknown): Colormap | null {
  if (typeof value === 'string') return isBuiltinColormap(value) ? getColormap(value) : null;
  const r = colormapRecordSchema.safeParse(value);
  return r.success ? colormapOfRecord(r.data) : null;
}
