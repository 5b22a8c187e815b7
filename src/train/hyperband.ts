/**
 * Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, "Hyperband: A Novel Bandit-Based
 * Approach to Hyperparameter Optimization", JMLR 18(185), 2017), Algorithm 1:
 *
 *   s_max = floor(log_eta(R)),  B = (s_max + 1) R
 *   for s = s_max .. 0:
 *     n = ceil(B / R * eta^s / (s + 1)),  r = R eta^-s
 *     T = n configurations sampled from the search space
 *     for i = 0 .. s:                       (successive halving)
 *       n_i = floor(n eta^-i),  r_i = r eta^i
 *       evaluate every t in T with r_i units of resource (here: epochs)
 *       T = the floor(n_i / eta) best of T
 *   return the configuration with the best intermediate result seen
 *
 * Resource = training epochs of the head. Configurations are scored on VALIDATION data only: the
 * objective receives the training and validation patient ids and nothing else (see
 * {@link HyperbandData}); a test part is never handed to it.
 *
 * Results are ranked by validation score (higher is better, e.g. accuracy), ties broken by the
 * lower validation loss, then by sampling order (so the ranking is total and reproducible).
 */
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

/** The patients an objective may use: training and validation ids only (never the test part). */
export interface HyperbandData {
  readonly train: readonly string[];
  readonly validation: readonly string[];
}

/** What the objective reports for one configuration trained for some epochs. */
export interface TrialOutcome {
  /** Validation score, higher is better (e.g. validation accuracy of the selected epoch). */
  readonly score: number;
  /** Validation loss (lower is better), the tie-breaker. */
  readonly loss: number;
  /** Seconds the evaluation took where it ran (default: measured around the call). */
  readonly seconds?: number;
}

/** One evaluation asked of {@link HyperbandOptions.evaluateRound}. */
export interface RoundRequest<C> {
  readonly config: C;
  readonly epochs: number;
  /** The stream reserved for this trial (its `seed` names it: the same trial, the same stream). */
  readonly rng: Rng;
  readonly bracket: number;
  readonly round: number;
  readonly configIndex: number;
}

/**
 * Train `config` for `epochs` epochs on `data.train`, score it on `data.validation`. `rng` is a
 * stream reserved for this trial (weight initialisation, shuffling, dropout).
 */
export type HyperbandObjective<C> = (
  config: C,
  epochs: number,
  rng: Rng,
  data: HyperbandData,
) => Promise<TrialOutcome>;

/** One evaluation of one configuration. */
export interface HyperbandTrial<C> {
  /** Bracket s (s_max .. 0). */
  readonly bracket: number;
  /** Round i of successive halving inside the bracket (0 .. s). */
  readonly round: number;
  /** Index of the configuration within its bracket (sampling order). */
  readonly configIndex: number;
  /** Globally unique configuration id, `b<s>c<index>`. */
  readonly configId: string;
  readonly config: C;
  /** Epochs trained (r_i rounded to a whole number, at least 1). */
  readonly epochs: number;
  readonly score: number;
  readonly loss: number;
  /** Wall-clock seconds of this evaluation. */
  readonly seconds: number;
}

/** The schedule of one bracket: n_i configurations with r_i resource per round. */
export interface BracketPlan {
  readonly s: number;
  /** n_i for i = 0..s. */
  readonly n: readonly number[];
  /** r_i for i = 0..s (real numbers, as in the paper). */
  readonly r: readonly number[];
  /** r_i rounded to whole epochs (>= 1). */
  readonly epochs: readonly number[];
}

/** Options of {@link hyperband}. */
export interface HyperbandOptions<C> {
  /** Maximum resource R per configuration (epochs). */
  readonly maxResource: number;
  /** Proportion discarded in each round of successive halving, eta (default 3). */
  readonly eta?: number;
  /** Draws one configuration from the search space. */
  readonly sample: (rng: Rng) => C;
  readonly evaluate: HyperbandObjective<C>;
  /**
   * Evaluate a round's configurations together (they are independent: e.g. as jobs on a queue,
   * src/workflows/queue/); outcomes in the requests' order. Default: `evaluate`, one after another.
   */
  readonly evaluateRound?: (
    requests: readonly RoundRequest<C>[],
    data: HyperbandData,
  ) => Promise<TrialOutcome[]>;
  /** Training / validation ids handed to the objective. */
  readonly data: HyperbandData;
  readonly seed: number | string;
  /** Called after every trial (progress). */
  readonly onTrial?: (trial: HyperbandTrial<C>, done: number, total: number) => void;
}

