/**
 * The engine's interface to the trainer: "activations at the cut of the frozen backbone for these
 * images". The frozen part (input .. cut layers) is exported to ONNX once and run by one ONNX
 * Runtime session; results are served from / stored in the {@link FeatureCache}, so each image
 * (or augmented copy) goes through the frozen layers once across epochs, stages, folds and runs.
 * The caller never sees whether a value came from the cache.
 *
 * Transfer learning with a frozen feature extractor and a trained top follows Hai et al. (2022)
 * (frozen ImageNet backbone, then the top k layers unfrozen) and Apostolopoulos et al. (2020)
 * (rotation-augmented 2x2 AC+NAC tiles).
 */
import { createHash } from 'node:crypto';
import type * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../domain/image.js';
import { isImage, type FeatureSource, type InputLayout } from '../domain/input-mode.js';
import { VIEWS } from '../domain/views.js';
import { rotateMap, rotatePatient } from '../ingest/augment.js';
import { tile2x2, toModelInput } from '../ingest/preprocess.js';
import { isScalingMode, type ScalingMode } from '../domain/scaling.js';
import { InputError } from '../util/errors.js';
import { FeatureCache, type CacheStats, type FeatureTensor } from './cache.js';
import { exportToOnnx } from './onnx/export.js';
import { OnnxModel } from './onnx/session.js';

export type { FeatureSource, InputLayout, PatientViews } from '../domain/input-mode.js';

/** One item to extract features for. */
export interface FeatureItem {
  /**
   * Content hash of the source (e.g. sha256 of the image file bytes, or {@link imageContentHash}).
   * Default: {@link imageContentHash} of the loaded source.
   */
  key?: string;
  /** The source, or a loader called only when the features are not cached. */
  image: FeatureSource | (() => FeatureSource | Promise<FeatureSource>);
  /** Rotation augmentation in degrees, clockwise (see `ingest/augment.ts`); default 0. */
  angle?: number;
}

/** Features of one cut layer for all items. */
export interface LayerFeatures {
  layer: string;
  /** Shape of one item's activation (no batch axis), channels-last. */
  shape: number[];
  /** items x prod(shape), in item order. */
  data: Float32Array;
}

/** Progress of one {@link FeatureExtractor.getFeatures} call. */
export interface FeatureProgress {
  done: number;
  total: number;
  /** Items served from the cache so far. */
  hits: number;
  /** Items computed by ONNX Runtime so far. */
  computed: number;
}

/** Options of {@link FeatureExtractor.getFeatures}. */
export interface GetFeaturesOptions {
  /** Items per ONNX Runtime call (default 16). */
  batchSize?: number;
  onProgress?: (p: FeatureProgress) => void;
}

/** Options of {@link FeatureExtractor.create}. */
export interface FeatureExtractorOptions {
  /** The backbone (or backbone + head) layers model; its input must be [null, inputSize, inputSize, 3]. */
  model: tf.LayersModel;
  /** Backbone name (from the table), part of the cache key. */
  backboneName: string;
  /**
   * Identity of the weights: sha256 of the weights file (`ResolvedWeights.sha256`), or
   * 'random:<seed>' for a seeded random initialisation. `undefined`: a sha256 of the actual weight
   * values of the layers up to the cut is computed (always correct, costs one pass over them).
   * `null`: the weights cannot be identified (unseeded random init): nothing is cached.
   */
  weightsHash?: string | null;
  /** Layers whose outputs are the features (top-level layers of `model`), e.g. from {@link inputsOfLayer}. */
  cutLayers: readonly string[];
  inputSize: number;
  scaling: ScalingMode;
  /** 'image' (default) or 'tile2x2' (four views, Apostolopoulos et al. 2020). */
  layout?: InputLayout;
  /** Where features are kept; without it every call computes. */
  cache?: FeatureCache;
  /** ONNX Runtime intra-op threads (default: every core). */
  threads?: number;
}

// ---------------------------------------------------------------------------------------------
// Graph helpers (pure)

function layerByName(model: tf.LayersModel, name: string): tf.layers.Layer {
  const l = model.layers.find((x) => x.name === name);
  if (l === undefined) throw new InputError(`model "${model.name}" has no (top-level) layer named "${name}"`);
  return l;
}

