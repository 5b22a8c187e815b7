/**
 * Render Vega-Lite specs to SVG in Node (Vega's headless 'none' renderer, no canvas package) and
 * SVG to PNG with sharp (librsvg). Nothing here touches the network: Vega gets a loader that
 * refuses every URL and file, so a spec that references external data or images fails loudly.
 * Text is measured with DejaVu Sans metrics (see text-measure.ts) and drawn in DejaVu Sans.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import sharp from 'sharp';
import { writeFileAtomic } from '../../util/atomic.js';
import { installDejaVuTextMetrics } from './text-measure.js';
import { THEME } from './theme.js';

/** A Vega-Lite specification (the builders in this folder return these). */
export type VegaLiteSpec = TopLevelSpec;

/** Thrown when a chart tries to read a URL or file: charts are built from inline data only. */
export class ChartResourceError extends Error {
  constructor(what: string) {
    super(
      `chart tried to load ${JSON.stringify(what)}: charts may use inline data only (no network, no files)`,
    );
    this.name = 'ChartResourceError';
  }
}

/**
 * A Vega loader that refuses everything (data URLs, images, files). Vega itself only logs a
 * failed load and draws nothing, so each refusal is also passed to `onRefuse`.
 */
export function refusingLoader(onRefuse: (what: string) => void = () => undefined): vega.Loader {
  const refuse = (what: string): Promise<never> => {
    onRefuse(what);
    return Promise.reject(new ChartResourceError(what));
  };
  return {
    load: (uri: string) => refuse(uri),
    sanitize: (uri: string) => refuse(uri),
    http: (uri: string) => refuse(uri),
    file: (filename: string) => refuse(filename),
  };
}

/** A loader that refuses every URL and file. */
export const REFUSING_LOADER: vega.Loader = refusingLoader();

type LoggerInterface = NonNullable<vega.ViewOptions['logger']>;

/**
 * A logger that collects Vega/Vega-Lite warnings and errors instead of printing them. Vega
 * copies these methods onto the View and calls them unbound, hence closures, not a class.
 */
function collectingLogger(): { logger: LoggerInterface; warnings: string[]; errors: string[] } {
  const warnings: string[] = [];
  const errors: string[] = [];
  let lvl = 2; // vega.Warn
  const logger: LoggerInterface = {
    level(_?: number): number | LoggerInterface {
      if (_ === undefined) return lvl;
      lvl = _;
      return logger;
    },
    error(...args: unknown[]) {
      errors.push(args.map(String).join(' '));
      return logger;
    },
    warn(...args: unknown[]) {
      warnings.push(args.map(String).join(' '));
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return { logger, warnings, errors };
}

/** A rendered chart. */
export interface RenderedChart {
  /** standalone SVG document (fonts named, no external references) */
  svg: string;
  /** outer size in CSS pixels, from the SVG root */
  width: number;
  height: number;
  /** Vega-Lite/Vega warnings (for example a dropped encoding); empty for a clean spec */
  warnings: string[];
}

// Vega numbers clip paths and gradients with process-wide counters; renders are serialised and the
// counters reset before each, so the same spec always gives the same SVG bytes.
let queue: Promise<unknown> = Promise.resolve();
function serialised<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

function svgSize(svg: string): { width: number; height: number } {
  const head = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const width = Number(/\bwidth="([\d.]+)"/.exec(head)?.[1]);
  const height = Number(/\bheight="([\d.]+)"/.exec(head)?.[1]);
  if (!Number.isFinite(width) || !Number.isFinite(height))
    throw new Error('rendered SVG has no width/height');
  return { width, height };
}

/**
 * Compile a Vega-Lite spec with the shared theme (the spec's own `config` wins) and render it
 * to an SVG string. Rejects with `ChartResourceError` if the spec references external data or
 * images (nothing is fetched).
 */
export function renderChart(spec: VegaLiteSpec): Promise<RenderedChart> {
  installDejaVuTextMetrics();
  return serialised(async () => {
    const { logger, warnings, errors } = collectingLogger();
    const { spec: vgSpec } = compile(spec, { config: THEME, logger });
    const refused: string[] = [];
    const loader = refusingLoader((what) => refused.push(what));
    const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', loader, logger });
    try {
      await view.runAsync();
      vega.resetSVGDefIds();
      const svg = await view.toSVG();
      if (refused.length > 0) throw new ChartResourceError(refused[0]);
      if (errors.length > 0) throw new Error(`chart rendering failed: ${errors.join('; ')}`);
      return { svg, ...svgSize(svg), warnings };
    } finally {
      view.finalize();
    }
  });
}

/** Options for SVG to PNG conversion. */
export interface PngOptions {
  /** pixels per SVG pixel (2 = "retina"); default 2 */
  scale?: number;
}

/**
 * Rasterise an SVG with sharp/librsvg at `scale` pixels per SVG pixel, on its own white
 * background. The PNG is `round(width*scale)` x `round(height*scale)`.
 */
export async function svgToPng(svg: string, options: PngOptions = {}): Promise<Buffer> {
  const scale = options.scale ?? 2;
  if (!(scale > 0) || scale > 16) throw new RangeError(`svgToPng: scale must be in (0, 16], got ${scale}`);
  return sharp(Buffer.from(svg, 'utf8'), { density: 72 * scale })
    .flatten({ background: '#ffffff' })
    .png({ compressionLevel: 9 })
    .toBuffer();
}

/** Paths written by `writeChart`. */
export interface WrittenChart {
  svgPath: string;
  pngPath: string;
  width: number;
  height: number;
  warnings: string[];
}

/**
 * Render `spec` and write `<basePath>.svg` and `<basePath>.png` (each atomically: no
 * half-written figure is ever visible).
 */
export async function writeChart(
  spec: VegaLiteSpec,
  basePath: string,
  options: PngOptions = {},
): Promise<WrittenChart> {
  const chart = await renderChart(spec);
  const png = await svgToPng(chart.svg, options);
  const svgPath = `${basePath}.svg`;
  const pngPath = `${basePath}.png`;
  await writeFileAtomic(svgPath, chart.svg);
  await writeFileAtomic(pngPath, png);
  return { svgPath, pngPath, width: chart.width, height: chart.height, warnings: chart.warnings };
}
