/**
 * The prediction pipeline (src/predict): view names, grouping, confidence bands, the bull's-eye
 * geometry against `segmentAtNormalised`, and predictStudy against the full tfjs model (the split
 * ONNX backbone + eager head must give the model's own probability), calibration, the operating
 * threshold, tile models, normal-database scores and the input errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { VIEWS } from '../../src/domain/views.js';
import { prepareInput } from '../../src/engine/features.js';
import { bullseyeSvg, segmentCentre, SCORE_COLOURS } from '../../src/predict/bullseye.js';
import { confidenceOf } from '../../src/predict/confidence.js';
import { encapsulatedPdf, readBackDicom, secondaryCapture } from '../../src/predict/dicom-out.js';
import { readerResultPdf } from '../../src/report/reader-pdf.js';
import { mapsFromFiles, viewFromName } from '../../src/predict/inputs.js';
import { loadPredictor, type Predictor } from '../../src/predict/predictor.js';
import { groupImages, studyNameOf } from '../../src/workflows/predict.js';
import { predictStudy } from '../../src/predict/study.js';
import { SEGMENTS, segmentAtNormalised } from '../../src/polarmap/geometry.js';
import {
  buildNormalDatabase,
  viewAcquisition,
  type NormalSample,
} from '../../src/polarmap/normal-database.js';
import { segmentMeans } from '../../src/polarmap/read-uptake.js';
import { InputError } from '../../src/util/errors.js';
import { buildTestModel, pageBytes, singleMapBytes, testPatient, writeTestRun } from './fixtures.js';

let tmp = '';
let model: tf.LayersModel;
let runDir = '';
let predictor: Predictor;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-predict-'));
  model = await buildTestModel();
  runDir = await writeTestRun(join(tmp, 'run'), model);
  predictor = await loadPredictor(runDir, { threads: 1 });
});
after(async () => {
  await predictor?.dispose();
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('names and grouping', () => {
  test('viewFromName reads the view from field and file names', () => {
    assert.equal(viewFromName('stress_ac'), 'stress_ac');
    assert.equal(viewFromName('P001_rest_nac.png'), 'rest_nac');
    assert.equal(viewFromName('P001-Stress-AC.jpg'), 'stress_ac');
    assert.equal(viewFromName('restAC.dcm'), 'rest_ac');
    assert.equal(viewFromName('page.png'), undefined);
    assert.equal(viewFromName('stress_ac_vs_rest_ac.png'), undefined, 'two views named: ambiguous');
    assert.equal(viewFromName('distress_acid.png'), undefined, 'inside a word: not a view');
  });
  test('groupImages: maps of one patient form one study, pages stand alone', () => {
    const g = groupImages([
      '/d/P001_stress_ac.png',
      '/d/P001_rest_ac.png',
      '/d/P002_page.png',
      '/e/P003_stress_ac.png',
    ]);
    assert.deepEqual(
      g.map((s) => [s.study, s.files.length]),
      [
        ['P001', 2],
        ['P002_page', 1],
        ['P003', 1],
      ],
    );
    assert.deepEqual(
      g[0].files.map((f) => f.view),
      ['stress_ac', 'rest_ac'],
    );
    assert.equal(studyNameOf('/x/stress_ac.png'), 'stress_ac', 'nothing left: keep the base name');
  });
});

describe('confidence wording', () => {
  test('bands at 0.15 and 0.85', () => {
    assert.equal(confidenceOf(0).band, 'low');
    assert.equal(confidenceOf(0.1499).band, 'low');
    assert.equal(confidenceOf(0.15).band, 'moderate');
    assert.equal(confidenceOf(0.8499).band, 'moderate');
    assert.equal(confidenceOf(0.85).wording, 'high probability of CAD');
    assert.throws(() => confidenceOf(1.2), InputError);
    assert.throws(() => confidenceOf(Number.NaN), InputError);
  });
});

describe("bull's-eye", () => {
  test('each segment is drawn where the geometry module puts it', () => {
    for (const s of SEGMENTS) {
      const { u, v } = segmentCentre(s);
      assert.equal(segmentAtNormalised(u, v), s.id, `segment ${s.id} (${s.name})`);
    }
  });
  test('SVG: 17 segment groups, colours by score, labels by share', () => {
    const scores = [0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1];
    const svg = bullseyeSvg(scores, { kind: 'score' });
    assert.equal((svg.match(/<path /g) ?? []).length, 17);
    assert.match(
      svg,
      new RegExp(
        `data-segment="5"><title>5 basal inferolateral: score 4</title><path [^>]*fill="${SCORE_COLOURS[4]}"`,
      ),
    );
    assert.match(svg, /data-segment="17"><title>17 apex: score -<\/title><path [^>]*fill="#9e9e9e"/);
    const shares = bullseyeSvg(
      Array.from({ length: 17 }, (_, i) => (i === 3 ? 0.5 : 0.5 / 16)),
      { kind: 'share' },
    );
    assert.match(shares, /data-segment="4"><title>4 basal inferior: 50% of the heatmap/);
    assert.throws(() => bullseyeSvg([1, 2], { kind: 'score' }), InputError);
  });
});

describe('predictStudy', () => {
  test("probability = the full tfjs model's output on the same input; card and threshold from the run", async () => {
    const p = testPatient(0, 1);
    const { result, images } = await predictStudy(predictor, {
      files: [{ bytes: await pageBytes(p), name: 'page.png' }],
    });
    // independent reference: the whole model in tfjs on the same cleaned stress AC map
    const maps = await mapsFromFiles([{ bytes: await pageBytes(p), name: 'page.png' }], {
      needed: ['stress_ac'],
    });
    const x = prepareInput(maps.maps.stress_ac!, 0, 'image', 96, 'tf');
    const ref = tf.tidy(() => (model.predict(tf.tensor4d(x, [1, 96, 96, 3])) as tf.Tensor).dataSync()[1]);
    assert.ok(
      Math.abs(result.rawProbability - ref) < 1e-4,
      `ORT+head ${result.rawProbability} vs tfjs ${ref}`,
    );
    assert.equal(result.probability, result.rawProbability, 'not calibrated');
    assert.equal(result.source, 'page');
    assert.deepEqual(result.viewsUsed, ['stress_ac']);
    assert.equal(result.decision, result.probability >= 0.5 ? 'CAD' : 'normal');
    const t = result.territories;
    assert.ok(
      Math.abs(t.LAD + t.LCx + t.RCA - 1) < 1e-9 &&
        Math.abs(result.segments.reduce((a, b) => a + b, 0) - 1) < 1e-9,
    );
    assert.equal(result.scores.available, false);
    assert.match(result.scores.reason ?? '', /normal database/);
    assert.equal(result.bullseye.kind, 'share');
    const png = await images.overlayPng();
    const meta = await sharp(Buffer.from(png)).metadata();
    assert.equal(meta.format, 'png');
    assert.ok((meta.width ?? 0) > 2 * 256 && (meta.height ?? 0) > 256);
    assert.equal(predictor.card.trainingData?.train, 3);
    assert.equal(JSON.stringify(predictor.card).includes('P0001'), false, 'no patient ids in the card');
    assert.equal(JSON.stringify(predictor.card).includes('/secret/path'), false, 'no paths in the card');
    assert.match(predictor.card.intendedUse, /not a diagnosis/);
    assert.equal(predictor.card.explanation, 'Grad-CAM', 'the Hai head has a hidden layer: Grad-CAM');
  });

  test('no tensor is left behind per study', async () => {
    const bytes = await singleMapBytes(testPatient(1, 0), 'stress_ac');
    await predictStudy(predictor, { files: [{ bytes, name: 'm.png' }] });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await predictStudy(predictor, { files: [{ bytes, name: 'm.png' }] });
    assert.equal(tf.memory().numTensors, before);
  });

  test('calibration: sigmoid(logit(p) / T); decision at the run threshold', async () => {
    const dir = await writeTestRun(join(tmp, 'run-cal'), model, { temperature: 2, threshold: 0.7 });
    const cal = await loadPredictor(dir, { threads: 1 });
    try {
      const bytes = await singleMapBytes(testPatient(2, 1), 'stress_ac');
      const { result } = await predictStudy(cal, { files: [{ bytes, name: 'x.png' }] });
      const raw = result.rawProbability;
      const expected = 1 / (1 + Math.exp(-Math.log(raw / (1 - raw)) / 2));
      assert.ok(Math.abs(result.probability - expected) < 1e-5, `${result.probability} vs ${expected}`);
      assert.equal(result.calibrated, true);
      assert.equal(result.threshold, 0.7);
      assert.equal(result.decision, result.probability >= 0.7 ? 'CAD' : 'normal');
      assert.equal(cal.card.temperature, 2);
    } finally {
      await cal.dispose();
    }
  });

  test('a 2x2-tile model reads all four maps of a page and refuses a single map', async () => {
    const tileModel = await buildTestModel({ seed: 3 });
    const dir = await writeTestRun(join(tmp, 'run-tile'), tileModel, { input: 'tile2x2' });
    const tp = await loadPredictor(dir, { threads: 1 });
    try {
      const p = testPatient(3, 1);
      const { result } = await predictStudy(tp, { files: [{ bytes: await pageBytes(p), name: 'page.png' }] });
      assert.deepEqual(result.viewsUsed, [...VIEWS]);
      assert.match(result.sentence, /map \(\d+%\)\.$/, 'tile sentence names the leading map');
      await assert.rejects(
        predictStudy(tp, { files: [{ bytes: await singleMapBytes(p, 'stress_ac'), name: 'stress_ac.png' }] }),
        /needs stress_ac, rest_ac, stress_nac, rest_nac; the maps sent lack rest_ac, stress_nac, rest_nac/,
      );
    } finally {
      await tp.dispose();
    }
  });

  test("with a normal database: SSS/SRS/SDS from the page, SDS = SSS - SRS, bull's-eye by score; the scores in the PDF and the DICOM comments", async () => {
    // normal limits from 12 synthetic normal patients' noise-free-rendered AC maps
    const samples: NormalSample[] = [];
    for (let i = 0; i < 12; i++) {
      const p = testPatient(i, 0, 101);
      for (const v of ['stress_ac', 'rest_ac'] as const)
        samples.push({ ...viewAcquisition(v), segments: segmentMeans(p.maps[v]), id: `${p.id}/${v}` });
    }
    const db = buildNormalDatabase(samples, { minStudies: 10 });
    const withDb = await loadPredictor(runDir, { threads: 1, normalDb: db });
    try {
      const { result, images } = await predictStudy(withDb, {
        files: [{ bytes: await pageBytes(testPatient(4, 1)), name: 'page.png' }],
      });
      assert.equal(result.scores.available, true, result.scores.reason ?? '');
      const ac = result.scores.AC!;
      assert.equal(
        ac.sss,
        ac.stress.filter((s) => s > 0).reduce((a, b) => a + b, 0),
      );
      assert.equal(ac.sds, ac.sss - ac.srs);
      assert.equal(result.bullseye.kind, 'score');
      assert.deepEqual(result.bullseye.values, ac.stress);
      assert.equal(result.scores.colormap, 'rainbow');
      // the scores leave the tool: in the PDF and in both DICOM objects' Image Comments
      const pdf = await readerResultPdf(result, await images.overlayPng());
      assert.equal(Buffer.from(pdf.subarray(0, 5)).toString('latin1'), '%PDF-');
      const scores = `AC SSS ${ac.sss} SRS ${ac.srs} SDS ${ac.sds}`;
      for (const dcm of [
        await secondaryCapture(result, await images.overlayPng(), null),
        encapsulatedPdf(result, pdf, null),
      ])
        assert.ok(readBackDicom(dcm).comments.endsWith(scores), readBackDicom(dcm).comments);
    } finally {
      await withDb.dispose();
    }
  });

  test('bad input: each problem named', async () => {
    const p = testPatient(5, 1);
    const black = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const page = await pageBytes(p);
    const cases: [Parameters<typeof predictStudy>[1], RegExp][] = [
      [{ files: [] }, /no image/],
      [
        { files: [{ bytes: new TextEncoder().encode('hello, not an image'), name: 'notes.txt' }] },
        /notes\.txt: is not a JPEG, PNG or DICOM file/,
      ],
      [
        { files: [{ bytes: page.subarray(0, page.length >> 1), name: 'cut.png' }] },
        /cut\.png: PNG file is truncated/,
      ],
      [{ files: [{ bytes: black, name: 'black.png' }] }, /black\.png: no polar-map disc found/],
      [
        { files: Array.from({ length: 5 }, (_, i) => ({ bytes: black, name: `m${i}.png` })) },
        /too many files \(5\)/,
      ],
      [
        {
          files: [
            { bytes: page, name: 'a.png' },
            { bytes: black, name: 'b.png' },
          ],
        },
        /a\.png: found 4 polar-map discs; send an export page on its own/,
      ],
    ];
    for (const [input, re] of cases)
      await assert.rejects(
        predictStudy(predictor, input),
        (e: unknown) => e instanceof InputError && re.test(e.message),
      );
    const m = await singleMapBytes(p, 'stress_ac');
    await assert.rejects(
      predictStudy(predictor, {
        files: [
          { bytes: m, name: 'x.png' },
          { bytes: m, name: 'y.png' },
        ],
      }),
      /x\.png: cannot tell which view/,
    );
    await assert.rejects(
      predictStudy(predictor, {
        files: [
          { bytes: m, name: 's_stress_ac.png' },
          { bytes: m, name: 't_stress_ac.png' },
        ],
      }),
      /a second Stress AC map/,
    );
  });
});
