/**
 * Graceful stop on SIGINT / SIGTERM, in one place for every long-running command (train, worker,
 * serve, a queue sweep): the first signal asks the command to stop at its next safe point, a second
 * one aborts at once (exit 128 + the signal's number, as a shell reports it).
 *
 * The handler stays registered (`process.on`, not `once`) for the command's whole life, so that
 * other listeners, such as the removal of atomic temporaries in `atomic.ts`, can see that the
 * command handles the signal and leave its outputs in flight alone.
 */
import { constants } from 'node:os';

export type StopSignal = 'SIGINT' | 'SIGTERM';

/**
 * Call `onStop(signal)` on the first of `signals`; exit at once on a second. Returns the function
 * that removes the handlers (call it in a `finally`).
 * @example const off = onStopSignals(['SIGTERM', 'SIGINT'], () => void worker.close()); try { await worker.stopped } finally { off() }
 */
export function onStopSignals(
  signals: readonly StopSignal[],
  onStop: (signal: StopSignal) => void,
): () => void {
  let stopping = false;
  const handler = (signal: StopSignal): void => {
    if (stopping) process.exit(128 + (constants.signals[signal] ?? 0));
    stopping = true;
    onStop(signal);
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
