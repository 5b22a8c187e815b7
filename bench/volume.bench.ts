/**
 * Benchmark of the volume pipeline (docs/volumes.md):
 * (a) synthetic volumes with ground truth (`polarcad synth --volumes` phantoms, stress and rest AC):
 *     long-axis and apex error, polar-map MAE against the generator's true map, segment scores and
 *     SSS of recovered vs true maps (src/polarmap/scoring.ts, normal limits from separate normal
 *     patients processed the same way), time per volume;
 * (b) the three real PhysioNet rest volumes: LV found, Dice of the fitted wall against the
 *     provided network masks, time per volume; their QC pictures and polar maps are written to
 *     docs/images/volumes/.
 * The synthetic part runs several configurations (seed, difficulty, CAD prevalence, range of
 * orientations), reported one by one and pooled, so that the figures are not those of one seed.
 * Run: `npm run bench -- volume` (writes bench/results/volume.json). `VOLUME_BENCH_PATIENTS` sets
 * the number of test patients per configuration (default 24: 4 x 48 = 192 volumes).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wilson } from '../src/evaluate/intervals.js';
import { getColormap } from '../src/polarmap/colormaps.js';
import { buildNormalDatabase, normalLimits, type NormalSample } from '../src/polarmap/normal-database.js';
import { scoreMap } from '../src/polarmap/scoring.js';
import { cohortLabels, patientPhantom, resolveCohortOptions } from '../src/synth/cohort.js';
import { VIEW_PARTS } from '../src/domain/views.js';
import { fieldRaster, phantomVolume, sampleAnatomy } from '../src/synth/volume.js';
import { PEAK_COUNTS_PER_DENSITY } from '../src/synth/volume-write.js';
import { segmentMeans } from '../src/polarmap/read-uptake.js';
import { Rng } from '../src/util/rng.js';
import type { Difficulty } from '../src/synth/types.js';
import { dice, fittedWallMask } from '../src/volume/mask.js';
import { encodeCrop, volumeToPolarMap } from '../src/volume/pipeline.js';
import { renderQc } from '../src/volume/qc.js';
import { readVolume } from '../src/volume/read.js';
import { angleDeg, norm, sub } from '../src/volume/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const REAL_DIR = process.env.POLARCAD_REAL_VOLUMES ?? '/work/shared/datasets/physionet-mps-rest-volumes';
const MAP = 128;
const VIEWS = ['stress_ac', 'rest_ac'] as const;

/** One synthetic configuration of the bench. */
interface Config {
  readonly seed: string;
  readonly difficulty: Difficulty;
  readonly prevalence: number;
  /** largest angle of the LV axis from the typical orientation, degrees */
  readonly maxTiltDeg: number;
}

const CONFIGS: readonly Config[] = [
  { seed: 'volume-bench-test', difficulty: 'realistic', prevalence: 0.5, maxTiltDeg: 20 },
  { seed: 'volume-bench-hard', difficulty: 'hard', prevalence: 0.8, maxTiltDeg: 20 },
  { seed: 'volume-bench-cad', difficulty: 'realistic', prevalence: 1, maxTiltDeg: 20 },
  { seed: 'volume-bench-wide', difficulty: 'realistic', prevalence: 0.5, maxTiltDeg: 35 },
];
const NORMALS: Config = {
  seed: 'volume-bench-normals',
  difficulty: 'realistic',
  prevalence: 0,
  maxTiltDeg: 20,
};

