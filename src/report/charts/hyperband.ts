import { InputError } from '../../util/errors.js';
import type { VegaLiteSpec } from './render.js';
import { PALETTE, SIZES } from './theme.js';
import { fixed, requireFinite, requireNonEmpty } from './validate.js';

/** One Hyperband trial: a configuration trained for `epochs` in bracket `bracket`, with its score. */
export interface HyperbandTrial {
  config: Record<string, number>;
  epochs: number;
  score: number;
  bracket: number;
}

/** Options for `hyperbandChart`. */
export interface HyperbandChartOptions {
  /** y-axis title; default "Validation accuracy" */
  scoreLabel?: string;
  /** true (default) when a larger score is better (accuracy, AUC); false for a loss */
  higherIsBetter?: boolean;
  title?: string;
  subtitle?: string;
}

/** Compact number for hyperparameter values: 1e-4, 0.3, 128. */
export function formatHyperparameter(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-2 || a >= 1e5) {
    const [m, e] = v.toExponential(2).split('e');
    return `${String(Number(m))}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(3)));
}

/** "dropout=0.3, lr=1e-4" (keys sorted), the identity of a configuration. */
export function describeConfig(config: Record<string, number>): string {
  return Object.keys(config)
    .sort()
    .map((k) => `${k}=${formatHyperparameter(config[k])}`)
    .join(', ');
}

/** The best trial: highest (or lowest) score; ties go to more epochs, then to the earlier trial. */
export function bestTrial(trials: readonly HyperbandTrial[], higherIsBetter = true): HyperbandTrial {
  requireNonEmpty(trials, 'bestTrial: trials');
  let best = trials[0];
  for (const t of trials.slice(1)) {
    const d = higherIsBetter ? t.score - best.score : best.score - t.score;
    if (d > 0 || (d === 0 && t.epochs > best.epochs)) best = t;
  }
  return best;
}

/**
 * Hyperband search (Li et al. 2018) as a picture: every trial's score against the epochs it was
 * given (log axis, one tick per rung), one colour per bracket, thin lines following a
 * configuration as it is promoted to more epochs, and the best trial marked with a diamond and
 * spelled out in the subtitle.
 */
export function hyperbandChart(
  trials: readonly HyperbandTrial[],
  options: HyperbandChartOptions = {},
): VegaLiteSpec {
  requireNonEmpty(trials, 'hyperbandChart: trials');
  const higher = options.higherIsBetter ?? true;
  const ids = new Map<string, number>();
  const rows = trials.map((t, i) => {
    const where = `hyperbandChart: trials[${i}]`;
    if (t.config === null || typeof t.config !== 'object')
      throw new InputError(`${where}.config must be an object of numbers`);
    for (const [k, v] of Object.entries(t.config)) requireFinite(v, `${where}.config.${k}`);
    requireFinite(t.epochs, `${where}.epochs`);
    if (t.epochs <= 0) throw new InputError(`${where}.epochs must be positive, got ${t.epochs}`);
    requireFinite(t.score, `${where}.score`);
    if (!Number.isInteger(t.bracket))
      throw new InputError(`${where}.bracket must be an integer, got ${t.bracket}`);
    const desc = describeConfig(t.config);
    const key = `${t.bracket}|${desc}`;
    if (!ids.has(key)) ids.set(key, ids.size);
    return {
      id: ids.get(key) ?? 0,
      config: desc,
      epochs: t.epochs,
      score: t.score,
      bracket: `Bracket ${t.bracket}`,
    };
  });
  const brackets = [...new Set(trials.map((t) => t.bracket))]
    .sort((a, b) => a - b)
    .map((b) => `Bracket ${b}`);
  const epochs = [...new Set(trials.map((t) => t.epochs))].sort((a, b) => a - b);
  const best = bestTrial(trials, higher);
  const scoreLabel = options.scoreLabel ?? 'Validation accuracy';
  const bestRow = { epochs: best.epochs, score: best.score, marker: 'Best configuration' };
  const x = {
    field: 'epochs',
    type: 'quantitative' as const,
    scale:
      epochs[0] > 0 && epochs.length > 1
        ? { type: 'log' as const, nice: false, padding: 14 }
        : { nice: false, padding: 14 },
    axis: { title: 'Epochs trained (resource)', values: epochs, format: 'd', grid: true },
  };
  const y = {
    field: 'score',
    type: 'quantitative' as const,
    scale: { zero: false, padding: 10 },
    axis: { title: scoreLabel },
  };
  const color = {
    field: 'bracket',
    type: 'nominal' as const,
    title: 'Bracket',
    scale: { domain: brackets, range: brackets.map((_, i) => PALETTE[i % PALETTE.length]) },
    legend: { symbolType: 'circle', symbolOpacity: 0.9 },
  };
  const subtitle =
    options.subtitle ??
    `Best: ${describeConfig(best.config) || '(no hyperparameters)'} → ${fixed(best.score, 3)} after ${best.epochs} epochs (bracket ${best.bracket}); ${trials.length} trials.`;
  return {
    title: { text: options.title ?? 'Hyperparameter search (Hyperband)', subtitle },
    width: SIZES.wide,
    height: SIZES.panelHeight + 40,
    layer: [
      {
        data: { values: rows },
        layer: [
          {
            mark: { type: 'line', strokeWidth: 1, opacity: 0.45 },
            encoding: { x, y, color, detail: { field: 'id' } },
          },
          { mark: { type: 'circle', size: 42, opacity: 0.85 }, encoding: { x, y, color } },
        ],
      },
      {
        data: { values: [bestRow] },
        mark: {
          type: 'point',
          shape: 'diamond',
          size: 220,
          filled: false,
          color: '#1a1a1a',
          strokeWidth: 2.2,
          opacity: 1,
        },
        encoding: {
          x,
          y,
          shape: {
            field: 'marker',
            type: 'nominal',
            title: null,
            scale: { domain: ['Best configuration'], range: ['diamond'] },
            legend: {
              symbolSize: 110,
              encoding: { symbols: { stroke: { value: '#1a1a1a' }, strokeWidth: { value: 2 } } },
            },
          },
        },
      },
    ],
  };
}
