/**
 * Fixture folders for the report tests, written by the test (no committed binaries): a manifest,
 * a `polarcad train` run directory, a `polarcad score` folder and an experiment folder, in the
 * file formats of src/workflows/train.ts, src/evaluate/score-run.ts and src/workflows/experiment.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import sharp from 'sharp';
import { NO_THRESHOLD_FIGURES } from '../../src/evaluate/metrics-row.js';
import { SOP_CLASSES } from '../../src/predict/dicom-out.js';

/** 10 test patients: labels and probabilities chosen so that at t = 0.5 TP 4, FN 1, TN 4, FP 1. */
export const TEST_IDS = ['P01', 'P02', 'P03', 'P04', 'P05', 'P06', 'P07', 'P08', 'P09', 'P10'];
export const TEST_LABELS = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
export const TEST_PROBS = [0.9, 0.8, 0.7, 0.6, 0.3, 0.55, 0.4, 0.2, 0.1, 0.05];

/** A manifest of 20 patients (ids P01..P20): P01-P05 and P11-P15 CAD; sex and age set per row. */
export async function writeManifest(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const rows = ['patient_id,label,sex,age,stress_ac'];
  for (let i = 1; i <= 20; i++) {
    const id = `P${String(i).padStart(2, '0')}`;
    const cad = (i >= 1 && i <= 5) || (i >= 11 && i <= 15);
    // CAD: 6 M, 4 F, ages 60..69; normal: 3 M, 7 F, ages 50..59
    const k = cad ? (i <= 5 ? i - 1 : i - 6) : i <= 10 ? i - 6 : i - 11;
    const sex = cad ? (k < 6 ? 'M' : 'F') : k < 3 ? 'M' : 'F';
    rows.push(`${id},${cad ? 'CAD' : 'normal'},${sex},${(cad ? 60 : 50) + k},${id}/stress_ac.png`);
  }
  const path = join(dir, 'manifest.csv');
  await writeFile(path, rows.join('\n') + '\n');
  return path;
}

function predictionsCsv(probs: readonly number[] = TEST_PROBS): string {
  return (
    [
      'patient_id,label,prob,predicted,split',
      ...TEST_IDS.map((id, i) => `${id},${TEST_LABELS[i]},${probs[i]},${probs[i] >= 0.5 ? 1 : 0},test`),
    ].join('\n') + '\n'
  );
}

function historyCsv(): string {
  const rows = ['stage,epoch,loss,acc,val_loss,val_acc,lr,seconds'];
  for (let e = 1; e <= 5; e++)
    rows.push(
      `warmup,${e},${(1 / e).toFixed(3)},${(0.5 + e / 12).toFixed(3)},${(1.1 / e).toFixed(3)},${(0.5 + e / 14).toFixed(3)},0.001,0.1`,
    );
  for (let e = 1; e <= 3; e++)
    rows.push(
      `finetune,${e},${(0.2 / e).toFixed(3)},${(0.92 + e / 100).toFixed(3)},${(0.25 / e).toFixed(3)},${(0.86 + e / 100).toFixed(3)},0.00001,0.1`,
    );
  return rows.join('\n') + '\n';
}

