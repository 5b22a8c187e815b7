/**
 * `polarcad train --model cnn --ensemble K`: a cross-fitted fold ensemble of the two-stage recipe
 * (issue 11, items 3 and 4). The test part is held out first, exactly as a single run holds it out
 * (`splitTrainTest`), and never used for any choice. The training patients are dealt into K
 * stratified, seeded patient-level folds (`stratifiedKFold`); member k is the single run's network
 * (`buildRunModel`, `chooseUnfreeze`, `planStages`, `trainStages`: warm-up then fine-tuning)
 * trained on the other K-1 folds with its epochs selected on fold k. Every training patient is then
 * predicted by the one member that did not train on it (out-of-fold); `--calibrate` fits the
 * temperature on those predictions only.
 *
 * The ensemble's P(CAD) is the mean of the members' probabilities (src/rundir/ensemble.ts); the
 * run directory holds ONE model (`model/`, kind 'ensemble', members under `model/members/K`) that
 * `predict`, `serve`, `evaluate`, `report` and `export` load like a single CNN.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine/backend.js';
import { FeatureCache } from '../engine/cache.js';
import { exportEnsembleToOnnx } from '../engine/onnx/ensemble.js';
import { layoutOf } from '../domain/input-mode.js';
import { LABEL_NAMES, type Label } from '../domain/views.js';
import { applyTemperature } from '../evaluate/calibration.js';
import { metricsWithIntervals, type MetricsWithIntervals } from '../evaluate/intervals.js';
import { stratifiedKFold } from '../ingest/splits.js';
import { loadTfjsFolder } from '../models/weights/tfjs-folder.js';
import { ENSEMBLE_COMBINE, memberDir, saveEnsembleInfo, type EnsembleMember } from '../rundir/ensemble.js';
import { runFile } from '../rundir/files.js';
import { recordOnnxExport, saveModel, type ModelDescription } from '../rundir/model.js';
import { writeRunJson } from '../rundir/run.js';
import { writeHistory, writePredictions } from '../rundir/tables.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { pathExists, readJsonObject } from '../util/fs.js';
import { Rng } from '../util/rng.js';
import {
  applyWeights,
  predict,
  TrainingSetup,
  trainStages,
  type HistoryRow,
  type StageOutcome,
} from '../train/trainer.js';
import {
  buildRunModel,
  chooseUnfreeze,
  cnnRunColormap,
  fmt,
  openRunDir,
  planStages,
  runConfig,
  splitTrainTest,
  swapInto,
  toExample,
  trainingExamples,
  writeCurves,
  type Patient,
  type Resolved,
  type RunModel,
  type RunPlan,
  type TrainRunHooks,
  type TrainRunOptions,
  type TrainRunResult,
} from './train.js';
import * as outcome from './run-outcome.js';
import type { CalibrationFile } from './run-outcome.js';
import { callAt } from '../evaluate/metrics.js';

/**
 * Too many members for the training data: some class has fewer training patients than folds. The
 * CLI names its flag (`--ensemble`) before the message.
 */
export class EnsembleSizeError extends InputError {}

/** What one member produced (also kept in checkpoints/ so that a resumed run skips the member). */
interface MemberOutcome {
  member: number;
  /** P(CAD) of the member's own fold (its out-of-fold patients), by id */
  oof: Record<string, number>;
  /** P(CAD) of the test patients, in test order */
  test: number[];
  history: HistoryRow[];
  stages: StageOutcome[];
  seconds: number;
  trainedOn: number;
  selectedOn: number;
}

/** The folds of the training patients, refused when a class has fewer patients than folds. */
function foldsOf(k: number, trainIds: readonly string[], byId: Map<string, Patient>, seed: number) {
  const items = trainIds.map((id) => ({ id, label: (byId.get(id) as Patient).label }));
  for (const label of [0, 1] as Label[]) {
    const n = items.filter((x) => x.label === label).length;
    if (n < k)
      throw new EnsembleSizeError(
        `${k} folds need at least ${k} training patients of each class; class ${label} (${LABEL_NAMES[label]}) has ${n}`,
      );
  }
  return stratifiedKFold(items, { k, seed: `${seed}/ensemble` });
}

function newSetup(o: Resolved, net: RunModel, onWarning?: (m: string) => void): TrainingSetup {
  const spec = net.loaded.spec;
  return new TrainingSetup({
    backboneName: spec.name,
    weightsId: net.weightsId,
    inputSize: net.side,
    scaling: spec.scaling,
    layout: layoutOf(o.input),
    cache: new FeatureCache({ ...(o.cacheDir !== undefined ? { dir: o.cacheDir } : {}), onWarning }),
  });
}

