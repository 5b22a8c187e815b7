/**
 * One study through a loaded model: the cleaned maps -> the model input the model was trained on
 * (one view, or the 2x2 AC+NAC tile of Apostolopoulos et al. 2020) -> the backbone feature map
 * (ONNX Runtime) -> the class probabilities and the Grad-CAM heatmap of the CAD class (Selvaraju
 * et al. 2017, `explain/cam.ts`) -> the heatmap on the polar map, its share per territory and
 * segment (`explain/attribution.ts`), the overlay figure like Figure 5 of Hai et al. 2022
 * (`explain/overlay.ts`), the semi-quantitative scores when a normal database is loaded, the
 * decision at the operating threshold and the confidence wording.
 */
import type { ClinicalValues } from '../models/linear/clinical.js';
import sharp from 'sharp';
import type { RgbImage } from '../domain/image.js';
import { VIEW_CAPTIONS, type View } from '../domain/views.js';
import {
  attributeHeatmap,
  attributeTile,
  describeAttribution,
  type Attribution,
} from '../explain/attribution.js';
import { explainMembers } from '../explain/index.js';
import {
  discMask,
  displayedHeatmap,
  EVIDENCE_LEGEND,
  heatmapOnMap,
  renderOverlayFigure,
} from '../explain/overlay.js';
import {
  INPUT_MODE_SPECS,
  correctionViews,
  isImage,
  type FeatureSource,
  type InputLayout,
} from '../domain/input-mode.js';
import { resizeRgb, tile2x2 } from '../ingest/preprocess.js';
import { cropSegmentMeans } from '../polarmap/read-uptake.js';
import { BUILTIN_COLORMAPS, getColormap, type Colormap } from '../polarmap/colormaps.js';
import { recordedTable } from '../polarmap/colormap-record.js';
import { normalDbColormapWarning, type Sex } from '../polarmap/normal-database.js';
import { ColormapRecogniser, recognitionDoubt } from '../polarmap/recognise-colormap.js';
import { scoreStudy, type StudyScoring } from '../polarmap/scoring.js';
import type { Vessel } from '../polarmap/territories.js';
import { InputError, errorMessage } from '../util/errors.js';
import { bullseyeSvg } from './bullseye.js';
import { confidenceOf, type ConfidenceBand } from './confidence.js';
import { mapsFromFiles, type MapsFromFilesOptions, type StudyFile } from './inputs.js';
import type { Predictor } from './predictor.js';
import { predictLinearStudy } from './linear-study.js';

/** Side of the overlay panels: one map, or the 2x2 tile. */
export const DISPLAY_SIZE = { image: 256, tile2x2: 512 } as const;

/**
 * Semi-quantitative scores of one correction (AC or NAC): SSS, SRS and SDS as the scoring module
 * defines them (`polarmap/scoring.ts`), and the 17 stress and rest segment scores (0..4, -1 unscored).
 */
export type CorrectionScores = Pick<StudyScoring, 'correction' | 'sss' | 'srs' | 'sds'> & {
  readonly stress: readonly number[];
  readonly rest: readonly number[];
};

/** Scores of a study, or why there are none. */
export interface StudyScores {
  readonly available: boolean;
  /** Why not (no normal database, maps missing, colour map not recognised). */
  readonly reason: string | null;
  readonly colormap: string | null;
  /** Where `colormap` came from (see {@link ColormapSource}); null when none was settled. */
  readonly colormapSource: ColormapSource | null;
  /**
   * Set when `colormap` is not the one the normal database was fitted with (`normalDbColormapWarning`),
   * or was recognised unsure in the study (`recognitionDoubt`, with its coverage).
   */
  readonly warning: string | null;
  readonly AC: CorrectionScores | null;
  readonly NAC: CorrectionScores | null;
}

/**
 * Where the scores' colour map came from: `given` (--colormap), `run` (recorded with the trained
 * run: a CNN's polarcad.json name, a closed-form model's table) or `recognised` in the study itself.
 */
export type ColormapSource = 'given' | 'run' | 'recognised';

/** Milliseconds per stage. */
export interface StudyTimings {
  readonly readMs: number;
  readonly backboneMs: number;
  readonly gradcamMs: number;
  readonly explainMs: number;
  readonly scoresMs: number;
  readonly totalMs: number;
}

