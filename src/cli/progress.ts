/**
 * A progress bar on stderr (cli-progress) with count and ETA, shown only when stderr is a
 * terminal, so logs and pipes stay clean. Commands pass `progress.update` as a library's
 * `onProgress` callback and call `stop()` when done (also on failure).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** A progress bar labelled `label`; a no-op when stderr is not a TTY. */
export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {value}/{total} | {percentage}% | ETA {eta_formatted}`,
      etaBuffer: 20,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