/** The description every member and the ensemble record (as a single CNN's polarcad.json). */
async function modelDescription(o: Resolved, net: RunModel): Promise<ModelDescription> {
  const spec = net.loaded.spec;
  return {
    backbone: spec.name,
    inputSize: net.side,
    scaling: spec.scaling,
    classes: ['normal', 'cad'],
    camLayer: spec.camLayer,
    input: o.input,
    ...(await cnnRunColormap(o)),
  };
}

/** Everything the members share: the options, the split, the folds, the run folder. */
interface EnsembleRun {
  o: Resolved;
  k: number;
  work: string;
  folds: { train: string[]; test: string[] }[];
  byId: Map<string, Patient>;
  testPatients: Patient[];
  hooks: TrainRunHooks;
}

const doneFile = (work: string, m: number): string =>
  join(runFile(work, 'checkpoints'), `member-${m}`, 'done.json');

/**
 * Train member `m` (1-based) on every fold but fold m, selecting its epochs on fold m; save it in
 * `model/members/m` and its predictions in checkpoints/. Null when interrupted.
 */
async function trainMember(e: EnsembleRun, m: number): Promise<MemberOutcome | null> {
  const { o, folds, byId } = e;
  const fold = folds[m - 1];
  const net = await buildRunModel(o, new Rng(o.seed), m);
  const setup = newSetup(o, net, e.hooks.onWarning);
  try {
    const plan = planStages(o, net, chooseUnfreeze(o, net));
    const rng = new Rng(`${o.seed}/member-${m}`);
    const train = trainingExamples(o, fold.train, byId, rng.fork('augment'));
    const validation = fold.test.map((id) => toExample(byId.get(id) as Patient));
    const t0 = performance.now();
    const result = await trainStages({
      setup,
      model: net.model,
      headLayers: net.headLayers,
      train,
      validation,
      stages: plan.stages,
      batchSize: o.batchSize,
      seed: `${o.seed}/member-${m}`,
      microBatch: o.microBatch,
      ...(o.trainWorkers !== undefined ? { workers: o.trainWorkers } : {}),
      checkpointDir: join(runFile(e.work, 'checkpoints'), `member-${m}`),
      onEvent: e.hooks.onEvent,
      shouldStop: e.hooks.shouldStop,
    });
    if (result.interrupted) return null;
    applyWeights(net.model, result.weights);
    const oofProbs = await predict(setup, net.model, net.headLayers, result.lastStart, validation);
    const test = e.testPatients.map((p) => toExample(p));
    const testProbs = await predict(setup, net.model, net.headLayers, result.lastStart, test);
    await saveModel(memberDir(runFile(e.work, 'model'), m), net.model, await modelDescription(o, net));
    const outcome: MemberOutcome = {
      member: m,
      oof: Object.fromEntries(validation.map((x, i) => [x.id, oofProbs[i]])),
      test: Array.from(testProbs),
      history: result.history.map((r) => ({ ...r, stage: `member-${m}/${r.stage}` })),
      stages: result.stages.map((s) => ({ ...s, name: `member-${m}/${s.name}` })),
      seconds: (performance.now() - t0) / 1000,
      trainedOn: fold.train.length,
      selectedOn: fold.test.length,
    };
    await writeFileAtomic(doneFile(e.work, m), JSON.stringify(outcome));
    return outcome;
  } finally {
    await setup.dispose();
    net.model.dispose();
  }
}

/** Every member in turn (a resumed run skips the members already done); null when interrupted. */
async function trainMembers(e: EnsembleRun): Promise<MemberOutcome[] | null> {
  const out: MemberOutcome[] = [];
  const timed: number[] = [];
  for (let m = 1; m <= e.k; m++) {
    if (await pathExists(doneFile(e.work, m))) {
      out.push((await readJsonObject(doneFile(e.work, m))) as unknown as MemberOutcome);
      continue;
    }
    const mean = timed.length === 0 ? null : timed.reduce((a, b) => a + b, 0) / timed.length;
    e.hooks.onMember?.({
      type: 'member-start',
      member: m,
      members: e.k,
      trainedOn: e.folds[m - 1].train.length,
      selectedOn: e.folds[m - 1].test.length,
      etaSeconds: mean === null ? null : mean * (e.k - m + 1),
    });
    const r = await trainMember(e, m);
    if (r === null) return null;
    timed.push(r.seconds);
    const last = r.stages[r.stages.length - 1];
    e.hooks.onMember?.({
      type: 'member-end',
      member: m,
      members: e.k,
      seconds: r.seconds,
      selectionAccuracy: last?.best.accuracy ?? NaN,
    });
    out.push(r);
  }
  return out;
}