/** The layers producing the inputs of `layer`'s first call, deduplicated, in call order. */
function producersOf(layer: tf.layers.Layer): tf.layers.Layer[] {
  const node = layer.inboundNodes[0];
  if (node === undefined) return [];
  const out: tf.layers.Layer[] = [];
  for (const t of node.inputTensors) {
    const src = t.sourceLayer;
    if ((src.inboundNodes[t.nodeIndex]?.outputTensors.length ?? 1) > 1) {
      throw new InputError(`layer "${src.name}" has several outputs; cannot cut at it`);
    }
    if (!out.includes(src)) out.push(src);
  }
  return out;
}

/**
 * The layer(s) whose OUTPUT feeds `layerName`: the cut point for "inputs of layer L". One name
 * for a plain layer; several for a merge layer (Add, Concatenate, Multiply) with distinct inputs;
 * the InputLayer's name when L reads the model input. Pure (no tensors computed).
 * @throws InputError for an unknown layer or an input layer (it has no inputs).
 */
export function inputsOfLayer(model: tf.LayersModel, layerName: string): string[] {
  const layer = layerByName(model, layerName);
  if (layer.getClassName() === 'InputLayer')
    throw new InputError(`layer "${layerName}" is an input layer; it has no inputs`);
  return producersOf(layer).map((l) => l.name);
}

/**
 * The cut for training the layers from `firstTrainable` on (in `model.layers` order, as
 * `setTrainableTop` counts them): every layer BEFORE it whose output is read by a layer at or after it.
 * Differs from {@link inputsOfLayer} when a skip connection crosses the boundary (e.g. cutting in
 * the middle of a residual block also needs the block's input for its Add).
 * @throws InputError for an unknown layer or index.
 */
export function frozenFrontier(model: tf.LayersModel, firstTrainable: string | number): string[] {
  const layers = model.layers;
  const start =
    typeof firstTrainable === 'number' ? firstTrainable : layers.indexOf(layerByName(model, firstTrainable));
  if (!Number.isInteger(start) || start < 1 || start >= layers.length) {
    throw new InputError(
      `first trainable layer index must be in [1, ${layers.length - 1}], got ${firstTrainable}`,
    );
  }
  const index = new Map(layers.map((l, i) => [l, i]));
  const frontier = new Set<tf.layers.Layer>();
  for (let i = start; i < layers.length; i++) {
    for (const p of producersOf(layers[i])) {
      const j = index.get(p);
      if (j !== undefined && j < start) frontier.add(p);
    }
  }
  return layers.filter((l) => frontier.has(l)).map((l) => l.name);
}

/** Layers the cut layers depend on (cut layers included), in `model.layers` order. */
function upstreamLayers(model: tf.LayersModel, cutLayers: readonly string[]): tf.layers.Layer[] {
  const seen = new Set<tf.layers.Layer>();
  const stack = cutLayers.map((n) => layerByName(model, n));
  while (stack.length > 0) {
    const l = stack.pop() as tf.layers.Layer;
    if (seen.has(l)) continue;
    seen.add(l);
    stack.push(...producersOf(l));
  }
  return model.layers.filter((l) => seen.has(l));
}

/** sha256 over class names and configs (minus `trainable`) of the layers up to the cut. */
export function architectureFingerprint(model: tf.LayersModel, cutLayers: readonly string[]): string {
  const h = createHash('sha256');
  for (const l of upstreamLayers(model, cutLayers)) {
    let config: Record<string, unknown>;
    try {
      config = { ...(l.getConfig() as Record<string, unknown>) };
    } catch {
      config = {};
    }
    delete config['trainable'];
    h.update(JSON.stringify([l.getClassName(), config, producersOf(l).map((p) => p.name)]));
  }
  return h.digest('hex');
}

