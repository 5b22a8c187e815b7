import seedrandom from 'seedrandom';

/**
 * A seeded pseudo-random source (seedrandom's Alea generator). Everything random in polarcad
 * takes an `Rng` so that the same seed gives the same result. Use `fork(label)` to derive an
 * independent stream for a sub-task, so adding draws in one place does not shift another.
 */
export class Rng {
  private readonly prng: seedrandom.PRNG;
  private spareNormal: number | undefined;
  readonly seed: string;

  constructor(seed: number | string) {
    this.seed = String(seed);
    this.prng = seedrandom.alea(this.seed);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng();
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.prng();
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.prng() * (hi - lo + 1));
  }

  bool(p = 0.5): boolean {
    return this.prng() < p;
  }

  /** Standard normal (Box-Muller, polar form). */
  normal(mean = 0, sd = 1): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return mean + sd * s;
    }
    let u = 0;
    let v = 0;
    let q = 0;
    do {
      u = 2 * this.prng() - 1;
      v = 2 * this.prng() - 1;
      q = u * u + v * v;
    } while (q >= 1 || q === 0);
    const f = Math.sqrt((-2 * Math.log(q)) / q);
    this.spareNormal = v * f;
    return mean + sd * u * f;
  }

  /** Poisson-distributed count (Knuth for small means, normal approximation for large). */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 30) return Math.max(0, Math.round(this.normal(mean, Math.sqrt(mean))));
    const l = Math.exp(-mean);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.prng();
    } while (p > l);
    return k - 1;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
    return items[Math.floor(this.prng() * items.length)];
  }

  /** Fisher-Yates shuffle, returning a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const a = items.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.prng() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  /** An independent, reproducible stream derived from this seed and a label. */
  fork(label: string | number): Rng {
    return new Rng(`${this.seed}/${label}`);
  }
}
