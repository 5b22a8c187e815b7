/**
 * Helpers of the engine benchmark against PyTorch (`bench/engine.bench.ts`): what is measured,
 * the targets of the issue "The compute engine" (section "Benchmarks"), the ratios, the verdicts
 * and the Markdown table written into docs/engine.md. Pure functions, unit-tested in test/bench/.
 */
import { round } from './backbones-lib.js';

/** Backbones of the frozen-forward figure. */
export const FORWARD_MODELS = ['ResNet50V2', 'ResNet152V2', 'MobileNetV2'] as const;

/** Models of the training-step figure. */
export type TopBlockName = 'ResNet50V2' | 'MobileNetV2';

/** The top block trained in the step figure: first layer (Keras name) and what it spans. */
export const TOP_BLOCKS: Readonly<Record<TopBlockName, { firstLayer: string; description: string }>> =
  Object.freeze({
    ResNet50V2: {
      firstLayer: 'conv5_block3_preact_bn',
      description: 'conv5_block3 + post_bn/post_relu + Hai head, input conv5_block2_out 7x7x2048',
    },
    MobileNetV2: {
      firstLayer: 'block_16_expand',
      description:
        'block_16 (last inverted residual) + Conv_1/Conv_1_bn/out_relu + Hai head, input block_15_add 7x7x160',
    },
  });

/** Targets of the issue. */
export const TARGETS = Object.freeze({
  /** PyTorch ms / polarcad ms per image, at least. */
  forwardSpeedup: 1.5,
  /** polarcad ms / PyTorch ms per step, at most. */
  stepSlowdown: 2,
  /** Whole warm-up stage, seconds, below. */
  warmupSeconds: 10,
});

/** One side's measurement as the workers report it (only the fields used here are typed). */
export interface SideResult {
  /** ms per image (forward), ms per step (step). */
  msPerImage?: number;
  msPerStep?: number;
  /** Whole stage, seconds (warm-up). */
  seconds?: number;
  /** Process CPU time (user + system, all threads) of the same quantity. */
  cpuMsPerImage?: number;
  cpuMsPerStep?: number;
  cpuSeconds?: number;
  peakRssMiB: number;
  [k: string]: unknown;
}

/** A side that did not produce a figure. */
export interface SideMissing {
  error?: string;
  skipped?: string;
}

export type Side = SideResult | SideMissing;

export function isResult(s: Side): s is SideResult {
  return typeof (s as SideResult).peakRssMiB === 'number';
}

/** One figure of the benchmark, both sides, ratio and verdict. */
export interface FigureRow {
  figure: 'forward' | 'step' | 'warmup';
  model: string;
  unit: 'ms/image' | 'ms/step' | 's';
  polarcad: Side;
  pytorch: Side;
  /**
   * forward: PyTorch / polarcad (speed-up); step: polarcad / PyTorch (slow-down);
   * warmup: polarcad / PyTorch. Absent when a side is missing.
   */
  ratio?: number;
  /** The same ratio on process CPU time (less sensitive to the load of a shared machine). */
  cpuRatio?: number;
  /** Human-readable target. */
  target: string;
  /** Whether the target is met (null: cannot be decided, a needed side is missing). */
  met: boolean | null;
}

/** The figure's value of a side (ms per image, ms per step or seconds). */
export function valueOf(figure: FigureRow['figure'], s: Side): number | undefined {
  if (!isResult(s)) return undefined;
  if (figure === 'forward') return s.msPerImage;
  if (figure === 'step') return s.msPerStep;
  return s.seconds;
}

/** The figure's CPU-time value of a side. */
export function cpuValueOf(figure: FigureRow['figure'], s: Side): number | undefined {
  if (!isResult(s)) return undefined;
  if (figure === 'forward') return s.cpuMsPerImage;
  if (figure === 'step') return s.cpuMsPerStep;
  return s.cpuSeconds;
}

function orient(
  figure: FigureRow['figure'],
  p: number | undefined,
  t: number | undefined,
): number | undefined {
  if (p === undefined || t === undefined || !(p > 0) || !(t > 0)) return undefined;
  return round(figure === 'forward' ? t / p : p / t, 2);
}

