/**
 * Issue 13, "results that leave the tool", through a real `polarcad serve` server on a loopback
 * port: a result downloads as the second-reader PDF (its first page rendered by pdftoppm, its text
 * the JSON's numbers) and as two DICOM objects (Secondary Capture of the overlay, Encapsulated PDF
 * of the result), read back with dcmjs and checked by dciodvfy (dicom3tools) when installed. A
 * DICOM upload's objects join its study and reference its instance, while its patient and UIDs
 * appear in no JSON answer and no log line. Downloads carry the server's security headers; a
 * malformed, unknown or deleted result id is a JSON 404.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { readBackDicom, SOP_CLASSES } from '../../src/predict/dicom-out.js';
import { loadPredictor, type Predictor } from '../../src/predict/predictor.js';
import { buildServer } from '../../src/serve/server.js';
import { buildTestModel, pageBytes, testPatient, writeTestRun } from '../predict/fixtures.js';
import { DICOM_INPUT, pageDicom, pdfText } from '../report/fixtures.js';

const has = (tool: string): boolean => existsSync(`/usr/bin/${tool}`);

let tmp = '';
let model: tf.LayersModel;
let predictor: Predictor;
let app: FastifyInstance;
let base = '';
let csrf = '';
const logs: string[] = [];
let pagePng: Uint8Array;

interface Answer {
  id: string;
  probability: number;
  decision: string;
  threshold: number;
  links: Record<string, string>;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-serve-dl-'));
  model = await buildTestModel();
  predictor = await loadPredictor(await writeTestRun(join(tmp, 'run'), model), { threads: 1 });
  app = await buildServer(predictor, {
    logStream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString('utf8'));
        cb();
      },
    }),
  });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  csrf = ((await (await fetch(`${base}/api/session`)).json()) as { csrf: string }).csrf;
  pagePng = await pageBytes(testPatient(0, 1));
});
after(async () => {
  await app?.close();
  await predictor?.dispose();
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** POST one file as the page does; the answer's JSON and raw text. */
async function predict(bytes: Uint8Array, keep = false): Promise<{ json: Answer; text: string }> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), 'upload');
  if (keep) form.append('keep', '1');
  const res = await fetch(`${base}/api/predict`, {
    method: 'POST',
    body: form,
    headers: { 'x-polarcad-csrf': csrf },
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return { json: JSON.parse(text) as Answer, text };
}

async function download(path: string): Promise<{ res: Response; bytes: Buffer }> {
  const res = await fetch(`${base}${path}`);
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** The security headers every answer of the server carries (helmet, src/serve/server.ts). */
function assertSecureDownload(res: Response, type: string): void {
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), type);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="polarcad-[a-z.-]+"$/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
}

