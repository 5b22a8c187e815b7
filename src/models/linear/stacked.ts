/**
 * Linear and stacked polar-map models: one or more linear members (each a standardised ridge
 * logistic regression on one featurizer's vectors, C chosen by inner cross-validation on the
 * training patients: {@link fitLogisticCV}), combined by stacked generalisation (Wolpert, Neural
 * Networks 1992; Breiman, Machine Learning 1996): a second logistic regression on the members'
 * out-of-fold logits, which every training patient has from a model that did not see it. The
 * stacker is therefore fitted without the test patients and without in-sample optimism, and its
 * output is calibrated by construction (it *is* a Platt scaling of the combined logit).
 *
 * With one member this is a plain baseline (`segment-logistic`, `pixel-logistic`); polarcad's
 * default model stacks the CNN member (`cnn-segments`) with the segment-uptake member.
 *
 * Explanations are exact: the stacked logit is a sum over members of a_m * (x_m - mu)/sd . w_m,
 * and every feature belongs to one view and (for segment and cnn-segments features) one segment,
 * so the logit splits into per-view, per-segment evidence with no approximation.
 */
import { encodedOwners } from './clinical.js';
import { z } from 'zod';
import { N_SEGMENTS, segmentLabels } from '../../polarmap/geometry.js';
import { fitLogisticCV, predictLogisticCV, type LogisticCvFit, type LogisticCvOptions } from './cv.js';
import { predictLogistic, type Design } from './logistic.js';
import { memberFeaturesSchema, type MemberFeatures } from './featurizers.js';
import type { View } from '../../domain/views.js';

const numbers = z.array(z.number());

/** A fitted member as saved. */
export const linearMemberSchema = z.object({
  name: z.string(),
  features: memberFeaturesSchema,
  mean: numbers,
  scale: numbers,
  weights: numbers,
  intercept: z.number(),
  C: z.number(),
  folds: z.number().int(),
  Cs: numbers,
  cvLogLoss: numbers,
});
export type LinearMember = z.infer<typeof linearMemberSchema>;

/** The stacker: P = sigmoid(b + sum_m a_m * logit_m). One member: a = [1], b = 0 (identity). */
export const stackerSchema = z.object({
  weights: numbers,
  intercept: z.number(),
  C: z.number().nullable(),
});
export type Stacker = z.infer<typeof stackerSchema>;

/** Out-of-fold logits are clipped to this range before stacking (probabilities 1e-6 .. 1 - 1e-6). */
export const LOGIT_CLIP = Math.log(1e6);

function clippedLogit(p: number): number {
  const z = Math.log(p / (1 - p));
  return Math.max(
    -LOGIT_CLIP,
    Math.min(LOGIT_CLIP, Number.isFinite(z) ? z : Math.sign(p - 0.5) * LOGIT_CLIP),
  );
}

/** Rows of feature vectors as a design matrix. */
export function toDesign(vectors: readonly Float64Array[]): Design {
  if (vectors.length === 0) throw new RangeError('no patient');
  const p = vectors[0].length;
  const data = new Float64Array(vectors.length * p);
  vectors.forEach((v, i) => {
    if (v.length !== p) throw new RangeError(`patient ${i + 1}: ${v.length} features, expected ${p}`);
    data.set(v, i * p);
  });
  return { n: vectors.length, p, data };
}

function memberOfFit(name: string, features: MemberFeatures, m: LogisticCvFit): LinearMember {
  return {
    name,
    features,
    mean: [...m.standardiser.mean],
    scale: [...m.standardiser.scale],
    weights: [...m.fit.weights],
    intercept: m.fit.intercept,
    C: m.C,
    folds: m.folds,
    Cs: [...m.Cs],
    cvLogLoss: [...m.cvLogLoss],
  };
}

/** A fitted member and its out-of-fold probabilities on the training patients. */
export interface FittedMember {
  readonly member: LinearMember;
  readonly outOfFold: Float64Array;
}

/** How a member is regularised beyond its CV-chosen ridge penalty (src/models/linear/cv.ts). */
export type MemberRegularisation = Pick<LogisticCvOptions, 'copies' | 'labelSmoothing' | 'mixup'>;

/**
 * Fit one member on training vectors (C by stratified `folds`-fold CV, seeded). With `copies`
 * (augmentation) the vectors are the patients' followed by their copies', `labels` the patients'.
 * @example
 * const { member } = fitMember('segment-logistic', describeSegments(['stress_ac']), vectors, labels, { seed: 1 });
 */
export function fitMember(
  name: string,
  features: MemberFeatures,
  vectors: readonly Float64Array[],
  labels: readonly number[],
  o: { seed: number | string; folds?: number } & MemberRegularisation,
): FittedMember {
  const m = fitLogisticCV(toDesign(vectors), labels, o);
  return { member: memberOfFit(name, features, m), outOfFold: m.outOfFold };
}

/** P(CAD) of each vector under one member. */
export function predictMember(member: LinearMember, vectors: readonly Float64Array[]): Float64Array {
  return predictLogisticCV(
    {
      standardiser: { mean: Float64Array.from(member.mean), scale: Float64Array.from(member.scale) },
      fit: { weights: Float64Array.from(member.weights), intercept: member.intercept },
    },
    toDesign(vectors),
  );
}

/** Grid of the stacker's C (its few inputs need little penalty; CV picks among these). */
export const STACKER_CS: readonly number[] = [0.01, 0.1, 1, 10, 100];

/** Which members the stacker may combine: all of them, or (`select`) the subset with the lowest CV log loss. */
export type StackerSelection = 'all' | 'select';

