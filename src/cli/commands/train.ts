/**
 * `polarcad train MANIFEST --backbone NAME --out RUN_DIR [...]`: the two-stage transfer-learning
 * protocol of Hai et al. (2022) (library: src/workflows/train.ts; docs/training.md). MANIFEST is the
 * manifest.csv written by `polarcad prepare`. `polarcad train --resume RUN_DIR` continues an
 * interrupted run. Ctrl-C stops after the current batch, leaving the last completed epoch resumable.
 */
import type { Command } from 'commander';
import { runTraining, type MemberEvent, type TrainRunOptions } from '../../workflows/train.js';
import {
  isLinearRecipe,
  LINEAR_RECIPES,
  RECIPE_DESCRIPTIONS,
  type LinearRecipe,
} from '../../models/linear/polar-model.js';
import { trainLinear } from '../../workflows/train-linear.js';
import { isView, type View } from '../../domain/views.js';
import type { TrainEvent } from '../../train/trainer.js';
import { BN_POLICIES, type BnPolicy } from '../../models/unfreeze.js';
import { writeReport } from '../../report/html.js';
import { InputError, errorMessage } from '../../util/errors.js';
import { createProgress, etaClock, formatDuration, type Progress } from '../progress.js';
import { claimOutputDir } from '../../util/output.js';
import { onStopSignals } from '../../util/signals.js';
import { withForce } from '../options/out.js';
import { listOption } from '../options/parse.js';
import { parseTrainWorkers, TRAIN_WORKERS_OPTION } from '../options/train-workers.js';
import { QUIET_OPTION } from '../options/quiet.js';
import { colormapSpec, withColormap } from '../options/colormap.js';
import { ENSEMBLE_CLOSED_FORM, ENSEMBLE_OPTION, ensembleOf } from '../options/ensemble.js';
import { EnsembleSizeError } from '../../workflows/train-ensemble.js';
import {
  addTrainingOptions,
  numberOption,
  parseTrainingOptions,
  wholeOption,
  type TrainingCli,
} from '../options/training.js';

interface TrainCli extends TrainingCli {
  model: string;
  views?: string;
  colormap?: string;
  backbone?: string;
  clinical?: string;
  out?: string;
  units: string;
  dropout: string;
  unfreezeFrom?: string;
  bnPolicy?: string;
  trainBn?: boolean;
  testManifest?: string;
  selectOn: string;
  restoreBest: boolean;
  microBatch?: string;
  trainWorkers?: string;
  calibrate?: boolean;
  ensemble?: string;
  resume?: string;
  quiet?: boolean;
  json?: boolean;
  force?: boolean;
}

export function registerTrain(program: Command): void {
  defineTrainOptions(program).action(async (manifest: string | undefined, c: TrainCli) => {
    if (c.model === 'cnn' && c.clinical !== undefined)
      throw new InputError(
        '--clinical: fused by the closed-form models (--model hybrid|cnn-segments|*-logistic), not by --model cnn',
      );
    if (c.model !== 'cnn' && c.ensemble !== undefined) throw new InputError(ENSEMBLE_CLOSED_FORM);
    if (c.model !== 'cnn' && c.trainWorkers !== undefined)
      throw new InputError('--train-workers: only for --model cnn (the closed-form models fit in one step)');
    if (c.model !== 'cnn' && c.resume === undefined) {
      await runLinear(manifest, c);
      return;
    }
    await runCnn(manifest, c);
  });
}

