/**
 * Fixtures for the predict / serve tests, generated in the test: a small MobileNetV2 (alpha 0.35,
 * random seeded weights, 96 x 96 input) with the Hai et al. (2022) head, saved as a `polarcad
 * train` run directory (model/ + polarcad.json, config.json, metrics.json), and synthetic studies
 * (export pages and single maps from the synthetic cohort generator).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { InputMode } from '../../src/domain/input-mode.js';
import { initBackend } from '../../src/engine/backend.js';
import { saveModel } from '../../src/rundir/model.js';
import type { View } from '../../src/domain/views.js';
import { addHaiHead } from '../../src/models/heads.js';
import { loadBackbone } from '../../src/models/weights/resolve.js';
import { getColormap, type Colormap } from '../../src/polarmap/colormaps.js';
import {
  drawPage,
  drawSingleMap,
  encode,
  generatePatient,
  resolveCohortOptions,
} from '../../src/synth/index.js';
import type { SyntheticPatient } from '../../src/synth/index.js';
import { seededInit } from '../../src/train/init.js';
import { Rng } from '../../src/util/rng.js';

/** Side of the test model's input. */
export const TEST_INPUT_SIZE = 96;

/** A small random-weight MobileNetV2 + Hai head model, as `polarcad train` builds it. */
export async function buildTestModel(
  opts: { inputSize?: number; seed?: number; backbone?: string; alpha?: number } = {},
): Promise<tf.LayersModel> {
  await initBackend('wasm');
  const size = opts.inputSize ?? TEST_INPUT_SIZE;
  const name = opts.backbone ?? 'MobileNetV2';
  const loaded = await loadBackbone(name, {
    weights: 'none',
    inputShape: [size, size, 3],
    ...(name === 'MobileNetV2' ? { alpha: opts.alpha ?? 0.35 } : {}),
  });
  const rng = new Rng(opts.seed ?? 7);
  seededInit(loaded.model.layers, rng.fork('backbone'), 'he');
  const model = addHaiHead(loaded.model, { units: 16, dropout: 0.5 });
  seededInit(model.layers.slice(-4), rng.fork('head'), 'glorot');
  return model;
}

/** Save `model` as a run directory like `polarcad train` writes it; returns the directory. */
export async function writeTestRun(
  dir: string,
  model: tf.LayersModel,
  extra: {
    input?: string;
    threshold?: number;
    temperature?: number;
    embedded?: boolean;
    colormap?: string;
  } = {},
): Promise<string> {
  const size = model.inputs[0].shape[1] as number;
  await saveModel(join(dir, 'model'), model, {
    backbone: 'MobileNetV2',
    inputSize: size,
    scaling: 'tf',
    classes: ['normal', 'cad'],
    camLayer: 'out_relu',
    input: (extra.input ?? 'stress_ac') as InputMode,
    ...(extra.colormap !== undefined ? { colormap: extra.colormap } : {}),
  });
  const weights = extra.embedded
    ? { backbone: 'MobileNetV2', source: 'embedded', description: 'embedded default: nsfwjs MobileNetV2' }
    : {
        backbone: 'MobileNetV2',
        source: 'random',
        description: 'random initialisation (no pretrained weights)',
      };
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      polarcad: 'train',
      status: 'complete',
      resolved: {
        manifest: { path: '/secret/path/manifest.csv', sha256: 'ab'.repeat(32) },
        weights,
        split: { train: ['P0001', 'P0002', 'P0003'], validation: ['P0004'], test: ['P0005', 'P0006'] },
      },
    }),
  );
  await writeFile(
    join(dir, 'metrics.json'),
    JSON.stringify({
      evaluatedOn: 'held-out test split',
      n: 2,
      threshold: extra.threshold ?? 0.5,
      auc: { estimate: 0.75, lo: 0.5, hi: 1 },
      sensitivity: { estimate: 1 },
      specificity: { estimate: 0.5 },
      accuracy: { estimate: 0.5 },
    }),
  );
  if (extra.temperature !== undefined)
    await writeFile(join(dir, 'calibration.json'), JSON.stringify({ temperature: extra.temperature }));
  return dir;
}

/** A synthetic patient (seeded). */
export function testPatient(index = 0, label: 0 | 1 = 1, seed = 11): SyntheticPatient {
  const o = resolveCohortOptions({ patients: 8, seed, mapSize: 96 });
  return generatePatient(seed, index, 8, label, o);
}

/** The export page of a patient (2x2 layout, segment grid; rainbow unless `colormap`), PNG or JPEG bytes. */
export async function pageBytes(
  p: SyntheticPatient,
  format: 'png' | 'jpeg' = 'png',
  colormap: Colormap = getColormap('rainbow'),
): Promise<Buffer> {
  return encode(drawPage(p, { colormap, grid: true }).drawing, format);
}

/** One single-map export of a view (PNG). */
export async function singleMapBytes(p: SyntheticPatient, view: View, canvas = 200): Promise<Buffer> {
  return encode(
    drawSingleMap(p.maps[view], { colormap: getColormap('rainbow'), caption: view, grid: false, canvas })
      .drawing,
    'png',
  );
}
