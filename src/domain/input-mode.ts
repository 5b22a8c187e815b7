/**
 * Model inputs: the one place that says which polar maps a model reads and how they become the
 * image the backbone sees (Hai et al. 2022: one map; Apostolopoulos et al. 2020: the 2x2 AC+NAC
 * tile and its AC-only / NAC-only variants). Training, evaluation, prediction, the experiments and
 * the reports all take a mode's views, layout and arrangement from here; the per-backbone pixel
 * scaling is `src/domain/scaling.ts` (each row of the backbone table `src/models/table.ts` names its mode).
 *
 * One meaning per name:
 * - a view name (`stress_ac`, `rest_ac`, `stress_nac`, `rest_nac`): that map alone, 'image' layout;
 * - `tile2x2`: the four maps tiled 2x2 in the `VIEWS` order (AC top, NAC bottom);
 * - `ac` / `nac`: the stress/rest pair of one correction, tiled 2x2 with the pair in BOTH rows
 *   (stress left, rest right). The tile keeps the geometry of `tile2x2`; repeating the pair (rather
 *   than a black second row) is what every saved run of `polarcad train` was trained with, so
 *   `predict`, `serve` and `evaluate` read those runs unchanged.
 *
 * Adding a mode: add its name to `INPUT_MODES` and its row to `INPUT_MODE_SPECS` (views, layout,
 * arrangement); every command then accepts it.
 */
import type { RgbImage } from './image.js';
import { VIEWS, isView, type View } from './views.js';

/** The maps of one patient, by view (any subset). */
export type PatientViews = Partial<Record<View, RgbImage>>;
/** What a mode hands to the feature extractor: one image ('image') or views ('tile2x2'). */
export type FeatureSource = RgbImage | PatientViews;
/** How a source becomes the model input: one image, or four views tiled 2x2. */
export type InputLayout = 'image' | 'tile2x2';

/** Every model input mode (the values of `--input`). */
export const INPUT_MODES = [
  'stress_ac',
  'rest_ac',
  'stress_nac',
  'rest_nac',
  'tile2x2',
  'ac',
  'nac',
] as const;
export type InputMode = (typeof INPUT_MODES)[number];

/** The definition of one input mode. */
export interface InputModeSpec {
  readonly name: InputMode;
  /** The views read from a study, in order. */
  readonly views: readonly View[];
  readonly layout: InputLayout;
  /** One line for help texts and reports. */
  readonly description: string;
  /** The feature source of a patient's maps (every view in `views` present). */
  arrange(maps: PatientViews): FeatureSource;
}

function single(view: View): InputModeSpec {
  return {
    name: view,
    views: [view],
    layout: 'image',
    description: `the ${view} map alone`,
    arrange: (maps) => required(maps, view),
  };
}

function pairTile(name: 'ac' | 'nac', stress: View, rest: View): InputModeSpec {
  return {
    name,
    views: [stress, rest],
    layout: 'tile2x2',
    description: `the ${name.toUpperCase()} stress/rest pair tiled 2x2, the pair in both rows`,
    arrange: (maps) => {
      const s = required(maps, stress);
      const r = required(maps, rest);
      return { stress_ac: s, rest_ac: r, stress_nac: s, rest_nac: r };
    },
  };
}

function required(maps: PatientViews, v: View): RgbImage {
  const img = maps[v];
  if (img === undefined) throw new RangeError(`model input: the ${v} map is missing`);
  return img;
}

/** The modes, by name. */
export const INPUT_MODE_SPECS: Readonly<Record<InputMode, InputModeSpec>> = {
  stress_ac: single('stress_ac'),
  rest_ac: single('rest_ac'),
  stress_nac: single('stress_nac'),
  rest_nac: single('rest_nac'),
  tile2x2: {
    name: 'tile2x2',
    views: VIEWS,
    layout: 'tile2x2',
    description: 'the four maps tiled 2x2 (AC top, NAC bottom; Apostolopoulos et al. 2020)',
    arrange: (maps) => {
      for (const v of VIEWS) required(maps, v);
      return maps;
    },
  },
  ac: pairTile('ac', 'stress_ac', 'rest_ac'),
  nac: pairTile('nac', 'stress_nac', 'rest_nac'),
};

export function isInputMode(s: string): s is InputMode {
  return (INPUT_MODES as readonly string[]).includes(s);
}

/**
 * The definition of `mode`.
 * @throws RangeError naming the known modes for an unknown name
 * @example inputModeSpec('tile2x2').views // ['stress_ac', 'rest_ac', 'stress_nac', 'rest_nac']
 */
export function inputModeSpec(mode: string): InputModeSpec {
  if (!isInputMode(mode))
    throw new RangeError(`unknown model input "${mode}" (expected ${INPUT_MODES.join(', ')})`);
  return INPUT_MODE_SPECS[mode];
}

/** Views read by `mode`. */
export function viewsOf(mode: InputMode): readonly View[] {
  return INPUT_MODE_SPECS[mode].views;
}

/** Layout of `mode`. */
export function layoutOf(mode: InputMode): InputLayout {
  return INPUT_MODE_SPECS[mode].layout;
}

/** True for a single image (not a set of views). */
export function isImage(s: FeatureSource): s is RgbImage {
  return typeof (s as RgbImage).width === 'number' && (s as RgbImage).data instanceof Uint8Array;
}

/** True when `mode` reads exactly one view (whose name it is). */
export function isSingleView(mode: InputMode): mode is View {
  return isView(mode);
}

/**
 * Which stress/rest views belong to a correction (AC or NAC): the mapping the semi-quantitative
 * scores and the AC/NAC inputs share.
 */
export function correctionViews(c: 'AC' | 'NAC'): { readonly stress: View; readonly rest: View } {
  return c === 'AC' ? { stress: 'stress_ac', rest: 'rest_ac' } : { stress: 'stress_nac', rest: 'rest_nac' };
}
