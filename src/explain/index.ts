/**
 * Explanations of one study: the CAD probability, a class activation map at the last
 * convolutional layer (Grad-CAM, Selvaraju et al. 2017; or CAM, Zhou et al. 2016, for a
 * GAP -> Dense head), the heatmap on the polar map with an overlay figure (like Figure 5 of Hai
 * et al. 2022), and the share of the heatmap in each territory and segment, in numbers and words.
 *
 * Cost: one backbone forward pass in ONNX Runtime (the backbone part, input .. CAM layer, exported
 * once per {@link Explainer}) plus a forward and backward pass through the small head in tfjs.
 */
import type * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../domain/image.js';
import { prepareInput, type FeatureSource, type InputLayout, type PatientViews } from '../engine/features.js';
import { OnnxModel } from '../engine/onnx/session.js';
import { tile2x2 } from '../ingest/preprocess.js';
import { isScalingMode, type ScalingMode } from '../domain/scaling.js';
import { getBackbone } from '../models/table.js';
import type { TerritoryMap, Vessel } from '../polarmap/territories.js';
import { InputError } from '../util/errors.js';
import { attributeHeatmap, attributeTile, type Attribution, type TileAttribution } from './attribution.js';
import { cam, gradCam, splitAtLayer, type HeadPart, type SplitModel } from './cam.js';
import {
  discMask,
  displayedHeatmap,
  EVIDENCE_LEGEND,
  evidenceWeight,
  heatmapOnMap,
  renderOverlayFigure,
  toDisplaySize,
  type FigureLayout,
  type OverlayOptions,
} from './overlay.js';

export * from './attribution.js';
export * from './cam.js';
export * from './overlay.js';

/** What the explainer needs to know about the model (the `polarcad.json` of a trained model). */
export interface ExplainInfo {
  /** Layer whose output is the last convolutional feature map. */
  readonly camLayer: string;
  /** Square model input side. */
  readonly inputSize: number;
  readonly scaling: ScalingMode;
  /** 'image' (one polar map, default) or 'tile2x2' (four views, Apostolopoulos et al. 2020). */
  readonly layout?: InputLayout;
  /** Output index of the CAD class (default: the index of 'cad' in `classes`, else 1). */
  readonly cadClass?: number;
  /** Class names in output order, e.g. ['normal', 'cad']. */
  readonly classes?: readonly string[];
}

/**
 * Fill an {@link ExplainInfo} from a `polarcad.json`-like object: the CAM layer, input size and
 * scaling default to the backbone table's row of `backbone`.
 * @throws InputError naming the missing field when neither it nor a known backbone is given.
 */
export function explainInfoFrom(info: {
  backbone?: string;
  camLayer?: string;
  inputSize?: number;
  scaling?: string;
  layout?: string;
  classes?: readonly string[];
}): ExplainInfo {
  const row = info.backbone !== undefined ? getBackbone(info.backbone) : undefined;
  const camLayer = info.camLayer ?? row?.camLayer;
  const inputSize = info.inputSize ?? row?.inputSize;
  const scaling = info.scaling ?? row?.scaling;
  if (camLayer === undefined)
    throw new InputError('model info: field "camLayer" is missing (and no known "backbone" to take it from)');
  if (inputSize === undefined)
    throw new InputError(
      'model info: field "inputSize" is missing (and no known "backbone" to take it from)',
    );
  if (scaling === undefined || !isScalingMode(scaling))
    throw new InputError(
      `model info: field "scaling" is ${scaling === undefined ? 'missing' : `"${scaling}", not a scaling mode`}`,
    );
  const layout = info.layout ?? 'image';
  if (layout !== 'image' && layout !== 'tile2x2')
    throw new InputError(`model info: field "layout" is "${layout}", expected image or tile2x2`);
  return {
    camLayer,
    inputSize,
    scaling,
    layout,
    ...(info.classes !== undefined ? { classes: info.classes } : {}),
  };
}

/** Options of {@link Explainer.create}. */
export interface ExplainerOptions {
  /**
   * An ONNX model (bytes or file, e.g. the run's `model.onnx`) with the CAM layer among its
   * outputs; default: the backbone part is exported from the tfjs model.
   */
  onnx?: Uint8Array | string;
  /** ONNX Runtime intra-op threads (default: every core). */
  threads?: number;
}