interface Case {
  readonly id: string;
  readonly view: (typeof VIEWS)[number];
  readonly ok: boolean;
  readonly error?: string;
  readonly axisDeg: number;
  readonly apexVox: number;
  readonly mae: number;
  readonly seconds: number;
  readonly rec: number[];
  readonly truth: number[];
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Generate and process one patient's stress and rest AC volumes. */
function runPatient(cfg: Config, index: number, total: number, label: 0 | 1): Case[] {
  const { seed, difficulty, prevalence } = cfg;
  const opts = resolveCohortOptions({ patients: total, seed, mapSize: MAP, difficulty, prevalence });
  const { rng, scenario, grid, fields } = patientPhantom(seed, index, label, opts);
  const anatomy = sampleAnatomy(rng.fork('volume/anatomy'), { maxTiltDeg: cfg.maxTiltDeg });
  return VIEWS.map((view) => {
    const peak = scenario.countDensity[VIEW_PARTS[view].phase] * PEAK_COUNTS_PER_DENSITY;
    const { volume, truth } = phantomVolume(
      grid,
      fields.views[view],
      anatomy,
      peak,
      rng.fork(`volume/noise/${view}`),
    );
    const tmap = fieldRaster(grid, fields.views[view]);
    const truthSeg = Array.from(segmentMeans(tmap));
    const id = `${seed}/${index}`;
    try {
      const m = volumeToPolarMap(volume, { size: MAP });
      let mae = 0;
      for (const p of grid.inside) mae += Math.abs(m.uptake.data[p] - tmap.data[p]);
      return {
        id,
        view,
        ok: true,
        axisDeg: angleDeg(m.geometry.axis, truth.axis),
        apexVox: norm(sub(m.geometry.apex, truth.apex)) / 4,
        mae: mae / grid.inside.length,
        seconds: m.seconds,
        rec: m.segments,
        truth: truthSeg,
      };
    } catch (e) {
      return {
        id,
        view,
        ok: false,
        error: (e as Error).message,
        axisDeg: NaN,
        apexVox: NaN,
        mae: NaN,
        seconds: NaN,
        rec: [],
        truth: truthSeg,
      };
    }
  });
}

function cohort(cfg: Config, n: number): Case[] {
  const labels = cohortLabels(new Rng(cfg.seed).fork('labels'), n, cfg.prevalence);
  const out: Case[] = [];
  const t0 = Date.now();
  labels.forEach((l, i) => {
    out.push(...runPatient(cfg, i, n, l));
    const el = (Date.now() - t0) / 1000;
    process.stderr.write(
      `\r${cfg.seed}: ${i + 1}/${n} patients, ETA ${((el / (i + 1)) * (n - i - 1)).toFixed(0)} s   `,
    );
  });
  process.stderr.write('\n');
  return out;
}

const quantile = (a: number[], q: number): number => {
  const s = a.slice().sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))];
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const interval = (k: number, n: number): { k: number; n: number; rate: number; ci95: [number, number] } => {
  const w = wilson(k, n);
  return { k, n, rate: r3(k / n), ci95: [r3(w.lo), r3(w.hi)] };
};

function scoresOf(cases: Case[], normals: Case[], pick: (c: Case) => number[]) {
  const samples: NormalSample[] = normals
    .filter((c) => c.ok)
    .map((c) => ({ state: c.view === 'stress_ac' ? 'stress' : 'rest', correction: 'AC', segments: pick(c) }));
  const db = buildNormalDatabase(samples, { minStudies: 10 });
  return cases.map((c) =>
    scoreMap(
      pick(c),
      normalLimits(db, { state: c.view === 'stress_ac' ? 'stress' : 'rest', correction: 'AC' }),
    ),
  );
}

async function realVolumes(): Promise<Record<string, unknown>[]> {
  const outDir = join(here, '..', 'docs', 'images', 'volumes');
  await mkdir(outDir, { recursive: true });
  const rows: Record<string, unknown>[] = [];
  for (const n of [1, 2, 3]) {
    const name = `patient00${n}`;
    const t0 = performance.now();
    try {
      const vol = await readVolume(join(REAL_DIR, `${name}_rest.nii.gz`));
      const m = volumeToPolarMap(vol);
      const seconds = (performance.now() - t0) / 1000;
      const ref = await readVolume(join(REAL_DIR, `${name}_lv_mask_predicted.nii.gz`));
      const mask = fittedWallMask(vol, m.geometry, m.grid);
      const cm = getColormap('rainbow');
      await writeFile(join(outDir, `${name}_qc.png`), await renderQc(vol, m.geometry, m.grid, cm));
      await writeFile(join(outDir, `${name}_polarmap.png`), await encodeCrop(m, cm));
      rows.push({
        volume: `${name}_rest.nii.gz`,
        lvFound: true,
        lengthMm: r3(m.geometry.length),
        radiusMm: r3(m.geometry.radius),
        dice: r3(dice(mask, ref.data)),
        fittedVoxels: mask.reduce((s, x) => s + x, 0),
        referenceVoxels: ref.data.reduce((s, x) => s + (x > 0 ? 1 : 0), 0),
        secondsReadFitSample: r3(seconds),
      });
    } catch (e) {
      rows.push({ volume: `${name}_rest.nii.gz`, lvFound: false, error: (e as Error).message });
    }
  }
  return rows;
}

