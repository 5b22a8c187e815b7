/**
 * Progress off a terminal (issue 13): `train` (and `cv` in process, which passes its folds' training
 * events to the same printer) writes an epoch line every 10 epochs with the stage's ETA; the demo
 * prints each step's own time; the experiments' bars become a plain line a minute at most. stderr
 * is not a TTY under the test runner.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, etaClock, formatDuration, stepClock } from '../../src/cli/progress.js';
import { trainProgress } from '../../src/cli/commands/train.js';
import type { TrainEvent } from '../../src/train/trainer.js';

/** Run `f` capturing what it writes to stderr. */
function captureStderr(f: () => void): string {
  let err = '';
  const ew = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => (
    (err += String(s)),
    true
  )) as typeof process.stderr.write;
  try {
    f();
  } finally {
    process.stderr.write = ew;
  }
  return err;
}

test('formatDuration', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(12_400), '12 s');
  assert.equal(formatDuration(185_000), '3 min 05 s');
  assert.equal(formatDuration(3_720_000), '1 h 02 min');
});

test('etaClock: time left from the rate since start, resumed stages counted from their start', () => {
  let t = 0;
  const c = etaClock(() => t);
  c.start(0);
  assert.equal(c.eta(0, 30), 'ETA ?');
  t = 20_000; // 10 epochs in 20 s: 20 left take 40 s
  assert.equal(c.eta(10, 30), 'ETA 40 s');
  t = 60_000;
  assert.equal(c.eta(30, 30), 'ETA 0 s');
  c.start(5); // a resumed stage: 5 epochs behind, not timed
  t = 90_000; // 10 epochs in 30 s: 15 left take 45 s
  assert.equal(c.eta(15, 30), 'ETA 45 s');
});

test('stepClock: each step its own time, not the time since the start', () => {
  let t = 0;
  const s = stepClock(() => t);
  assert.equal(s.next(), null);
  t = 5_000;
  assert.equal(s.next(), 5_000);
  t = 7_000;
  assert.equal(s.next(), 2_000);
  t = 10_000;
  assert.equal(s.end(), 3_000);
});

test('train off a terminal: an epoch line every 10 epochs and at the end of the stage, each with an ETA', () => {
  assert.ok(!process.stderr.isTTY, 'the test needs stderr off a terminal');
  let t = 0;
  const p = trainProgress('bar', () => t);
  const row = (epoch: number): TrainEvent => ({
    type: 'epoch',
    epochs: 25,
    best: false,
    row: {
      stage: 'warmup',
      epoch,
      loss: 0.5,
      accuracy: 0.75,
      valLoss: 0.6,
      valAccuracy: 0.7,
      lr: 1e-3,
      seconds: 2,
    },
  });
  const err = captureStderr(() => {
    p.onEvent({ type: 'stage-start', stage: 'warmup', epochs: 25, startEpoch: 1, unfreeze: 0, lr: 1e-3 });
    for (let e = 1; e <= 25; e++) {
      t = e * 2_000; // 2 s an epoch
      p.onEvent(row(e));
    }
    p.stopBar();
  });
  assert.deepEqual(err.trim().split('\n'), [
    'warmup epoch 10/25: loss 0.5000 acc 0.750 val_loss 0.6000 val_acc 0.700, ETA 30 s',
    'warmup epoch 20/25: loss 0.5000 acc 0.750 val_loss 0.6000 val_acc 0.700, ETA 10 s',
    'warmup epoch 25/25: loss 0.5000 acc 0.750 val_loss 0.6000 val_acc 0.700, ETA 0 s',
  ]);
  // --quiet and --json print no progress lines on stderr
  const quiet = trainProgress('quiet', () => t);
  assert.equal(
    captureStderr(() => quiet.onEvent(row(10))),
    '',
  );
});

test('createProgress off a terminal: nothing by default; with plainEveryMs a line at most that often and at the end', () => {
  let t = 0;
  const lines: string[] = [];
  const stream = {
    isTTY: false,
    write: (x: string) => (lines.push(x), true),
  } as unknown as NodeJS.WritableStream;
  const silent = createProgress('x', stream);
  silent.update(1, 2);
  silent.update(2, 2);
  assert.deepEqual(lines, []);
  const p = createProgress('1-scratch full', stream, { plainEveryMs: 60_000, now: () => t });
  for (let done = 1; done <= 100; done++) {
    t += 25_000; // 25 s an epoch
    p.update(done, 100);
  }
  p.stop();
  // t = 25 s at epoch 1; lines once 60 s have passed: epochs 3, 6, 9, ... and 100
  assert.equal(lines[0], '1-scratch full 3/100 (3%), ETA 40 min 25 s\n');
  assert.equal(lines.length, 34);
  assert.equal(lines[lines.length - 1], '1-scratch full 100/100 (100%), ETA 0 s\n');
});
