import type { Config } from 'vega-lite';

/** The one font every chart uses; installed on the machine and used by librsvg for PNGs. */
export const FONT = 'DejaVu Sans';

/**
 * Okabe & Ito (2008) colour-blind-safe palette ("Color Universal Design"), ordered so the first
 * colours stay distinguishable for deuteranopes and in greyscale; yellow is last (weak on white).
 */
export const PALETTE: readonly string[] = [
  '#0072B2', // blue
  '#D55E00', // vermillion
  '#009E73', // bluish green
  '#E69F00', // orange
  '#CC79A7', // reddish purple
  '#56B4E9', // sky blue
  '#000000', // black
  '#F0E442', // yellow
];

/** Neutral ink for reference lines (chance diagonal, perfect calibration). */
export const REFERENCE_GREY = '#7f7f7f';

/**
 * The dashed grey y = x line from (0, 0) to (1, 1) (chance in a ROC plot, perfect calibration) as a
 * Vega-Lite layer: two points with fields `xField` and `yField`, drawn with `encoding`.
 */
export function identityLine<E>(
  xField: string,
  yField: string,
  encoding: E,
): {
  data: { values: Record<string, number>[] };
  mark: { type: 'line'; color: string; strokeDash: number[]; strokeWidth: number };
  encoding: E;
} {
  return {
    data: {
      values: [
        { [xField]: 0, [yField]: 0 },
        { [xField]: 1, [yField]: 1 },
      ],
    },
    mark: { type: 'line', color: REFERENCE_GREY, strokeDash: [5, 4], strokeWidth: 1.2 },
    encoding,
  };
}

/** Default plot sizes (pixels of the data rectangle, before axes and legends). */
export const SIZES = {
  square: 340,
  wide: 420,
  panel: 340,
  panelHeight: 240,
} as const;

/** The shared Vega-Lite config: fonts, sizes, palette, white background (PNG has no transparency surprises). */
export const THEME: Config = {
  font: FONT,
  background: 'white',
  padding: 8,
  view: { stroke: '#bdbdbd' },
  range: { category: [...PALETTE] },
  title: {
    font: FONT,
    fontSize: 15,
    fontWeight: 'bold',
    anchor: 'start',
    subtitleFontSize: 11,
    subtitleColor: '#555555',
    offset: 10,
  },
  axis: {
    labelFont: FONT,
    titleFont: FONT,
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 'normal',
    titlePadding: 8,
    gridColor: '#e6e6e6',
    domainColor: '#666666',
    tickColor: '#666666',
    labelColor: '#333333',
    titleColor: '#222222',
  },
  legend: {
    labelFont: FONT,
    titleFont: FONT,
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 'normal',
    labelLimit: 320,
    symbolStrokeWidth: 2.5,
  },
  header: { labelFont: FONT, titleFont: FONT, labelFontSize: 12, titleFontSize: 12 },
  text: { font: FONT, fontSize: 11 },
  line: { strokeWidth: 2 },
  point: { size: 40 },
  concat: { spacing: 28 },
};
