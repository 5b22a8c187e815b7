/**
 * The four polar maps of a rest/stress SPECT MPI study.
 * AC = attenuation-corrected, NAC = not attenuation-corrected.
 *
 * `VIEWS` is also the fixed, documented order of the 2x2 AC+NAC tile of
 * Apostolopoulos et al. (2020): top-left stress AC, top-right rest AC,
 * bottom-left stress NAC, bottom-right rest NAC.
 */
export const VIEWS = ['stress_ac', 'rest_ac', 'stress_nac', 'rest_nac'] as const;
export type View = (typeof VIEWS)[number];

export const VIEW_CAPTIONS: Readonly<Record<View, string>> = {
  stress_ac: 'Stress AC',
  rest_ac: 'Rest AC',
  stress_nac: 'Stress NAC',
  rest_nac: 'Rest NAC',
};

export function isView(s: string): s is View {
  return (VIEWS as readonly string[]).includes(s);
}

/** Class labels. 1 = coronary artery disease (by angiography), 0 = normal. */
export type Label = 0 | 1;
export const LABEL_NAMES: Readonly<Record<Label, string>> = { 0: 'normal', 1: 'CAD' };

/** The acquisition of a view: after stress or at rest. */
export type Phase = 'stress' | 'rest';

/** What each view is: its acquisition phase and whether it is attenuation-corrected. */
export const VIEW_PARTS: Readonly<Record<View, { readonly phase: Phase; readonly ac: boolean }>> = {
  stress_ac: { phase: 'stress', ac: true },
  rest_ac: { phase: 'rest', ac: true },
  stress_nac: { phase: 'stress', ac: false },
  rest_nac: { phase: 'rest', ac: false },
};

/**
 * Manifest columns naming a reconstructed SPECT volume per view (`prepare` turns each into that
 * view's polar map): PHASE_volume_ac or PHASE_volume_nac. `stress_volume` and `rest_volume` are the
 * same as the `_ac` columns.
 */
export const VOLUME_COLUMN_OF = Object.fromEntries(
  VIEWS.map((v) => [v, `${VIEW_PARTS[v].phase}_volume_${VIEW_PARTS[v].ac ? 'ac' : 'nac'}`]),
) as Readonly<Record<View, string>>;
export const VOLUME_ALIASES: Readonly<Record<string, View>> = {
  stress_volume: 'stress_ac',
  rest_volume: 'rest_ac',
};