/** Options of one explanation. */
export interface ExplainOptions {
  /** 'auto' (default): CAM when the head is GAP -> Dense, else Grad-CAM. */
  method?: 'auto' | 'gradcam' | 'cam';
  /** Side of each figure panel and of the heatmap on the map, pixels (default: the image side, at least 320). */
  displaySize?: number;
  overlay?: OverlayOptions;
  territories?: TerritoryMap;
  /** Title above the original (default 'Polar map' / '2x2 tile'). */
  title?: string;
}

/** The explanation of one study. */
export interface StudyExplanation {
  /** Probability of CAD (the model's output for the CAD class). */
  readonly probability: number;
  /** All class probabilities. */
  readonly probabilities: readonly number[];
  /** The class score differentiated (logit difference for a 2-way softmax). */
  readonly score: number;
  readonly method: 'gradcam' | 'cam';
  /** The rectified map at the CAM layer's resolution (row-major height x width). */
  readonly heatmap: { readonly width: number; readonly height: number; readonly data: Float32Array };
  /**
   * The heatmap as displayed: resized to the polar map (display size), 0 outside the disc(s), and
   * weighted by the evidence for CAD (`relativeOnMap` x `evidenceWeight`), so its values lie in
   * [0, evidenceWeight] on the figure's fixed [0, 1] colour scale.
   */
  readonly heatmapOnMap: { readonly size: number; readonly data: Float32Array };
  /** The same heatmap divided by its own maximum (in [0, 1], maximum 1): the territory shares come from it. */
  readonly relativeOnMap: { readonly size: number; readonly data: Float32Array };
  /** The weight of the displayed heatmap: P(CAD) clamped to [0, 1] (`evidenceWeight`). */
  readonly evidenceWeight: number;
  /** The figure: original | overlay | colour bar | sentence. */
  readonly overlayPng: Uint8Array;
  readonly figure: FigureLayout;
  readonly territories: Readonly<Record<Vessel, number>>;
  /** Shares of segments 1..17 (index 0 = segment 1). */
  readonly segments: readonly number[];
  readonly sentence: string;
  /** Per-view attribution for the 2x2 layout. */
  readonly views?: TileAttribution['views'];
  /** Milliseconds: backbone (ONNX Runtime), head (forward + gradient), figure. */
  readonly timings: { readonly backboneMs: number; readonly headMs: number; readonly figureMs: number };
}

function isImage(s: FeatureSource): s is RgbImage {
  return typeof (s as RgbImage).width === 'number' && (s as RgbImage).data instanceof Uint8Array;
}

function cadIndex(info: ExplainInfo, head: HeadPart): number {
  if (info.cadClass !== undefined) return info.cadClass;
  const i = info.classes?.findIndex((c) => c.toLowerCase() === 'cad') ?? -1;
  if (i >= 0) return i;
  return head.classes === 1 ? 1 : Math.min(1, head.classes - 1);
}

/**
 * Explains studies with one loaded model: the backbone part in one ONNX Runtime session, the
 * head in tfjs. Create once, call {@link Explainer.explain} per study, {@link Explainer.dispose} at the end.
 */
export class Explainer {
  private constructor(
    readonly info: ExplainInfo,
    readonly split: SplitModel,
    private readonly session: OnnxModel,
    private readonly outputName: string,
    readonly cadClass: number,
  ) {}

  /**
   * Split `model` (backbone + head) at `info.camLayer` and open the ONNX Runtime session.
   * @throws InputError for a bad model/info pair or an ONNX model without the CAM layer output.
   */
  static async create(
    model: tf.LayersModel,
    info: ExplainInfo,
    opts: ExplainerOptions = {},
  ): Promise<Explainer> {
    const inShape = model.inputs[0]?.shape;
    if (model.inputs.length !== 1 || inShape?.[1] !== info.inputSize || inShape?.[2] !== info.inputSize) {
      throw new InputError(
        `model "${model.name}" input is [${inShape?.join(', ')}], but the model info says inputSize ${info.inputSize}`,
      );
    }
    const split = splitAtLayer(model, info.camLayer);
    const session = await OnnxModel.create(opts.onnx ?? split.exportBackbone(), { threads: opts.threads });
    const outputName =
      session.outputNames.find((n) => n === info.camLayer) ??
      (opts.onnx === undefined ? session.outputNames[0] : undefined);
    if (outputName === undefined) {
      await session.dispose();
      const where = typeof opts.onnx === 'string' ? opts.onnx : 'the ONNX model';
      throw new InputError(
        `${where}: no output named "${info.camLayer}" (the CAM layer); outputs are ${session.outputNames.join(', ')}`,
      );
    }
    const cls = cadIndex(info, split.head);
    return new Explainer(info, split, session, outputName, cls);
  }

