/**
 * The engine against PyTorch (issue "The compute engine", section "Benchmarks"), measured side by
 * side in one run on this machine:
 * - frozen forward per image, ResNet50V2, ResNet152V2 and MobileNetV2, batch 16: polarcad's ONNX
 *   Runtime path (`exportToOnnx` + `OnnxModel`, 2 threads) vs PyTorch eval/no_grad (2 threads);
 *   target: polarcad at least 1.5x faster;
 * - one training step of the top block + Hai head on cached inputs (ResNet50V2 `conv5_block3`,
 *   MobileNetV2 `block_16`), batch 16: tfjs-wasm with our gradient kernels vs PyTorch; target:
 *   polarcad within 2x;
 * - the whole warm-up stage (100 epochs over 175 images, cached 2048-wide feature, batch 16):
 *   `trainStages` vs a PyTorch loop doing the same; target: polarcad under 10 s.
 *
 * Every measurement runs in its own child process (polarcad: `bench/engine-worker.ts`; PyTorch:
 * `/usr/bin/python3 bench/pytorch/reference.py`), so each peak RSS is that measurement's own; for
 * each figure polarcad and PyTorch run back to back so that they see similar machine load (the
 * 1-minute load average is recorded by each). When torch is not installed the PyTorch side is
 * recorded as skipped with the reason, and polarcad's side is still measured.
 *
 *   npm run bench -- engine                       everything (~5-10 min on 2 shared cores)
 *   BENCH_ENGINE_FIGURES=step npm run bench -- engine       a subset: forward, step, warmup
 *   BENCH_PYTHON=/usr/bin/python3 (default)       the interpreter with Debian's python3-torch
 *   node --import tsx bench/engine-doc.ts         rewrite the table in docs/engine.md
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../src/util/errors.js';
import { parseWorkerOutput, round } from './backbones-lib.js';
import {
  figureRow,
  FORWARD_MODELS,
  TARGETS,
  TOP_BLOCKS,
  type FigureRow,
  type Side,
  type SideResult,
  type TopBlockName,
} from './engine-lib.js';
import { PYTHON, pytorch, runProcess, tail, torchMissing } from './pytorch-side.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, 'engine-worker.ts');
/** polarcad side: one worker process. */
async function polarcad(args: string[]): Promise<Side> {
  try {
    const p = await runProcess(process.execPath, ['--import', 'tsx', WORKER, ...args]);
    if (p.code !== 0) return { error: `worker exited with ${p.code}: ${tail(p.stderr)}` };
    return parseWorkerOutput(p.stdout) as SideResult;
  } catch (e) {
    return { error: errorMessage(e) };
  }
}

function log(row: FigureRow): void {
  const v = (s: Side): string =>
    'peakRssMiB' in s
      ? JSON.stringify({ ms: s.msPerImage ?? s.msPerStep, s: s.seconds, rss: s.peakRssMiB })
      : JSON.stringify(s);
  process.stderr.write(
    `== ${row.figure} ${row.model}: polarcad ${v(row.polarcad)}; pytorch ${v(row.pytorch)}; ratio ${row.ratio ?? '-'} (${row.target}: ${String(row.met)})\n`,
  );
}

/** Run the benchmark; see the module comment. */
export async function run(): Promise<Record<string, unknown>> {
  const figures = (process.env.BENCH_ENGINE_FIGURES ?? 'forward,step,warmup').split(',');
  const loadStart = loadavg().map((x) => round(x, 2));
  const { reason: missing, info: torchInfo } = await torchMissing();
  if (missing !== null) process.stderr.write(`PyTorch side skipped: ${missing}\n`);
  const rows: FigureRow[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'polarcad-bench-engine-'));
  try {
    if (figures.includes('forward')) {
      for (const name of FORWARD_MODELS) {
        const onnx = join(dir, `${name}.onnx`);
        const exp = await polarcad(['export', name, onnx]);
        const ours: Side =
          'error' in exp
            ? { error: `export: ${String(exp.error)}` }
            : await polarcad(['forward', name, onnx, '--runs', '3']);
        await rm(onnx, { force: true });
        const theirs = await pytorch(['forward', name, '--runs', '3'], missing);
        rows.push(figureRow('forward', name, ours, theirs));
        log(rows[rows.length - 1]);
      }
    }
    if (figures.includes('step')) {
      for (const name of Object.keys(TOP_BLOCKS) as TopBlockName[]) {
        const ours = await polarcad(['step', name, '--steps', '5']);
        const theirs = await pytorch(['step', name, '--steps', '5'], missing);
        rows.push(figureRow('step', name, ours, theirs));
        log(rows[rows.length - 1]);
      }
    }
    if (figures.includes('warmup')) {
      const args = ['--epochs', '100', '--train', '175', '--val', '44'];
      const ours = await polarcad(['warmup', ...args]);
      const theirs = await pytorch(['warmup', ...args], missing);
      rows.push(figureRow('warmup', 'ResNet50V2 head (2048-wide feature)', ours, theirs));
      log(rows[rows.length - 1]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    targets: TARGETS,
    pytorch: missing === null ? { python: PYTHON, ...torchInfo } : { skipped: missing },
    polarcad: {
      forward: 'onnxruntime-node CPU EP, 2 intra-op threads, model exported by src/engine/onnx/export.ts',
      training:
        'tfjs-backend-wasm SIMD, single thread (Node), polarcad gradient kernels (src/engine/kernels)',
    },
    weights: 'seeded random on both sides (He-scaled normal); inputs seeded random',
    batch: 16,
    loadavg: { start: loadStart, end: loadavg().map((x) => round(x, 2)) },
    rows,
  };
}
