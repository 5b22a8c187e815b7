/**
 * Helpers of the backbone forward benchmark (`bench/backbones.bench.ts`, `bench/backbone-worker.ts`):
 * run statistics, the adaptive repetition schedule, the worker's output protocol, and the Markdown
 * summary written into docs/backbones.md. Pure functions, unit-tested in test/bench/.
 */

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** How many timed runs to make: at least `minRuns`, then more while under `budgetMs`, at most `maxRuns`. */
export interface RepSchedule {
  minRuns: number;
  maxRuns: number;
  budgetMs: number;
}

/**
 * Time `fn` repeatedly following `schedule` (no warm-up here: the caller warms up).
 * `now` is injectable for tests. Returns the wall time of each run in ms.
 */
export async function timeRuns(
  fn: () => Promise<void>,
  schedule: RepSchedule,
  now: () => number = () => performance.now(),
): Promise<number[]> {
  if (!(schedule.minRuns >= 1 && schedule.maxRuns >= schedule.minRuns)) {
    throw new RangeError(`bad schedule: minRuns ${schedule.minRuns}, maxRuns ${schedule.maxRuns}`);
  }
  const times: number[] = [];
  const start = now();
  while (times.length < schedule.minRuns || (times.length < schedule.maxRuns && now() - start < schedule.budgetMs)) {
    const t0 = now();
    await fn();
    times.push(now() - t0);
  }
  return times;
}

/** Timing of one batch size. */
export interface BatchTiming {
  batch: number;
  /** Median wall time of one forward call divided by the batch size. */
  msPerImage: number;
  /** Wall time of every timed call (whole batch), ms. */
  runsMs: number[];
  /** Whether an untimed call at this batch size preceded the timed ones. */
  warmedUp: boolean;
  /**
   * Median process CPU time (user + system, all threads) of one call divided by the batch size.
   * For single-threaded tfjs-wasm this hardly depends on other processes' load; for ORT it sums
   * its threads (including their spin-waiting).
   */
  cpuMsPerImage?: number;
}

/** Summarise the timed runs of one batch size (`cpuMs`: CPU time of each run, when measured). */
export function summariseBatch(batch: number, runsMs: readonly number[], warmedUp: boolean, cpuMs?: readonly number[]): BatchTiming {
  return {
    batch,
    msPerImage: round(median(runsMs) / batch, 1),
    runsMs: runsMs.map((t) => round(t, 1)),
    warmedUp,
    ...(cpuMs === undefined || cpuMs.length === 0 ? {} : { cpuMsPerImage: round(median(cpuMs) / batch, 1) }),
  };
}

/** Round to `digits` decimals. */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** What a worker measured for one backbone on one engine. */
export interface WorkerResult {
  backbone: string;
  engine: 'tfjs-wasm' | 'ort';
  inputSize: number;
  /** Intra-op threads (1 for tfjs-wasm under Node). */
  threads: number;
  /** Model build (tfjs) or session creation (ORT), ms. */
  setupMs: number;
  batches: BatchTiming[];
  /** Peak resident set size of the worker process (`process.resourceUsage().maxRSS`), MiB. */
  peakRssMiB: number;
  /** Resident set size right after the imports, before the model existed, MiB. */
  baselineRssMiB: number;
  /** tfjs-wasm only: WebAssembly heap size at the end (it only grows, so this is its peak), MiB. */
  wasmHeapMiB?: number;
  /** tfjs only: `tf.memory().numBytes` with the model built (weights), MiB. */
  tfTensorMiB?: number;
  /** ORT only: size of the exported .onnx file, MiB. */
  onnxMiB?: number;
  /** ORT only: max |ort - tfjs| / max |tfjs| on the same batch-1 input (when the tfjs output was saved). */
  parityRelError?: number;
  /** Max |output| of the batch-1 forward (a zero or non-finite output would make the timing meaningless). */
  outputMaxAbs: number;
  /** 1-minute load average at the worker's start and end. */
  loadavg: [number, number];
}

/** Prefix of the one stdout line carrying the worker's JSON result. */
export const RESULT_MARKER = '@@polarcad-bench ';

/** The line a worker prints for `result`. */
export function formatWorkerLine(result: unknown): string {
  return `${RESULT_MARKER}${JSON.stringify(result)}\n`;
}

/** Extract the worker's JSON result from its stdout (last marked line); throws when there is none. */
export function parseWorkerOutput(stdout: string): unknown {
  const lines = stdout.split('\n').filter((l) => l.startsWith(RESULT_MARKER));
  const last = lines.at(-1);
  if (last === undefined) throw new Error('the worker printed no result line');
  return JSON.parse(last.slice(RESULT_MARKER.length)) as unknown;
}

/**
 * The gist of a failed worker's stderr: the last line naming an error and the line after it
 * (Node prints the stack below the message), each cut to 300 characters; else the last line.
 */
export function errorGist(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('at ') && !l.startsWith('Node.js v'));
  let i = -1;
  for (let k = lines.length - 1; k >= 0 && i < 0; k--) if (/error/i.test(lines[k])) i = k;
  const pick = i < 0 ? lines.slice(-1) : lines.slice(i, i + 2);
  return pick.map((l) => (l.length > 300 ? `${l.slice(0, 300)}...` : l)).join(' | ');
}

