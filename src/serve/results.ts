/**
 * Results kept in memory for the links the API returns (`/api/results/:id/overlay.png`). Nothing
 * is written to disk. A result lives `ttlMs` (default 2 minutes: long enough for the page to fetch
 * its images), or `keepMs` (default 8 hours) when the user asked to keep it. At most `capacity`
 * passing results are held (the oldest passing ones go first) and, apart from them, at most
 * `keptCapacity` kept ones: a kept result is never evicted by new uploads; when the kept ones are
 * full, keeping another is refused (`StoreFullError`) until one expires or is deleted. The
 * uploaded bytes themselves are never stored.
 */
import { randomUUID } from 'node:crypto';

/** Options of {@link ResultStore}. */
export interface ResultStoreOptions {
  ttlMs?: number;
  keepMs?: number;
  capacity?: number;
  /** Kept results at most (default 100). */
  keptCapacity?: number;
  /** Clock (tests). */
  now?: () => number;
}

interface Entry<T> {
  value: T;
  expires: number;
  kept: boolean;
}

/** Keeping one more result would exceed the kept results' capacity. */
export class StoreFullError extends Error {
  constructor(capacity: number) {
    super(
      `the server already keeps ${capacity} results; delete some (or let them expire) before keeping more, or send without keep`,
    );
    this.name = 'StoreFullError';
  }
}

/** An in-memory, expiring, bounded map from random ids to results. */
export class ResultStore<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly ttl: number;
  private readonly keepTtl: number;
  private readonly capacity: number;
  private readonly keptCapacity: number;
  private readonly now: () => number;

  constructor(opts: ResultStoreOptions = {}) {
    this.ttl = opts.ttlMs ?? 120_000;
    this.keepTtl = opts.keepMs ?? 8 * 3_600_000;
    this.capacity = opts.capacity ?? 100;
    this.keptCapacity = opts.keptCapacity ?? 100;
    this.now = opts.now ?? Date.now;
  }

  private count(kept: boolean): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.kept === kept) n++;
    return n;
  }

  /** @throws StoreFullError when no further result can be kept */
  checkRoomToKeep(): void {
    this.sweep();
    if (this.count(true) >= this.keptCapacity) throw new StoreFullError(this.keptCapacity);
  }

  /**
   * Store a value; returns its id (a random UUID, unguessable). A passing result may evict the
   * oldest passing one, never a kept one.
   * @throws StoreFullError when `keep` and the kept results are full
   */
  add(value: T, keep: boolean): string {
    this.sweep();
    if (keep) this.checkRoomToKeep();
    else
      while (this.count(false) >= this.capacity) {
        const oldest = [...this.entries].find(([, e]) => !e.kept)?.[0] as string;
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
