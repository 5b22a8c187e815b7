/**
 * `polarcad serve` API through `fastify.inject`: a generated study (synthetic export page, single
 * maps, a DICOM map with patient tags), every bad-input case (4xx JSON, the server keeps serving),
 * the queue limit (503), result retention (expiry, keep=1, delete), the page and its headers, and
 * privacy: captured log lines hold no file name, patient id or DICOM tag, only sizes and timings.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import type * as tf from '@tensorflow/tfjs';
import { loadPredictor, type Predictor } from '../../src/predict/predictor.js';
import { buildServer, type ServeOptions } from '../../src/serve/server.js';
import { makeDicom, TS } from '../helpers/dicom.js';
import { buildTestModel, pageBytes, singleMapBytes, testPatient, writeTestRun } from '../predict/fixtures.js';

let tmp = '';
let model: tf.LayersModel;
let predictor: Predictor;
let app: FastifyInstance;
const logs: string[] = [];
let page: Buffer;

const capture = (): Writable =>
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });

async function server(opts: ServeOptions = {}): Promise<FastifyInstance> {
  return buildServer(predictor, { logStream: capture(), ...opts });
}

/** A multipart body from (field, bytes, filename) parts plus plain fields, built by the WHATWG FormData encoder. */
async function multipart(
  parts: readonly [string, Uint8Array, string][],
  fields: Record<string, string> = {},
): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const [field, bytes, filename] of parts) form.append(field, new Blob([bytes]), filename);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const req = new Request('http://localhost/', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await req.arrayBuffer()),
    headers: { 'content-type': req.headers.get('content-type') as string },
  };
}

/** The anti-forgery header of a server's page (every state-changing request carries it). */
async function csrf(a: FastifyInstance): Promise<Record<string, string>> {
  return {
    'x-polarcad-csrf': (await a.inject({ method: 'GET', url: '/api/session' })).json<{ csrf: string }>().csrf,
  };
}

