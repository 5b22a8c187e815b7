import type { Command } from 'commander';
import { registerCache } from './cache.js';
import { registerCompare } from './compare.js';
import { registerCv } from './cv.js';
import { registerDemo } from './demo.js';
import { registerEvaluate } from './evaluate.js';
import { registerExperiment } from './experiment.js';
import { registerExport } from './export.js';
import { registerModels } from './models.js';
import { registerPolarmap } from './polarmap.js';
import { registerPredict } from './predict.js';
import { registerPrepare } from './prepare.js';
import { registerReport } from './report.js';
import { registerScore } from './score.js';
import { registerServe } from './serve.js';
import { registerSynth } from './synth.js';
import { registerTrain } from './train.js';
import { registerTune } from './tune.js';
import { registerWorker } from './worker.js';

/** Every sub-command registers itself on the program. Add one import and one entry per command. */
export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [
  registerModels,
  registerPrepare,
  registerPolarmap,
  registerSynth,
  registerExport,
  registerTrain,
  registerScore,
  registerTune,
  registerExperiment,
  registerReport,
  registerCompare,
  registerPredict,
  registerServe,
  registerEvaluate,
  registerDemo,
  registerCv,
  registerCache,
  registerWorker,
];