/** The result of {@link predictStudy}: everything `predict` prints and the server returns. */
export interface StudyResult {
  readonly study: string;
  /** CAD probability: calibrated when the model has a temperature, else the model's output. */
  readonly probability: number;
  readonly rawProbability: number;
  readonly calibrated: boolean;
  readonly threshold: number;
  readonly decision: 'CAD' | 'normal';
  readonly confidence: { readonly band: ConfidenceBand; readonly wording: string };
  /** 'page' or 'maps'. */
  readonly source: 'page' | 'maps';
  /** Views the study had; views the model read. */
  readonly viewsFound: readonly View[];
  readonly viewsUsed: readonly View[];
  readonly territories: Readonly<Record<Vessel, number>>;
  /** Share of the heatmap per segment, index 0 = segment 1. */
  readonly segments: readonly number[];
  readonly sentence: string;
  readonly scores: StudyScores;
  /** 17-segment bull's-eye coloured by stress score (normal database) or heatmap share. */
  readonly bullseye: {
    readonly kind: 'score' | 'share';
    readonly values: readonly number[];
    readonly svg: string;
  };
  readonly model: { readonly backbone: string; readonly input: string };
  readonly timings: StudyTimings;
  /** What the reader must know before trusting the result (e.g. a colour map unlike the training maps'). */
  readonly warnings: readonly string[];
}

/** Images that go with a result (not part of its JSON); PNGs are encoded on first request and kept. */
export interface StudyImages {
  /** The heatmap as displayed on the display raster, `size` x `size`, on a fixed [0, 1] scale (CNN: weighted by P(CAD); linear: evidence per segment). */
  readonly heatmap: Float32Array;
  readonly size: number;
  /** The map (or tile) the model read, at display size. */
  readonly display: RgbImage;
  readonly layout: InputLayout;
  /** The overlay figure (original | overlay | colour bar, caption), PNG. */
  overlayPng(): Promise<Uint8Array>;
  /** The display map alone, PNG. */
  originalPng(): Promise<Uint8Array>;
}

/** Input of {@link predictStudy}: encoded files of one study, or already cleaned maps. */
export type StudyInput =
  | { readonly files: readonly StudyFile[] }
  | { readonly maps: Partial<Record<View, RgbImage>>; readonly source?: 'page' | 'maps' };

/** Options of {@link predictStudy}. */
export interface PredictStudyOptions extends Omit<MapsFromFilesOptions, 'needed'> {
  /** Name of the study in the result (default 'study'). */
  readonly study?: string;
  /** Colour map of the exports for the scores (default: recognised among the built-in ones). */
  readonly colormap?: Colormap;
  /** Clinical values for a model with a clinical member (`train --clinical`); missing ones are imputed. */
  readonly clinical?: ClinicalValues;
  /** Sex for the normal limits, when known. */
  readonly sex?: Sex;
  /** Refuse (InputError) a study whose colour map is not the one the model was trained on, instead of warning. */
  readonly strict?: boolean;
}

/**
 * The warning for a study whose maps are not in the colour map the model was trained on (recorded
 * as `colormap` in the model's polarcad.json by `train`), or null when they are, or when the model
 * records none. Recognised over the study's maps by `ColormapRecogniser` (the rule `prepare` and
 * `score` use). A CNN reads colours, not uptake: a greyscale copy of a rainbow map can flip the call.
 * @example colormapWarning(p, maps) // 'the maps look like gray, but the model was trained on rainbow ...'
 */
export function colormapWarning(p: Predictor, maps: Partial<Record<View, RgbImage>>): string | null {
  const trained = p.info['colormap'];
  if (typeof trained !== 'string' || trained === '') return null;
  // the run's own table (a user table too) is a candidate beside the built-in ones
  const own = runColormap(p);
  const builtins = BUILTIN_COLORMAPS.map((n) => getColormap(n)).filter((c) => c.name !== own?.name);
  const rec = new ColormapRecogniser({ candidates: own === null ? builtins : [own, ...builtins] });
  for (const img of Object.values(maps)) if (img !== undefined) rec.add(img);
  let seen: string;
  try {
    const r = rec.result();
    if (r.colormap.name === trained || r.alsoFits.includes(trained)) return null;
    seen = `look like the ${r.colormap.name} colour map`;
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    seen = 'are in no known colour map';
  }
  return `the maps ${seen}, but the model was trained on ${trained} maps: its probability may be wrong (export the study in ${trained})`;
}

/**
 * The colour map recorded with the trained run: a closed-form model's full table, or the built-in
 * colour map named in a CNN's polarcad.json (`train` records the prepared cohort's); null when the
 * run records none (or a name that is not built in).
 * @example runColormap(p)?.name // 'rainbow'
 */
export function runColormap(p: Predictor): Colormap | null {
  if (p.linear !== null) return p.linear.colormap;
  return recordedTable(p.info['colormapTable']) ?? recordedTable(p.info['colormap']);
}

const ms = (t0: number): number => Math.round((performance.now() - t0) * 10) / 10;

