/**
 * Targets of the reader's workstation (issue "Explanations and the reader's workstation"), on the
 * machine's cores, random weights, model load excluded:
 *   - predict + Grad-CAM for one study: MobileNetV2 < 150 ms, ResNet152V2 < 400 ms (224 x 224,
 *     Hai et al. 2022 head). "Predict + Grad-CAM" = model input from the cleaned map, ONNX Runtime
 *     backbone, the exact Grad-CAM head pass, the heatmap on the map and its territory / segment
 *     shares (`predictStudy` from cleaned maps). Also reported: the overlay figure PNG (rendered
 *     lazily by the server, on request) and the whole path from an export page file (decode, disc
 *     finding, cleaning).
 *   - `polarcad serve` with MobileNetV2 sustains >= 10 predictions/s (loopback HTTP, 4 clients,
 *     prepared 256 px crops uploaded, concurrency 2, one ONNX Runtime thread as `serve` defaults to).
 * The machine is shared: the load average is recorded, and the process CPU time per study
 * (user + system, all threads) is reported beside the wall time as a load-robust figure.
 * Results: bench/results/serve.json; summary in docs/serve.md.
 */
import { cpus, loadavg } from 'node:os';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend.js';
import { addHaiHead } from '../src/models/heads.js';
import { loadBackbone } from '../src/models/weights/resolve.js';
import { getBackbone } from '../src/models/table.js';
import { mapsFromFiles } from '../src/predict/inputs.js';
import { createPredictor, type Predictor } from '../src/predict/predictor.js';
import { predictStudy } from '../src/predict/study.js';
import { buildServer } from '../src/serve/server.js';
import { pageBytes, testPatient } from '../test/predict/fixtures.js';

const TARGET_MS: Readonly<Record<string, number>> = { MobileNetV2: 150, ResNet152V2: 400 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const r1 = (x: number): number => Math.round(x * 10) / 10;

async function predictorFor(
  name: string,
  threads?: number,
): Promise<{ predictor: Predictor; loadMs: number }> {
  const t0 = performance.now();
  const spec = getBackbone(name);
  const { model: backbone } = await loadBackbone(name, { weights: 'none' });
  const model = addHaiHead(backbone);
  const predictor = await createPredictor(
    model,
    {
      backbone: name,
      inputSize: spec.inputSize,
      scaling: spec.scaling,
      camLayer: spec.camLayer,
      input: 'stress_ac',
    },
    {},
    threads !== undefined ? { threads } : {},
  );
  return { predictor, loadMs: performance.now() - t0 };
}

async function perStudy(name: string, page: Buffer): Promise<Record<string, unknown>> {
  const { predictor, loadMs } = await predictorFor(name);
  try {
    const { maps } = await mapsFromFiles([{ bytes: page, name: 'page' }], {
      needed: ['stress_ac'],
      only: ['stress_ac'],
    });
    const input = { maps: { stress_ac: maps.stress_ac } };
    for (let i = 0; i < 3; i++) await predictStudy(predictor, input);
    const tensors = tf.memory().numTensors;
    const total: number[] = [];
    const backboneMs: number[] = [];
    const gradcamMs: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      const { result } = await predictStudy(predictor, input);
      total.push(performance.now() - t0);
      backboneMs.push(result.timings.backboneMs);
      gradcamMs.push(result.timings.gradcamMs);
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerStudy = (cpu.user + cpu.system) / 1000 / 15;
    const withFigure: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const { images } = await predictStudy(predictor, input);
      await images.overlayPng();
      withFigure.push(performance.now() - t0);
    }
    const fromPage: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await predictStudy(predictor, { files: [{ bytes: page, name: 'page' }] });
      fromPage.push(performance.now() - t0);
    }
    const ms = median(total);
    return {
      loadMs: Math.round(loadMs),
      predictGradcamMs: r1(ms),
      cpuMsPerStudy: r1(cpuMsPerStudy),
      backboneMs: r1(median(backboneMs)),
      gradcamHeadMs: r1(median(gradcamMs)),
      withOverlayFigureMs: r1(median(withFigure)),
      fromExportPageMs: r1(median(fromPage)),
      targetMs: TARGET_MS[name],
      meetsTarget: ms < TARGET_MS[name],
      tensorGrowth: tf.memory().numTensors - tensors,
    };
  } finally {
    await predictor.dispose();
  }
}

async function throughput(page: Buffer): Promise<Record<string, unknown>> {
  const { predictor } = await predictorFor('MobileNetV2', 1); // as `polarcad serve` (--threads 1)
  const app = await buildServer(predictor, { logLevel: 'silent', concurrency: 2, queue: 32 });
  try {
    const { maps } = await mapsFromFiles([{ bytes: page, name: 'page' }], {
      needed: ['stress_ac'],
      only: ['stress_ac'],
    });
    const crop = maps.stress_ac!;
    const png = await sharp(Buffer.from(crop.data), {
      raw: { width: crop.width, height: crop.height, channels: 3 },
    })
      .png()
      .toBuffer();
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const token = ((await (await fetch(`${address}/api/session`)).json()) as { csrf: string }).csrf;
    const call = async (): Promise<void> => {
      const form = new FormData();
      form.append('stress_ac', new Blob([png], { type: 'image/png' }), 'upload');
      const res = await fetch(`${address}/api/predict`, {
        method: 'POST',
        body: form,
        headers: { 'x-polarcad-csrf': token },
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
      await res.json();
    };
    for (let i = 0; i < 6; i++) await call();
    const N = 100;
    const clients = 4;
    let next = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next++ < N) await call();
      }),
    );
    const perSecond = N / ((performance.now() - t0) / 1000);
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerPrediction = (cpu.user + cpu.system) / 1000 / N;
    return {
      requests: N,
      clients,
      concurrency: 2,
      onnxThreads: 1,
      predictionsPerSecond: r1(perSecond),
      cpuMsPerPrediction: r1(cpuMsPerPrediction),
      // what the cores could sustain if the process had them to itself (client side included)
      cpuBoundPredictionsPerSecond: r1((cpus().length * 1000) / cpuMsPerPrediction),
      target: 10,
      meetsTarget: perSecond >= 10,
    };
  } finally {
    await app.close();
    await predictor.dispose();
  }
}

export async function run(): Promise<Record<string, unknown>> {
  await initBackend('wasm');
  const page = await pageBytes(testPatient(0, 1));
  const load = loadavg()[0];
  return {
    cores: cpus().length,
    loadAverageAtStart: r1(load),
    unit: 'ms per study (median), random weights, model load excluded',
    MobileNetV2: await perStudy('MobileNetV2', page),
    ResNet152V2: await perStudy('ResNet152V2', page),
    server: await throughput(page),
    loadAverageAtEnd: r1(loadavg()[0]),
  };
}
