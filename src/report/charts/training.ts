import { InputError } from '../../util/errors.js';
import type { VegaLiteSpec } from './render.js';
import { PALETTE, REFERENCE_GREY, SIZES } from './theme.js';
import { requireFinite, requireNonEmpty } from './validate.js';

/** One epoch of one training stage (Keras-style history row). */
export interface TrainingHistoryRow {
  stage: string;
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
}

/** Options for `trainingCurves`. */
export interface TrainingCurvesOptions {
  /**
   * epochs whose weights were kept (for example the best validation epoch per stage); epoch 0 means
   * the stage kept its starting weights (none of its epochs beat them), and gets no marker of its own
   */
  selected?: readonly { stage: string; epoch: number }[];
  title?: string;
  subtitle?: string;
}

/** A history row placed on the shared epoch axis. */
export interface PlacedEpoch {
  stage: string;
  epoch: number;
  /** position on the x axis: stages follow one another */
  x: number;
}

/**
 * Put the stages of a multi-stage run one after another on one epoch axis, in order of first
 * appearance. A stage whose epochs continue the previous stage's numbering (Keras
 * `initial_epoch`) keeps its numbers; a stage that restarts its count (1, 2, ...) is shifted to
 * start right after the previous stage. Returns the placements and the stage boundaries.
 */
export function placeEpochs(rows: readonly { stage: string; epoch: number }[]): {
  stages: string[];
  shifted: boolean;
  x: (stage: string, epoch: number) => number;
  boundaries: number[];
} {
  const stages: string[] = [];
  const byStage = new Map<string, number[]>();
  for (const r of rows) {
    if (!byStage.has(r.stage)) {
      stages.push(r.stage);
      byStage.set(r.stage, []);
    }
    byStage.get(r.stage)?.push(r.epoch);
  }
  const offset = new Map<string, number>();
  const boundaries: number[] = [];
  let end = -Infinity;
  let shifted = false;
  for (const s of stages) {
    const eps = byStage.get(s) ?? [];
    const min = Math.min(...eps);
    const max = Math.max(...eps);
    const off = min > end ? 0 : end - min + 1;
    if (off !== 0) shifted = true;
    if (end > -Infinity) boundaries.push(min + off - 0.5);
    offset.set(s, off);
    end = max + off;
  }
  return { stages, shifted, x: (stage, epoch) => epoch + (offset.get(stage) ?? 0), boundaries };
}

const TRAIN = 'Training';
const VAL = 'Validation';
const KEPT = 'Kept epoch';

/** Every row's figures are finite and each (stage, epoch) appears once. */
function checkHistory(history: readonly TrainingHistoryRow[]): void {
  requireNonEmpty(history, 'trainingCurves: history');
  const seen = new Set<string>();
  history.forEach((r, i) => {
    const where = `trainingCurves: history[${i}]`;
    if (typeof r.stage !== 'string' || r.stage === '')
      throw new InputError(`${where}.stage must be a non-empty string`);
    requireFinite(r.epoch, `${where}.epoch`);
    requireFinite(r.loss, `${where}.loss`);
    requireFinite(r.accuracy, `${where}.accuracy`);
    if (r.valLoss !== undefined) requireFinite(r.valLoss, `${where}.valLoss`);
    if (r.valAccuracy !== undefined) requireFinite(r.valAccuracy, `${where}.valAccuracy`);
    const key = `${r.stage}\u0000${r.epoch}`;
    if (seen.has(key))
      throw new InputError(`${where}: stage ${JSON.stringify(r.stage)} epoch ${r.epoch} appears twice`);
    seen.add(key);
  });
}

/** One point of a curve: a figure of one split at one epoch. */
type Long = { stage: string; epoch: number; x: number; metric: string; split: string; value: number };
type Placement = ReturnType<typeof placeEpochs>;

/** The history as one point per (epoch, figure, split), in the order of the x axis. */
function longRows(history: readonly TrainingHistoryRow[], place: Placement): Long[] {
  const long: Long[] = [];
  for (const r of [...history].sort((a, b) => place.x(a.stage, a.epoch) - place.x(b.stage, b.epoch))) {
    const x = place.x(r.stage, r.epoch);
    long.push({ stage: r.stage, epoch: r.epoch, x, metric: 'Accuracy', split: TRAIN, value: r.accuracy });
    long.push({ stage: r.stage, epoch: r.epoch, x, metric: 'Loss', split: TRAIN, value: r.loss });
    if (r.valAccuracy !== undefined)
      long.push({ stage: r.stage, epoch: r.epoch, x, metric: 'Accuracy', split: VAL, value: r.valAccuracy });
    if (r.valLoss !== undefined)
      long.push({ stage: r.stage, epoch: r.epoch, x, metric: 'Loss', split: VAL, value: r.valLoss });
  }
  return long;
}