/** A complete `polarcad train` run directory. */
export async function writeTrainRun(
  dir: string,
  manifest: string,
  opts: { selectOn?: 'validation' | 'test'; weightsDescription?: string; weightsSource?: string } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const train = ['P11', 'P12', 'P13', 'P14', 'P16', 'P17', 'P18', 'P19'];
  const config = {
    polarcad: 'train',
    status: 'complete',
    options: {},
    resolved: {
      seed: 1,
      manifest: { path: manifest, sha256: '0'.repeat(64) },
      backbone: 'MobileNetV2',
      input: 'stress_ac',
      weights: {
        backbone: 'MobileNetV2',
        source: opts.weightsSource ?? 'embedded',
        description: opts.weightsDescription ?? 'embedded default: nsfwjs MobileNetV2',
      },
      stages: [
        { name: 'warmup', epochs: 5, lr: 0.001, unfreeze: 0 },
        { name: 'finetune', epochs: 3, lr: 0.00001, unfreeze: 3 },
      ],
      selection: { on: opts.selectOn ?? 'validation', leaksTest: opts.selectOn === 'test' },
      split: { train, validation: ['P15', 'P20'], test: TEST_IDS },
    },
    stages: [
      { name: 'warmup', bestEpoch: 4, epochsRun: 5 },
      { name: 'finetune', bestEpoch: 2, epochsRun: 3 },
    ],
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await writeFile(
    join(dir, 'metrics.json'),
    JSON.stringify({ evaluatedOn: 'held-out test split', threshold: 0.5 }),
  );
  await writeFile(join(dir, 'predictions.csv'), predictionsCsv());
  await writeFile(join(dir, 'history.csv'), historyCsv());
}

/** A `polarcad score` folder with one rule row and one continuous-score row on the same 10 patients. */
export async function writeScoreDir(dir: string, manifest: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const iv = (estimate: number, lo: number, hi: number, method: 'wilson' | 'bootstrap') => ({
    estimate,
    lo,
    hi,
    level: 0.95,
    method,
  });
  const rule = {
    name: 'sss4_ac',
    description: 'SSS >= 4 (AC maps)',
    kind: 'rule',
    evaluatedOn: 'hold-out test part (20%, stratified, seed 1)',
    n: 10,
    positives: 5,
    negatives: 5,
    threshold: 0.5,
    confusion: { tp: 5, fp: 2, tn: 3, fn: 0 },
    accuracy: iv(0.8, 0.49, 0.943, 'wilson'),
    sensitivity: iv(1, 0.566, 1, 'wilson'),
    specificity: iv(0.6, 0.231, 0.882, 'wilson'),
    precision: iv(0.714, 0.359, 0.918, 'wilson'),
    f1: iv(0.833, 0.6, 1, 'bootstrap'),
    auc: iv(0.8, 0.6, 1, 'bootstrap'),
  };
  const score = {
    ...rule,
    name: 'sss_ac',
    description: 'SSS as a continuous score (AC maps)',
    kind: 'score',
    ...NO_THRESHOLD_FIGURES,
    auc: iv(0.84, 0.6, 1, 'bootstrap'),
  };
  await writeFile(
    join(dir, 'metrics.json'),
    JSON.stringify(
      {
        format: 'polarcad-metrics',
        version: 1,
        command: 'score',
        manifest: { path: manifest, sha256: '0'.repeat(64) },
        protocol: 'holdout',
        seed: 1,
        rows: [rule, score],
      },
      null,
      2,
    ),
  );
  await writeFile(join(dir, 'score.json'), JSON.stringify({ split: 'holdout' }));
  const sss = [9, 6, 5, 4, 4, 4, 5, 0, 1, 2];
  await writeFile(
    join(dir, 'scores.csv'),
    [
      'patient_id,label,sex,split,fold,sss_ac',
      ...TEST_IDS.map((id, i) => `${id},${TEST_LABELS[i] ? 'CAD' : 'normal'},M,test,,${sss[i]}`),
    ].join('\n') + '\n',
  );
}

/** An experiment folder (backbones.csv + runs/<name>/) with two rows, the second better in AUC. */
export async function writeExperimentDir(
  dir: string,
  manifest: string,
  evilName = 'B<script>alert(1)</script>',
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const runs = [
    ['A', TEST_PROBS],
    ['B', [0.9, 0.8, 0.7, 0.6, 0.45, 0.4, 0.35, 0.2, 0.1, 0.05]],
  ] as const;
  const rows = [
    'name,description,accuracy,auc,specificity,sensitivity,precision,f1,train_seconds,trainable_params,epochs,run_dir,note',
  ];
  for (const [name, probs] of runs) {
    const rd = join(dir, 'runs', name);
    await mkdir(rd, { recursive: true });
    await writeFile(
      join(rd, 'config.json'),
      JSON.stringify({
        name,
        backbone: name,
        weights: { source: 'random', description: 'random' },
        manifest,
        seed: 1,
        selectedOn: 'validation',
        split: { train: [], validation: [], test: TEST_IDS },
      }),
    );
    await writeFile(join(rd, 'stages.json'), JSON.stringify([{ name: 'warmup', bestEpoch: 3 }]));
    await writeFile(join(rd, 'predictions.csv'), predictionsCsv(probs));
    await writeFile(
      join(rd, 'history.csv'),
      historyCsv().replace(
        'stage,epoch,loss,acc,val_loss,val_acc',
        'stage,epoch,loss,accuracy,val_loss,val_accuracy',
      ),
    );
    rows.push(
      `"${name === 'B' ? evilName.replace(/"/g, '""') : name}",${name} two-stage,,,,,,,1,1,warmup:5,runs/${name},`,
    );
  }
  rows.push('C,C skipped,,,,,,,,,,,skipped: no ImageNet weights');
  await writeFile(join(dir, 'backbones.csv'), rows.join('\n') + '\n');
}

/** The study, series, instance and patient of {@link pageDicom}'s file. */
export const DICOM_INPUT = {
  study: '1.2.826.0.1.3680043.2.1125.1.123456',
  series: '1.2.826.0.1.3680043.2.1125.1.123456.2',
  instance: '1.2.826.0.1.3680043.2.1125.1.123456.2.1',
  patientId: 'PID-42',
} as const;

/** The export page as a DICOM Secondary Capture with study, series and patient attributes (dcmjs). */
export async function pageDicom(png: Uint8Array): Promise<Buffer> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const ds = {
    SOPClassUID: SOP_CLASSES.secondaryCapture,
    SOPInstanceUID: DICOM_INPUT.instance,
    StudyInstanceUID: DICOM_INPUT.study,
    SeriesInstanceUID: DICOM_INPUT.series,
    PatientID: DICOM_INPUT.patientId,
    PatientName: 'Doe^Jane',
    AccessionNumber: 'ACC7',
    Modality: 'NM',
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: info.height,
    Columns: info.width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: new Uint8Array(data).buffer,
    _vrMap: { PixelData: 'OB' },
  };
  const dict = new DicomDict(
    DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: ds.SOPClassUID,
      MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
      TransferSyntaxUID: '1.2.840.10008.1.2.1',
      ImplementationClassUID: '2.25.1',
    }),
  );
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return Buffer.from(dict.write());
}

/** Render every page (pdftoppm, 40 dpi); each page must have ink on it. Returns the page count. */
export async function renderPages(pdf: string, into: string): Promise<number> {
  const r = spawnSync('pdftoppm', ['-r', '40', '-png', pdf, join(into, 'page')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const pages = (await readdir(into)).filter((f) => /^page-\d+\.png$/.test(f));
  for (const p of pages) {
    const s = await sharp(join(into, p)).stats();
    assert.ok(s.channels[0].min < 100, `${p}: blank page`);
  }
  return pages.length;
}

/** The text of a PDF (pdftotext -layout). */
export const pdfText = (pdf: string): string => {
  const r = spawnSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};
