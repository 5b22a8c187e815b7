/**
 * The model input source of one manifest row: the views its input mode reads
 * (`src/domain/input-mode.ts`), read from the row's prepared crops and arranged by the mode. The
 * one reader shared by `train`, `evaluate` and the experiments, so a row means the same image to
 * each of them.
 */
import {
  inputModeSpec,
  type FeatureSource,
  type InputMode,
  type PatientViews,
} from '../domain/input-mode.js';
import { InputError } from '../util/errors.js';
import type { StudyRow } from './manifest.js';
import { readImage } from './readers.js';

/** Who reads the row: names the command in messages (`polarcad train` / `evaluate`). */
export interface RowSourceContext {
  readonly manifestPath: string;
  /** 'train' or 'evaluate': the command to re-run on the prepared manifest. */
  readonly command: 'train' | 'evaluate';
  /** How the requirement is named when a view is missing, e.g. "--input ac" or "the model's input ac". */
  readonly requiredBy: string;
}

/**
 * Read the views of `mode` for `row` and arrange them (Hai et al. 2022 single map, Apostolopoulos
 * et al. 2020 tiles).
 * @throws InputError naming the manifest row and view for an export page, a missing column or a
 *   non-square image
 * @example await rowSource(row, 'tile2x2', { manifestPath, command: 'train', requiredBy: '--input tile2x2' })
 */
export async function rowSource(
  row: StudyRow,
  mode: InputMode,
  ctx: RowSourceContext,
): Promise<FeatureSource> {
  const { manifestPath, command } = ctx;
  if (row.page !== undefined) {
    const then = command === 'train' ? 'train on DIR/manifest.csv' : 'evaluate DIR/manifest.csv';
    const who = command === 'train' ? 'polarcad train' : 'evaluate';
    throw new InputError(
      `${manifestPath}: row ${row.row} (patient ${row.patientId}) refers to an export page; ${who} needs cleaned crops: run \`polarcad prepare ${manifestPath} --out DIR\` and ${then}`,
    );
  }
  const spec = inputModeSpec(mode);
  const maps: PatientViews = {};
  for (const v of spec.views) {
    const p = row.views[v];
    if (p === undefined)
      throw new InputError(
        `${manifestPath}: row ${row.row} (patient ${row.patientId}): column ${v} is empty; ${ctx.requiredBy} needs it`,
      );
    const img = await readImage(p);
    if (img.width !== img.height) {
      const hint =
        command === 'train'
          ? 'polarcad train expects the output of `polarcad prepare` (run it first and train on its manifest.csv)'
          : 'run `polarcad prepare` first';
      throw new InputError(
        `${p} (row ${row.row}, ${v}) is ${img.width}x${img.height}, not a square polar-map crop; ${hint}`,
      );
    }
    maps[v] = img;
  }
  return spec.arrange(maps);
}
