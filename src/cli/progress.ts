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

/** A duration for progress lines: "12 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * The ETA of a count (epochs, folds) for plain progress lines off a terminal: from the rate since
 * `start(done)` (or since the first `eta` call), the time left for `total - done`.
 */
export interface EtaClock {
  /** (re)start the clock with `done` units already behind (e.g. a resumed stage) */
  start(done: number): void;
  /** "ETA 3 min 05 s" after `done` of `total`, "ETA ?" before any unit has been timed */
  eta(done: number, total: number): string;
}

export function etaClock(now: () => number = () => performance.now()): EtaClock {
  let t0: number | null = null;
  let done0 = 0;
  return {
    start(done) {
      t0 = now();
      done0 = done;
    },
    eta(done, total) {
      if (t0 === null) {
        t0 = now();
        done0 = done;
      }
      if (done <= done0) return 'ETA ?';
      const perUnit = (now() - t0) / (done - done0);
      return `ETA ${formatDuration(perUnit * Math.max(0, total - done))}`;
    },
  };
}

/**
 * Each step's own time (not the time since the start): `next()` when a step starts returns the
 * time the previous step took (null for the first); `end()` that of the last step.
 */
export function stepClock(now: () => number = () => performance.now()): {
  next(): number | null;
  end(): number | null;
} {
  let t: number | null = null;
  const lap = (): number | null => {
    const n = now();
    const d = t === null ? null : n - t;
    t = n;
    return d;
  };
  return { next: lap, end: lap };
}
