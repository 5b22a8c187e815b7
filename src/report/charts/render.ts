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
    super(`chart tried to load ${JSON.stringify(what)}: charts may use inline data only (no network, no files)`);
    this.name = 'ChartResourceError';
  }
}

function refuse(what: string): Promise<never> {
  return Promise.reject(new ChartResourceError(what));
}

/** A Vega loader that refuses everything (data URLs, images, files). */
export const REFUSING_LOADER: vega.Loader = {
  load: (uri: string) => refuse(uri),
  sanitize: (uri: string) => refuse(uri),
  http: (uri: string) => refuse(uri),
  file: (filename: string) => refuse(filename),
};

type LoggerInterface = NonNullable<vega.ViewOptions['logger']>;

/** Collects Vega/Vega-Lite warnings instead of printing them to the console. */
class CollectingLogger implements LoggerInterface {
  private lvl = 2; // vega.Warn
  readonly warnings: string[] = [];
  readonly errors: string[] = [];
  level(_?: number): number | LoggerInterface {
    if (_ === undefined) return this.lvl;
    this.lvl = _;
    return this;
  }
  error(...args: unknown[]): this {
    this.errors.push(args.map(String).join(' '));
    return this;
  }
  warn(...args: unknown[]): this {
    if (this.lvl >= 2) this.warnings.push(args.map(String).join(' '));
    return this;
  }
  info(): this {
    return this;
  }
  debug(): this {
    return this;
  }
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
  if (!Number.isFinite(width) || !Number.isFinite(height)) throw new Error('rendered SVG has no width/height');
  return { width, height };
}

/**
 * Compile a Vega-Lite spec with the shared theme (the spec's own `config` wins) and render it
 * to an SVG string. Rejects with `ChartResourceError` if the spec references external data.
 */
export function renderChart(spec: VegaLiteSpec): Promise<RenderedChart> {
  installDejaVuTextMetrics();
  return serialised(async () => {
    const logger = new CollectingLogger();
    const { spec: vgSpec } = compile(spec, { config: THEME, logger });
    const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', loader: REFUSING_LOADER, logger });
    try {
      await view.runAsync();
      vega.resetSVGDefIds();
      const svg = await view.toSVG();
      if (logger.errors.length > 0) throw new Error(`chart rendering failed: ${logger.errors.join('; ')}`);
      return { svg, ...svgSize(svg), warnings: logger.warnings };
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
export async function writeChart(spec: VegaLiteSpec, basePath: string, options: PngOptions = {}): Promise<WrittenChart> {
  const chart = await renderChart(spec);
  const png = await svgToPng(chart.svg, options);
  const svgPath = `${basePath}.svg`;
  const pngPath = `${basePath}.png`;
  await writeFileAtomic(svgPath, chart.svg);
  await writeFileAtomic(pngPath, png);
  return { svgPath, pngPath, width: chart.width, height: chart.height, warnings: chart.warnings };
}
