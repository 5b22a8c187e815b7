/**
 * `polarcad experiment strategies|backbones|finetune-depth MANIFEST --out DIR [...]`: the
 * comparisons of Hai et al. (2022) Tables 3-4 / Figure 4 and Apostolopoulos et al.'s (2020)
 * fine-tuning depth sweep (library: src/workflows/experiment.ts; docs/experiments.md).
 */
import type { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import '../../models/layers/keras-layers.js';
import { resolveWeights } from '../../models/weights/resolve.js';
import {
  DEFAULT_FINETUNE_DEPTHS,
  runBackbonesExperiment,
  runFinetuneDepthExperiment,
  runStrategiesExperiment,
  type ExperimentCommon,
  type ExperimentResult,
} from '../../workflows/experiment.js';
import { parseStrategies } from '../../train/strategies.js';
import { writeDirAtomic } from '../../util/atomic.js';
import { claimOutputDir } from '../../util/output.js';
import { writeReport } from '../../report/html.js';
import { InputError, errorMessage } from '../../util/errors.js';
import { queueRunner } from '../../workflows/queue/index.js';
import { listOption, wholeNumber } from '../options/parse.js';
import { parseQueueCli, withQueueOptions, type QueueCli } from '../options/queue.js';
import { commonExperimentOptions, parseCommon, progressHook, type CommonCli } from './experiment-options.js';

/** Run `fn` into a temporary sibling of `common.out`, renamed into place when it succeeds. */
async function atomically(
  common: ExperimentCommon,
  o: CommonCli & QueueCli,
  fn: (c: ExperimentCommon) => Promise<ExperimentResult>,
): Promise<ExperimentResult> {
  const queue = parseQueueCli(o);
  if (queue !== undefined && common.trainWorkers !== undefined)
    throw new InputError(
      '--train-workers: applies to a run in this process, not with --queue (each queue worker trains on its own thread)',
    );
  await claimOutputDir(common.out, 'experiment', { inputs: [common.manifest], force: o.force });
  await initBackend('wasm');
  // off a terminal (a log file), a progress line a minute at most: a Table 4 stage runs for an hour
  const progress = progressHook(o.quiet === true ? undefined : 60_000);
  try {
    const r = await writeDirAtomic(common.out, 'experiment', (tmp) =>
      fn({
        ...common,
        out: tmp,
        onProgress: progress.update,
        ...(queue !== undefined ? { runner: queueRunner(queue) } : {}),
      }),
    );
    progress.stop();
    process.stdout.write(`wrote ${common.out}/ (${r.rows.length} rows)\n`);
    const report = await writeReport(common.out).catch(
      (e: unknown) => void process.stderr.write(`report not written: ${errorMessage(e)}\n`),
    );
    if (report) process.stdout.write(`report: ${report.html}\n`);
    return r;
  } finally {
    progress.stop();
  }
}

/** The subcommand `experiment NAME <manifest>` with its description (options are added by the caller). */
function experimentCommand(exp: Command, name: string, description: string): Command {
  return exp.command(name).description(description).argument('<manifest>', 'manifest.csv');
}

export function registerExperiment(program: Command): void {
  const exp = program
    .command('experiment')
    .description('the comparisons of Hai et al. (2022) and Apostolopoulos et al. (2020)');
  registerStrategies(exp);
  registerBackbones(exp);
  registerFinetuneDepth(exp);
}

/** `experiment strategies`: Hai et al.'s six training strategies on one backbone. */
function registerStrategies(exp: Command): void {
  const strategies = experimentCommand(
    exp,
    'strategies',
    "Hai et al.'s six training strategies on one backbone: Table 4 and Figure 4",
  )
    .option('--backbone <name>', 'backbone', 'MobileNetV2')
    .option(
      '--strategies <list>',
      'all, or numbers/names: 1 scratch, 2 imagenet-all, 3 freeze-200, 4 warmup, 5 finetune, 6 two-stage',
      'all',
    )
    .option('--freeze-first <n>', 'layers frozen by strategy 3', '200')
    .option(
      '--bn-training <list>',
      'strategies whose trainable BatchNormalization layers use batch statistics (training mode): ' +
        'numbers/names, all or none (default: scratch, as Keras fits a new network; the ImageNet ones keep inference mode)',
      'scratch',
    );
  withQueueOptions(commonExperimentOptions(strategies)).action(
    async (
      manifest: string,
      o: CommonCli &
        QueueCli & { backbone: string; strategies: string; freezeFirst: string; bnTraining: string },
    ) => {
      const common = parseCommon(manifest, o);
      const ids = parseStrategies(o.strategies);
      const freezeFirst = wholeNumber('--freeze-first', o.freezeFirst, { min: 1 });
      const bnTraining = o.bnTraining.trim() === 'none' ? [] : parseStrategies(o.bnTraining, '--bn-training');
      if (ids.some((id) => id !== 'scratch'))
        await resolveWeights(o.backbone, 'imagenet', {
          hash: false,
          ...(common.inputSize ? { inputSize: common.inputSize } : {}),
        });
      await atomically(common, o, (c) =>
        runStrategiesExperiment({
          ...c,
          backbone: o.backbone,
          strategies: ids,
          freezeFirst,
          bnTraining,
        }),
      );
    },
  );
}

/** `experiment backbones`: the two-stage protocol over several backbones. */
function registerBackbones(exp: Command): void {
  const backbones = experimentCommand(
    exp,
    'backbones',
    'the two-stage protocol over several backbones (Hai et al. Table 3); backbones without weights here are skipped with a note',
  )
    .requiredOption('--backbones <list>', 'comma-separated backbone names')
    .option('--weights <spec>', 'imagenet (skip absent) | none (random init for all)', 'imagenet');
  withQueueOptions(commonExperimentOptions(backbones)).action(
    async (manifest: string, o: CommonCli & QueueCli & { backbones: string; weights: string }) => {
      const common = parseCommon(manifest, o);
      const names = listOption('--backbones', o.backbones);
      if (o.weights !== 'imagenet' && o.weights !== 'none')
        throw new InputError(`--weights: must be imagenet or none, got "${o.weights}"`);
      await atomically(common, o, (c) =>
        runBackbonesExperiment({ ...c, backbones: names, weights: o.weights as 'imagenet' | 'none' }),
      );
    },
  );
}

/** `experiment finetune-depth`: Apostolopoulos et al.'s sweep of trainable top layers. */
function registerFinetuneDepth(exp: Command): void {
  const depth = experimentCommand(
    exp,
    'finetune-depth',
    "Apostolopoulos et al.'s sweep of trainable top convolutional layers (VGG16, their head, 2x2 AC+NAC input)",
  )
    .option(
      '--depths <list>',
      'numbers of trainable top convolutional layers',
      DEFAULT_FINETUNE_DEPTHS.join(','),
    )
    .option('--backbone <name>', 'backbone', 'VGG16')
    .option(
      '--weights <spec>',
      'imagenet | none | PATH (ImageNet VGG16 weights are usually absent: then the command refuses unless --weights none)',
      'imagenet',
    )
    .option('--epochs <n>', 'training epochs per depth (before --epochs-scale)', '100')
    .option('--lr-exponent <a>', "learning rate 10^-a (default: the backbone table's a)");
  withQueueOptions(commonExperimentOptions(depth, 'tile2x2')).action(
    async (
      manifest: string,
      o: CommonCli &
        QueueCli & {
          depths: string;
          backbone: string;
          weights: string;
          epochs: string;
          lrExponent?: string;
        },
    ) => {
      const common = parseCommon(manifest, o);
      const depths = o.depths.split(',').map((s) => s.trim());
      if (depths.length === 0 || depths.some((d) => !/^\d+$/.test(d)))
        throw new InputError(`--depths: expected whole numbers like "0,1,4,8,12,16", got "${o.depths}"`);
      const epochs = wholeNumber('--epochs', o.epochs, { min: 1 });
      const a = o.lrExponent === undefined ? undefined : Number(o.lrExponent);
      if (a !== undefined && !(a > 0 && a < 10))
        throw new InputError(`--lr-exponent: must be a number in (0, 10), got "${o.lrExponent}"`);
      // refuse early, with the weights message, when the weights are absent
      await resolveWeights(o.backbone, o.weights, {
        hash: false,
        ...(common.inputSize ? { inputSize: common.inputSize } : {}),
      });
      await atomically(common, o, (c) =>
        runFinetuneDepthExperiment({
          ...c,
          depths: depths.map(Number),
          backbone: o.backbone,
          weights: o.weights,
          epochs,
          ...(a !== undefined ? { lrExponent: a } : {}),
        }),
      );
    },
  );
}