/** Result of {@link hyperband}. */
export interface HyperbandResult<C> {
  readonly trials: readonly HyperbandTrial<C>[];
  /** The trial with the best validation result over all trials (Li et al.'s return value). */
  readonly best: HyperbandTrial<C>;
  readonly plan: readonly BracketPlan[];
  readonly sMax: number;
  readonly eta: number;
  readonly maxResource: number;
  /** Total epochs trained over all trials. */
  readonly totalEpochs: number;
  readonly seconds: number;
}

/** floor(log_eta(R)) computed exactly in integers (no floating-point log). */
export function sMaxOf(maxResource: number, eta: number): number {
  let s = 0;
  let p = eta;
  while (p <= maxResource * (1 + 1e-12)) {
    s++;
    p *= eta;
  }
  return s;
}

function checkHyperparameters(maxResource: number, eta: number): void {
  if (!(Number.isFinite(maxResource) && maxResource >= 1))
    throw new InputError(`hyperband: maximum resource R (epochs) must be >= 1, got ${maxResource}`);
  if (!(Number.isFinite(eta) && eta > 1))
    throw new InputError(`hyperband: eta must be a number > 1, got ${eta}`);
}

/**
 * The brackets of Hyperband for maximum resource R and proportion eta, s = s_max .. 0, with n_i and
 * r_i exactly as in Li et al. (2017), Algorithm 1 (for R = 81, eta = 3 this is their Table 1).
 */
export function hyperbandPlan(maxResource: number, eta = 3): BracketPlan[] {
  checkHyperparameters(maxResource, eta);
  const sMax = sMaxOf(maxResource, eta);
  const B = (sMax + 1) * maxResource;
  const plans: BracketPlan[] = [];
  for (let s = sMax; s >= 0; s--) {
    // n = ceil(B/R * eta^s / (s+1)); guard the ceiling against float noise (e.g. 81.00000000001).
    const nReal = ((B / maxResource) * eta ** s) / (s + 1);
    const n = Math.ceil(nReal - 1e-9);
    const r = maxResource * eta ** -s;
    const ns: number[] = [];
    const rs: number[] = [];
    for (let i = 0; i <= s; i++) {
      ns.push(Math.floor(n * eta ** -i + 1e-9));
      rs.push(r * eta ** i);
    }
    plans.push({ s, n: ns, r: rs, epochs: rs.map((x) => Math.max(1, Math.round(x))) });
  }
  return plans;
}

/** Ranking: higher score first, then lower loss, then earlier sampling. */
function better<C>(a: HyperbandTrial<C>, b: HyperbandTrial<C>): number {
  const sa = Number.isNaN(a.score) ? -Infinity : a.score;
  const sb = Number.isNaN(b.score) ? -Infinity : b.score;
  if (sa !== sb) return sb - sa;
  const la = Number.isNaN(a.loss) ? Infinity : a.loss;
  const lb = Number.isNaN(b.loss) ? Infinity : b.loss;
  if (la !== lb) return la < lb ? -1 : 1;
  if (a.epochs !== b.epochs) return b.epochs - a.epochs;
  if (a.bracket !== b.bracket) return b.bracket - a.bracket;
  return a.configIndex - b.configIndex;
}

function checkData(data: HyperbandData): void {
  if (data.train.length === 0) throw new InputError('hyperband: no training patients');
  if (data.validation.length === 0)
    throw new InputError('hyperband: no validation patients (configurations are scored on validation only)');
  const train = new Set(data.train);
  const overlap = data.validation.filter((id) => train.has(id));
  if (overlap.length > 0)
    throw new InputError(
      `hyperband: patients in both training and validation: ${overlap.slice(0, 5).join(', ')}`,
    );
}

/**
 * Run Hyperband. Every bracket samples its configurations from its own seeded stream and every
 * trial gets its own stream (`rng.fork`), so the same seed and the same objective give the same
 * trial table. The objective is given a frozen copy of `{ train, validation }` only.
 */