/** Out-of-fold P(CAD) of every training patient, in fold order, with its fold. */
function outOfFold(e: EnsembleRun, members: readonly MemberOutcome[]) {
  return e.folds.flatMap((f, i) =>
    f.test.map((id) => ({
      id,
      label: (e.byId.get(id) as Patient).label,
      prob: members[i].oof[id],
      fold: i + 1,
    })),
  );
}

/** Temperature scaling (Guo et al. 2017) on the out-of-fold predictions only (never test). */
function oofCalibration(oof: ReturnType<typeof outOfFold>): CalibrationFile {
  return outcome.temperatureCalibration(oof, 'out-of-fold');
}

/** The ensemble's polarcad.json over the saved members, and the run's model.onnx (one graph). */
async function saveEnsemble(
  e: EnsembleRun,
  members: readonly MemberOutcome[],
  description: ModelDescription,
) {
  const modelDir = runFile(e.work, 'model');
  const models: tf.LayersModel[] = [];
  try {
    for (const r of members) models.push(await loadTfjsFolder(memberDir(modelDir, r.member)));
    const recorded: EnsembleMember[] = members.map((r) => ({
      dir: `members/${r.member}`,
      fold: r.member,
      trainedOn: r.trainedOn,
      selectedOn: r.selectedOn,
    }));
    await saveEnsembleInfo(modelDir, models, recorded, description);
    await recordOnnxExport(e.work, exportEnsembleToOnnx(models));
  } finally {
    models.forEach((m) => m.dispose());
  }
}

/** The sentence that says what the model is (metrics.json, summary.txt, report). */
function ensembleSentence(k: number, nTrain: number): string {
  return `fold ensemble of ${k} two-stage CNNs: the ${nTrain} training patients in ${k} stratified folds, each member trained on ${k - 1} fold${k === 2 ? '' : 's'} with its epochs selected on the remaining one; P(CAD) = ${ENSEMBLE_COMBINE}; the test patients were used for no choice`;
}

/**
 * Train, evaluate and save a fold ensemble (see the module comment); called by `runTraining` when
 * `ensemble` is given (`o` its resolved options, `out` the absolute run folder).
 * @throws EnsembleSizeError when a class has fewer training patients than `ensemble`; InputError for bad input
 */
export async function runEnsembleTraining(
  opts: TrainRunOptions,
  o: Resolved,
  out: string,
  hooks: TrainRunHooks = {},
): Promise<TrainRunResult> {
  const k = o.ensemble as number;
  await initBackend('wasm');
  const split = await splitTrainTest(o);
  const folds = foldsOf(k, split.trainIds, split.byId, o.seed);
  const net = await buildRunModel(o, new Rng(o.seed), 1);
  let config: Record<string, unknown>;
  let description: ModelDescription;
  try {
    const u = chooseUnfreeze(o, net);
    const plan: RunPlan = {
      opts,
      o,
      d: {
        sha256: split.sha256,
        testSha: split.testSha,
        carved: { train: split.trainIds, validation: [] },
        testPatients: split.testPatients,
        train: [],
        validation: [],
        test: [],
      },
      net,
      u,
      plan: planStages(o, net, u),
    };
    const base = runConfig(plan);
    config = {
      ...base,
      resolved: {
        ...base.resolved,
        ensemble: { type: 'fold', members: k, combine: ENSEMBLE_COMBINE, folds: folds.map((f) => f.test) },
      },
    };
    description = await modelDescription(o, net);
  } finally {
    net.model.dispose();
  }
  const work = await openRunDir(opts, out, o.resume === true, config);
  const e: EnsembleRun = { o, k, work, folds, byId: split.byId, testPatients: split.testPatients, hooks };
  const t0 = performance.now();
  const members = await trainMembers(e);
  if (members === null) return { out: work, interrupted: true, stages: [], history: [] };
  await saveEnsemble(e, members, description);
  const seconds = (performance.now() - t0) / 1000;
  const r = await writeEnsembleRun(e, config, members, seconds);
  await rm(runFile(work, 'checkpoints'), { recursive: true, force: true });
  if (work !== out) await swapInto(work, out);
  return { out, interrupted: false, ...r };
}