/** The `train` command and its options. */
function defineTrainOptions(program: Command): Command {
  const cmd = withColormap(
    withForce(program.command('train')),
    "the one prepare recorded, else recognised; recorded with the run for predict/serve's SSS/SRS/SDS",
  )
    .description(
      'train a model on prepared polar maps, test it on a held-out part beside the baselines, write a run directory',
    )
    .argument('[manifest]', 'manifest.csv written by `polarcad prepare` (not needed with --resume)')
    .option(
      '--model <name>',
      `${[...LINEAR_RECIPES].map((r) => `${r}: ${RECIPE_DESCRIPTIONS[r]}`).join('; ')}; cnn: the two-stage network of Hai et al. 2022 (warm-up, then fine-tuning)`,
      'hybrid',
    )
    .option(
      '--views <list>',
      'views for --model hybrid|cnn-segments|*-logistic (default: every view every row has)',
    )
    .option(
      '--backbone <name>',
      'backbone from `polarcad models` (required for --model cnn; default MobileNetV2 otherwise); for hybrid|cnn-segments a comma list (e.g. MobileNetV2,InceptionV3) makes a backbone ensemble',
    )
    .option(
      '--clinical <columns>',
      'hybrid|cnn-segments|*-logistic: manifest columns fused into the model (e.g. age,sex); missing values imputed with an indicator; the run also reports the model without them',
    )
    .option('--out <dir>', 'run directory to write');
  return addTrainingOptions(cmd, {
    augment: 'class-balanced rotation augmentation of the training part to N items (0 = off)',
    seed: 'seed of splits, initialisation, shuffling and dropout',
    inputSize: 'override the input side (only with --weights none; for quick experiments)',
    cacheDir: 'feature cache folder',
  })
    .option('--units <n>', 'hidden units of the Hai head', '256')
    .option('--dropout <rate>', 'dropout rate of the Hai head', '0.5')
    .option('--unfreeze-from <layer>', 'unfreeze from this backbone layer to the top')
    .option(
      '--bn-policy <p>',
      `BatchNormalization layers unfrozen: ${BN_POLICIES.join(' | ')} (default: the backbone's paper policy)`,
    )
    .option(
      '--train-bn',
      "BatchNormalization in the unfrozen part uses batch statistics: of each micro-batch, and of each worker's shard with --train-workers (default: inference mode)",
    )
    .option(
      '--test-manifest <m>',
      'evaluate on this separate labelled (prepared) manifest instead of a held-out 20%',
    )
    .option(
      '--select-on <set>',
      'validation | test (test leaks test information; only to reproduce the paper)',
      'validation',
    )
    .option('--no-restore-best', 'keep the last epoch instead of the best validation epoch')
    .option(
      '--micro-batch <n>',
      'split each batch into micro-batches of N for the gradient (same result, less memory; default: whole batch)',
    )
    .option(...TRAIN_WORKERS_OPTION)
    .option(
      '--calibrate',
      'fit a temperature on the validation patients after training (calibration.json, prob_calibrated in predictions.csv)',
    )
    .option(...ENSEMBLE_OPTION)
    .option('--resume <dir>', 'continue the interrupted run in DIR')
    .option(...QUIET_OPTION)
    .option('--json', 'JSON-lines events on stdout instead of progress bars');
}

/** The options of `runTraining` from the flags of `--model cnn` (or of `--resume`). */
function cnnRunOptions(manifest: string | undefined, c: TrainCli): TrainRunOptions {
  if (c.bnPolicy !== undefined && !(BN_POLICIES as readonly string[]).includes(c.bnPolicy))
    throw new InputError(`--bn-policy must be one of ${BN_POLICIES.join(', ')}`);
  if (c.resume !== undefined) {
    if (c.colormap !== undefined)
      throw new InputError('--colormap: a resumed run keeps the colour map it was started with');
    if (c.ensemble !== undefined)
      throw new InputError('--ensemble: a resumed run keeps the ensemble it was started with');
    return { manifest: '', backbone: '', out: c.resume, resume: true };
  }
  if (manifest === undefined)
    throw new InputError('train: give MANIFEST (the manifest.csv of `polarcad prepare`) or --resume RUN_DIR');
  if (c.backbone === undefined) throw new InputError('train: --backbone is required (see `polarcad models`)');
  if (c.out === undefined) throw new InputError('train: --out RUN_DIR is required');
  return {
    manifest,
    backbone: c.backbone,
    out: c.out,
    ...parseTrainingOptions(c),
    units: wholeOption('--units', c.units),
    dropout: numberOption('--dropout', c.dropout),
    unfreezeFrom: c.unfreezeFrom,
    bnPolicy: c.bnPolicy as BnPolicy | undefined,
    trainBn: c.trainBn,
    testManifest: c.testManifest,
    selectOn: c.selectOn as 'validation' | 'test',
    restoreBest: c.restoreBest,
    microBatch: wholeOption('--micro-batch', c.microBatch),
    trainWorkers: parseTrainWorkers(c.trainWorkers),
    calibrate: c.calibrate,
    ensemble: ensembleOf(c.ensemble),
    ...(c.colormap !== undefined ? { colormap: colormapSpec(c.colormap) } : {}),
  };
}