/** The stacker's inputs (clipped out-of-fold logits) restricted to the columns `cols`. */
function stackerDesign(outOfFold: readonly Float64Array[], cols: readonly number[], n: number): Design {
  const X: Design = { n, p: cols.length, data: new Float64Array(n * cols.length) };
  for (let i = 0; i < n; i++)
    cols.forEach((m, j) => (X.data[i * cols.length + j] = clippedLogit(outOfFold[m][i])));
  return X;
}

/**
 * The candidate member subsets of a stacker: every member together, then each member alone
 * (`select`); only the first with `all`.
 */
function stackerCandidates(members: number, selection: StackerSelection): number[][] {
  const all = Array.from({ length: members }, (_, m) => m);
  return selection === 'all' ? [all] : [all, ...all.map((m) => [m])];
}

/**
 * Fit the stacker on the members' out-of-fold probabilities. One member: the identity.
 *
 * With `selection: 'select'` the stacker is chosen among every member together and each member
 * alone by its own cross-validated log loss on the out-of-fold logits (the same folds and C grid
 * for each candidate, training patients only), so a member that adds only noise gets weight 0
 * instead of a small weight fitted to noise; the members left out keep weight 0.
 * @example
 * const s = fitStacker([oofCnn, oofSegments], labels, 1, 'select'); // { weights: [0, 1.1], intercept: -0.1, C: 10 }
 */
export function fitStacker(
  outOfFold: readonly Float64Array[],
  labels: readonly number[],
  seed: number | string,
  selection: StackerSelection = 'all',
): Stacker {
  if (outOfFold.length === 1) return { weights: [1], intercept: 0, C: null };
  const fits = stackerCandidates(outOfFold.length, selection).map((cols) => ({
    cols,
    cv: fitLogisticCV(stackerDesign(outOfFold, cols, labels.length), labels, { seed, Cs: STACKER_CS }),
  }));
  const loss = (f: (typeof fits)[number]): number => Math.min(...f.cv.cvLogLoss);
  const best = fits.reduce((a, b) => (loss(b) < loss(a) - 1e-12 ? b : a));
  // fold the standardisation into the weights: a_j = w_j / sd_j, b = b0 - sum_j mu_j w_j / sd_j
  const weights = new Array<number>(outOfFold.length).fill(0);
  let intercept = best.cv.fit.intercept;
  best.cols.forEach((m, j) => {
    weights[m] = best.cv.fit.weights[j] / best.cv.standardiser.scale[j];
    intercept -= weights[m] * best.cv.standardiser.mean[j];
  });
  return { weights, intercept, C: best.cv.C };
}

/** Combine member probabilities with a stacker. */
export function applyStacker(s: Stacker, memberProbs: readonly ArrayLike<number>[]): Float64Array {
  const n = memberProbs[0].length;
  const X: Design = { n, p: memberProbs.length, data: new Float64Array(n * memberProbs.length) };
  for (let i = 0; i < n; i++)
    memberProbs.forEach((p, j) => (X.data[i * memberProbs.length + j] = clippedLogit(p[i])));
  if (s.C === null && s.weights.length === 1) return Float64Array.from(memberProbs[0]);
  return predictLogistic({ weights: Float64Array.from(s.weights), intercept: s.intercept }, X);
}

/**
 * The exact split of a clinical member's logit (minus its value at the training mean) over its
 * variables (indicator and level columns summed into their variable), times `scale`.
 * @example clinicalEvidence(member, encodeClinical(cols, { age: '70', sex: 'M' }), 0.8) // { age: 0.31, sex: 0.12 }
 */
export function clinicalEvidence(
  member: LinearMember,
  vector: Float64Array,
  scale: number,
): Record<string, number> {
  const f = member.features;
  if (f.kind !== 'clinical') return {};
  const owners = encodedOwners(f.columns);
  const out: Record<string, number> = {};
  owners.forEach((name, idx) => {
    const c = (scale * member.weights[idx] * (vector[idx] - member.mean[idx])) / member.scale[idx];
    out[name] = (out[name] ?? 0) + c;
  });
  return out;
}

/** Signed evidence for CAD on the logit scale, per view and segment (index 0 = segment 1). */
export type SegmentEvidence = Partial<Record<View, Float64Array>>;

/**
 * The exact split of a member's logit (minus its value at the training mean) over views and
 * segments, times `scale` (the member's stacker weight). A pixel feature goes to the segment
 * under the pixel's centre; pixels outside the disc (corners) belong to no segment.
 */
export function memberEvidence(member: LinearMember, vector: Float64Array, scale: number): SegmentEvidence {
  const f = member.features;
  if (f.kind === 'clinical') return {}; // no view: see clinicalEvidence
  const perView = vector.length / f.views.length;
  const pixelLabels = f.kind === 'pixel' ? segmentLabels(f.side) : undefined;
  const out: SegmentEvidence = {};
  f.views.forEach((v, k) => {
    const e = new Float64Array(N_SEGMENTS);
    const perSegment = perView / N_SEGMENTS;
    for (let j = 0; j < perView; j++) {
      const idx = k * perView + j;
      const c = (scale * member.weights[idx] * (vector[idx] - member.mean[idx])) / member.scale[idx];
      const segment =
        pixelLabels !== undefined ? pixelLabels[Math.floor(j / 3)] - 1 : Math.floor(j / perSegment);
      if (segment >= 0) e[segment] += c;
    }
    out[v] = e;
  });
  return out;
}