/** One backbone's row of the benchmark result: per-engine result or the error that stopped it. */
export interface BackboneRow {
  backbone: string;
  /** ISO time the row was measured (rows kept from an earlier run by BENCH_MERGE keep theirs). */
  measuredAt?: string;
  inputSize: number;
  tfjs: WorkerResult | { error: string };
  ort: WorkerResult | { error: string } | { skipped: string };
  /** tfjs-wasm ms per image / ORT ms per image, per batch size (when both succeeded). */
  ratio?: Record<string, number>;
}

/** tfjs ms/image divided by ORT ms/image for every batch size both measured. */
export function speedRatios(tfjs: WorkerResult, ort: WorkerResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tfjs.batches) {
    const o = ort.batches.find((b) => b.batch === t.batch);
    if (o !== undefined && o.msPerImage > 0) out[`b${t.batch}`] = round(t.msPerImage / o.msPerImage, 2);
  }
  return out;
}

function isResult(x: BackboneRow['tfjs'] | BackboneRow['ort']): x is WorkerResult {
  return 'batches' in x;
}

function cell(r: BackboneRow['tfjs'] | BackboneRow['ort'], batch: number): string {
  if (!isResult(r)) return 'error' in r ? 'failed' : '-';
  const b = r.batches.find((x) => x.batch === batch);
  return b === undefined ? '-' : fmt(b.msPerImage);
}

function cpuCell(r: BackboneRow['tfjs'] | BackboneRow['ort']): string {
  if (!isResult(r)) return '-';
  const get = (batch: number): string => {
    const c = r.batches.find((x) => x.batch === batch)?.cpuMsPerImage;
    return c === undefined ? '-' : fmt(c);
  };
  return `${get(1)} / ${get(16)}`;
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

/**
 * Markdown table of the benchmark: ms per image at batch 1 and 16 on both engines, the
 * tfjs/ORT ratio, CPU ms per image, peak RSS / wasm heap per worker process, and the ORT-vs-tfjs relative difference
 * of the batch-1 output. Failures are listed below it.
 */
export function markdownTable(rows: readonly BackboneRow[]): string {
  const head =
    '| Backbone | Input | tfjs-wasm b1 | tfjs-wasm b16 | ORT b1 | ORT b16 | tfjs/ORT b1 | tfjs/ORT b16 | tfjs-wasm CPU b1 / b16 | ORT CPU b1 / b16 | tfjs peak RSS | tfjs wasm heap | ORT peak RSS | ORT vs tfjs |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  const notes: string[] = [];
  const body = rows
    .map((r) => {
      for (const [engine, res] of [
        ['tfjs-wasm', r.tfjs],
        ['ORT', r.ort],
      ] as const) {
        if ('error' in res) notes.push(`- ${r.backbone} on ${engine}: ${res.error.split('\n')[0]}`);
      }
      const t = isResult(r.tfjs) ? r.tfjs : null;
      const o = isResult(r.ort) ? r.ort : null;
      const ratio = (b: string): string => (r.ratio?.[b] === undefined ? '-' : `${r.ratio[b].toFixed(1)}x`);
      return (
        `| ${r.backbone} | ${r.inputSize} | ${cell(r.tfjs, 1)} | ${cell(r.tfjs, 16)} | ${cell(r.ort, 1)} | ${cell(r.ort, 16)} ` +
        `| ${ratio('b1')} | ${ratio('b16')} | ${cpuCell(r.tfjs)} | ${cpuCell(r.ort)} | ${t === null ? '-' : `${Math.round(t.peakRssMiB)} MiB`} ` +
        `| ${t?.wasmHeapMiB === undefined ? '-' : `${Math.round(t.wasmHeapMiB)} MiB`} | ${o === null ? '-' : `${Math.round(o.peakRssMiB)} MiB`} ` +
        `| ${o?.parityRelError === undefined ? '-' : o.parityRelError.toExponential(0)} |`
      );
    })
    .join('\n');
  return `${head}${body}\n${notes.length > 0 ? `\nFailures:\n\n${notes.join('\n')}\n` : ''}`;
}

/**
 * Rows of a new run merged into those of an earlier run: every backbone of `order` that the new
 * run measured comes from `fresh`, the others are kept from `previous`; rows follow `order`.
 */
export function mergeRows(previous: readonly BackboneRow[], fresh: readonly BackboneRow[], order: readonly string[]): BackboneRow[] {
  const pick = (name: string): BackboneRow | undefined =>
    fresh.find((r) => r.backbone === name) ?? previous.find((r) => r.backbone === name);
  return order.map(pick).filter((r): r is BackboneRow => r !== undefined);
}

/** Markers delimiting the generated block in docs/backbones.md. */
export const DOC_BEGIN = '<!-- bench:backbones:begin (generated by bench/backbones-doc.ts) -->';
export const DOC_END = '<!-- bench:backbones:end -->';

/**
 * Replace the text between {@link DOC_BEGIN} and {@link DOC_END} in `doc` with `block`, or append
 * the markers and block (after `heading`) when the document has none. The rest is kept verbatim.
 */
export function replaceDocBlock(doc: string, block: string, heading: string): string {
  const inner = `${DOC_BEGIN}\n${block.trimEnd()}\n${DOC_END}`;
  const b = doc.indexOf(DOC_BEGIN);
  const e = doc.indexOf(DOC_END);
  if (b >= 0 && e > b) return doc.slice(0, b) + inner + doc.slice(e + DOC_END.length);
  if (b >= 0 || e >= 0) throw new Error('docs: unbalanced benchmark markers');
  return `${doc.trimEnd()}\n\n${heading}\n\n${inner}\n`;
}
