/**
 * Polar-map models fitted in closed form on frozen features: the baselines (`segment-logistic`,
 * `pixel-logistic`), the network alone with a location-keeping linear head (`cnn-segments`: a
 * frozen ImageNet backbone, segment pooling, ridge logistic regression) and polarcad's default,
 * `hybrid`: the network and the segment-uptake model stacked (Wolpert 1992) on out-of-fold
 * predictions. Every choice (each member's C, the stacker) is made by cross-validation on the
 * training patients only; nothing is selected on a validation split of a few dozen patients or on
 * test data.
 *
 * Transfer learning here is "feature extraction" (the frozen-backbone strategy of Hai et al. 2022,
 * Table 4), with the global-average-pooling head replaced by segment pooling so that the head
 * knows *where* on the bull's-eye a feature is.
 */
import { z } from 'zod';
import { VIEWS, type View } from '../../domain/views.js';
import { applyTemperature, fitTemperature } from '../../evaluate/calibration.js';
import type { Colormap } from '../../polarmap/colormaps.js';
import {
  colormapOfRecord,
  colormapRecordSchema,
  createFeaturizer,
  describeCnnSegments,
  describePixels,
  describeSegments,
  recordColormap,
  type Featurizer,
  type ImageMemberFeatures,
  type PatientCrops,
} from './featurizers.js';
import { rotatePatient } from '../../ingest/augment.js';
import { encodeClinical, fitClinicalEncoding, missingClinical, type ClinicalValues } from './clinical.js';
import {
  applyStacker,
  clinicalEvidence,
  fitMember,
  fitStacker,
  type StackerSelection,
  linearMemberSchema,
  memberEvidence,
  predictMember,
  stackerSchema,
  type LinearMember,
  type MemberRegularisation,
  type SegmentEvidence,
} from './stacked.js';

/** The closed-form model recipes (`polarcad train --model NAME`). */
export const LINEAR_RECIPES = ['hybrid', 'cnn-segments', 'segment-logistic', 'pixel-logistic'] as const;
export type LinearRecipe = (typeof LINEAR_RECIPES)[number];

/** Is `s` a closed-form recipe? */
export function isLinearRecipe(s: string): s is LinearRecipe {
  return (LINEAR_RECIPES as readonly string[]).includes(s);
}

/** One line per recipe, for help texts and reports. */
export const RECIPE_DESCRIPTIONS: Readonly<Record<LinearRecipe, string>> = {
  hybrid:
    'frozen CNN, segment-pooled, ridge logistic head, stacked with the segment-uptake model on out-of-fold predictions (default)',
  'cnn-segments': 'frozen CNN, segment-pooled features, ridge logistic head (the network alone)',
  'segment-logistic': 'baseline: ridge logistic regression on the 17 segment uptakes of every view',
  'pixel-logistic': 'baseline: ridge logistic regression on 32x32 RGB pixels of every view',
};

/** A saved closed-form model (RUN/model/linear-model.json). */
export const polarModelSchema = z.object({
  format: z.literal('polarcad-linear-model'),
  version: z.literal(1),
  recipe: z.enum(LINEAR_RECIPES),
  views: z.array(z.enum(VIEWS)).min(1),
  colormap: colormapRecordSchema,
  members: z.array(linearMemberSchema).min(1),
  stacker: stackerSchema,
  /** temperature (Guo et al. 2017) fitted on a single member's out-of-fold probabilities; null for stacked models (the stacker calibrates) */
  temperature: z.number().positive().nullable(),
  trainedOn: z.object({
    patients: z.number().int(),
    cad: z.number().int(),
    seed: z.union([z.number(), z.string()]),
  }),
  /** how the members were regularised beyond their ridge penalty (absent in models saved before it was recorded: none) */
  regularisation: z
    .object({
      /** rotation augmentation: each training patient also entered as copies rotated by these angles (degrees) */
      rotations: z.array(z.number()),
      /** label smoothing eps of the members' fits (0 = none) */
      labelSmoothing: z.number().min(0).lt(1),
      /** mixup's Beta(alpha, alpha) of the members' fits (null = none) */
      mixupAlpha: z.number().positive().nullable(),
    })
    .optional(),
});
export type PolarModel = z.infer<typeof polarModelSchema>;