export type OutputMode = 'json' | 'quiet' | 'bar';

/**
 * Training events as JSON lines, progress bars (plain lines when stderr is not a terminal: one
 * every 10 epochs and at the end of a stage, with the stage's ETA), or nothing.
 */
export function trainProgress(
  mode: OutputMode,
  now?: () => number,
): { onEvent: (e: TrainEvent) => void; stopBar: () => void } {
  let bar: Progress | null = null;
  const eta = etaClock(now);
  const stopBar = (): void => {
    bar?.stop();
    bar = null;
  };
  const onEvent = (e: TrainEvent): void => {
    if (mode === 'json') {
      process.stdout.write(JSON.stringify(e) + '\n');
      return;
    }
    if (mode === 'quiet') return;
    if (e.type === 'features') {
      bar ??= createProgress(`${e.stage} features`);
      bar.update(e.done, e.total);
    } else if (e.type === 'stage-start') {
      stopBar();
      bar = createProgress(`${e.stage} (lr ${e.lr}, top ${e.unfreeze} layers)`);
      bar.update(e.startEpoch - 1, e.epochs);
      eta.start(e.startEpoch - 1);
    } else if (e.type === 'epoch') {
      bar?.update(e.row.epoch, e.epochs);
      if (!process.stderr.isTTY && (e.row.epoch % 10 === 0 || e.row.epoch === e.epochs)) {
        process.stderr.write(
          `${e.row.stage} epoch ${e.row.epoch}/${e.epochs}: loss ${e.row.loss.toFixed(4)} acc ${e.row.accuracy.toFixed(3)} val_loss ${e.row.valLoss.toFixed(4)} val_acc ${e.row.valAccuracy.toFixed(3)}, ${eta.eta(e.row.epoch, e.epochs)}\n`,
        );
      }
    } else if (e.type === 'stage-end') stopBar();
  };
  return { onEvent, stopBar };
}

/** A fold ensemble's member lines (with the ensemble's ETA), as JSON lines in `json` mode. */
function memberProgress(mode: OutputMode, stopBar: () => void): (e: MemberEvent) => void {
  return (e) => {
    if (mode === 'json') {
      process.stdout.write(JSON.stringify(e) + '\n');
      return;
    }
    if (mode === 'quiet') return;
    stopBar();
    if (e.type === 'member-start')
      process.stderr.write(
        `member ${e.member}/${e.members}: training on ${e.trainedOn} patients, epochs selected on fold ${e.member} (${e.selectedOn} patients); ensemble ETA ${e.etaSeconds === null ? '?' : formatDuration(e.etaSeconds * 1000)}\n`,
      );
    else
      process.stderr.write(
        `member ${e.member}/${e.members} done in ${formatDuration(e.seconds * 1000)} (selection accuracy ${e.selectionAccuracy.toFixed(3)})\n`,
      );
  };
}

/** `--model cnn` (or `--resume`): the two-stage network; Ctrl-C stops after the current batch. */
async function runCnn(manifest: string | undefined, c: TrainCli): Promise<void> {
  const opts = cnnRunOptions(manifest, c);
  if (c.resume === undefined)
    await claimOutputDir(opts.out, 'train', {
      inputs: [opts.manifest, ...(c.testManifest !== undefined ? [c.testManifest] : [])],
      force: c.force,
      create: true,
    });
  const mode: OutputMode = c.json === true ? 'json' : c.quiet === true ? 'quiet' : 'bar';
  const { onEvent, stopBar } = trainProgress(mode);
  let stop = false;
  const off = onStopSignals(['SIGINT'], () => {
    stop = true;
    process.stderr.write(
      '\npolarcad train: stopping after the current batch (Ctrl-C again to abort now)...\n',
    );
  });
  try {
    const r = await runTraining(opts, {
      onEvent,
      onMember: memberProgress(mode, stopBar),
      onWarning: (m) => process.stderr.write(`${m}\n`),
      shouldStop: () => stop,
    }).catch((e: unknown) => {
      if (e instanceof EnsembleSizeError) throw new InputError(`--ensemble ${opts.ensemble}: ${e.message}`);
      throw e;
    });
    stopBar();
    await reportCnnRun(r, mode);
  } finally {
    stopBar();
    off();
  }
}

