import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerCv } from '../../src/cli/commands/cv.js';
import { registerTrain } from '../../src/cli/commands/train.js';
import {
  addTrainingOptions,
  parseTrainingOptions,
  wholeOption,
  type TrainingCli,
} from '../../src/cli/options/training.js';
import { listOption } from '../../src/cli/options/parse.js';
import { InputError } from '../../src/util/errors.js';

const HELP = { augment: 'a', seed: 's', inputSize: 'i', cacheDir: 'c' };

function parsed(args: string[]): TrainingCli {
  const cmd = addTrainingOptions(new Command('x').exitOverride(), HELP);
  cmd.parse(args, { from: 'user' });
  return cmd.opts<TrainingCli>();
}

test('shared training options: the defaults of Hai et al. (2022) and parsed numbers', () => {
  assert.deepEqual(parseTrainingOptions(parsed([])), {
    weights: 'imagenet',
    input: 'stress_ac',
    head: 'hai',
    warmupEpochs: 100,
    finetuneEpochs: 30,
    batchSize: 16,
    unfreeze: undefined,
    augment: 0,
    seed: 1,
    patience: undefined,
    inputSize: undefined,
  });
  const o = parseTrainingOptions(
    parsed(['--head', 'apostolopoulos', '--batch-size', '8', '--cache-dir', '/tmp/c']),
  );
  assert.equal(o.head, 'apostolopoulos');
  assert.equal(o.batchSize, 8);
  assert.equal(o.cacheDir, '/tmp/c');
});

test('shared training options: bad values are InputErrors naming the option', () => {
  assert.throws(
    () => parseTrainingOptions(parsed(['--head', 'dense'])),
    (e: unknown) => e instanceof InputError && /--head/.test(e.message),
  );
  assert.throws(
    () => parseTrainingOptions(parsed(['--seed', '-3'])),
    (e: unknown) => e instanceof InputError && /--seed .*"-3"/.test(e.message),
  );
  assert.throws(() => wholeOption('--k', '2.5'), /--k must be a whole number/);
  assert.equal(wholeOption('--k', undefined), undefined);
});

test('list options (train --backbone/--clinical, experiment --backbones): trimmed items; none, or a repeat where refused, is an InputError naming the option', () => {
  assert.deepEqual(listOption('--backbones', ' VGG16, ResNet50 ,,'), ['VGG16', 'ResNet50']);
  assert.deepEqual(listOption('--backbones', 'VGG16,VGG16'), ['VGG16', 'VGG16']);
  assert.throws(
    () => listOption('--clinical', ' , '),
    (e: unknown) => e instanceof InputError && /--clinical: give at least one item/.test(e.message),
  );
  assert.throws(
    () => listOption('--backbone', 'VGG16,ResNet50,VGG16', { unique: true }),
    (e: unknown) => e instanceof InputError && /--backbone: an item is repeated/.test(e.message),
  );
});

test('polarcad train and polarcad cv define the shared training options identically (flags and defaults)', () => {
  const program = new Command();
  registerTrain(program);
  registerCv(program);
  const shared = addTrainingOptions(new Command('x'), HELP).options.map((o) => o.long);
  const flags = (name: string) =>
    new Map(program.commands.find((c) => c.name() === name)!.options.map((o) => [o.long, o.defaultValue]));
  const train = flags('train');
  const cv = flags('cv');
  for (const f of shared) {
    assert.ok(train.has(f) && cv.has(f), f);
    assert.equal(train.get(f), cv.get(f), f);
  }
  assert.equal(shared.length, 12);
});
