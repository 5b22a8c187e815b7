/**
 * `polarcad tune MANIFEST --backbone NAME --out DIR [--max-epochs 100] [--eta 3] [--seed 1]
 * [--units 64,128,256,512] [--dropout 0..0.7] [--lr-exponent 3,4] [--input stress_ac] [--augment N]`:
 * Hyperband (Li et al. 2017) over the Hai et al. head on cached warm-up features, scored on the
 * validation part only (library: src/workflows/tune.ts; docs/experiments.md).
 */
import type { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import '../../models/layers/keras-layers.js';
import { parseIntDomain, parseRealDomain, type HeadSearchSpace } from '../../train/hyperband.js';
import { runTune } from '../../workflows/tune.js';
import { addOptions, isWhole } from '../options/parse.js';
import { InputError } from '../../util/errors.js';
import {
  commonExperimentOptions,
  parseCommon,
  parseInputKind,
  progressHook,
  type CommonCli,
} from './experiment-options.js';
import { claimOutputDir } from '../../util/output.js';
import { queueTrialRunner } from '../../workflows/queue/index.js';
import { parseQueueCli, withQueueOptions, type QueueCli } from '../options/queue.js';

interface TuneCli extends CommonCli, QueueCli {
  backbone: string;
  weights: string;
  maxEpochs: string;
  eta: string;
  units: string;
  dropout: string;
  lrExponent?: string;
}

export function registerTune(program: Command): void {
  const cmd = program
    .command('tune')
    .description(
      'Hyperband search over the head (units, dropout, optionally the LR exponent) on cached warm-up features, scored on validation only',
    )
    .argument('<manifest>', 'manifest.csv (normally written by `polarcad prepare`)')
    .requiredOption('--backbone <name>', 'backbone from `polarcad models`');
  addOptions(cmd, [
    ['--weights <spec>', 'imagenet | none | PATH', 'imagenet'],
    ['--max-epochs <R>', 'Hyperband maximum resource R (epochs per configuration)', '100'],
    ['--eta <eta>', 'Hyperband proportion eta', '3'],
    [
      '--units <domain>',
      'hidden units: choices "64,128,256,512" or log-uniform range "32..1024"',
      '64,128,256,512',
    ],
    ['--dropout <domain>', 'dropout rate: range "0..0.7" or choices "0.25,0.5"', '0..0.7'],
    [
      '--lr-exponent <domain>',
      'search the LR exponent a too: choices "3,4" or range "2.5..4.5" (default: the backbone table\'s a)',
    ],
  ]);
  withQueueOptions(commonExperimentOptions(cmd)).action(async (manifest: string, o: TuneCli) => {
    const { runner: _inProcess, ...common } = parseCommon(manifest, o);
    const queue = parseQueueCli(o);
    await claimOutputDir(o.out, 'tune', { inputs: [manifest], force: o.force });
    const maxEpochs = Number(o.maxEpochs);
    if (!isWhole(o.maxEpochs) || maxEpochs < 1)
      throw new InputError(`--max-epochs: must be a whole number >= 1, got "${o.maxEpochs}"`);
    const eta = Number(o.eta);
    if (o.eta.trim() === '' || !(eta > 1))
      throw new InputError(`--eta: must be a number > 1, got "${o.eta}"`);
    const space: HeadSearchSpace = {
      units: parseIntDomain(o.units, '--units'),
      dropout: parseRealDomain(o.dropout, '--dropout'),
      ...(o.lrExponent !== undefined ? { lrExponent: parseRealDomain(o.lrExponent, '--lr-exponent') } : {}),
    };
    parseInputKind(o.input);
    await initBackend('wasm');
    const progress = progressHook();
    try {
      const { summary } = await runTune({
        ...common,
        ...(queue !== undefined
          ? {
              runner: queueTrialRunner({
                ...queue,
                ...(common.log ? { log: common.log } : {}),
                onProgress: progress.update,
              }),
            }
          : {}),
        backbone: o.backbone,
        weights: o.weights,
        space,
        maxEpochs,
        eta,
        onProgress: progress.update,
      });
      progress.stop();
      process.stdout.write(summary);
    } finally {
      progress.stop();
    }
  });
}
