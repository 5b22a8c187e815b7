/**
 * The synthetic cohort generator: a digital phantom of a nuclear-cardiology department with ground
 * truth for every image (docs/synth.md).
 */
export type {
  Cohort,
  CohortOptions,
  Difficulty,
  Lesion,
  LesionKind,
  LesionSite,
  PatientTruth,
  SyntheticPatient,
} from './types.js';
export { DIFFICULTIES } from './types.js';
export {
  generateCohort,
  generatePatient,
  resolveCohortOptions,
  DEFAULT_PREVALENCE,
  DEFAULT_MAP_SIZE,
} from './cohort.js';
export {
  renderSingleMap,
  renderPage,
  drawSingleMap,
  drawPage,
  PAGE_WIDTH,
  PAGE_HEIGHT,
  DEFAULT_SINGLE_CANVAS,
} from './render.js';
export type { SingleMapOptions, PageOptions } from './render.js';
export { writeCohort, formatLesions, manifestColumns, truthColumns } from './write.js';
export type { WriteOptions } from './write.js';
export { synthesizeToDir } from './synthesize.js';
export { SCORE_LOSS_BOUNDS, scoreOfLoss } from './truth.js';
export { encode, flatten, type ImageFormat } from './draw.js';