/** Write every file of the finished ensemble run, config.json (status complete) last. */
async function writeEnsembleRun(
  e: EnsembleRun,
  config: Record<string, unknown>,
  members: readonly MemberOutcome[],
  seconds: number,
): Promise<{
  stages: StageOutcome[];
  history: HistoryRow[];
  metrics: MetricsWithIntervals;
  summary: string;
}> {
  const { o, k, work } = e;
  const test = e.testPatients;
  const probs = test.map((_, i) => members.reduce((s, r) => s + r.test[i], 0) / members.length);
  const metrics = metricsWithIntervals(
    test.map((p) => p.label),
    probs,
    { seed: `${o.seed}/metrics` },
  );
  const oof = outOfFold(e, members);
  const oofMetrics = metricsWithIntervals(
    oof.map((r) => r.label),
    oof.map((r) => r.prob),
    { seed: `${o.seed}/metrics/oof` },
  );
  const calibration = o.calibrate ? oofCalibration(oof) : null;
  const calibrated =
    calibration === null ? null : applyTemperature(probs, calibration.temperature, { from: 'probs' });
  const history = members.flatMap((r) => r.history);
  const stages = members.flatMap((r) => r.stages);
  await writeHistory(runFile(work, 'history'), history);
  await outcome.writeTestPredictions(work, test, probs, calibrated);
  await writePredictions(
    runFile(work, 'outOfFold'),
    oof.map((r) => ({ ...r, predicted: callAt(r.prob), split: 'out-of-fold' })),
  );
  if (calibration !== null) await writeRunJson(work, 'calibration', calibration);
  const sentence = ensembleSentence(k, oof.length);
  await writeRunJson(work, 'metrics', {
    evaluatedOn: outcome.evaluatedOn(o.testManifest),
    model: sentence,
    ensemble: {
      type: 'fold',
      members: k,
      trainedOn: members.map((r) => r.trainedOn),
      selectedOn: members.map((r) => r.selectedOn),
    },
    ...outcome.metricsFigures(metrics),
    outOfFold: { n: oof.length, accuracy: oofMetrics.accuracy, auc: oofMetrics.auc },
    selectionLeaksTest: false,
  });
  await writeCurves(work, history, stages, e.hooks.onWarning);
  const summary = ensembleSummary(e, members, metrics, oofMetrics, calibration, seconds, sentence);
  await writeFileAtomic(runFile(work, 'summary'), summary);
  await writeRunJson(work, 'config', {
    ...config,
    status: 'complete',
    stages,
    seconds,
    selectionIds: oof.map((r) => r.id),
    calibrated: calibration !== null,
    temperature: calibration?.temperature ?? null,
  });
  return { stages, history, metrics, summary };
}

function ensembleSummary(
  e: EnsembleRun,
  members: readonly MemberOutcome[],
  metrics: MetricsWithIntervals,
  oofMetrics: MetricsWithIntervals,
  calibration: CalibrationFile | null,
  seconds: number,
  sentence: string,
): string {
  const { o } = e;
  const iv = (i: { estimate: number; lo: number; hi: number }): string =>
    `${fmt(i.estimate)} [${fmt(i.lo)}, ${fmt(i.hi)}]`;
  const lines = [
    `polarcad train: ${o.backbone}, input ${o.input}, head ${o.head}, seed ${o.seed}`,
    `model: ${sentence}`,
    `data: ${e.folds.reduce((s, f) => s + f.test.length, 0)} training patients in ${e.k} folds, ${e.testPatients.length} test patients`,
    ...members.map(
      (r) =>
        `member ${r.member}: trained on ${r.trainedOn} patients, epochs selected on fold ${r.member} (${r.selectedOn} patients); ${r.stages
          .map(
            (s) =>
              `${s.name.split('/').pop()} kept epoch ${s.bestEpoch} of ${s.epochsRun} (selection acc ${fmt(s.best.accuracy)})`,
          )
          .join(', ')}; ${fmt(r.seconds, 1)} s`,
    ),
    `out-of-fold (each training patient by the member that did not train on it, 95% CI): accuracy ${iv(oofMetrics.accuracy)}, AUC ${iv(oofMetrics.auc)}`,
    `test (95% CI): accuracy ${iv(metrics.accuracy)}, AUC ${iv(metrics.auc)}, sensitivity ${iv(metrics.sensitivity)}, specificity ${iv(metrics.specificity)}, precision ${iv(metrics.precision)}, F1 ${iv(metrics.f1)}`,
    `confusion: TP ${metrics.metrics.tp}, FP ${metrics.metrics.fp}, TN ${metrics.metrics.tn}, FN ${metrics.metrics.fn}`,
    calibration === null
      ? 'calibration: none (probabilities uncalibrated)'
      : `calibration: temperature ${fmt(calibration.temperature, 4)} fitted on the ${calibration.n} out-of-fold predictions (NLL ${fmt(calibration.nllBefore, 4)} -> ${fmt(calibration.nllAfter, 4)}); predictions.csv prob_calibrated`,
    `total ${fmt(seconds, 1)} s`,
  ];
  return lines.join('\n') + '\n';
}