  /** The feature map at the CAM layer of one study (ONNX Runtime). */
  async featureMap(src: FeatureSource): Promise<Float32Array> {
    const S = this.info.inputSize;
    const x = prepareInput(src, 0, this.info.layout ?? 'image', S, this.info.scaling);
    const res = await this.session.run(x, [1, S, S, 3]);
    const out = res[this.outputName];
    const [h, w, c] = this.split.head.featureShape;
    if (out.data.length !== h * w * c)
      throw new Error(
        `internal: ONNX output ${this.outputName} has dims [${out.dims.join(', ')}], expected [1, ${h}, ${w}, ${c}]`,
      );
    return out.data;
  }

  /**
   * Explain one study: a square polar-map crop (layout 'image'; disc inscribed) or the patient's
   * four views (layout 'tile2x2').
   */
  async explain(src: FeatureSource, opts: ExplainOptions = {}): Promise<StudyExplanation> {
    const layout = this.info.layout ?? 'image';
    if (layout === 'image' && isImage(src) && src.width !== src.height) {
      throw new InputError(
        `explain: the polar-map crop must be square (disc inscribed), got ${src.width}x${src.height}`,
      );
    }
    const t0 = performance.now();
    const features = await this.featureMap(src);
    const t1 = performance.now();
    const head = this.split.head;
    const [h, w] = head.featureShape;
    const method = opts.method ?? 'auto';
    if (method === 'cam' && head.camWeights === null) {
      throw new InputError(
        `explain: CAM needs a GlobalAveragePooling -> Dense head; this head (${head.layerNames.join(' -> ')}) has hidden layers, use Grad-CAM`,
      );
    }
    const g = gradCam(features, head, this.cadClass);
    let map = g.map;
    let used: 'gradcam' | 'cam' = 'gradcam';
    if (method !== 'gradcam' && head.camWeights !== null) {
      map = cam(features, head.featureShape, head.camWeights, this.cadClass, head.activation).map((v) =>
        Math.max(0, v),
      );
      used = 'cam';
    }
    const t2 = performance.now();

    const original = isImage(src)
      ? src
      : tile2x2(
          src as PatientViews,
          2 * Math.max(...Object.values(src as PatientViews).map((i) => (i as RgbImage).width)),
        );
    const D = opts.displaySize ?? Math.max(320, original.width - (original.width % 2));
    if (!Number.isInteger(D) || D < 16 || (layout === 'tile2x2' && D % 2 !== 0))
      throw new InputError(
        `explain: displaySize must be an integer >= 16${layout === 'tile2x2' ? ' and even' : ''}, got ${D}`,
      );
    const shown = toDisplaySize(original, D);
    const mask = discMask(D, layout);
    const onMap = heatmapOnMap(map, h, w, D, mask, layout);
    // the figure also covers the displayed map's anti-aliased rim (1 px beyond the disc)
    const shownMask = discMask(D, layout, 1);
    const attrOpts = { territories: opts.territories };
    const attr: Attribution | TileAttribution =
      layout === 'tile2x2' ? attributeTile(onMap, D, attrOpts) : attributeHeatmap(onMap, D, attrOpts);
    const p = g.probabilities[head.classes === 1 ? 0 : this.cadClass];
    const probability = head.classes === 1 && this.cadClass === 0 ? 1 - p : p;
    // the display is on a fixed scale weighted by the evidence for CAD: a confident normal looks quiet
    const weight = evidenceWeight(probability);
    const displayed = displayedHeatmap(onMap, weight);
    const { png, layout: figure } = await renderOverlayFigure(
      shown,
      displayed,
      shownMask,
      {
        originalTitle: opts.title ?? (layout === 'tile2x2' ? '2x2 tile' : 'Polar map'),
        overlayTitle: `${used === 'cam' ? 'CAM' : 'Grad-CAM'}, CAD class`,
        caption: `P(CAD) = ${probability.toFixed(2)}. ${attr.sentence}`,
        legendLabel: EVIDENCE_LEGEND,
      },
      { ...opts.overlay, layout },
    );
    const t3 = performance.now();
    return {
      probability,
      probabilities: Array.from(g.probabilities),
      score: g.score,
      method: used,
      heatmap: { width: w, height: h, data: map },
      heatmapOnMap: { size: D, data: displayed },
      relativeOnMap: { size: D, data: onMap },
      evidenceWeight: weight,
      overlayPng: png,
      figure,
      territories: attr.territories,
      segments: attr.segments,
      sentence: attr.sentence,
      ...('views' in attr ? { views: (attr as TileAttribution).views } : {}),
      timings: { backboneMs: t1 - t0, headMs: t2 - t1, figureMs: t3 - t2 },
    };
  }

