/**
 * A concurrency limit with a bounded queue: at most `concurrency` tasks run at once, at most
 * `queue` wait; one more is refused at once (the server answers 503) rather than piling up.
 */

/** Thrown by {@link Limiter.run} when the queue is full. */
export class QueueFullError extends Error {
  constructor(readonly queued: number) {
    super(`the server is busy (${queued} studies waiting); try again in a moment`);
    this.name = 'QueueFullError';
  }
}

/** Thrown when a task waited or ran longer than its time limit. */
export class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(
      `the prediction took longer than ${Math.round(ms / 1000)} s and was abandoned; try again in a moment`,
    );
    this.name = 'TimeoutError';
  }
}

/** Counters of a {@link Limiter}. */
export interface LimiterStats {
  readonly running: number;
  readonly queued: number;
  readonly completed: number;
  readonly rejected: number;
}

/** Runs async tasks with a concurrency limit and a bounded FIFO queue. */
export class Limiter {
  private running = 0;
  private completed = 0;
  private rejected = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    if (!Number.isInteger(queue) || queue < 0)
      throw new RangeError(`queue must be a non-negative integer, got ${queue}`);
  }

  stats(): LimiterStats {
    return {
      running: this.running,
      queued: this.waiting.length,
      completed: this.completed,
      rejected: this.rejected,
    };
  }

  /**
   * Run `task` when a slot is free. With `timeoutMs`, the returned promise rejects with a
   * {@link TimeoutError} after that long (waiting included); the slot is held until the task
   * itself settles, so abandoned work still counts against the limit.
   * @throws QueueFullError at once when `queue` tasks are already waiting.
   */
  run<T>(task: () => Promise<T>, timeoutMs?: number): Promise<T> {
    if (this.running >= this.concurrency && this.waiting.length >= this.queue) {
      this.rejected++;
      return Promise.reject(new QueueFullError(this.waiting.length));
    }
    const work = new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.completed++;
            this.waiting.shift()?.();
          });
      };
      if (this.running < this.concurrency) start();
      else this.waiting.push(start);
    });
    if (timeoutMs === undefined) return work;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(timeoutMs)), timeoutMs);
    });
    work.catch(() => undefined);
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}
