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

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /**
   * Off a terminal, print a plain line ("label 12/100 (12%), ETA 3 min 05 s") at most every this
   * many milliseconds, and at the end; absent: nothing off a terminal.
   */
  readonly plainEveryMs?: number;
  /** The clock (tests). */
  readonly now?: () => number;
}

/**
 * A progress bar labelled `label`; off a terminal nothing, or throttled plain lines with
 * `plainEveryMs` (for long runs whose stderr goes to a log).
 * @example const p = createProgress('train', process.stderr, { plainEveryMs: 30_000 }); p.update(3, 100); p.stop();
 */
export function createProgress(
  label: string,
  stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  options: ProgressOptions = {},
): Progress {
  if (stream.isTTY !== true) return plainProgress(label, stream, options);
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

/** Throttled plain lines off a terminal (see {@link ProgressOptions.plainEveryMs}), or a no-op. */
function plainProgress(label: string, stream: NodeJS.WritableStream, o: ProgressOptions): Progress {
  const every = o.plainEveryMs;
  if (every === undefined) return { update: () => {}, stop: () => {} };
  const now = o.now ?? (() => performance.now());
  const clock = etaClock(now);
  let last = now();
  return {
    update(done, total, detail) {
      const eta = clock.eta(done, total);
      if (done < total && now() - last < every) return;
      last = now();
      const pct = total > 0 ? Math.round((100 * done) / total) : 100;
      stream.write(
        `${label} ${done}/${total} (${pct}%), ${eta}${detail === undefined ? '' : `, ${detail}`}\n`,
      );
    },
    stop: () => {},
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
