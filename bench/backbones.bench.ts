/**
 * Backbone forward benchmark (issues "The backbone zoo" and "compute engine"): for each of the 15
 * backbones of Hai et al. (2022) Table 2, at the table's input size with seeded random weights,
 * forward time per image at batch 1 and 16 and peak memory, on tfjs-wasm (single-threaded SIMD)
 * and on the ONNX Runtime path (the tfjs model exported with `exportToOnnx`, ORT CPU with 2
 * intra-op threads), plus the tfjs/ORT ratio.
 *
 * Each measurement runs in its own child process (`bench/backbone-worker.ts`), so peak RSS is per
 * backbone and engine, and a crash, out-of-memory or timeout is recorded as that backbone's error.
 * Batch 1: median of 3..7 runs (within ~8 s) after a warm-up; batch 16: median of 1..3 runs
 * (within ~30 s), after a warm-up only when 16 images take < 8 s. The machine's 1-minute load
 * average is recorded per worker (the 2 cores may be shared).
 *
 *   npm run bench -- backbones                     all 15, both engines (~15-25 min on 2 cores)
 *   npm run bench -- backbones --quick             MobileNetV2, EfficientNetB0, ResNet50V2; fewer runs
 *   BENCH_QUICK=1 npm run bench -- backbones       same as --quick
 *   BENCH_BACKBONES=VGG16,Xception BENCH_ENGINES=tfjs npm run bench -- backbones
 *   BENCH_MERGE=1 BENCH_BACKBONES=VGG16 npm run bench -- backbones    re-measure VGG16, keep the other rows
 *   node --import tsx bench/backbones-doc.ts       rewrite the table in docs/backbones.md
 */
import { runProcess } from './pytorch-side.js';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKBONES, getBackbone } from '../src/models/table.js';
import { errorMessage } from '../src/util/errors.js';
import {
  errorGist,
  mergeRows,
  parseWorkerOutput,
  speedRatios,
  type BackboneRow,
  type WorkerResult,
} from './backbones-lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, 'backbone-worker.ts');
const QUICK_SET = ['MobileNetV2', 'EfficientNetB0', 'ResNet50V2'];
/** Per-process time limits (ms). */
const TIMEOUT = { tfjs: 12 * 60_000, export: 5 * 60_000, ort: 6 * 60_000 };

/** Run the worker; rejects with the exit status and the end of stderr on failure or timeout. */
async function runWorker(args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  const p = await runProcess(process.execPath, ['--import', 'tsx', WORKER, ...args], timeoutMs);
  if (p.code !== 0) throw new Error(`worker exited with ${p.code ?? 'a signal'}: ${errorGist(p.stderr)}`);
  return p;
}

async function measure(args: string[], timeoutMs: number): Promise<WorkerResult | { error: string }> {
  try {
    return parseWorkerOutput((await runWorker(args, timeoutMs)).stdout) as WorkerResult;
  } catch (e) {
    return { error: errorMessage(e) };
  }
}

function chosenBackbones(quick: boolean): string[] {
  const env = process.env.BENCH_BACKBONES;
  if (env !== undefined && env.trim() !== '') return env.split(',').map((n) => getBackbone(n).name);
  return quick ? QUICK_SET : BACKBONES.map((b) => b.name);
}

/** Rows of the existing bench/results/backbones.json (for BENCH_MERGE=1), or none. */
async function previousRows(): Promise<BackboneRow[]> {
  try {
    const old = JSON.parse(await readFile(join(here, 'results', 'backbones.json'), 'utf8')) as {
      figures?: { backbones?: BackboneRow[] };
    };
    return old.figures?.backbones ?? [];
  } catch {
    return [];
  }
}

/** Run the benchmark; see the module comment. */
export async function run(): Promise<Record<string, unknown>> {
  const quick = process.env.BENCH_QUICK === '1' || process.argv.includes('--quick');
  const engines = (process.env.BENCH_ENGINES ?? 'tfjs,ort').split(',');
  const ortAvailable = existsSync(join(here, '..', 'src', 'engine', 'onnx', 'export.ts'));
  const names = chosenBackbones(quick);
  const dir = await mkdtemp(join(tmpdir(), 'polarcad-bench-backbones-'));
  const partial = join(tmpdir(), 'polarcad-bench-backbones.partial.json');
  const loadStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const rows: BackboneRow[] = [];
  try {
    for (const name of names) {
      const spec = getBackbone(name);
      process.stderr.write(`${name} (${spec.inputSize} px)\n`);
      const ref = join(dir, `${name}.tfjs.bin`);
      const onnx = join(dir, `${name}.onnx`);
      const q = quick ? ['--quick'] : [];
      const tfjs = engines.includes('tfjs')
        ? await measure([name, 'tfjs', '--ref', ref, ...q], TIMEOUT.tfjs)
        : { error: 'not requested (BENCH_ENGINES)' };
      let ort: BackboneRow['ort'];
      if (!engines.includes('ort')) ort = { skipped: 'not requested (BENCH_ENGINES)' };
      else if (!ortAvailable) ort = { skipped: 'src/engine/onnx/ is not present' };
      else {
        try {
          await runWorker([name, 'export', '--onnx', onnx], TIMEOUT.export);
          ort = await measure([name, 'ort', '--onnx', onnx, '--ref', ref, ...q], TIMEOUT.ort);
        } catch (e) {
          ort = { error: `export: ${errorMessage(e)}` };
        }
        await rm(onnx, { force: true });
      }
      const row: BackboneRow = {
        backbone: name,
        measuredAt: new Date().toISOString(),
        inputSize: spec.inputSize,
        tfjs,
        ort,
      };
      if ('batches' in tfjs && 'batches' in ort) row.ratio = speedRatios(tfjs, ort);
      rows.push(row);
      await writeFile(partial, `${JSON.stringify(rows, null, 2)}\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const merged =
    process.env.BENCH_MERGE === '1'
      ? mergeRows(
          await previousRows(),
          rows,
          BACKBONES.map((b) => b.name),
        )
      : rows;
  return {
    quick,
    unit: 'ms per image (median forward wall time / batch); memory in MiB',
    weights: 'seeded He-scaled random (test/engine/onnx-helpers.ts randomizeWeights, seed 7)',
    tfjs: 'tfjs-backend-wasm, SIMD, single thread (Node)',
    ort: 'onnxruntime-node CPU EP, 2 intra-op threads, graph optimisation all; model exported by src/engine/onnx/export.ts',
    loadavg: { start: loadStart, end: loadavg().map((x) => Math.round(x * 100) / 100) },
    merged: process.env.BENCH_MERGE === '1',
    backbones: merged,
  };
}