async function post(
  a: FastifyInstance,
  parts: readonly [string, Uint8Array, string][],
  fields: Record<string, string> = {},
  url = '/api/predict',
) {
  const body = await multipart(parts, fields);
  return a.inject({ method: 'POST', url, ...body, headers: { ...body.headers, ...(await csrf(a)) } });
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-serve-'));
  model = await buildTestModel();
  predictor = await loadPredictor(await writeTestRun(join(tmp, 'run'), model), { threads: 1 });
  app = await server({ maxFileBytes: 3 * 2 ** 20 });
  page = await pageBytes(testPatient(0, 1)); // the page header reads "Patient: P0001 ..."
});
after(async () => {
  await app?.close();
  await predictor?.dispose();
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('POST /api/predict', () => {
  test('an export page: the predict JSON, links to the overlay, and the overlay PNG', async () => {
    const res = await post(app, [['file', page, 'P0001_Doe_John_page.png']]);
    assert.equal(res.statusCode, 200, res.body);
    const j = res.json<{
      id: string;
      probability: number;
      decision: string;
      confidence: { wording: string };
      source: string;
      sentence: string;
      links: { overlay: string; result: string };
      bullseye: { svg: string };
      kept: boolean;
    }>();
    assert.ok(j.probability >= 0 && j.probability <= 1);
    assert.equal(j.source, 'page');
    assert.match(j.confidence.wording, /^(low|moderate|high) probability of CAD$/);
    assert.match(j.sentence, /territor/);
    assert.match(j.bullseye.svg, /^<svg /);
    assert.equal(j.kept, false);
    assert.equal(j.links.overlay, `/api/results/${j.id}/overlay.png`);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.ok(
      !res.body.includes('Doe') && !res.body.includes('P0001'),
      'no file name or patient id in the answer',
    );
    const img = await app.inject({ method: 'GET', url: j.links.overlay });
    assert.equal(img.statusCode, 200);
    assert.equal(img.headers['content-type'], 'image/png');
    const meta = await sharp(img.rawPayload).metadata();
    assert.ok((meta.width ?? 0) > 512, `overlay figure width ${meta.width}`);
    const again = await app.inject({ method: 'GET', url: j.links.result });
    assert.equal(again.json<{ probability: number }>().probability, j.probability);
  });

  test('single maps with view field names, and a DICOM map whose patient tags are never echoed', async () => {
    const p = testPatient(1, 0);
    const png = await singleMapBytes(p, 'stress_ac');
    const res = await post(app, [['stress_ac', png, 'upload']]);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<{ source: string }>().source, 'maps');
    const raw = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const dcm = makeDicom({
      transferSyntax: TS.explicitLE,
      rows: raw.info.height,
      columns: raw.info.width,
      photometric: 'RGB',
      samplesPerPixel: 3,
      bitsAllocated: 8,
      planarConfiguration: 0,
      pixelData: new Uint8Array(raw.data),
      patientName: 'Doe^Jane',
      patientId: 'PID-998877',
    });
    const d = await post(app, [['file', dcm, 'upload']]);
    assert.equal(d.statusCode, 200, d.body);
    assert.ok(
      Math.abs(
        d.json<{ probability: number }>().probability - res.json<{ probability: number }>().probability,
      ) < 1e-6,
      'same pixels, same probability',
    );
    assert.ok(!d.body.includes('Doe') && !d.body.includes('PID-998877'));
  });

  test('each bad input gets a 4xx JSON error and the server goes on serving', async () => {
    const black = await sharp({ create: { width: 240, height: 240, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const map = await singleMapBytes(testPatient(2, 1), 'stress_ac');
    const big = Buffer.alloc(4 * 2 ** 20, 7);
    const cases: [string, () => Promise<{ statusCode: number; body: string }>, number, RegExp][] = [
      [
        'non-image',
        () => post(app, [['file', new TextEncoder().encode('just text'), 'notes.txt']]),
        400,
        /file 1: is not a JPEG, PNG or DICOM file/,
      ],
      [
        'truncated',
        () => post(app, [['file', page.subarray(0, page.length >> 1), 'x.png']]),
        400,
        /file 1: PNG file is truncated/,
      ],
      ['no disc', () => post(app, [['file', black, 'x.png']]), 400, /file 1: no polar-map disc found/],
      [
        'too many files',
        () =>
          post(
            app,
            Array.from({ length: 5 }, (_, i) => ['file', map, `m${i}.png`] as [string, Uint8Array, string]),
          ),
        400,
        /too many files/,
      ],
      ['too large', () => post(app, [['file', big, 'big.png']]), 413, /larger than the upload limit/],
      ['no file', () => post(app, [], { keep: '1' }), 400, /no image/],
      [
        'not multipart',
        async () =>
          app.inject({ method: 'POST', url: '/api/predict', payload: { a: 1 }, headers: await csrf(app) }),
        415,
        /multipart/,
      ],
      [
        'multipart without its closing boundary',
        async () =>
          app.inject({
            method: 'POST',
            url: '/api/predict',
            payload: `--XX\r\nContent-Disposition: form-data; name="stress_ac"; filename="a.png"\r\n\r\n${'x'.repeat(64)}`,
            headers: { 'content-type': 'multipart/form-data; boundary=XX', ...(await csrf(app)) },
          }),
        400,
        /malformed multipart\/form-data body/,
      ],
      [
        'multipart without a boundary parameter',
        async () =>
          app.inject({
            method: 'POST',
            url: '/api/predict',
            payload: '--XX\r\n\r\n--XX--\r\n',
            headers: { 'content-type': 'multipart/form-data', ...(await csrf(app)) },
          }),
        400,
        /malformed multipart\/form-data body/,
      ],
      ['unknown route', () => app.inject({ method: 'GET', url: '/api/nothing' }), 404, /not found/],
      [
        'unknown result',
        () =>
          app.inject({ method: 'GET', url: '/api/results/00000000-0000-0000-0000-000000000000/overlay.png' }),
        404,
        /no such result/,
      ],
    ];
    for (const [what, call, status, re] of cases) {
      const r = await call();
      assert.equal(r.statusCode, status, `${what}: ${r.body}`);
      const j = JSON.parse(r.body) as { error: string };
      assert.match(j.error, re, what);
      assert.ok(
        !r.body.includes('notes.txt') && !r.body.includes('big.png'),
        `${what}: the file name is not echoed`,
      );
    }
    const ok = await post(app, [['file', page, 'page.png']]);
    assert.equal(ok.statusCode, 200, 'still serving');
  });

  test('a full queue answers 503 with Retry-After; the others are served', async () => {
    const small = await server({ concurrency: 1, queue: 1, logLevel: 'silent' });
    try {
      const map = await singleMapBytes(testPatient(3, 1), 'stress_ac');
      const rs = await Promise.all(
        Array.from({ length: 4 }, () => post(small, [['stress_ac', map, 'upload']])),
      );
      const codes = rs.map((r) => r.statusCode).sort();
      assert.ok(codes.includes(503) && codes.includes(200), `codes ${codes}`);
      const busy = rs.find((r) => r.statusCode === 503)!;
      assert.equal(busy.headers['retry-after'], '2');
      assert.match(busy.json<{ error: string }>().error, /busy/);
    } finally {
      await small.close();
    }
  });

  test('a prediction over the time limit answers 503 and the server goes on', async () => {
    const slow = await server({ predictTimeoutMs: 1, logLevel: 'silent' });
    try {
      const map = await singleMapBytes(testPatient(5, 1), 'stress_ac');
      const r = await post(slow, [['stress_ac', map, 'upload']]);
      assert.equal(r.statusCode, 503, r.body);
      assert.match(r.json<{ error: string }>().error, /took longer than/);
      assert.equal((await slow.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await slow.close();
    }
  });

  test('results expire unless kept; keep=1 keeps them; DELETE forgets them', async () => {
    const short = await server({ resultTtlMs: 150, logLevel: 'silent' });
    try {
      const map = await singleMapBytes(testPatient(4, 0), 'stress_ac');
      const a = (await post(short, [['stress_ac', map, 'upload']])).json<{ id: string }>();
      const b = (await post(short, [['stress_ac', map, 'upload']], { keep: '1' })).json<{
        id: string;
        kept: boolean;
      }>();
      assert.equal(b.kept, true);
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(
        (await short.inject({ method: 'GET', url: `/api/results/${a.id}` })).statusCode,
        404,
        'expired',
      );
      assert.equal(
        (await short.inject({ method: 'GET', url: `/api/results/${b.id}/original.png` })).statusCode,
        200,
        'kept',
      );
      assert.equal(
        (await short.inject({ method: 'DELETE', url: `/api/results/${b.id}`, headers: await csrf(short) }))
          .statusCode,
        200,
      );
      assert.equal(
        (await short.inject({ method: 'GET', url: `/api/results/${b.id}` })).statusCode,
        404,
        'deleted',
      );
    } finally {
      await short.close();
    }
  });
});

describe('page, model card, health', () => {
  test('GET / serves the page with a strict CSP; the script and style load from the server only', async () => {
    const r = await app.inject({ method: 'GET', url: '/' });
    assert.equal(r.statusCode, 200);
    assert.match(r.headers['content-type'] as string, /text\/html/);
    assert.match(r.headers['content-security-policy'] as string, /default-src 'self'/);
    assert.ok(
      !/https?:\/\//.test(r.body.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')),
      'no external URL in the page',
    );
    for (const f of ['app.js', 'style.css']) {
      const s = await app.inject({ method: 'GET', url: `/static/${f}` });
      assert.equal(s.statusCode, 200, f);
      assert.ok(!/https?:\/\/(?!www\.w3\.org)/.test(s.body), `${f}: no external URL`);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/static/..%2Fserver.ts' })).statusCode, 404);
  });
  test('the explanation sentence is printed once on the page: visually only in the overlay caption', async () => {
    const js = (await app.inject({ method: 'GET', url: '/static/app.js' })).body;
    const css = (await app.inject({ method: 'GET', url: '/static/style.css' })).body;
    // the paragraph is filled (screen readers) but visually hidden while the captioned overlay is shown
    assert.match(js, /sentence\.classList\.toggle\('visually-hidden', Boolean\(study\.overlayBlob\)\)/);
    assert.match(css, /\.visually-hidden \{[^}]*clip: rect\(0 0 0 0\)[^}]*\}/);
    // the downloaded report writes the sentence only when it has no overlay figure carrying it
    assert.match(js, /study\.overlayBlob \? y \+ 16 : wrapText\(ctx, r\.sentence/);
    assert.equal(js.match(/r\.sentence/g)?.length, 2);
  });
  test('GET /api/model: the model card with intended use and limits; GET /healthz', async () => {
    const c = (await app.inject({ method: 'GET', url: '/api/model' })).json<{
      backbone: string;
      intendedUse: string;
      limits: { maxFiles: number };
      trainingData: { train: number };
    }>();
    assert.equal(c.backbone, 'MobileNetV2');
    assert.match(c.intendedUse, /second reader/);
    assert.equal(c.limits.maxFiles, 4);
    assert.equal(c.trainingData.train, 3);
    const h = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(h.json<{ status: string }>().status, 'ok');
  });
});

describe('privacy of the logs', () => {
  test('log lines hold route patterns, status, sizes and timings; no file name, patient id or result id', async () => {
    const text = logs.join('');
    assert.ok(text.length > 0, 'something was logged');
    for (const secret of [
      'P0001',
      'Doe',
      'John',
      'Jane',
      'PID-998877',
      'notes.txt',
      'big.png',
      'page.png',
      'upload',
      '/api/results/0000',
    ]) {
      assert.ok(!text.includes(secret), `the logs contain "${secret}"`);
    }
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const req = lines.filter((l) => l['msg'] === 'request');
    assert.ok(req.length >= 10);
    for (const l of req) {
      assert.equal(typeof l['ms'], 'number');
      assert.equal(typeof l['bytesIn'], 'number');
      assert.ok(
        [
          '/api/predict',
          '/api/results/:id',
          '/api/results/:id/overlay.png',
          '/api/results/:id/original.png',
          '/api/model',
          '/api/session',
          '/healthz',
          '/',
          '/static/:file',
          'unmatched',
        ].includes(l['route'] as string),
        String(l['route']),
      );
    }
  });
});