/** The kept epochs' points (on the validation curve, or the training curve without validation). */
function keptRows(
  history: readonly TrainingHistoryRow[],
  selected: NonNullable<TrainingCurvesOptions['selected']>,
  place: Placement,
): (Long & { marker: string })[] {
  const kept: (Long & { marker: string })[] = [];
  selected.forEach((s, i) => {
    if (s.epoch === 0) return;
    const row = history.find((r) => r.stage === s.stage && r.epoch === s.epoch);
    if (row === undefined) {
      throw new InputError(
        `trainingCurves: selected[${i}] (stage ${JSON.stringify(s.stage)}, epoch ${s.epoch}) is not in the history`,
      );
    }
    const x = place.x(row.stage, row.epoch);
    const acc = row.valAccuracy ?? row.accuracy;
    const loss = row.valLoss ?? row.loss;
    const split = row.valAccuracy !== undefined ? VAL : TRAIN;
    kept.push({ stage: row.stage, epoch: row.epoch, x, metric: 'Accuracy', split, value: acc, marker: KEPT });
    kept.push({ stage: row.stage, epoch: row.epoch, x, metric: 'Loss', split, value: loss, marker: KEPT });
  });
  return kept;
}

/**
 * Accuracy and loss per epoch, training (solid) against validation (dashed), one colour per stage
 * (e.g. "head only" then "fine-tune"; past the palette's 8 colours they repeat), in two side-by-side panels; the kept epochs are marked with
 * a diamond on the validation curve (training curve if the stage has no validation). This is the
 * figure Hai et al. (2022) and Apostolopoulos et al. (2020) show to diagnose over-fitting.
 */
export function trainingCurves(
  history: readonly TrainingHistoryRow[],
  options: TrainingCurvesOptions = {},
): VegaLiteSpec {
  checkHistory(history);
  const place = placeEpochs(history);

  const long = longRows(history, place);
  const kept = keptRows(history, options.selected ?? [], place);

  const splits = [...new Set(long.map((r) => r.split))].sort((a, b) =>
    a === TRAIN ? -1 : b === TRAIN ? 1 : 0,
  );
  const perStage = Math.max(...place.stages.map((s) => history.filter((r) => r.stage === s).length));
  const color = {
    field: 'stage',
    type: 'nominal' as const,
    title: 'Stage',
    // more stages than colours (a fold ensemble's members one after the other): the colours repeat;
    // the stages stay apart by their place on the epoch axis and the rules between them
    scale: { domain: place.stages, range: place.stages.map((_, i) => PALETTE[i % PALETTE.length]) },
    legend: { symbolType: 'stroke', symbolStrokeWidth: 3 },
  };
  const strokeDash = {
    field: 'split',
    type: 'nominal' as const,
    title: 'Curve',
    scale: { domain: splits, range: splits.map((s) => (s === TRAIN ? [1, 0] : [6, 3])) },
    legend: { symbolType: 'stroke', symbolStrokeColor: '#444444', symbolStrokeWidth: 2 },
  };
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: place.shifted ? 'Epoch (stages in sequence)' : 'Epoch',
    axis: { format: 'd', tickMinStep: 1 },
    scale: { nice: false, zero: false },
  };

  const panel = (metric: 'Accuracy' | 'Loss') => ({
    width: SIZES.panel,
    height: SIZES.panelHeight,
    title: { text: metric, anchor: 'middle' as const, fontSize: 13 },
    layer: [
      ...place.boundaries.map((b) => ({
        data: { values: [{ x: b }] },
        mark: { type: 'rule' as const, color: REFERENCE_GREY, strokeDash: [2, 3], strokeWidth: 1 },
        encoding: { x: { field: 'x', type: 'quantitative' as const } },
      })),
      {
        data: { values: long.filter((r) => r.metric === metric) },
        mark: { type: 'line' as const, point: perStage <= 40 ? { size: 16, filled: true } : false },
        encoding: {
          x,
          y: {
            field: 'value',
            type: 'quantitative' as const,
            title: metric === 'Accuracy' ? 'Accuracy' : 'Loss',
            scale: { zero: false, ...(metric === 'Accuracy' ? { domainMax: 1 } : {}) },
            axis: metric === 'Accuracy' ? { format: '.0%' } : {},
          },
          color,
          strokeDash,
          detail: { field: 'split' },
        },
      },
      ...(kept.length === 0
        ? []
        : [
            {
              data: { values: kept.filter((r) => r.metric === metric) },
              mark: {
                type: 'point' as const,
                filled: true,
                size: 150,
                fill: 'white',
                strokeWidth: 2.2,
                opacity: 1,
              },
              encoding: {
                x,
                y: { field: 'value', type: 'quantitative' as const },
                stroke: color,
                shape: {
                  field: 'marker',
                  type: 'nominal' as const,
                  title: null,
                  scale: { domain: [KEPT], range: ['diamond'] as string[] },
                  legend: {
                    symbolSize: 110,
                    encoding: { symbols: { stroke: { value: '#222222' }, strokeWidth: { value: 2 } } },
                  },
                },
              },
            },
          ]),
    ],
  });

  const subtitle =
    options.subtitle ??
    [
      splits.includes(VAL) ? 'Solid: training, dashed: validation.' : 'Training only (no validation rows).',
      place.boundaries.length > 0 ? 'Dotted line: next stage starts.' : '',
      kept.length > 0 ? 'Diamond: epoch whose weights were kept.' : '',
    ]
      .filter((s) => s !== '')
      .join(' ');
  return {
    title: { text: options.title ?? 'Training curves', subtitle },
    hconcat: [panel('Accuracy'), panel('Loss')],
    resolve: { scale: { color: 'shared', strokeDash: 'shared', shape: 'shared', stroke: 'shared' } },
  };
}
