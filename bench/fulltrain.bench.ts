/**
 * `npm run bench -- fulltrain` (issue 14): one full-network training epoch, every layer trainable
 * (Hai et al. 2022 strategy 2), 141 training + 35 validation patients at 224 px, batch 16, for
 * MobileNetV2 and ResNet50V2: polarcad (`polarcad train --model cnn`, one fine-tuning epoch from the
 * first backbone layer, BN in inference mode as its default; on this thread and with
 * `--train-workers 2`) and PyTorch 1.13 (`bench/pytorch/reference.py fullepoch`, 2 threads, the
 * same epoch), side by side in one run, with wall and CPU time, peak memory and the load average.
 * Compare only on a quiet machine (1-minute load average below 1.5 at the start, recorded).
 *
 * The cohort (220 generated patients: 44 held out for testing, 176 = 141 + 35 for the epoch) is
 * made once under $POLARCAD_BENCH_DIR (default ~/.cache/polarcad/bench-fulltrain). ResNet50V2 runs
 * with `--weights none` (the time does not depend on the values); MobileNetV2 on the embedded
 * default. No micro-batch is given: the trainer plans it from a memory probe.
 *
 *   npm run bench -- fulltrain
 *   BENCH_FULLTRAIN_MODELS=MobileNetV2 BENCH_FULLTRAIN_WORKERS=1,2 npm run bench -- fulltrain
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round } from './backbones-lib.js';
import type { Side } from './engine-lib.js';
import { pytorch, runProcess, tail, torchMissing } from './pytorch-side.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(repo, 'src', 'cli', 'bin.ts');

/** The first backbone layer of each model: `--unfreeze-from` it makes every layer trainable. */
const FIRST_LAYER: Readonly<Record<string, { layer: string; weights: string }>> = {
  MobileNetV2: { layer: 'Conv1', weights: 'imagenet' },
  ResNet50V2: { layer: 'conv1_conv', weights: 'none' },
};

/** One polarcad epoch: seconds of the epoch (training + validation), process CPU and peak memory. */
interface PolarcadEpoch {
  readonly workers: number | null;
  readonly epochSeconds?: number;
  readonly wallSeconds?: number;
  readonly cpuSeconds?: number;
  readonly peakRssMiB?: number;
  readonly error?: string;
  readonly loadavgStart: number[];
}

async function cli(args: readonly string[]): Promise<void> {
  const p = await runProcess(process.execPath, ['--import', 'tsx', CLI, ...args], 30 * 60_000);
  if (p.code !== 0) throw new Error(`polarcad ${args[0]} exited with ${p.code}: ${tail(p.stderr)}`);
}

/** Generate and prepare the 220-patient cohort once; returns its prepared manifest. */
async function cohort(dir: string): Promise<string> {
  const manifest = join(dir, 'prepared', 'manifest.csv');
  if (existsSync(manifest)) return manifest;
  await mkdir(dir, { recursive: true });
  await cli(['synth', '--out', join(dir, 'raw'), '--patients', '220', '--seed', '14']);
  await cli(['prepare', join(dir, 'raw', 'manifest.csv'), '--out', join(dir, 'prepared')]);
  return manifest;
}

/** One `polarcad train` fine-tuning epoch with every layer trainable, under /usr/bin/time. */
async function polarcadEpoch(
  manifest: string,
  model: string,
  workers: number | null,
  dir: string,
): Promise<PolarcadEpoch> {
  const out = join(dir, `run-${model}-${workers ?? 0}`);
  await rm(out, { recursive: true, force: true });
  const loadavgStart = loadavg().map((x) => round(x, 2));
  const spec = FIRST_LAYER[model];
  const args = [
    '-f',
    'polarcad-time %e %U %S %M',
    process.execPath,
    '--import',
    'tsx',
    CLI,
    'train',
    manifest,
    '--model',
    'cnn',
    '--backbone',
    model,
    '--weights',
    spec.weights,
    '--warmup-epochs',
    '0',
    '--finetune-epochs',
    '1',
    '--unfreeze-from',
    spec.layer,
    '--batch-size',
    '16',
    '--out',
    out,
    '--json',
    ...(workers !== null ? ['--train-workers', String(workers)] : []),
  ];
  const p = await runProcess('/usr/bin/time', args, 60 * 60_000);
  if (p.code !== 0) return { workers, loadavgStart, error: `exited with ${p.code}: ${tail(p.stderr)}` };
  const epoch = p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; row?: { seconds: number } })
    .find((e) => e.type === 'epoch');
  const time = /polarcad-time ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(p.stderr);
  await rm(out, { recursive: true, force: true });
  return {
    workers,
    loadavgStart,
    ...(epoch?.row !== undefined ? { epochSeconds: round(epoch.row.seconds, 2) } : {}),
    ...(time !== null
      ? {
          wallSeconds: Number(time[1]),
          cpuSeconds: round(Number(time[2]) + Number(time[3]), 2),
          peakRssMiB: round(Number(time[4]) / 1024, 1),
        }
      : {}),
  };
}

/** Run the benchmark; see the module comment. */
export async function run(): Promise<Record<string, unknown>> {
  const dir = process.env.POLARCAD_BENCH_DIR ?? join(homedir(), '.cache', 'polarcad', 'bench-fulltrain');
  const models = (process.env.BENCH_FULLTRAIN_MODELS ?? 'MobileNetV2,ResNet50V2').split(',');
  const workerCounts = (process.env.BENCH_FULLTRAIN_WORKERS ?? '1,2').split(',').map(Number);
  const manifest = await cohort(dir);
  const missing = await torchMissing();
  const loadStart = loadavg().map((x) => round(x, 2));
  const rows: { model: string; polarcad: PolarcadEpoch[]; pytorch: Side; ratio: number | null }[] = [];
  for (const model of models) {
    const ours: PolarcadEpoch[] = [];
    for (const w of workerCounts) {
      // 1 = this thread (no pool); N > 1 = N worker threads
      ours.push(await polarcadEpoch(manifest, model, w === 1 ? null : w, dir));
      process.stderr.write(`== fulltrain ${model} polarcad ${JSON.stringify(ours[ours.length - 1])}\n`);
    }
    const theirs = await pytorch(['fullepoch', model, '--train', '141', '--val', '35'], missing.reason);
    process.stderr.write(`== fulltrain ${model} pytorch ${JSON.stringify(theirs)}\n`);
    const best = Math.min(...ours.map((o) => o.epochSeconds ?? Infinity));
    const torchSeconds = 'seconds' in theirs && typeof theirs.seconds === 'number' ? theirs.seconds : null;
    rows.push({
      model,
      polarcad: ours,
      pytorch: theirs,
      ratio: torchSeconds !== null && Number.isFinite(best) ? round(best / torchSeconds, 2) : null,
    });
  }
  return {
    target: 'polarcad epoch within 1.25x of PyTorch wall time, quiet machine (load < 1.5)',
    train: 141,
    validation: 35,
    batch: 16,
    inputSize: 224,
    rows,
    loadavg: { start: loadStart, end: loadavg().map((x) => round(x, 2)) },
  };
}
