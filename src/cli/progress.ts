/**
 * A progress bar on stderr (cli-progress) with count and ETA, shown only when stderr is a
 * terminal, so logs and pipes stay clean. Commands pass `progress.update` as a library's
 * `onProgress` callback and call `stop()` when done (also on failure).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** `detail`: a short text after the ETA (e.g. "2 running, 0 failed"). */
  update(done: number, total: number, detail?: string): void;
  stop(): void;
}

/** A progress bar labelled `label`; a no-op when stderr is not a TTY. */
export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {value}/{total} | {percentage}% | ETA {eta_formatted}{detail}`,
      etaBuffer: 20,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, detail) {
      const payload = { detail: detail === undefined ? '' : ` | ${detail}` };
      if (!started) {
        bar.start(total, 0, payload);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, payload);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
