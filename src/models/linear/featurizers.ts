/**
 * Featurizers: a patient's polar-map crops -> one feature vector, for the three kinds of member
 * of polarcad's linear and stacked models:
 *
 * - `segment`: 17 segment uptakes per view ({@link baselineVector});
 * - `pixel`: downsampled RGB pixels per view ({@link baselineVector});
 * - `cnn-segments`: a frozen ImageNet backbone (run by ONNX Runtime, features kept in the feature
 *   cache) at a stride-16 layer, segment-pooled ({@link poolSegments}), per view. The backbone sees
 *   the map as *uptake* (read back through the colour map and redrawn in grey), so every colour
 *   map looks the same to it.
 *
 * The member description (`MemberFeatures`) is what a saved model records; `createFeaturizer`
 * rebuilds the featurizer from it at load time.
 */
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { RgbImage } from '../../domain/image.js';
import { VIEWS, type View } from '../../domain/views.js';
import { initBackend } from '../../engine/backend.js';
import { FeatureCache } from '../../engine/cache.js';
import { FeatureExtractor, imageContentHash } from '../../engine/features.js';
import { sha256Hex } from '../../util/hash.js';
import { getColormap, type Colormap } from '../../polarmap/colormaps.js';
import { renderUptakeMap, rgbToUptake } from '../../polarmap/read-uptake.js';
import { InputError } from '../../util/errors.js';
import { loadBackbone } from '../weights/resolve.js';
import { baselineVector, DEFAULT_PIXEL_SIDE } from './baseline-features.js';
import { poolSegments, segmentPooling } from './segment-pooling.js';
import { clinicalColumnSchema } from './clinical.js';
import '../layers/keras-layers.js';

const viewSchema = z.enum(VIEWS);

/** What a member reads from a patient (recorded in a saved model). */
export const memberFeaturesSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('segment'), views: z.array(viewSchema).min(1) }),
  z.object({ kind: z.literal('pixel'), views: z.array(viewSchema).min(1), side: z.number().int().min(2) }),
  z.object({
    kind: z.literal('cnn-segments'),
    views: z.array(viewSchema).min(1),
    backbone: z.string(),
    /** the weights the features were computed with: 'imagenet' resolution or a path, and its sha256 */
    weights: z.string(),
    weightsSha256: z.string().optional(),
    weightsDescription: z.string(),
    layer: z.string(),
    grid: z.number().int().min(1),
    inputSize: z.number().int().min(2),
    channels: z.number().int().min(1),
  }),
  /** clinical variables (src/models/linear/clinical.ts): no view; the encoding fitted on training patients */
  z.object({ kind: z.literal('clinical'), columns: z.array(clinicalColumnSchema).min(1) }),
]);
/** The members that read images (every kind but 'clinical'). */
export type ImageMemberFeatures = Exclude<MemberFeatures, { kind: 'clinical' }>;
export type MemberFeatures = z.infer<typeof memberFeaturesSchema>;

// one place for the recorded colour map (polarmap/colormap-record.ts); re-exported for the model files
export {
  colormapOfRecord,
  colormapRecordSchema,
  recordColormap,
  type ColormapRecord,
} from '../../polarmap/colormap-record.js';

/** A patient's crops, by view. */
export type PatientCrops = Partial<Record<View, RgbImage>>;

