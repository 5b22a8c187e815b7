/**
 * Recognising the colour map of a whole set of polar-map crops (e.g. every image of a cohort)
 * among candidate tables.
 *
 * One image is often ambiguous: a normal study in the `rainbow` table of the synthetic exports
 * shows only red, yellow and white, which the `hot` table also contains, but at other uptakes
 * (red is about 0.9 in that rainbow and 0.4 in hot). Reading uptake with the wrong table
 * silently corrupts every score. Pooling the pixels of all images resolves it as soon as any
 * image shows colours that only one table has (a defect in blue or green).
 *
 * Criterion: for each candidate, the share of sampled disc pixels within `maxDistance` (RGB
 * Euclidean, the same limit `rgbToUptake` uses to call a pixel valid) of the table ("coverage"),
 * ties broken by the mean distance. Candidates whose coverage is within `ambiguity` of the best
 * are reported as also fitting.
 *
 * The same criterion serves one image (`recogniseImageColormap`, used by `ingest/clean.ts` before
 * the grid is removed) and a cohort (`ColormapRecogniser` fed every crop): one place, one rule.
 */
import type { RgbImage } from '../domain/image.js';
import { InputError } from '../util/errors.js';
import { BUILTIN_COLORMAPS, type Colormap, ColormapInverter, getColormap } from './colormaps.js';
import { segmentLabels } from './geometry.js';
import { DEFAULT_MAX_COLOR_DISTANCE } from './read-uptake.js';

/** How well one table fits the pixels seen so far. */
export interface ColormapFit {
  readonly colormap: Colormap;
  /** sampled pixels within `maxDistance` of the table */
  readonly covered: number;
  readonly total: number;
  /** covered / total */
  readonly coverage: number;
  readonly meanDistance: number;
}

export interface RecogniseOptions {
  /** candidate tables (default: the built-in ones) */
  readonly candidates?: readonly Colormap[];
  /** default `DEFAULT_MAX_COLOR_DISTANCE` (30) */
  readonly maxDistance?: number;
  /** disc pixels sampled per image, evenly spaced (default 1,500) */
  readonly samplesPerImage?: number;
  /** coverage difference under which another table is reported as also fitting (default 0.002) */
  readonly ambiguity?: number;
  /**
   * the best table must cover at least this share of the pixels (default 0.6: a crop with a deep
   * defect has ~10% dark rim/defect-edge pixels off every table; a wrong table covers far less)
   */
  readonly minCoverage?: number;
}

/** Accumulates, image by image, how well each candidate table fits the disc pixels. */
export class ColormapRecogniser {
  private readonly candidates: readonly Colormap[];
  private readonly inverters: ColormapInverter[];
  private readonly covered: number[];
  private readonly sumDistance: number[];
  private total = 0;
  private readonly maxDistance: number;
  private readonly samples: number;
  private readonly insideIndex = new Map<number, Int32Array>();

  constructor(private readonly opts: RecogniseOptions = {}) {
    this.candidates = opts.candidates ?? BUILTIN_COLORMAPS.map((n) => getColormap(n));
    if (this.candidates.length === 0) throw new Error('ColormapRecogniser: no candidate colour map');
    this.inverters = this.candidates.map((c) => new ColormapInverter(c));
    this.covered = this.candidates.map(() => 0);
    this.sumDistance = this.candidates.map(() => 0);
    this.maxDistance = opts.maxDistance ?? DEFAULT_MAX_COLOR_DISTANCE;
    this.samples = opts.samplesPerImage ?? 1500;
  }

  private sampleIndex(size: number): Int32Array {
    let idx = this.insideIndex.get(size);
    if (!idx) {
      const labels = segmentLabels(size);
      const inside: number[] = [];
      for (let p = 0; p < labels.length; p++) if (labels[p] !== 0) inside.push(p);
      const step = Math.max(1, Math.floor(inside.length / this.samples));
      idx = Int32Array.from(inside.filter((_, i) => i % step === 0));
      this.insideIndex.set(size, idx);
    }
    return idx;
  }

  /** Add the disc pixels of a square crop (disc inscribed). */
  add(img: RgbImage): void {
    if (img.width !== img.height)
      throw new Error(`ColormapRecogniser: crop is ${img.width}x${img.height}, not square`);
    const d = img.data;
    for (const p of this.sampleIndex(img.width)) {
      this.total++;
      for (let c = 0; c < this.candidates.length; c++) {
        const dist = this.inverters[c].invert(d[p * 3], d[p * 3 + 1], d[p * 3 + 2]).distance;
        this.sumDistance[c] += dist;
        if (dist <= this.maxDistance) this.covered[c]++;
      }
    }
  }