export async function hyperband<C>(opts: HyperbandOptions<C>): Promise<HyperbandResult<C>> {
  const eta = opts.eta ?? 3;
  const plan = hyperbandPlan(opts.maxResource, eta);
  checkData(opts.data);
  const data: HyperbandData = Object.freeze({
    train: Object.freeze([...opts.data.train]),
    validation: Object.freeze([...opts.data.validation]),
  });
  const root = new Rng(opts.seed);
  const total = plan.reduce((a, p) => a + p.n.reduce((x, y) => x + y, 0), 0);
  const trials: HyperbandTrial<C>[] = [];
  const t0 = performance.now();
  for (const bracket of plan) {
    const sampler = root.fork(`bracket${bracket.s}/sample`);
    let alive = Array.from({ length: bracket.n[0] }, (_, j) => ({ index: j, config: opts.sample(sampler) }));
    for (let i = 0; i <= bracket.s; i++) {
      const epochs = bracket.epochs[i];
      const requests = alive.map((c) => ({
        config: c.config,
        epochs,
        rng: root.fork(`bracket${bracket.s}/round${i}/config${c.index}`),
        bracket: bracket.s,
        round: i,
        configIndex: c.index,
      }));
      const results: HyperbandTrial<C>[] = [];
      const record = (q: RoundRequest<C>, out: TrialOutcome, seconds: number): void => {
        if (typeof out?.score !== 'number' || typeof out?.loss !== 'number') {
          throw new Error(
            `hyperband: the objective must return { score, loss } numbers (bracket ${bracket.s}, round ${i})`,
          );
        }
        const trial: HyperbandTrial<C> = {
          bracket: bracket.s,
          round: i,
          configIndex: q.configIndex,
          configId: `b${bracket.s}c${q.configIndex}`,
          config: q.config,
          epochs,
          score: out.score,
          loss: out.loss,
          seconds: out.seconds ?? seconds,
        };
        results.push(trial);
        trials.push(trial);
        opts.onTrial?.(trial, trials.length, total);
      };
      if (opts.evaluateRound !== undefined) {
        const start = performance.now();
        const outs = await opts.evaluateRound(requests, data);
        if (outs.length !== requests.length)
          throw new Error(
            `hyperband: evaluateRound returned ${outs.length} outcomes for ${requests.length} trials`,
          );
        const each = (performance.now() - start) / 1000 / requests.length;
        requests.forEach((q, j) => record(q, outs[j], each));
      } else
        for (const q of requests) {
          const start = performance.now();
          const out = await opts.evaluate(q.config, epochs, q.rng, data);
          record(q, out, (performance.now() - start) / 1000);
        }
      if (i === bracket.s) break;
      const keep = Math.floor(bracket.n[i] / eta);
      const ranked = results.slice().sort(better);
      const kept = new Set(ranked.slice(0, keep).map((t) => t.configIndex));
      alive = alive.filter((c) => kept.has(c.index));
      if (alive.length === 0) break;
    }
  }
  const best = trials.slice().sort(better)[0];
  return {
    trials,
    best,
    plan,
    sMax: plan[0].s,
    eta,
    maxResource: opts.maxResource,
    totalEpochs: trials.reduce((a, t) => a + t.epochs, 0),
    seconds: (performance.now() - t0) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// The head's search space (Hai et al. 2022 head: Dense(units) -> Dropout(rate); Adam at 10^-a)

/** A choice among values, or a (log-)uniform range. */
export type IntDomain =
  { readonly choices: readonly number[] } | { readonly logUniformInt: readonly [number, number] };
export type RealDomain =
  { readonly choices: readonly number[] } | { readonly uniform: readonly [number, number] };

/** Search space of the head's hyperparameters. */
export interface HeadSearchSpace {
  /** Units of the hidden Dense layer: default {64, 128, 256, 512}. */
  readonly units: IntDomain;
  /** Dropout rate: default uniform in [0, 0.7]. */
  readonly dropout: RealDomain;
  /** Learning-rate exponent a (lr = 10^-a); absent: the backbone table's a is used. */
  readonly lrExponent?: RealDomain;
}

/** One head configuration. */
export interface HeadConfig {
  readonly units: number;
  readonly dropout: number;
  /** Learning-rate exponent (lr = 10^-a); undefined: the backbone table's value. */
  readonly lrExponent?: number;
}

/** The default space: units in {64, 128, 256, 512}, dropout in [0, 0.7], a fixed by the table. */
export const DEFAULT_HEAD_SPACE: HeadSearchSpace = Object.freeze({
  units: { choices: [64, 128, 256, 512] },
  dropout: { uniform: [0, 0.7] as const },
});

function checkDomain(
  d: IntDomain | RealDomain,
  what: string,
  lo: number,
  hi: number,
  integer: boolean,
): void {
  const inRange = (x: number): boolean =>
    Number.isFinite(x) && x >= lo && x <= hi && (!integer || Number.isInteger(x));
  const range = `${integer ? 'whole numbers ' : ''}in [${lo}, ${hi}]`;
  if ('choices' in d) {
    if (d.choices.length === 0) throw new InputError(`search space: ${what} has no choices`);
    const bad = d.choices.filter((x) => !inRange(x));
    if (bad.length > 0)
      throw new InputError(`search space: ${what} choices must be ${range}, got ${bad.join(', ')}`);
    return;
  }
  const [a, b] = 'uniform' in d ? d.uniform : d.logUniformInt;
  if (!inRange(a) || !inRange(b) || a > b)
    throw new InputError(`search space: ${what} range must be ${range} with low <= high, got [${a}, ${b}]`);
  if ('logUniformInt' in d && a < 1)
    throw new InputError(`search space: ${what} log-uniform range must start at >= 1, got ${a}`);
}

/** Validate a head search space (units 1..65536; dropout in [0, 1); a in [1, 8]). */
export function validateHeadSpace(space: HeadSearchSpace): void {
  checkDomain(space.units, 'units', 1, 65536, true);
  checkDomain(space.dropout, 'dropout', 0, 0.999, false);
  if (space.lrExponent !== undefined) checkDomain(space.lrExponent, 'learning-rate exponent a', 1, 8, false);
}

function drawInt(d: IntDomain, rng: Rng): number {
  if ('choices' in d) return rng.pick(d.choices);
  const [lo, hi] = d.logUniformInt;
  // log-uniform over [lo, hi + 1) then floor: every integer gets mass proportional to log((k+1)/k)
  const x = Math.floor(Math.exp(rng.uniform(Math.log(lo), Math.log(hi + 1))));
  return Math.min(hi, Math.max(lo, x));
}

function drawReal(d: RealDomain, rng: Rng): number {
  if ('choices' in d) return rng.pick(d.choices);
  return rng.uniform(d.uniform[0], d.uniform[1]);
}

/** Draw one head configuration (units, dropout, optionally a) from `space`. */
export function sampleHeadConfig(space: HeadSearchSpace, rng: Rng): HeadConfig {
  const units = drawInt(space.units, rng);
  const dropout = drawReal(space.dropout, rng);
  if (space.lrExponent === undefined) return { units, dropout };
  return { units, dropout, lrExponent: drawReal(space.lrExponent, rng) };
}

/**
 * Parse a units domain from the CLI: "64,128,256,512" (choices) or "32..1024" (log-uniform int).
 * @throws InputError naming `option` for bad text.
 */
export function parseIntDomain(text: string, option: string): IntDomain {
  const t = text.trim();
  const range = /^(\d+)\s*\.\.\s*(\d+)$/.exec(t);
  if (range) return { logUniformInt: [Number(range[1]), Number(range[2])] };
  const parts = t.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p)))
    throw new InputError(
      `${option}: expected whole numbers "64,128,256" or a range "32..1024", got "${text}"`,
    );
  return { choices: parts.map(Number) };
}

/**
 * Parse a real domain from the CLI: "3,4" (choices) or "0..0.7" (uniform).
 * @throws InputError naming `option` for bad text.
 */
export function parseRealDomain(text: string, option: string): RealDomain {
  const t = text.trim();
  const num = '(-?\\d+(?:\\.\\d+)?)';
  const range = new RegExp(`^${num}\\s*\\.\\.\\s*${num}$`).exec(t);
  if (range) return { uniform: [Number(range[1]), Number(range[2])] };
  const parts = t.split(',').map((s) => s.trim());
  if (parts.some((p) => !new RegExp(`^${num}$`).test(p)))
    throw new InputError(`${option}: expected numbers "3,4" or a range "0..0.7", got "${text}"`);
  return { choices: parts.map(Number) };
}