/** 'values:' + sha256 over the weight values (name, shape, float32 bytes) of the layers up to the cut. */
export function weightValuesHash(model: tf.LayersModel, cutLayers: readonly string[]): string {
  const h = createHash('sha256');
  for (const l of upstreamLayers(model, cutLayers)) {
    for (const w of l.weights) {
      h.update(JSON.stringify([l.name, w.originalName ?? w.name, w.shape]));
      const t = w.read();
      const d = t.dataSync() as Float32Array;
      h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  }
  return `values:${h.digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Inputs

/**
 * sha256 (hex) of an image's or a patient's views' pixel content (dimensions included; views in
 * the fixed `VIEWS` order, absent views marked).
 */
export function imageContentHash(src: FeatureSource): string {
  const h = createHash('sha256');
  const one = (img: RgbImage): void => {
    h.update(`rgb:${img.width}x${img.height};`);
    h.update(img.data);
  };
  if (isImage(src)) one(src);
  else {
    for (const v of VIEWS) {
      const img = src[v];
      h.update(`${v}:`);
      if (img === undefined) h.update('absent;');
      else one(img);
    }
  }
  return h.digest('hex');
}

/**
 * The model input (HWC float32, `size` x `size` x 3) of a source: rotated by `angle` (single
 * map: `rotateMap`; views: `rotatePatient`, before tiling), tiled 2x2 for 'tile2x2', resized and
 * scaled (`toModelInput`).
 * @throws InputError when the source does not match the layout or a rotated image is not square.
 */
export function prepareInput(
  src: FeatureSource,
  angle: number,
  layout: InputLayout,
  size: number,
  scaling: ScalingMode,
): Float32Array {
  if (layout === 'image') {
    if (!isImage(src))
      throw new InputError("feature input: layout 'image' expects an RgbImage, got a set of views");
    if (angle !== 0 && src.width !== src.height) {
      throw new InputError(
        `feature input: cannot rotate a ${src.width}x${src.height} image (polar maps are square)`,
      );
    }
    return toModelInput(angle === 0 ? src : rotateMap(src, angle), size, scaling);
  }
  if (isImage(src))
    throw new InputError("feature input: layout 'tile2x2' expects the patient's views, got a single image");
  const maps = angle === 0 ? src : rotatePatient(src, angle);
  return toModelInput(tile2x2(maps, size), size, scaling);
}

// ---------------------------------------------------------------------------------------------

/** Counters of one extractor (cumulative over its calls). */
export interface ExtractorStats {
  /** Items served from the cache. */
  hits: number;
  /** Items computed by ONNX Runtime (identical key + angle pairs in one call share one inference). */
  computed: number;
  /** Distinct inputs run through ONNX Runtime. */
  inferences: number;
  /** Items requested. */
  items: number;
}

/**
 * Activations of a frozen backbone at given cut layers, via ONNX Runtime and the feature cache.
 * Create with {@link FeatureExtractor.create}; call {@link FeatureExtractor.dispose} at the end.
 */
export class FeatureExtractor {
  readonly stats: ExtractorStats = { items: 0, hits: 0, computed: 0, inferences: 0 };

  private constructor(
    private readonly session: OnnxModel,
    /** Cut layer names, in output order. */
    readonly cutLayers: readonly string[],
    /** Per-item shapes of the cut activations, in `cutLayers` order. */
    readonly shapes: readonly (readonly number[])[],
    readonly inputSize: number,
    readonly scaling: ScalingMode,
    readonly layout: InputLayout,
    readonly backboneName: string,
    /** The weights identity used in keys (null: caching off). */
    readonly weightsId: string | null,
    readonly architecture: string,
    readonly cache: FeatureCache | undefined,
  ) {}

  /**
   * Export the model's frozen part (input .. `cutLayers`) to ONNX and open one session.
   * @throws InputError for an unknown cut layer, a model input that is not [null, inputSize,
   *   inputSize, 3], a bad scaling mode, or a layer the ONNX exporter does not support.
   */
  static async create(opts: FeatureExtractorOptions): Promise<FeatureExtractor> {
    const { model, cutLayers, inputSize } = opts;
    const layout = opts.layout ?? 'image';
    if (cutLayers.length === 0) throw new InputError('feature extractor: no cut layer given');
    if (new Set(cutLayers).size !== cutLayers.length)
      throw new InputError(`feature extractor: duplicate cut layers in [${cutLayers.join(', ')}]`);
    if (!isScalingMode(opts.scaling))
      throw new InputError(`feature extractor: unknown scaling mode '${String(opts.scaling)}'`);
    if (layout !== 'image' && layout !== 'tile2x2')
      throw new InputError(`feature extractor: unknown layout '${String(layout)}'`);
    if (!Number.isInteger(inputSize) || inputSize < 2 || (layout === 'tile2x2' && inputSize % 2 !== 0)) {
      throw new InputError(
        `feature extractor: inputSize must be an integer >= 2${layout === 'tile2x2' ? ' and even' : ''}, got ${inputSize}`,
      );
    }
    if (model.inputs.length !== 1)
      throw new InputError(
        `feature extractor: model "${model.name}" must have one input, has ${model.inputs.length}`,
      );
    const inShape = model.inputs[0].shape;
    if (inShape.length !== 4 || inShape[1] !== inputSize || inShape[2] !== inputSize || inShape[3] !== 3) {
      throw new InputError(
        `feature extractor: model "${model.name}" input is [${inShape.join(', ')}], expected [null, ${inputSize}, ${inputSize}, 3]`,
      );
    }
    const shapes = cutLayers.map((n) => {
      const layer = layerByName(model, n);
      const out = layer.inboundNodes[0]?.outputTensors;
      if (out === undefined || out.length !== 1)
        throw new InputError(`feature extractor: layer "${n}" must have exactly one output`);
      const s = out[0].shape.slice(1);
      if (!s.every((d): d is number => typeof d === 'number' && d > 0)) {
        throw new InputError(
          `feature extractor: layer "${n}" has an unknown output shape [${out[0].shape.join(', ')}]`,
        );
      }
      return s;
    });
    if (opts.weightsHash !== undefined && opts.weightsHash !== null && opts.weightsHash.trim() === '') {
      throw new InputError(
        'feature extractor: weightsHash is empty (give the sha256, random:<seed>, null, or leave it out)',
      );
    }
    const weightsId = opts.weightsHash === undefined ? weightValuesHash(model, cutLayers) : opts.weightsHash;
    const architecture = architectureFingerprint(model, cutLayers);
    const bytes = exportToOnnx(model, { outputs: cutLayers });
    const session = await OnnxModel.create(bytes, { threads: opts.threads });
    if (session.outputNames.length !== cutLayers.length) {
      await session.dispose();
      throw new Error(
        `internal error: ONNX graph has ${session.outputNames.length} outputs for ${cutLayers.length} cut layers`,
      );
    }
    return new FeatureExtractor(
      session,
      [...cutLayers],
      shapes,
      inputSize,
      opts.scaling,
      layout,
      opts.backboneName,
      weightsId,
      architecture,
      opts.cache,
    );
  }

  /** Cache statistics of the attached cache (undefined without one). */
  get cacheStats(): Readonly<CacheStats> | undefined {
    return this.cache?.stats;
  }

  private keyOf(contentKey: string, angle: number): string | null {
    if (this.cache === undefined || this.weightsId === null) return null;
    return this.cache.key({
      input: contentKey,
      preprocessing: { size: this.inputSize, scaling: this.scaling, angle, layout: this.layout },
      backbone: this.backboneName,
      weights: this.weightsId,
      architecture: this.architecture,
      cutLayers: this.cutLayers,
    });
  }

  private matches(entry: readonly FeatureTensor[]): boolean {
    return (
      entry.length === this.cutLayers.length &&
      entry.every(
        (t, j) =>
          t.name === this.cutLayers[j] &&
          t.dims.length === this.shapes[j].length &&
          t.dims.every((d, k) => d === this.shapes[j][k]),
      )
    );
  }

  /**
   * The cut activations of `items`, one {@link LayerFeatures} per cut layer (in `cutLayers`
   * order), item-major. Cached items are read; the others are loaded, prepared
   * ({@link prepareInput}), run through ONNX Runtime in batches of `batchSize` and stored.
   * Identical (key, angle) pairs within a call are computed once.
   */
  async getFeatures(items: readonly FeatureItem[], opts: GetFeaturesOptions = {}): Promise<LayerFeatures[]> {
    const batchSize = opts.batchSize ?? 16;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new InputError(`feature extractor: batchSize must be a positive integer, got ${batchSize}`);
    const n = items.length;
    const per = this.shapes.map((s) => s.reduce((a, b) => a * b, 1));
    const out: LayerFeatures[] = this.cutLayers.map((layer, j) => ({
      layer,
      shape: [...this.shapes[j]],
      data: new Float32Array(n * per[j]),
    }));
    const progress: FeatureProgress = { done: 0, total: n, hits: 0, computed: 0 };
    this.stats.items += n;

    // Resolve content keys (loading only sources without a key) and cache keys.
    const loaded = new Map<number, FeatureSource>();
    const load = async (i: number): Promise<FeatureSource> => {
      const have = loaded.get(i);
      if (have !== undefined) return have;
      const img = items[i].image;
      const src = typeof img === 'function' ? await img() : img;
      loaded.set(i, src);
      return src;
    };
    const angles = items.map((it, i) => {
      const a = it.angle ?? 0;
      if (!Number.isFinite(a)) throw new InputError(`feature item ${i}: angle must be finite, got ${a}`);
      return a === 0 ? 0 : a;
    });
    const groups = new Map<string, number[]>(); // identity -> item indices
    for (let i = 0; i < n; i++) {
      const given = items[i].key;
      if (given !== undefined && given.length === 0) throw new InputError(`feature item ${i}: empty key`);
      const content = given ?? imageContentHash(await load(i));
      const id = JSON.stringify([content, angles[i]]);
      const g = groups.get(id);
      if (g === undefined) groups.set(id, [i]);
      else g.push(i);
    }

    const place = (idx: readonly number[], tensors: readonly { data: Float32Array }[]): void => {
      for (const i of idx) tensors.forEach((t, j) => out[j].data.set(t.data, i * per[j]));
    };

    // Cache lookups.
    const todo: { idx: number[]; cacheKey: string | null }[] = [];
    for (const [id, idx] of groups) {
      const content = (JSON.parse(id) as [string, number])[0];
      const cacheKey = this.keyOf(content, angles[idx[0]]);
      const hit = cacheKey === null || this.cache === undefined ? null : await this.cache.get(cacheKey);
      if (hit !== null && this.matches(hit)) {
        place(idx, hit);
        progress.hits += idx.length;
        progress.done += idx.length;
        this.stats.hits += idx.length;
        opts.onProgress?.({ ...progress });
      } else todo.push({ idx, cacheKey });
    }

    // Compute the misses in batches.
    const S = this.inputSize;
    const inLen = S * S * 3;
    for (let b0 = 0; b0 < todo.length; b0 += batchSize) {
      const chunk = todo.slice(b0, b0 + batchSize);
      const batch = new Float32Array(chunk.length * inLen);
      for (const [k, t] of chunk.entries()) {
        const i = t.idx[0];
        batch.set(prepareInput(await load(i), angles[i], this.layout, S, this.scaling), k * inLen);
        for (const j of t.idx) loaded.delete(j);
      }
      const res = await this.session.run(batch, [chunk.length, S, S, 3]);
      const outputs = this.session.outputNames.map((name, j) => {
        const o = res[name];
        const want = [chunk.length, ...this.shapes[j]];
        if (o.dims.length !== want.length || o.dims.some((d, k) => d !== want[k])) {
          throw new Error(
            `internal error: ONNX output ${name} has dims [${o.dims.join(', ')}], expected [${want.join(', ')}]`,
          );
        }
        return o.data;
      });
      for (const [k, t] of chunk.entries()) {
        const tensors: FeatureTensor[] = this.cutLayers.map((name, j) => ({
          name,
          dims: this.shapes[j],
          data: outputs[j].slice(k * per[j], (k + 1) * per[j]),
        }));
        // serve what the cache will serve next time (identical unless stored as float16)
        const served =
          t.cacheKey !== null && this.cache !== undefined
            ? await this.cache.put(t.cacheKey, tensors)
            : tensors;
        place(t.idx, served);
        this.stats.computed += t.idx.length;
        this.stats.inferences++;
        progress.computed += t.idx.length;
        progress.done += t.idx.length;
      }
      opts.onProgress?.({ ...progress });
    }
    return out;
  }

  /** Release the ONNX Runtime session. */
  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