/** The source of the model input and the display raster for the model's input mode. */
function sourceFor(
  p: Predictor,
  maps: Partial<Record<View, RgbImage>>,
): { src: FeatureSource; display: RgbImage; layout: InputLayout } {
  const src = INPUT_MODE_SPECS[p.input].arrange(maps);
  if (isImage(src)) return { src, display: src, layout: 'image' };
  return { src, display: tile2x2(src, DISPLAY_SIZE.tile2x2), layout: 'tile2x2' };
}

/**
 * SSS/SRS/SDS of a study when the predictor has a normal database (shared by the CNN and closed-form
 * paths). The maps are read with `opts.colormap` when given, else the colour map recorded with the
 * run ({@link runColormap}), else the one recognised in the study; `colormapSource` says which.
 */
export function studyScores(
  p: Predictor,
  maps: Partial<Record<View, RgbImage>>,
  opts: PredictStudyOptions,
): StudyScores {
  let source: ColormapSource = 'given';
  const none = (reason: string, colormap: string | null = null): StudyScores => ({
    available: false,
    reason,
    colormap,
    colormapSource: colormap === null ? null : source,
    warning: null,
    AC: null,
    NAC: null,
  });
  if (p.normalDb === null)
    return none(
      'SSS/SRS/SDS need a normal database (polarcad score --save-normal-db FILE, then --normal-db FILE)',
    );
  const pairs = (['AC', 'NAC'] as const).filter(
    (c) => maps[correctionViews(c).stress] !== undefined && maps[correctionViews(c).rest] !== undefined,
  );
  if (pairs.length === 0)
    return none('SSS/SRS/SDS need the stress and rest maps of one correction (AC or NAC)');
  let doubt: string | null = null;
  let cm = opts.colormap;
  if (cm === undefined) {
    cm = runColormap(p) ?? undefined;
    source = 'run';
  }
  if (cm === undefined) {
    source = 'recognised';
    const rec = new ColormapRecogniser();
    for (const img of Object.values(maps)) if (img !== undefined) rec.add(img);
    try {
      const r = rec.result();
      if (r.alsoFits.length > 0)
        return none(
          `the colour map is ambiguous in this study (${[r.colormap.name, ...r.alsoFits].join(' or ')}); give it with --colormap`,
        );
      cm = r.colormap;
      doubt = recognitionDoubt(r);
    } catch (e) {
      return none(e instanceof InputError ? e.message : errorMessage(e));
    }
  }
  const mismatch = normalDbColormapWarning(p.normalDb, cm.name);
  if (mismatch !== null && opts.strict === true) throw new InputError(`${mismatch}; refused (strict)`);
  const warning = [mismatch, doubt].filter((w) => w !== null).join('; ') || null;
  const out: { AC: CorrectionScores | null; NAC: CorrectionScores | null } = { AC: null, NAC: null };
  for (const c of pairs) {
    const { stress: sv, rest: rv } = correctionViews(c);
    try {
      const stress = cropSegmentMeans(maps[sv] as RgbImage, VIEW_CAPTIONS[sv], cm);
      const rest = cropSegmentMeans(maps[rv] as RgbImage, VIEW_CAPTIONS[rv], cm);
      const s = scoreStudy(
        { stress, rest, correction: c, ...(opts.sex !== undefined ? { sex: opts.sex } : {}) },
        p.normalDb,
      );
      out[c] = {
        correction: c,
        sss: s.sss,
        srs: s.srs,
        sds: s.sds,
        stress: Array.from(s.stress.scores),
        rest: Array.from(s.rest.scores),
      };
    } catch (e) {
      return none(e instanceof InputError ? e.message : errorMessage(e), cm.name);
    }
  }
  return { available: true, reason: null, colormap: cm.name, colormapSource: source, warning, ...out };
}

/**
 * Predict and explain one study.
 * @throws InputError for unusable input (see `mapsFromFiles`): the caller reports it and goes on.
 */
