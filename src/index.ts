/**
 * polarcad as a library: the small public API (`import { train, evaluate, predict, Explainer }
 * from 'polarcad'`). The CLI (`polarcad ...`) and the HTTP server are built on the same functions.
 *
 * Methods: transfer learning from ImageNet CNNs on SPECT MPI polar maps (Hai et al. 2022, two-stage
 * warm-up then fine-tuning; Apostolopoulos et al. 2020, the 2x2 AC+NAC tile), Grad-CAM heatmaps
 * (Selvaraju et al. 2017), 95% intervals (Wilson; stratified bootstrap; DeLong et al. 1988 for AUC
 * comparisons).
 */
import { evaluateModel, type EvaluateOptions, type EvaluateResult } from './workflows/evaluate.js';
import { loadPredictor, type PredictorOptions } from './predict/predictor.js';
import {
  predictStudy,
  type PredictStudyOptions,
  type StudyInput,
  type StudyResult,
} from './predict/study.js';
import {
  runTraining,
  type TrainRunHooks,
  type TrainRunOptions,
  type TrainRunResult,
} from './workflows/train.js';

export { INPUT_MODES, INPUT_MODE_SPECS, type InputMode } from './domain/input-mode.js';
export { VIEWS, type View } from './domain/views.js';
export { Explainer, explainInfoFrom, type ExplainInfo, type StudyExplanation } from './explain/index.js';
export { loadPredictor, type Predictor, type PredictorOptions } from './predict/predictor.js';
export type { StudyInput, StudyResult } from './predict/study.js';
export { openSavedModel, type SavedModelInfo } from './rundir/model.js';
export type { EvaluateOptions, EvaluateResult, TrainRunHooks, TrainRunOptions, TrainRunResult };

/**
 * Train, evaluate and save one run on a manifest of prepared polar maps, following Hai et al.
 * (2022): a stratified 80/20 patient split, validation carved from the 80%, warm-up of the head
 * (lr 10^-a) then fine-tuning of the top k layers (lr 10^-(a+2)), evaluation on the held-out 20%.
 * The run directory is described in docs/training.md.
 * @example
 * const run = await train({ manifest: 'prep/manifest.csv', backbone: 'MobileNetV2', out: 'runs/mnv2' });
 * console.log(run.metrics?.auc);
 */
export function train(options: TrainRunOptions, hooks: TrainRunHooks = {}): Promise<TrainRunResult> {
  return runTraining(options, hooks);
}

/**
 * Evaluate a saved model (a run directory or its `model/` folder, verified at load) on a labelled
 * manifest: accuracy, sensitivity, specificity with Wilson 95% intervals, AUC with a stratified
 * bootstrap interval, at a fixed threshold or one chosen on the run's validation patients.
 * @example
 * const { row } = await evaluate('runs/mnv2', 'external/manifest.csv', { out: 'eval/external' });
 */
export function evaluate(model: string, manifest: string, options: EvaluateOptions): Promise<EvaluateResult> {
  return evaluateModel(model, manifest, options);
}

/**
 * The probability of coronary artery disease of one study with its Grad-CAM explanation
 * (Selvaraju et al. 2017) and territory attribution, as `polarcad predict` computes it. For many
 * studies, load the model once with `loadPredictor` (the model is verified and loaded per call here).
 * @example
 * const r = await predict('runs/mnv2', { files: [{ name: 'p1.png', bytes }] });
 * console.log(r.probability);
 */
export async function predict(
  model: string,
  study: StudyInput,
  options: PredictorOptions & PredictStudyOptions = {},
): Promise<StudyResult> {
  const p = await loadPredictor(model, options);
  try {
    return (await predictStudy(p, study, options)).result;
  } finally {
    await p.dispose();
  }
}