describe('serve: a result as PDF and DICOM', () => {
  test('report.pdf: a PDF whose first page renders with ink, and whose text is the answer', async () => {
    const { json } = await predict(pagePng);
    assert.equal(json.links.pdf, `/api/results/${json.id}/report.pdf`);
    const { res, bytes } = await download(json.links.pdf);
    assertSecureDownload(res, 'application/pdf');
    assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
    const pdf = join(tmp, 'result.pdf');
    await writeFile(pdf, bytes);
    const r = spawnSync('pdftoppm', ['-r', '50', '-f', '1', '-l', '1', '-png', pdf, join(tmp, 'p')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const png = join(tmp, 'p-1.png');
    const stats = await sharp(png).stats();
    const meta = await sharp(png).metadata();
    assert.ok((meta.width ?? 0) > 300, `page width ${meta.width}`);
    assert.ok(stats.channels[0].min < 100, 'page 1 has ink');
    assert.ok(
      stats.channels.slice(0, 3).some((c) => c.stdev > 5),
      'page 1 is not a flat colour',
    );
    const text = pdfText(pdf).replace(/\s+/g, ' ');
    assert.ok(
      text.includes(json.probability.toFixed(3)),
      `the PDF shows P(CAD) ${json.probability.toFixed(3)}`,
    );
    assert.ok(text.includes(`${json.decision} (threshold ${json.threshold})`), 'the decision');
  });

  test('overlay.dcm and report.dcm of a PNG upload: a new study, read back and valid', async (t) => {
    const { json } = await predict(pagePng);
    const sc = await download(json.links.dicomCapture);
    assertSecureDownload(sc.res, 'application/dicom');
    const doc = await download(json.links.dicomReport);
    assertSecureDownload(doc.res, 'application/dicom');
    const a = readBackDicom(sc.bytes);
    const b = readBackDicom(doc.bytes);
    assert.equal(a.sopClassUid, SOP_CLASSES.secondaryCapture);
    assert.equal(b.sopClassUid, SOP_CLASSES.encapsulatedPdf);
    assert.match(a.studyInstanceUid, /^2\.25\.\d+$/);
    assert.equal(a.sourceSopInstanceUid, undefined, 'no input instance to reference');
    // the capture's pixels are the overlay figure the page shows
    const overlay = await sharp(
      Buffer.from(await (await fetch(`${base}${json.links.overlay}`)).arrayBuffer()),
    )
      .flatten({ background: '#ffffff' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([a.rows, a.columns], [overlay.info.height, overlay.info.width]);
    assert.ok(Buffer.from(a.payload.subarray(0, overlay.data.length)).equals(overlay.data));
    // the encapsulated document is the result's PDF, byte for byte
    const pdf = (await download(json.links.pdf)).bytes;
    assert.ok(Buffer.from(b.payload.subarray(0, pdf.length)).equals(pdf));
    for (const d of [a, b])
      assert.match(d.comments, new RegExp(`P\\(CAD\\) ${json.probability.toFixed(3)}, ${json.decision}`));
    if (!has('dciodvfy')) return t.skip('dciodvfy not found: apt-get install dicom3tools');
    for (const [name, bytes] of [
      ['sc.dcm', sc.bytes],
      ['doc.dcm', doc.bytes],
    ] as const) {
      const f = join(tmp, name);
      await writeFile(f, bytes);
      const v = spawnSync('dciodvfy', [f], { encoding: 'utf8' });
      const errors = `${v.stdout}\n${v.stderr}`.split('\n').filter((l) => /^Error/.test(l));
      assert.deepEqual(errors, [], `${name}:\n${v.stderr}`);
    }
  });

  test("a DICOM upload: both objects join the input's study, reference its instance; no tag in the JSON or the log", async (t) => {
    logs.length = 0;
    const { json, text } = await predict(await pageDicom(pagePng), true);
    for (const secret of [DICOM_INPUT.patientId, DICOM_INPUT.study, DICOM_INPUT.instance, 'Doe'])
      assert.ok(!text.includes(secret), `the JSON answer holds no ${secret}`);
    const files = await Promise.all([json.links.dicomCapture, json.links.dicomReport].map(download));
    for (const { res, bytes } of files) {
      assertSecureDownload(res, 'application/dicom');
      const d = readBackDicom(bytes);
      assert.equal(d.studyInstanceUid, DICOM_INPUT.study, 'joins the input study');
      assert.notEqual(d.seriesInstanceUid, DICOM_INPUT.series, 'in a series of its own');
      assert.equal(d.patientId, DICOM_INPUT.patientId);
      assert.equal(d.sourceSopInstanceUid, DICOM_INPUT.instance, 'references the input instance');
    }
    const log = logs.join('');
    assert.ok(log.includes('/api/results/:id/report.dcm'), 'the route pattern is logged');
    for (const secret of [DICOM_INPUT.patientId, DICOM_INPUT.study, 'Doe', json.id])
      assert.ok(!log.includes(secret), `no ${secret} in the log`);
    if (!has('dcmdump')) return t.skip('dcmdump not found: apt-get install dcmtk');
    const f = join(tmp, 'in-study.dcm');
    await writeFile(f, files[1].bytes);
    const d = spawnSync('dcmdump', ['-E', f], { encoding: 'utf8' });
    assert.equal(d.status, 0, d.stderr);
    assert.ok(d.stdout.includes(DICOM_INPUT.study));
  });

  test('malformed, unknown and deleted ids: JSON 404, nothing made', async () => {
    for (const id of ['not-an-id', '..%2F..%2Fetc', '00000000-0000-4000-8000-000000000000'])
      for (const name of ['report.pdf', 'overlay.dcm', 'report.dcm']) {
        const res = await fetch(`${base}/api/results/${id}/${name}`);
        assert.equal(res.status, 404, `${id}/${name}`);
        assert.match(res.headers.get('content-type') ?? '', /application\/json/);
        assert.match(((await res.json()) as { error: string }).error, /no such result|not found/);
      }
    const { json } = await predict(pagePng);
    const del = await fetch(`${base}/api/results/${json.id}`, {
      method: 'DELETE',
      headers: { 'x-polarcad-csrf': csrf },
    });
    assert.equal(del.status, 200);
    assert.equal((await fetch(`${base}${json.links.pdf}`)).status, 404);
    assert.equal((await fetch(`${base}${json.links.dicomReport}`)).status, 404);
  });

  test('the page offers the downloads', async () => {
    const html = await (await fetch(`${base}/`)).text();
    for (const c of ['link-pdf', 'link-dicom-capture', 'link-dicom-report'])
      assert.match(html, new RegExp(`<a\\s+class="${c}"\\s+download`));
    const js = await (await fetch(`${base}/static/app.js`)).text();
    assert.match(js, /\.link-pdf', el\)\.href = r\.links\.pdf/);
  });
});
