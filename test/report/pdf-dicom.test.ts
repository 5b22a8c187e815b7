/**
 * Issue 13, results that leave the tool: `report --pdf` and `predict --pdf` write PDFs whose pages
 * are rendered to images here (pdftoppm, Debian poppler-utils) and whose text carries the same
 * numbers as the HTML / CSV; `predict --dicom` writes a Secondary Capture of the overlay and an
 * Encapsulated PDF that read back (dcmjs; dcmdump and dciodvfy when installed) with the input
 * study's UIDs and patient when the input was DICOM, and a new study otherwise. Skipped parts say
 * which tool is missing (`.ci/run` installs poppler-utils, dcmtk and dicom3tools).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { PDFDocument } from 'pdf-lib';
import type * as tf from '@tensorflow/tfjs';
import { readBackDicom, SOP_CLASSES } from '../../src/predict/dicom-out.js';
import { cli } from '../helpers/cli.js';
import { buildTestModel, pageBytes, testPatient, writeTestRun } from '../predict/fixtures.js';
import {
  DICOM_INPUT as INPUT,
  pageDicom,
  pdfText,
  renderPages,
  writeManifest,
  writeTrainRun,
} from './fixtures.js';

const has = (tool: string): boolean => existsSync(`/usr/bin/${tool}`);
let tmp = '';
let runDir = '';
let model: tf.LayersModel;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-pdf-dicom-'));
  model = await buildTestModel();
  runDir = await writeTestRun(join(tmp, 'run'), model);
  const page = await pageBytes(testPatient(0, 1));
  await writeFile(join(tmp, 'P0001_page.png'), page);
  await writeFile(join(tmp, 'P0009.dcm'), await pageDicom(page));
});
after(async () => {
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('PDF', () => {
  test('report --pdf: pages render, the metrics carry the intervals of report.html', async (t) => {
    const dir = join(tmp, 'rep');
    await writeTrainRun(join(dir, 'run'), await writeManifest(join(dir, 'data')));
    const r = await cli(['report', join(dir, 'run'), '--pdf']);
    assert.equal(r.code, 0, r.err);
    const pdf = join(dir, 'run', 'report.pdf');
    assert.match(r.out, /PDF: .*report\.pdf/);
    const doc = await PDFDocument.load(await readFile(pdf));
    assert.ok(doc.getPageCount() >= 2, 'text, figures and heatmaps over several pages');
    if (!has('pdftoppm')) return t.skip('pdftoppm not found: apt-get install poppler-utils');
    const pages = join(dir, 'pages');
    await rm(pages, { recursive: true, force: true });
    await mkdir(pages);
    assert.equal(await renderPages(pdf, pages), doc.getPageCount());
    const html = await readFile(join(dir, 'run', 'report.html'), 'utf8');
    // the first figures of the metrics table (the network's accuracy and AUC), as report.html shows them
    const text = pdfText(pdf);
    assert.match(text, /Metrics/);
    const cells = [...html.matchAll(/(\d\.\d{3}) <span class="ci">\[(\d\.\d{3}), (\d\.\d{3})\]/g)].slice(
      0,
      2,
    );
    assert.equal(cells.length, 2);
    for (const c of cells) assert.ok(text.includes(`${c[1]} [${c[2]},`), `${c[0]} not in the PDF:\n${text}`);
    assert.match(text, /second reader, not a diagnosis/);
  });

  test('predict --pdf: one PDF per study with the probability and decision of the CSV, pages render', async (t) => {
    const out = join(tmp, 'pred-pdf');
    const r = await cli([
      'predict',
      runDir,
      join(tmp, 'P0001_page.png'),
      '--format',
      'csv',
      '--out',
      out,
      '--pdf',
      '--threads',
      '1',
    ]);
    assert.equal(r.code, 0, r.err);
    const row = (parse(r.out, { columns: true }) as Record<string, string>[])[0];
    const pdf = join(out, 'P0001_page.pdf');
    const doc = await PDFDocument.load(await readFile(pdf));
    assert.ok(doc.getPageCount() >= 1);
    if (!has('pdftoppm')) return t.skip('pdftoppm not found: apt-get install poppler-utils');
    const pages = join(tmp, 'pred-pages');
    await mkdir(pages);
    assert.equal(await renderPages(pdf, pages), doc.getPageCount());
    const text = pdfText(pdf);
    assert.match(text, new RegExp(`Probability of CAD\\s+${Number(row.probability).toFixed(3)}`));
    assert.match(text, new RegExp(`Decision\\s+${row.decision} \\(threshold 0\\.5\\)`));
    assert.match(text, /LAD\s+LCx\s+RCA/);
  });

  test('--pdf without --out is refused', async () => {
    const r = await cli(['predict', runDir, join(tmp, 'P0001_page.png'), '--pdf']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--pdf writes files: give --out DIR/);
  });
});

describe('DICOM', () => {
  test('predict --dicom on a DICOM study: Secondary Capture and Encapsulated PDF in the input study, read back', async (t) => {
    const out = join(tmp, 'pred-dcm');
    const r = await cli([
      'predict',
      runDir,
      join(tmp, 'P0009.dcm'),
      '--format',
      'csv',
      '--out',
      out,
      '--dicom',
      '--pdf',
      '--threads',
      '1',
    ]);
    assert.equal(r.code, 0, r.err);
    const row = (parse(r.out, { columns: true }) as Record<string, string>[])[0];
    const sc = readBackDicom(await readFile(join(out, 'P0009.sc.dcm')));
    const doc = readBackDicom(await readFile(join(out, 'P0009.pdf.dcm')));
    for (const d of [sc, doc]) {
      assert.equal(d.studyInstanceUid, INPUT.study, 'joins the input study');
      assert.notEqual(d.seriesInstanceUid, INPUT.series, 'in a series of its own');
      assert.equal(d.patientId, INPUT.patientId);
      assert.equal(d.sourceSopInstanceUid, INPUT.instance, 'references the input instance');
      assert.match(d.sopInstanceUid, /^2\.25\.\d+$/);
      assert.match(
        d.comments,
        new RegExp(`P\\(CAD\\) ${Number(row.probability).toFixed(3)}, ${row.decision}`),
      );
      assert.match(d.comments, /territories LAD \d+% LCx \d+% RCA \d+%/);
    }
    assert.notEqual(sc.seriesInstanceUid, doc.seriesInstanceUid);
    assert.equal(sc.sopClassUid, SOP_CLASSES.secondaryCapture);
    assert.equal(doc.sopClassUid, SOP_CLASSES.encapsulatedPdf);
    // the capture's pixels are the overlay figure's
    const overlay = await sharp(join(out, 'P0009.gradcam.png'))
      .flatten({ background: '#ffffff' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([sc.rows, sc.columns], [overlay.info.height, overlay.info.width]);
    assert.ok(Buffer.from(sc.payload.subarray(0, overlay.data.length)).equals(overlay.data));
    // the encapsulated document is the result's PDF
    const pdf = await readFile(join(out, 'P0009.pdf'));
    assert.ok(Buffer.from(doc.payload.subarray(0, pdf.length)).equals(pdf));
    assert.equal(Buffer.from(doc.payload.subarray(0, 5)).toString('latin1'), '%PDF-');
    if (!has('dcmdump')) return t.skip('dcmdump not found: apt-get install dcmtk');
    for (const f of ['P0009.sc.dcm', 'P0009.pdf.dcm']) {
      const d = spawnSync('dcmdump', ['-E', join(out, f)], { encoding: 'utf8' });
      assert.equal(d.status, 0, d.stderr);
      assert.ok(d.stdout.includes(INPUT.study));
    }
    if (!has('dciodvfy')) return t.skip('dciodvfy not found: apt-get install dicom3tools');
    for (const f of ['P0009.sc.dcm', 'P0009.pdf.dcm']) {
      const v = spawnSync('dciodvfy', [join(out, f)], { encoding: 'utf8' });
      const errors = `${v.stdout}\n${v.stderr}`.split('\n').filter((l) => /^Error/.test(l));
      assert.deepEqual(errors, [], `${f}:\n${v.stderr}`);
    }
  });

  test('predict --dicom on a PNG study: a new study, the study name as patient', async () => {
    const out = join(tmp, 'pred-dcm-png');
    const r = await cli([
      'predict',
      runDir,
      join(tmp, 'P0001_page.png'),
      '--out',
      out,
      '--dicom',
      '--threads',
      '1',
    ]);
    assert.equal(r.code, 0, r.err);
    const sc = readBackDicom(await readFile(join(out, 'P0001_page.sc.dcm')));
    const doc = readBackDicom(await readFile(join(out, 'P0001_page.pdf.dcm')));
    assert.match(sc.studyInstanceUid, /^2\.25\.\d+$/);
    assert.equal(sc.patientId, 'P0001_page');
    assert.equal(sc.sourceSopInstanceUid, undefined);
    assert.ok(
      (await readdir(out)).every((f) => !f.endsWith('.pdf')),
      'no PDF file without --pdf',
    );
    assert.equal(Buffer.from(doc.payload.subarray(0, 5)).toString('latin1'), '%PDF-');
  });
});