export async function predictStudy(
  p: Predictor,
  input: StudyInput,
  opts: PredictStudyOptions = {},
): Promise<{ result: StudyResult; images: StudyImages }> {
  const t0 = performance.now();
  const got =
    'files' in input
      ? await mapsFromFiles(input.files, {
          ...opts,
          needed: p.views,
          ...(p.normalDb === null ? { only: p.views } : {}),
        })
      : { maps: input.maps, source: input.source ?? 'maps' };
  const missing = p.views.filter((v) => got.maps[v] === undefined);
  if (missing.length > 0)
    throw new InputError(`the model needs ${p.views.join(', ')}; missing: ${missing.join(', ')}`);
  const cmWarning = colormapWarning(p, got.maps);
  if (cmWarning !== null && opts.strict === true) throw new InputError(`${cmWarning}; refused (strict)`);
  if (p.linear !== null) {
    const warnings = cmWarning === null ? [] : [cmWarning];
    return predictLinearStudy(p, got.maps, got.source, opts, t0, warnings);
  }
  if (p.explainers.length === 0) throw new Error('internal error: a CNN predictor without an explainer');
  const { src, display, layout } = sourceFor(p, got.maps);
  const readMs = ms(t0);

  // one network, or the mean of a fold ensemble's members (probability and map; explain/index.ts)
  const ev = await explainMembers(p.explainers, src);
  const backboneMs = ev.backboneMs;
  const gradcamMs = ev.headMs;
  const map = ev.map;
  const method = ev.method === 'cam' ? 'CAM' : 'Grad-CAM';
  const rawProbability = ev.probability;
  // ev.score is the log-odds of the CAD class (explain/cam.ts; the mean probability's for an ensemble)
  const probability = p.temperature === null ? rawProbability : 1 / (1 + Math.exp(-ev.score / p.temperature));

  const t3 = performance.now();
  const size = DISPLAY_SIZE[layout];
  const shown = display.width === size && display.height === size ? display : resizeRgb(display, size, size);
  const mask = discMask(size, layout);
  const heat = heatmapOnMap(map, ev.height, ev.width, size, mask, layout);
  let att: Attribution;
  if (layout === 'image') att = attributeHeatmap(heat, size);
  else {
    const t = attributeTile(heat, size);
    // 'ac' / 'nac' show the pair on both rows of the tile: the per-view phrase would name the wrong maps
    att =
      p.input === 'tile2x2' ? t : { ...t, sentence: describeAttribution(t.segments, t.territories, t.mass) };
  }
  const caption = att.sentence;
  const originalTitle = layout === 'image' ? VIEW_CAPTIONS[p.views[0]] : 'Polar maps';
  const explainMs = ms(t3);

  const t4 = performance.now();
  const scores = studyScores(p, got.maps, opts);
  const scoresMs = ms(t4);
  const main = scores.AC ?? scores.NAC;
  const bullseye =
    main !== null
      ? {
          kind: 'score' as const,
          values: main.stress,
          svg: bullseyeSvg(main.stress, { kind: 'score', title: `${main.correction} stress segment scores` }),
        }
      : { kind: 'share' as const, values: att.segments, svg: bullseyeSvg(att.segments, { kind: 'share' }) };
  const result: StudyResult = {
    study: opts.study ?? 'study',
    probability,
    rawProbability,
    calibrated: p.temperature !== null,
    threshold: p.threshold,
    decision: probability >= p.threshold ? 'CAD' : 'normal',
    confidence: confidenceOf(probability),
    source: got.source,
    viewsFound: (Object.keys(got.maps) as View[]).filter((v) => got.maps[v] !== undefined),
    viewsUsed: p.views,
    territories: att.territories,
    segments: att.segments,
    sentence: att.sentence,
    scores,
    bullseye,
    model: { backbone: p.card.backbone, input: p.card.input },
    timings: { readMs, backboneMs, gradcamMs, explainMs, scoresMs, totalMs: ms(t0) },
    warnings: [
      ...(cmWarning === null ? [] : [cmWarning]),
      ...(scores.warning === null ? [] : [scores.warning]),
    ],
  };
  // displayed on a fixed scale weighted by the evidence for CAD (explain/overlay.ts displayedHeatmap)
  const images = studyImages(shown, displayedHeatmap(heat, probability), layout, {
    caption,
    originalTitle,
    overlayTitle: `${method}, CAD class`,
    legendLabel: EVIDENCE_LEGEND,
  });
  return { result, images };
}

/**
 * The images of a result: the overlay figure and the display map, each PNG encoded on first
 * request and kept. The figure also covers the displayed map's anti-aliased rim (1 px beyond the
 * disc), as `Explainer.explain`.
 */
export function studyImages(
  shown: RgbImage,
  heat: Float32Array,
  layout: InputLayout,
  titles: { caption: string; originalTitle: string; overlayTitle: string; legendLabel?: string },
): StudyImages {
  const size = shown.width;
  let overlay: Promise<Uint8Array> | null = null;
  let original: Promise<Uint8Array> | null = null;
  return {
    heatmap: heat,
    size,
    display: shown,
    layout,
    overlayPng: () =>
      (overlay ??= renderOverlayFigure(shown, heat, discMask(size, layout, 1), titles, { layout }).then(
        (r) => r.png,
      )),
    originalPng: () =>
      (original ??= sharp(Buffer.from(shown.data), { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toBuffer()
        .then((b) => new Uint8Array(b))),
  };
}