/** The end of a CNN run on the terminal: interrupted (exit 130), or the summary and the report. */
async function reportCnnRun(r: Awaited<ReturnType<typeof runTraining>>, mode: OutputMode): Promise<void> {
  if (r.interrupted) {
    const msg = `interrupted; resume with: polarcad train --resume ${r.out}`;
    if (mode === 'json') process.stdout.write(JSON.stringify({ type: 'interrupted', out: r.out }) + '\n');
    else process.stderr.write(`${msg}\n`);
    throw new InputError(msg, { exitCode: 130 });
  }
  if (mode === 'json')
    process.stdout.write(JSON.stringify({ type: 'done', out: r.out, metrics: r.metrics?.metrics }) + '\n');
  else if (mode === 'bar') process.stdout.write(r.summary ?? '');
  if (mode !== 'json') process.stdout.write(`run written to ${r.out}\n`);
  const report = await writeReport(r.out).catch(
    (e: unknown) => void process.stderr.write(`report not written: ${errorMessage(e)}\n`),
  );
  if (report && mode !== 'json') process.stdout.write(`report: ${report.html}\n`);
}

function parseViews(list: string | undefined): View[] | undefined {
  if (list === undefined) return undefined;
  const views = list.split(',').map((v) => v.trim());
  for (const v of views)
    if (!isView(v))
      throw new InputError(`--views: unknown view '${v}' (stress_ac, rest_ac, stress_nac, rest_nac)`);
  return views as View[];
}

/** `train --model hybrid|cnn-segments|segment-logistic|pixel-logistic` (src/workflows/train-linear.ts). */
async function runLinear(manifest: string | undefined, c: TrainCli): Promise<void> {
  if (!isLinearRecipe(c.model))
    throw new InputError(`--model must be one of ${[...LINEAR_RECIPES, 'cnn'].join(', ')}, got '${c.model}'`);
  if (manifest === undefined)
    throw new InputError('train: give MANIFEST (the manifest.csv of `polarcad prepare`)');
  if (c.out === undefined) throw new InputError('train: --out RUN_DIR is required');
  const t = parseTrainingOptions(c);
  const inputs = [manifest, ...(c.testManifest !== undefined ? [c.testManifest] : [])];
  await claimOutputDir(c.out, 'train', { inputs, force: c.force });
  const quiet = c.quiet === true || c.json === true;
  let bar: Progress | null = null;
  let label = '';
  const r = await trainLinear(
    {
      manifest,
      out: c.out,
      recipe: c.model as LinearRecipe,
      ...(c.backbone !== undefined
        ? { backbones: listOption('--backbone', c.backbone, { unique: true }) }
        : {}),
      ...(c.clinical !== undefined
        ? { clinical: listOption('--clinical', c.clinical, { unique: true }) }
        : {}),
      ...(t.weights !== undefined ? { weights: t.weights } : {}),
      ...(parseViews(c.views) !== undefined ? { views: parseViews(c.views) } : {}),
      ...(c.colormap !== undefined ? { colormap: colormapSpec(c.colormap) } : {}),
      ...(t.seed !== undefined ? { seed: t.seed } : {}),
      ...(c.testManifest !== undefined ? { testManifest: c.testManifest } : {}),
      ...(t.cacheDir !== undefined ? { cacheDir: t.cacheDir } : {}),
    },
    {
      onProgress: (what, done, total) => {
        if (quiet) return;
        if (what !== label) {
          bar?.stop();
          bar = createProgress(what);
          label = what;
        }
        bar?.update(done, total);
      },
      onWarning: (m) => process.stderr.write(`${m}\n`),
    },
  );
  (bar as Progress | null)?.stop();
  if (c.json === true)
    process.stdout.write(
      JSON.stringify({ type: 'done', out: r.out, rows: r.rows, comparisons: r.comparisons }) + '\n',
    );
  else {
    if (c.quiet !== true) process.stdout.write(r.summary);
    process.stdout.write(`run written to ${r.out}\n`);
  }
}