/** A training patient. */
export interface LabelledCrops {
  readonly id: string;
  readonly label: 0 | 1;
  readonly crops: PatientCrops;
  /** clinical values by column (used when the model has a clinical member) */
  readonly clinical?: ClinicalValues;
}

/** Options of {@link fitPolarModel}. */
export interface FitPolarOptions {
  readonly recipe: LinearRecipe;
  readonly views: readonly View[];
  readonly colormap: Colormap;
  /**
   * backbones of the CNN members (default ['MobileNetV2']); several make a backbone ensemble: one
   * segment-pooled member per backbone, combined by the stacker
   */
  readonly backbones?: readonly string[];
  /** their weights ('imagenet' = the resolution rule, or a path; one path only with one backbone) */
  readonly weights?: string;
  /** clinical columns fused as one more member (src/models/linear/clinical.ts) */
  readonly clinical?: readonly string[];
  readonly seed: number | string;
  /** inner CV folds (default 5) */
  readonly folds?: number;
  /** output stride of the backbone layer the CNN members pool (default 16) */
  readonly featureStride?: number;
  /** which members the stacker may combine (src/models/linear/stacked.ts; default 'all') */
  readonly stacking?: StackerSelection;
  /**
   * rotation augmentation: every training patient also enters each member's fit as copies of its
   * maps rotated about the disc centre by these angles (degrees, e.g. [-10, 10]); a copy stays in
   * its patient's cross-validation fold (default none)
   */
  readonly rotations?: readonly number[];
  /** label smoothing of the members' fits: targets eps/2 and 1 - eps/2 (default 0: none) */
  readonly labelSmoothing?: number;
  /** mixup of the members' standardised training rows with Beta(alpha, alpha) weights (default: none) */
  readonly mixupAlpha?: number;
  readonly cacheDir?: string;
  readonly onProgress?: (what: string, done: number, total: number) => void;
}

type ImageMember = { name: string; features: ImageMemberFeatures };

/** One `cnn-segments` member per backbone (named after it when there are several). */
async function cnnMembers(o: FitPolarOptions): Promise<ImageMember[]> {
  const backbones = o.backbones ?? ['MobileNetV2'];
  const out: ImageMember[] = [];
  for (const b of backbones)
    out.push({
      name: backbones.length === 1 ? 'cnn-segments' : `cnn-segments:${b}`,
      features: await describeCnnSegments(b, o.weights ?? 'imagenet', o.views, o.featureStride ?? 16),
    });
  return out;
}

async function memberDescriptions(o: FitPolarOptions): Promise<ImageMember[]> {
  switch (o.recipe) {
    case 'hybrid':
      return [...(await cnnMembers(o)), { name: 'segment-logistic', features: describeSegments(o.views) }];
    case 'cnn-segments':
      return cnnMembers(o);
    case 'segment-logistic':
      return [{ name: 'segment-logistic', features: describeSegments(o.views) }];
    case 'pixel-logistic':
      return [{ name: 'pixel-logistic', features: describePixels(o.views) }];
  }
}

/** A fitted model with the out-of-fold P(CAD) of every training patient (stacked when several members). */
export interface FittedPolarModel {
  readonly model: PolarModel;
  readonly outOfFold: Float64Array;
}

async function withFeaturizer<T>(
  f: ImageMemberFeatures,
  cm: Colormap,
  cacheDir: string | undefined,
  fn: (z: Featurizer) => Promise<T>,
): Promise<T> {
  const z = await createFeaturizer(f, { colormap: cm, ...(cacheDir !== undefined ? { cacheDir } : {}) });
  try {
    return await fn(z);
  } finally {
    await z.dispose();
  }
}

