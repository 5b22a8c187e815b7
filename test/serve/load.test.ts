/**
 * A bounded load test of `polarcad serve` on loopback only (127.0.0.1, an ephemeral port): 200
 * predictions from 8 concurrent clients over real HTTP. Every answer is checked against the
 * probability of its study computed directly (four different studies, so answers mixed up
 * between concurrent requests would show); p50 / p95 latency and throughput are reported; the tfjs
 * tensor count must not grow and the process memory (RSS) must grow by less than 256 MiB (the
 * result store holds at most 100 results of about 0.5 MB each).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import type { FastifyInstance } from 'fastify';
import { mapsFromFiles } from '../../src/predict/inputs.js';
import { loadPredictor, type Predictor } from '../../src/predict/predictor.js';
import { predictStudy } from '../../src/predict/study.js';
import { buildServer } from '../../src/serve/server.js';
import { buildTestModel, singleMapBytes, testPatient, writeTestRun } from '../predict/fixtures.js';

const TOTAL = 200;
const CLIENTS = 8;

let tmp = '';
let model: tf.LayersModel;
let predictor: Predictor;
let app: FastifyInstance;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-load-'));
  model = await buildTestModel();
  predictor = await loadPredictor(await writeTestRun(join(tmp, 'run'), model), { threads: 1 });
  app = await buildServer(predictor, { logLevel: 'silent', concurrency: 2, queue: 32 });
});
after(async () => {
  await app?.close();
  await predictor?.dispose();
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

function quantile(sorted: readonly number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (i - lo);
}

test(
  `${TOTAL} predictions from ${CLIENTS} concurrent clients on 127.0.0.1`,
  { timeout: 600_000 },
  async (t) => {
    // four studies as prepared 256 px crops (what `polarcad prepare` writes), with their reference probabilities
    const studies: { bytes: Buffer; probability: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const m = await mapsFromFiles(
        [{ bytes: await singleMapBytes(testPatient(i, (i % 2) as 0 | 1), 'stress_ac'), name: 'm' }],
        { needed: ['stress_ac'] },
      );
      const crop = m.maps.stress_ac!;
      const bytes = await sharp(Buffer.from(crop.data), {
        raw: { width: crop.width, height: crop.height, channels: 3 },
      })
        .png()
        .toBuffer();
      const ref = await predictStudy(predictor, { files: [{ bytes, name: 'ref' }] });
      studies.push({ bytes, probability: ref.result.probability });
    }
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const token = ((await (await fetch(`${address}/api/session`)).json()) as { csrf: string }).csrf;
    assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);
    const call = async (k: number): Promise<number> => {
      const s = studies[k % studies.length];
      const form = new FormData();
      form.append('stress_ac', new Blob([s.bytes], { type: 'image/png' }), 'upload');
      const t0 = performance.now();
      const res = await fetch(`${address}/api/predict`, {
        method: 'POST',
        body: form,
        headers: { 'x-polarcad-csrf': token },
      });
      const body = (await res.json()) as { probability?: number; error?: string; decision?: string };
      const ms = performance.now() - t0;
      assert.equal(res.status, 200, `request ${k}: ${body.error}`);
      assert.ok(
        Math.abs((body.probability as number) - s.probability) < 1e-6,
        `request ${k}: probability ${body.probability}, expected ${s.probability}`,
      );
      assert.equal(body.decision, s.probability >= 0.5 ? 'CAD' : 'normal');
      return ms;
    };
    // warm-up, then the measured run
    for (let k = 0; k < 8; k++) await call(k);
    const tensors0 = tf.memory().numTensors;
    const rss0 = process.memoryUsage().rss;
    const latencies: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < TOTAL) {
          const k = next++;
          latencies.push(await call(k));
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const rss1 = process.memoryUsage().rss;
    assert.equal(latencies.length, TOTAL);
    assert.equal(tf.memory().numTensors, tensors0, 'no tensor growth');
    const growth = (rss1 - rss0) / 2 ** 20;
    assert.ok(growth < 256, `RSS grew by ${growth.toFixed(0)} MiB`);
    const sorted = [...latencies].sort((a, b) => a - b);
    const health = (await (await fetch(`${address}/healthz`)).json()) as {
      rejected: number;
      results: number;
    };
    assert.equal(health.rejected, 0, 'nothing refused with a queue of 32 and 8 clients');
    assert.ok(health.results <= 100, 'the result store is bounded');
    t.diagnostic(
      `${TOTAL} predictions, ${CLIENTS} clients: ${(TOTAL / seconds).toFixed(1)} predictions/s, p50 ${quantile(sorted, 0.5).toFixed(0)} ms, p95 ${quantile(sorted, 0.95).toFixed(0)} ms, ` +
        `max ${sorted[sorted.length - 1].toFixed(0)} ms; tensors ${tensors0} -> ${tf.memory().numTensors}; RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB`,
    );
  },
);