/** The targets' figures over a set of cases (scores against the normal limits of `normals`). */
function summarise(cases: Case[], normals: Case[]): Record<string, unknown> {
  const ok = cases.filter((c) => c.ok);
  const axisOk = ok.filter((c) => c.axisDeg <= 10).length;
  const apexOk = ok.filter((c) => c.apexVox <= 1).length;
  const both = ok.filter((c) => c.axisDeg <= 10 && c.apexVox <= 1).length;
  // scores: recovered maps against limits from recovered normals; true maps against true normals
  const recScores = scoresOf(ok, normals, (c) => c.rec);
  const trueScores = scoresOf(ok, normals, (c) => c.truth);
  let within1 = 0;
  let segs = 0;
  ok.forEach((_, i) => {
    for (let s = 0; s < 17; s++) {
      segs++;
      if (Math.abs(recScores[i].scores[s] - trueScores[i].scores[s]) <= 1) within1++;
    }
  });
  const stressIdx = ok.map((c, i) => (c.view === 'stress_ac' ? i : -1)).filter((i) => i >= 0);
  const sssRec = stressIdx.map((i) => recScores[i].summed);
  const sssTrue = stressIdx.map((i) => trueScores[i].summed);
  const maes = ok.map((c) => c.mae);
  const secs = ok.map((c) => c.seconds);
  const q = (a: number[], p: number): number => r3(quantile(a, p));
  return {
    volumes: cases.length,
    fitted: interval(ok.length, cases.length),
    failures: cases.filter((c) => !c.ok).map((c) => `${c.id} ${c.view}: ${c.error}`),
    misses: ok
      .filter((c) => c.axisDeg > 10 || c.apexVox > 1)
      .map((c) => `${c.id} ${c.view}: axis ${c.axisDeg.toFixed(1)} deg, apex ${c.apexVox.toFixed(2)} voxel`),
    axisWithin10deg: interval(axisOk, cases.length),
    apexWithin1voxel: interval(apexOk, cases.length),
    axisAndApex: interval(both, cases.length),
    axisErrorDeg: {
      median: q(
        ok.map((c) => c.axisDeg),
        0.5,
      ),
      p95: q(
        ok.map((c) => c.axisDeg),
        0.95,
      ),
    },
    apexErrorVoxels: {
      median: q(
        ok.map((c) => c.apexVox),
        0.5,
      ),
      p95: q(
        ok.map((c) => c.apexVox),
        0.95,
      ),
    },
    maeOfMax: {
      mean: r3(maes.reduce((s, x) => s + x, 0) / maes.length),
      median: q(maes, 0.5),
      p95: q(maes, 0.95),
      under8pct: interval(maes.filter((x) => x < 0.08).length, cases.length),
    },
    segmentScoresWithin1: interval(within1, segs),
    sssCorrelation: { pearson: r3(pearson(sssRec, sssTrue)), studies: sssRec.length },
    secondsPerVolume: { median: q(secs, 0.5), max: r3(Math.max(...secs)) },
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const n = Number(process.env.VOLUME_BENCH_PATIENTS ?? 24);
  const normals = cohort(NORMALS, 30).filter((c) => c.ok);
  const byConfig = CONFIGS.map((cfg) => ({ cfg, cases: cohort(cfg, n) }));
  const real = await realVolumes();
  return {
    synthetic: {
      patientsPerConfiguration: n,
      normalDatabase: { patients: 30, volumesFitted: normals.length, seed: NORMALS.seed },
      pooled: summarise(
        byConfig.flatMap((b) => b.cases),
        normals,
      ),
      configurations: byConfig.map(({ cfg, cases }) => ({ ...cfg, ...summarise(cases, normals) })),
    },
    real,
  };
}