/** The regularisation record of a model fitted with `o` (validated as the saved model's is). */
export function regularisationOf(o: FitPolarOptions): NonNullable<PolarModel['regularisation']> {
  const angles = o.rotations ?? [];
  for (const a of angles)
    if (!Number.isFinite(a) || a === 0) throw new RangeError(`rotations: ${a} is not a non-zero angle`);
  return polarModelSchema.shape.regularisation.unwrap().parse({
    rotations: [...angles],
    labelSmoothing: o.labelSmoothing ?? 0,
    mixupAlpha: o.mixupAlpha ?? null,
  });
}

/** A member's fitting options: its seed and folds, and the regularisation of `o` (copies: `copies`). */
function memberOptions(
  o: FitPolarOptions,
  name: string,
  copies: readonly number[],
): { seed: number | string; folds?: number } & MemberRegularisation {
  return {
    seed: o.seed,
    ...(o.folds !== undefined ? { folds: o.folds } : {}),
    ...(copies.length > 0 ? { copies } : {}),
    ...(o.labelSmoothing ? { labelSmoothing: o.labelSmoothing } : {}),
    ...(o.mixupAlpha !== undefined ? { mixup: { alpha: o.mixupAlpha, seed: `${o.seed}/${name}` } } : {}),
  };
}

/**
 * Every training patient's crops followed by its rotated copies (angle by angle), and the
 * original of each copy (indices into `patients`).
 */
export function withRotatedCopies(
  patients: readonly PatientCrops[],
  angles: readonly number[],
): { crops: PatientCrops[]; copies: number[] } {
  const crops = [...patients];
  const copies: number[] = [];
  for (const a of angles)
    patients.forEach((p, i) => {
      crops.push(rotatePatient(p, a));
      copies.push(i);
    });
  return { crops, copies };
}

/**
 * Fit a closed-form polar-map model on training patients (see the module comment).
 * @example
 * const { model } = await fitPolarModel(patients, { recipe: 'hybrid', views: ['stress_ac', 'rest_ac'], colormap: getColormap('rainbow'), seed: 1 });
 */
export async function fitPolarModel(
  patients: readonly LabelledCrops[],
  o: FitPolarOptions,
): Promise<FittedPolarModel> {
  const labels = patients.map((p) => p.label);
  const regularisation = regularisationOf(o);
  const { crops, copies } = withRotatedCopies(
    patients.map((p) => p.crops),
    regularisation.rotations,
  );
  const fitted: { member: LinearMember; outOfFold: Float64Array }[] = [];
  for (const d of await memberDescriptions(o)) {
    const vectors = await withFeaturizer(d.features, o.colormap, o.cacheDir, (z) =>
      z.vectors(crops, (done, total) => o.onProgress?.(`${d.name} features`, done, total)),
    );
    o.onProgress?.(`${d.name} fit`, 0, 1);
    fitted.push(fitMember(d.name, d.features, vectors, labels, memberOptions(o, d.name, copies)));
    o.onProgress?.(`${d.name} fit`, 1, 1);
  }
  if (o.clinical !== undefined && o.clinical.length > 0) {
    const values = patients.map((p) => p.clinical ?? {});
    const columns = fitClinicalEncoding(o.clinical, values);
    const vectors = values.map((v) => encodeClinical(columns, v));
    fitted.push(
      fitMember('clinical', { kind: 'clinical', columns }, vectors, labels, memberOptions(o, 'clinical', [])),
    );
  }
  const stacker = fitStacker(
    fitted.map((f) => f.outOfFold),
    labels,
    `${o.seed}/stack`,
    o.stacking ?? 'all',
  );
  const combined = applyStacker(
    stacker,
    fitted.map((f) => f.outOfFold),
  );
  const temperature =
    fitted.length === 1 ? fitTemperature(labels, Array.from(combined), { from: 'probs' }).temperature : null;
  const model: PolarModel = {
    format: 'polarcad-linear-model',
    version: 1,
    recipe: o.recipe,
    views: [...o.views],
    colormap: recordColormap(o.colormap),
    members: fitted.map((f) => f.member),
    stacker,
    temperature,
    trainedOn: { patients: patients.length, cad: labels.filter((l) => l === 1).length, seed: o.seed },
    regularisation,
  };
  return {
    model,
    outOfFold: applyStacker(
      stacker,
      fitted.map((f) => f.outOfFold),
    ),
  };
}

