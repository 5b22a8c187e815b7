/**
 * Chart layer of the report: pure builders returning Vega-Lite specs, and the renderer that turns
 * a spec into SVG/PNG offline. See docs/charts.md.
 */
export {
  renderChart,
  svgToPng,
  writeChart,
  refusingLoader,
  REFUSING_LOADER,
  ChartResourceError,
} from './render.js';
export type { VegaLiteSpec, RenderedChart, PngOptions, WrittenChart } from './render.js';
export { THEME, PALETTE, FONT } from './theme.js';
export { dejaVuTextWidth } from './text-measure.js';
export { rocChart, rocLegendLabel } from './roc.js';
export type { RocCurveInput, RocChartOptions } from './roc.js';
export { trainingCurves, placeEpochs } from './training.js';
export type { TrainingHistoryRow, TrainingCurvesOptions } from './training.js';
export { reliabilityChart, expectedCalibrationError } from './reliability.js';
export type { ReliabilityBin, ReliabilityChartOptions } from './reliability.js';
export { confusionMatrixChart, confusionCells } from './confusion.js';
export type { ConfusionCounts, ConfusionMatrixOptions, ConfusionCell } from './confusion.js';
export { barChartWithIntervals } from './comparison.js';
export type { IntervalRow, BarChartWithIntervalsOptions } from './comparison.js';
export { hyperbandChart, bestTrial, describeConfig, formatHyperparameter } from './hyperband.js';
export type { HyperbandTrial, HyperbandChartOptions } from './hyperband.js';
export { strategyCurves } from './strategy.js';
export type { StrategyRun, StrategyCurvesOptions } from './strategy.js';
