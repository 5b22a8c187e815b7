/**
 * Results kept in memory for the links the API returns (`/api/results/:id/overlay.png`). Nothing
 * is written to disk. A result lives `ttlMs` (default 2 minutes: long enough for the page to fetch
 * its images), or `keepMs` (default 8 hours) when the user asked to keep it; at most `capacity`
 * results are held (the oldest go first). The uploaded bytes themselves are never stored.
 */
import { randomUUID } from 'node:crypto';

/** Options of {@link ResultStore}. */
export interface ResultStoreOptions {
  ttlMs?: number;
  keepMs?: number;
  capacity?: number;
  /** Clock (tests). */
  now?: () => number;
}

interface Entry<T> {
  value: T;
  expires: number;
  kept: boolean;
}

/** An in-memory, expiring, bounded map from random ids to results. */
export class ResultStore<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly ttl: number;
  private readonly keepTtl: number;
  private readonly capacity: number;
  private readonly now: () => number;

  constructor(opts: ResultStoreOptions = {}) {
    this.ttl = opts.ttlMs ?? 120_000;
    this.keepTtl = opts.keepMs ?? 8 * 3_600_000;
    this.capacity = opts.capacity ?? 100;
    this.now = opts.now ?? Date.now;
  }

  /** Store a value; returns its id (a random UUID, unguessable). */
  add(value: T, keep: boolean): string {
    this.sweep();
    while (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    const id = randomUUID();
    this.entries.set(id, { value, kept: keep, expires: this.now() + (keep ? this.keepTtl : this.ttl) });
    return id;
  }

  /** The value, or undefined when unknown or expired. */
  get(id: string): T | undefined {
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return e.value;
  }

  /** Forget a result now; true when it existed. */
  delete(id: string): boolean {
    return this.entries.delete(id);
  }

  /** Number of live results. */
  size(): number {
    this.sweep();
    return this.entries.size;
  }

  /** Drop expired results. */
  sweep(): void {
    const t = this.now();
    for (const [id, e] of this.entries) if (e.expires <= t) this.entries.delete(id);
  }

  /** Forget everything. */
  clear(): void {
    this.entries.clear();
  }
}