/** One patient's answer: P(CAD), each member's P(CAD), and the evidence per view and segment. */
export interface PolarPrediction {
  readonly probability: number;
  readonly members: Readonly<Record<string, number>>;
  /** signed evidence for CAD on the logit scale, summed over members (stacker-weighted) */
  readonly evidence: SegmentEvidence;
  /** the same for each clinical variable (empty without a clinical member) */
  readonly clinical: Readonly<Record<string, number>>;
  /** clinical variables that were missing and imputed (empty without a clinical member) */
  readonly missingClinical: readonly string[];
}

/** A loaded closed-form model with its featurizers open; call `dispose` at the end. */
export class PolarModelPredictor {
  private constructor(
    readonly model: PolarModel,
    /** one per member; null for the clinical member (encoded, not featurized) */
    private readonly featurizers: (Featurizer | null)[],
  ) {}

  /** Open the featurizers of a saved model (the CNN member re-resolves its recorded weights). */
  static async open(model: PolarModel, o: { cacheDir?: string } = {}): Promise<PolarModelPredictor> {
    const cm = colormapOfRecord(model.colormap);
    const featurizers: (Featurizer | null)[] = [];
    for (const m of model.members)
      featurizers.push(
        m.features.kind === 'clinical'
          ? null
          : await createFeaturizer(m.features, {
              colormap: cm,
              ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
            }),
      );
    return new PolarModelPredictor(model, featurizers);
  }

  /** The colour map the model reads uptake with. */
  get colormap(): Colormap {
    return colormapOfRecord(this.model.colormap);
  }

  /** The clinical columns the model uses (empty when it has none). */
  get clinicalColumns(): string[] {
    return this.model.members.flatMap((m) =>
      m.features.kind === 'clinical' ? m.features.columns.map((c) => c.name) : [],
    );
  }

  /**
   * Predict patients (each must have every view of the model). `clinical[i]` holds patient i's
   * clinical values; a missing one is imputed as in training and listed in `missingClinical`.
   */
  async predict(
    patients: readonly PatientCrops[],
    clinical: readonly (ClinicalValues | undefined)[] = [],
  ): Promise<PolarPrediction[]> {
    const vectors: Float64Array[][] = [];
    for (const [k, z] of this.featurizers.entries()) {
      const f = this.model.members[k].features;
      vectors.push(
        f.kind === 'clinical'
          ? patients.map((_, i) => encodeClinical(f.columns, clinical[i] ?? {}))
          : await (z as Featurizer).vectors(patients),
      );
    }
    const probs = this.model.members.map((m, k) => predictMember(m, vectors[k]));
    const combined = applyStacker(this.model.stacker, probs);
    const t = this.model.temperature;
    const stacked = t === null ? combined : applyTemperature(Array.from(combined), t, { from: 'probs' });
    return patients.map((_, i) => {
      const evidence: SegmentEvidence = {};
      this.model.members.forEach((m, k) => {
        const e = memberEvidence(m, vectors[k][i], this.model.stacker.weights[k]);
        for (const [v, arr] of Object.entries(e) as [View, Float64Array][]) {
          const acc = evidence[v] ?? new Float64Array(arr.length);
          arr.forEach((x, s) => (acc[s] += x));
          evidence[v] = acc;
        }
      });
      const clin: Record<string, number> = {};
      const missing: string[] = [];
      this.model.members.forEach((m, k) => {
        if (m.features.kind !== 'clinical') return;
        Object.assign(clin, clinicalEvidence(m, vectors[k][i], this.model.stacker.weights[k]));
        missing.push(...missingClinical(m.features.columns, clinical[i] ?? {}));
      });
      return {
        probability: stacked[i],
        members: Object.fromEntries(this.model.members.map((m, k) => [m.name, probs[k][i]])),
        evidence,
        clinical: clin,
        missingClinical: missing,
      };
    });
  }

  async dispose(): Promise<void> {
    for (const z of this.featurizers) await z?.dispose();
  }
}