/** Build a row: ratio and verdict against {@link TARGETS} (verdicts use wall time). */
export function figureRow(
  figure: FigureRow['figure'],
  model: string,
  polarcad: Side,
  pytorch: Side,
): FigureRow {
  const unit = figure === 'forward' ? 'ms/image' : figure === 'step' ? 'ms/step' : 's';
  const p = valueOf(figure, polarcad);
  const t = valueOf(figure, pytorch);
  const ratio = orient(figure, p, t);
  const cpuRatio = orient(figure, cpuValueOf(figure, polarcad), cpuValueOf(figure, pytorch));
  let target: string;
  let met: boolean | null;
  if (figure === 'forward') {
    target = `>= ${TARGETS.forwardSpeedup}x faster`;
    met = ratio === undefined ? null : ratio >= TARGETS.forwardSpeedup;
  } else if (figure === 'step') {
    target = `within ${TARGETS.stepSlowdown}x`;
    met = ratio === undefined ? null : ratio <= TARGETS.stepSlowdown;
  } else {
    target = `< ${TARGETS.warmupSeconds} s`;
    met = p === undefined ? null : p < TARGETS.warmupSeconds;
  }
  return {
    figure,
    model,
    unit,
    polarcad,
    pytorch,
    ...(ratio === undefined ? {} : { ratio }),
    ...(cpuRatio === undefined ? {} : { cpuRatio }),
    target,
    met,
  };
}

function fmt(x: number | undefined): string {
  if (x === undefined) return '-';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function sideCell(figure: FigureRow['figure'], s: Side): string {
  if (isResult(s)) return fmt(valueOf(figure, s));
  return s.error !== undefined ? 'failed' : 'not run';
}

function memCell(s: Side): string {
  return isResult(s) ? `${Math.round(s.peakRssMiB)} MiB` : '-';
}

const FIGURE_TITLE: Record<FigureRow['figure'], string> = {
  forward: 'Frozen forward, batch 16',
  step: 'Training step, top block + head, batch 16',
  warmup: 'Warm-up stage, 100 epochs x 175 images',
};

/**
 * Markdown table: figure, polarcad, PyTorch, ratio, target, met (wall time), the same on process
 * CPU time, peak RSS of each side.
 * Missing sides and errors are listed below the table.
 */
export function markdownTable(rows: readonly FigureRow[]): string {
  const head =
    '| Figure | Model | Unit | polarcad | PyTorch | Ratio | Target | Met? | polarcad CPU | PyTorch CPU | CPU ratio | polarcad peak RSS | PyTorch peak RSS |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  const notes: string[] = [];
  const body = rows
    .map((r) => {
      for (const [who, s] of [
        ['polarcad', r.polarcad],
        ['PyTorch', r.pytorch],
      ] as const) {
        if (!isResult(s))
          notes.push(
            `- ${FIGURE_TITLE[r.figure]}, ${r.model}, ${who}: ${(s.error ?? s.skipped ?? 'no result').split('\n')[0]}`,
          );
      }
      const ratio = r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}x`;
      const met = r.met === null ? '?' : r.met ? 'yes' : '**no**';
      const cpuRatio = r.cpuRatio === undefined ? '-' : `${r.cpuRatio.toFixed(2)}x`;
      const cpu = (s: Side): string => fmt(cpuValueOf(r.figure, s));
      return `| ${FIGURE_TITLE[r.figure]} | ${r.model} | ${r.unit} | ${sideCell(r.figure, r.polarcad)} | ${sideCell(r.figure, r.pytorch)} | ${ratio} | ${r.target} | ${met} | ${cpu(r.polarcad)} | ${cpu(r.pytorch)} | ${cpuRatio} | ${memCell(r.polarcad)} | ${memCell(r.pytorch)} |`;
    })
    .join('\n');
  return `${head}${body}\n${notes.length > 0 ? `\nMissing:\n\n${notes.join('\n')}\n` : ''}`;
}

/** Markers delimiting the generated block in docs/engine.md. */
export const ENGINE_DOC_BEGIN = '<!-- bench:engine:begin (generated by bench/engine.bench.ts) -->';
export const ENGINE_DOC_END = '<!-- bench:engine:end -->';

/**
 * Replace the generated block in `doc` (between the markers) with `block`; when the markers are
 * absent, append `heading` and the block at the end. Everything else is kept verbatim.
 * @throws Error when only one marker is present (a hand edit broke the block).
 */
export function replaceEngineBlock(doc: string, block: string, heading: string): string {
  const inner = `${ENGINE_DOC_BEGIN}\n${block.trimEnd()}\n${ENGINE_DOC_END}`;
  const b = doc.indexOf(ENGINE_DOC_BEGIN);
  const e = doc.indexOf(ENGINE_DOC_END);
  if (b >= 0 && e > b) return doc.slice(0, b) + inner + doc.slice(e + ENGINE_DOC_END.length);
  if (b >= 0 || e >= 0) throw new Error('docs/engine.md: unbalanced engine benchmark markers');
  return `${doc.trimEnd()}\n\n${heading}\n\n${inner}\n`;
}