  /** The candidates, best first. */
  fits(): ColormapFit[] {
    return this.candidates
      .map((colormap, c) => ({
        colormap,
        covered: this.covered[c],
        total: this.total,
        coverage: this.total === 0 ? 0 : this.covered[c] / this.total,
        meanDistance: this.total === 0 ? Infinity : this.sumDistance[c] / this.total,
      }))
      .sort((a, b) => b.coverage - a.coverage || a.meanDistance - b.meanDistance);
  }

  /**
   * The best-fitting table and the names of others that fit about as well.
   * @throws InputError when no image was added or the best table covers less than `minCoverage`
   */
  result(): {
    colormap: Colormap;
    coverage: number;
    alsoFits: string[];
    /** the next-best table and its coverage (null with one candidate) */
    runnerUp: { name: string; coverage: number } | null;
  } {
    const fits = this.fits();
    if (this.total === 0) throw new InputError('colour map: no image to recognise it from');
    const best = fits[0];
    const min = this.opts.minCoverage ?? 0.6;
    if (best.coverage < min) {
      throw new InputError(
        `colour map: none of ${fits.map((f) => f.colormap.name).join(', ')} fits the images (best: ${best.colormap.name}, ` +
          `${(100 * best.coverage).toFixed(1)}% of the disc pixels within ${this.maxDistance} RGB units); give it with --colormap NAME|TABLE.csv|COLOURBAR.png`,
      );
    }
    const amb = this.opts.ambiguity ?? 0.002;
    const alsoFits = fits
      .slice(1)
      .filter((f) => best.coverage - f.coverage <= amb)
      .map((f) => f.colormap.name);
    const next = fits[1];
    const runnerUp = next === undefined ? null : { name: next.colormap.name, coverage: next.coverage };
    return { colormap: best.colormap, coverage: best.coverage, alsoFits, runnerUp };
  }
}

/**
 * The colour map of ONE square crop (disc inscribed) by the coverage criterion above, or
 * undefined when no candidate covers `minCoverage` of its disc pixels. Prefer `ColormapRecogniser`
 * over a whole cohort where there is one: a single normal crop can be ambiguous.
 */
export function recogniseImageColormap(img: RgbImage, opts: RecogniseOptions = {}): Colormap | undefined {
  const recogniser = new ColormapRecogniser(opts);
  recogniser.add(img);
  try {
    return recogniser.result().colormap;
  } catch (e) {
    if (e instanceof InputError) return undefined;
    throw e;
  }
}

/** Coverage under which a recognised colour map is called unsure (see {@link recognitionDoubt}). */
export const SURE_COVERAGE = 0.9;
/** Coverage margin to the next-best table under which a recognised colour map is called unsure. */
export const SURE_MARGIN = 0.05;

/**
 * Why a recognised colour map is unsure, with its confidence (coverage), or null when it is sure:
 * the best table covers less than {@link SURE_COVERAGE} of the sampled disc pixels, or the
 * next-best table comes within {@link SURE_MARGIN} of it. The CLI prints it as a loud warning.
 * @example recognitionDoubt({ colormap: hot, coverage: 0.72, runnerUp: null }) // 'the colour map hot was recognised with only 72.0% coverage ...'
 */
export function recognitionDoubt(r: {
  readonly colormap: Colormap;
  readonly coverage: number;
  readonly runnerUp: { readonly name: string; readonly coverage: number } | null;
}): string | null {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const why: string[] = [];
  if (r.coverage < SURE_COVERAGE)
    why.push(`only ${pct(r.coverage)} coverage (sure from ${pct(SURE_COVERAGE)})`);
  if (r.runnerUp !== null && r.coverage - r.runnerUp.coverage < SURE_MARGIN)
    why.push(`${r.runnerUp.name} is close behind (${pct(r.runnerUp.coverage)} against ${pct(r.coverage)})`);
  return why.length === 0
    ? null
    : `the colour map ${r.colormap.name} was recognised unsure: ${why.join('; ')}; give it with --colormap NAME|TABLE.csv|COLOURBAR.png`;
}
