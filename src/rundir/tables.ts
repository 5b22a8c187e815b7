/**
 * The CSV files of a run directory: `history.csv` (one row per epoch) and `predictions.csv` (one
 * row per patient). One dialect is written (`acc` / `val_acc`, as documented in docs/training.md);
 * the older experiments dialect (`accuracy` / `val_accuracy`) is still read.
 */
import type { PatientPrediction } from '../domain/prediction.js';
import { parse } from 'csv-parse/sync';
import { stringify } from '../util/csv.js';
import type { Label } from '../domain/views.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError, errorMessage } from '../util/errors.js';
import { pathExists, readTextFile } from '../util/fs.js';

/** One epoch of a training history, as written. */
export interface HistoryRecord {
  readonly stage: string;
  readonly epoch: number;
  readonly loss: number;
  /** NaN when not measured (written as an empty cell) */
  readonly accuracy: number;
  readonly valLoss: number;
  readonly valAccuracy: number;
  readonly lr: number;
  readonly seconds: number;
}

/** One epoch row of a training history, as read (validation columns optional). */
export interface HistoryPoint {
  readonly stage: string;
  readonly epoch: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly valLoss?: number;
  readonly valAccuracy?: number;
}

/** The columns of history.csv. */
export const HISTORY_COLUMNS = [
  'stage',
  'epoch',
  'loss',
  'acc',
  'val_loss',
  'val_acc',
  'lr',
  'seconds',
] as const;

const cell = (x: number): number | string => (Number.isNaN(x) ? '' : x);

/**
 * Write history.csv (atomically) in the one dialect.
 * @example await writeHistory('runs/a/history.csv', result.history)
 */
export async function writeHistory(path: string, rows: readonly HistoryRecord[]): Promise<void> {
  const body = rows.map((r) => [
    r.stage,
    r.epoch,
    cell(r.loss),
    cell(r.accuracy),
    cell(r.valLoss),
    cell(r.valAccuracy),
    r.lr,
    r.seconds,
  ]);
  await writeFileAtomic(path, stringify(body, { header: true, columns: [...HISTORY_COLUMNS] }));
}

/** Read a CSV with a header row. @throws InputError naming the file when it is not valid CSV */
export async function readCsv(path: string): Promise<Record<string, string>[]> {
  const text = await readTextFile(path);
  try {
    return parse(text, { columns: true, skip_empty_lines: true, bom: true }) as Record<string, string>[];
  } catch (e) {
    throw new InputError(`${path}: not a valid CSV (${errorMessage(e)})`);
  }
}

/** Read history.csv of a run (`acc`/`val_acc`; older experiment runs: `accuracy`/`val_accuracy`); [] when absent. */
export async function readHistory(path: string): Promise<HistoryPoint[]> {
  if (!(await pathExists(path))) return [];
  const rows = await readCsv(path);
  const out: HistoryPoint[] = [];
  for (const r of rows) {
    const num = (k: string): number => (r[k] === undefined || r[k] === '' ? NaN : Number(r[k]));
    const loss = num('loss');
    const valLoss = num('val_loss');
    const valAccuracy = Number.isFinite(num('val_acc')) ? num('val_acc') : num('val_accuracy');
    let accuracy = Number.isFinite(num('acc')) ? num('acc') : num('accuracy');
    if (!Number.isFinite(accuracy)) accuracy = valAccuracy;
    const epoch = num('epoch');
    if (!Number.isFinite(loss) || !Number.isFinite(accuracy) || !Number.isFinite(epoch)) continue;
    out.push({
      stage: r.stage ?? 'train',
      epoch,
      loss,
      accuracy,
      ...(Number.isFinite(valLoss) ? { valLoss } : {}),
      ...(Number.isFinite(valAccuracy) ? { valAccuracy } : {}),
    });
  }
  return out;
}

export type { PatientPrediction };

/** One row of predictions.csv as written. */
export interface PredictionRecord {
  readonly id: string;
  readonly label: Label;
  readonly prob: number;
  readonly predicted: 0 | 1;
  /** 'test', 'validation', ... (omitted column when no row has it) */
  readonly split?: string;
  readonly probCalibrated?: number;
  readonly fold?: number;
}

/**
 * Write predictions.csv (atomically): patient_id, label, prob, predicted, then split,
 * prob_calibrated and fold when the rows have them.
 */
export async function writePredictions(path: string, rows: readonly PredictionRecord[]): Promise<void> {
  await writeFileAtomic(path, predictionsCsv(rows));
}

/** The text of predictions.csv (for callers that write a whole folder at once). */
export function predictionsCsv(rows: readonly PredictionRecord[]): string {
  const has = (k: keyof PredictionRecord): boolean => rows.some((r) => r[k] !== undefined);
  const extra = (['split', 'probCalibrated', 'fold'] as const).filter(has);
  const names: Record<(typeof extra)[number], string> = {
    split: 'split',
    probCalibrated: 'prob_calibrated',
    fold: 'fold',
  };
  return stringify(
    rows.map((r) => [r.id, r.label, r.prob, r.predicted, ...extra.map((k) => r[k] ?? '')]),
    { header: true, columns: ['patient_id', 'label', 'prob', 'predicted', ...extra.map((k) => names[k])] },
  );
}

/**
 * Read a predictions CSV (`patient_id, label, prob[, fold]`; label 0/1 or normal/CAD). `o.prob`
 * names another probability column (a closed-form run's baselines: `prob_segment_logistic`).
 * @throws InputError naming the file, row and column of a bad cell
 */
export async function readPredictions(
  path: string,
  o: { readonly prob?: string } = {},
): Promise<PatientPrediction[]> {
  const probCol = o.prob ?? 'prob';
  const rows = await readCsv(path);
  if (rows.length === 0) throw new InputError(`${path}: no predictions`);
  for (const col of ['patient_id', 'label', probCol]) {
    if (!(col in rows[0])) throw new InputError(`${path}: column ${col} is missing`);
  }
  return rows.map((r, i) => {
    const where = `${path}: row ${i + 2}`;
    const l = r.label.trim().toLowerCase();
    const label: Label | null = l === '1' || l === 'cad' ? 1 : l === '0' || l === 'normal' ? 0 : null;
    if (label === null) throw new InputError(`${where}, column label: "${r.label}" is not 0/1 or normal/CAD`);
    const cell = r[probCol];
    const prob = Number(cell);
    if (cell.trim() === '' || !(prob >= 0 && prob <= 1))
      throw new InputError(`${where}, column ${probCol}: "${cell}" is not a probability in [0, 1]`);
    const fold = r.fold === undefined || r.fold === '' ? undefined : Number(r.fold);
    return {
      id: r.patient_id,
      label,
      prob,
      ...(fold !== undefined && Number.isFinite(fold) ? { fold } : {}),
      ...(r.split !== undefined && r.split !== '' ? { split: r.split } : {}),
    };
  });
}