  /** Release the ONNX Runtime session (the tfjs model stays the caller's). */
  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

/** The evidence for CAD of one study from one network or the members of an ensemble. */
export interface MemberEvidence {
  /** P(CAD): the network's, or the mean of the members' */
  readonly probability: number;
  /** class probabilities (the mean over members) */
  readonly probabilities: readonly number[];
  /** log-odds of `probability` (for one network: the head's CAD score, as `gradCam` gives it) */
  readonly score: number;
  /** CAM (GAP -> Dense head) or Grad-CAM, as `Explainer.explain`'s 'auto' */
  readonly method: 'cam' | 'gradcam';
  /** the rectified map at the CAM layer (row-major height x width): the mean of the members' maps */
  readonly map: Float32Array;
  readonly width: number;
  readonly height: number;
  /** milliseconds in the backbones (ONNX Runtime) and in the heads */
  readonly backboneMs: number;
  readonly headMs: number;
}

/**
 * The probability and heatmap of one study from `explainers` (one network, or the K members of a
 * fold ensemble, all of the same backbone and input): each member's CAM / Grad-CAM of the CAD
 * class (Selvaraju et al. 2017) at its CAM layer, then the mean of the members' maps and of their
 * class probabilities (the ensemble's P(CAD) is the mean probability, src/rundir/ensemble.ts).
 * @throws InputError when the members' CAM layers differ in size
 */
export async function explainMembers(
  explainers: readonly Explainer[],
  src: FeatureSource,
): Promise<MemberEvidence> {
  if (explainers.length === 0) throw new Error('internal error: no explainer');
  let backboneMs = 0;
  let headMs = 0;
  const parts: {
    g: ReturnType<typeof gradCam>;
    map: Float32Array;
    probability: number;
    method: 'cam' | 'gradcam';
  }[] = [];
  for (const ex of explainers) {
    const t0 = performance.now();
    const features = await ex.featureMap(src);
    const t1 = performance.now();
    const head = ex.split.head;
    const cls = ex.cadClass;
    const g = gradCam(features, head, cls);
    const map =
      head.camWeights !== null
        ? cam(features, head.featureShape, head.camWeights, cls, head.activation).map((v) => Math.max(0, v))
        : g.map;
    const pc = g.probabilities[head.classes === 1 ? 0 : cls];
    const probability = head.classes === 1 && cls === 0 ? 1 - pc : pc;
    parts.push({
      g,
      map,
      probability,
      method: head.camWeights !== null ? ('cam' as const) : ('gradcam' as const),
    });
    backboneMs += t1 - t0;
    headMs += performance.now() - t1;
  }
  const first = parts[0];
  if (parts.length === 1)
    return {
      probability: first.probability,
      probabilities: Array.from(first.g.probabilities),
      score: first.g.score,
      method: first.method,
      map: first.map,
      width: first.g.width,
      height: first.g.height,
      backboneMs,
      headMs,
    };
  for (const p of parts)
    if (p.g.width !== first.g.width || p.g.height !== first.g.height || p.map.length !== first.map.length)
      throw new InputError(
        `ensemble members' CAM maps differ in size (${p.g.width}x${p.g.height} against ${first.g.width}x${first.g.height})`,
      );
  const n = parts.length;
  const map = new Float32Array(first.map.length);
  for (const p of parts) for (let i = 0; i < map.length; i++) map[i] += p.map[i] / n;
  const probabilities = Array.from(
    first.g.probabilities,
    (_, j) => parts.reduce((s, p) => s + p.g.probabilities[j], 0) / n,
  );
  const probability = parts.reduce((s, p) => s + p.probability, 0) / n;
  const q = Math.min(1 - 1e-7, Math.max(1e-7, probability));
  return {
    probability,
    probabilities,
    score: Math.log(q / (1 - q)),
    method: first.method,
    map,
    width: first.g.width,
    height: first.g.height,
    backboneMs,
    headMs,
  };
}

/**
 * Explain one study with `model` (convenience: creates an {@link Explainer}, explains, disposes;
 * for many studies keep one Explainer, which exports the backbone to ONNX only once).
 */
export async function explainStudy(
  model: tf.LayersModel,
  info: ExplainInfo,
  image: FeatureSource,
  opts: ExplainOptions & ExplainerOptions = {},
): Promise<StudyExplanation> {
  const ex = await Explainer.create(model, info, opts);
  try {
    return await ex.explain(image, opts);
  } finally {
    await ex.dispose();
  }
}
