/**
 * The simple baselines every polarcad model is shown beside, trained and tested on exactly the
 * model's patients: ridge logistic regression on the 17 segment uptakes of every view
 * (`segment-logistic`) and on 32x32 RGB pixels of every view (`pixel-logistic`), with paired
 * tests against the model on the same test patients: DeLong et al. (Biometrics 1988) for the
 * AUC, McNemar (Psychometrika 1947; exact binomial form) for the accuracy.
 */
import type { View } from '../domain/views.js';
import {
  fitPolarModel,
  PolarModelPredictor,
  type LabelledCrops,
  type LinearRecipe,
  type PolarModel,
} from '../models/linear/polar-model.js';
import type { PatientCrops } from '../models/linear/featurizers.js';
import type { Colormap } from '../polarmap/colormaps.js';
import type { RecipeProbabilities } from '../evaluate/paired.js';

export {
  compareWithBaselines,
  formatComparison,
  type PairedComparison,
  type RecipeProbabilities,
} from '../evaluate/paired.js';

/** The baseline recipes shown beside every model. */
export const BASELINE_RECIPES: readonly LinearRecipe[] = ['segment-logistic', 'pixel-logistic'];

/** A fitted baseline: its test probabilities and the model (saved with the run for `evaluate`). */
export interface FittedBaseline extends RecipeProbabilities {
  readonly model: PolarModel;
}

/**
 * Fit each baseline on `train` and predict `test` (every view of `views` must be present).
 * @example
 * const base = await fitBaselines(train, test.map((p) => p.crops), { views: ['stress_ac'], colormap, seed: 1 });
 */
export async function fitBaselines(
  train: readonly LabelledCrops[],
  test: readonly PatientCrops[],
  o: {
    views: readonly View[];
    colormap: Colormap;
    seed: number | string;
    recipes?: readonly LinearRecipe[];
    /** backbone weights of a network recipe (`cnn-segments`) and the feature cache */
    weights?: string;
    cacheDir?: string;
  },
): Promise<FittedBaseline[]> {
  const out: FittedBaseline[] = [];
  for (const recipe of o.recipes ?? BASELINE_RECIPES) {
    const { model } = await fitPolarModel(train, {
      recipe,
      views: o.views,
      colormap: o.colormap,
      seed: o.seed,
      ...(o.weights !== undefined ? { weights: o.weights } : {}),
      ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
    });
    const predictor = await PolarModelPredictor.open(
      model,
      o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {},
    );
    try {
      out.push({ name: recipe, probs: (await predictor.predict(test)).map((p) => p.probability), model });
    } finally {
      await predictor.dispose();
    }
  }
  return out;
}