/** Turns patients into feature vectors; `dispose` releases engine sessions. */
export interface Featurizer {
  readonly features: MemberFeatures;
  /** one vector per patient; `onProgress` counts patients */
  vectors(
    patients: readonly PatientCrops[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<Float64Array[]>;
  dispose(): Promise<void>;
}

/** The map as the backbone sees it: uptake read through `cm`, drawn in the grey table. */
export function uptakeImage(img: RgbImage, cm: Colormap): RgbImage {
  return renderUptakeMap(rgbToUptake(img, cm).map, getColormap('gray'));
}

class BaselineFeaturizer implements Featurizer {
  constructor(
    readonly features: Extract<MemberFeatures, { kind: 'segment' | 'pixel' }>,
    private readonly cm: Colormap,
  ) {}

  vectors(
    patients: readonly PatientCrops[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<Float64Array[]> {
    const spec =
      this.features.kind === 'pixel'
        ? { features: 'pixel' as const, views: this.features.views, side: this.features.side }
        : { features: 'segment' as const, views: this.features.views };
    const out = patients.map((p, i) => {
      const v = baselineVector(spec, p, this.cm, `patient ${i + 1}`);
      onProgress?.(i + 1, patients.length);
      return v;
    });
    return Promise.resolve(out);
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The deepest top-level layer of `model` whose output is the (inputSize/stride)-sided feature map:
 * exactly inputSize/stride cells when such a layer exists (14 x 14 at stride 16 and 224 px), else
 * the nearest side that 'valid' padding gives (Inception, Xception: 17 x 17 at 299 px). Zero-padding
 * layers are skipped: their extra row and column would shift every cell against the segment grid.
 */
export function stride16Layer(
  model: tf.LayersModel,
  inputSize: number,
  stride = 16,
): { name: string; grid: number; channels: number } {
  const maps = model.layers.flatMap((layer) => {
    const shape = layer.outputShape;
    if (!Array.isArray(shape) || Array.isArray(shape[0]) || layer.getClassName() === 'ZeroPadding2D')
      return [];
    const s = shape as (number | null)[];
    const g = s[1];
    const c = s[3];
    return s.length === 4 && typeof g === 'number' && g === s[2] && typeof c === 'number'
      ? [{ name: layer.name, grid: g, channels: c }]
      : [];
  });
  const exact = maps.filter((m) => m.grid * stride === inputSize);
  const near = maps.filter(
    (m) => m.grid >= inputSize / (stride * 1.125) && m.grid <= inputSize / (stride * 0.90625),
  );
  const found = (exact.length > 0 ? exact : near).at(-1);
  if (found !== undefined) return found;
  throw new InputError(
    `${model.name}: no layer with a stride-${stride} feature map (${Math.ceil(inputSize / (stride * 1.125))}-${Math.floor(inputSize / (stride * 0.90625))} px square) for segment pooling`,
  );
}

class CnnSegmentFeaturizer implements Featurizer {
  private readonly cmKey: string;

  constructor(
    readonly features: Extract<MemberFeatures, { kind: 'cnn-segments' }>,
    private readonly cm: Colormap,
    private readonly extractor: FeatureExtractor,
  ) {
    this.cmKey = sha256Hex(cm.table);
  }

  async vectors(
    patients: readonly PatientCrops[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<Float64Array[]> {
    const f = this.features;
    const sp = segmentPooling(f.grid, f.inputSize);
    const per = 17 * f.channels;
    const out = patients.map(() => new Float64Array(per * f.views.length));
    let done = 0;
    for (const [k, v] of f.views.entries()) {
      const items = patients.map((p, i) => {
        const img = p[v];
        if (img === undefined) throw new InputError(`patient ${i + 1}: view ${v} is missing`);
        // keyed by the crop and the colour map, so cached features need no uptake conversion
        return {
          key: sha256Hex(`${imageContentHash(img)}|uptake|${this.cmKey}`),
          image: () => uptakeImage(img, this.cm),
        };
      });
      const [layer] = await this.extractor.getFeatures(items, {
        onProgress: (pr) => onProgress?.(Math.round(done + pr.done / f.views.length), patients.length),
      });
      const cells = f.grid * f.grid * f.channels;
      patients.forEach((_, i) =>
        out[i].set(poolSegments(sp, layer.data.subarray(i * cells, (i + 1) * cells), f.channels), k * per),
      );
      done += patients.length / f.views.length;
    }
    return out;
  }

  dispose(): Promise<void> {
    return this.extractor.dispose();
  }
}

/** Options of {@link createFeaturizer}. */
export interface FeaturizerOptions {
  /** the export's colour map (every kind but pixel reads uptake through it) */
  readonly colormap: Colormap;
  /** feature cache folder (default: the engine's) */
  readonly cacheDir?: string;
  /** ONNX Runtime threads */
  readonly threads?: number;
}

/** Describe a `cnn-segments` member for `backbone` with `weights` ('imagenet' or a path). */
export async function describeCnnSegments(
  backbone: string,
  weights: string,
  views: readonly View[],
  stride = 16,
): Promise<Extract<MemberFeatures, { kind: 'cnn-segments' }>> {
  await initBackend('wasm');
  const lb = await loadBackbone(backbone, { weights });
  const inputSize = lb.spec.inputSize;
  const { name, grid, channels } = stride16Layer(lb.model, inputSize, stride);
  lb.model.dispose();
  return {
    kind: 'cnn-segments',
    views: [...views],
    backbone: lb.spec.name,
    weights,
    ...(lb.weights.sha256 !== undefined ? { weightsSha256: lb.weights.sha256 } : {}),
    weightsDescription: lb.weights.description,
    layer: name,
    grid,
    inputSize,
    channels,
  };
}

/**
 * The featurizer of a member description. For `cnn-segments` the backbone's weights are resolved
 * again and must have the recorded sha256 (else an InputError: the features would differ).
 */
export async function createFeaturizer(f: ImageMemberFeatures, o: FeaturizerOptions): Promise<Featurizer> {
  if (f.kind !== 'cnn-segments') return new BaselineFeaturizer(f, o.colormap);
  await initBackend('wasm');
  const lb = await loadBackbone(f.backbone, { weights: f.weights });
  if (f.weightsSha256 !== undefined && lb.weights.sha256 !== f.weightsSha256)
    throw new InputError(
      `${f.backbone} weights (${lb.weights.description}) have sha256 ${String(lb.weights.sha256)}, but the model was trained with ${f.weightsSha256}: give the same weights`,
    );
  const extractor = await FeatureExtractor.create({
    model: lb.model,
    backboneName: lb.spec.name,
    weightsHash: lb.weights.sha256,
    cutLayers: [f.layer],
    inputSize: f.inputSize,
    scaling: lb.spec.scaling,
    cache: new FeatureCache(o.cacheDir !== undefined ? { dir: o.cacheDir } : {}),
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
  });
  lb.model.dispose();
  return new CnnSegmentFeaturizer(f, o.colormap, extractor);
}

/** The pixel member description (all given views, default side). */
export function describePixels(views: readonly View[], side = DEFAULT_PIXEL_SIDE): ImageMemberFeatures {
  return { kind: 'pixel', views: [...views], side };
}

/** The segment member description. */
export function describeSegments(views: readonly View[]): ImageMemberFeatures {
  return { kind: 'segment', views: [...views] };
}
