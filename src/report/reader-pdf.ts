/**
 * One second-reader result (`polarcad predict`, src/predict/study.ts `StudyResult`) as a one- or
 * two-page PDF: the probability of CAD and the decision at the model's threshold, the confidence
 * wording, the Grad-CAM territory shares (LAD / LCx / RCA, AHA 17-segment model, Cerqueira et al.
 * 2002), the semi-quantitative scores SSS / SRS / SDS (Berman et al. 1995) when a normal database
 * was given, the warnings, and the overlay figure and bull's-eye. Written with pdf-lib
 * (src/report/pdf.ts).
 */
import type { StudyResult } from '../predict/study.js';
import { svgToPng } from './charts/render.js';
import { PdfFlow } from './pdf.js';

/**
 * The PDF of one study's result, with its overlay figure (PNG).
 * @example await writeFile('P001.pdf', await readerResultPdf(result, await images.overlayPng()))
 */
export async function readerResultPdf(r: StudyResult, overlayPng: Uint8Array): Promise<Uint8Array> {
  const flow = await PdfFlow.create(`polarcad second reader: ${r.study}`);
  flow.paragraph(
    'A research tool and a second reader, not a diagnosis: the physician reads the study and decides.',
    { size: 9, color: 'muted' },
  );
  for (const w of r.warnings) flow.paragraph(`WARNING: ${w}`, { bold: true, color: 'warn' });
  flow.heading('Result');
  flow.table(
    ['', ''],
    [
      [
        'Probability of CAD',
        `${r.probability.toFixed(3)}${r.calibrated ? ' (calibrated)' : ''}${r.calibrated ? `; model output ${r.rawProbability.toFixed(3)}` : ''}`,
      ],
      ['Decision', `${r.decision} (threshold ${r.threshold})`],
      ['Confidence', `${r.confidence.band}: ${r.confidence.wording}`],
      ['Model', `${r.model.backbone}, input ${r.model.input}`],
      ['Views read', r.viewsUsed.join(', ')],
    ],
    [0.3, 0.7],
  );
  flow.paragraph(r.sentence);
  flow.heading('Territories (share of the heatmap)');
  flow.table(
    ['LAD', 'LCx', 'RCA'],
    [[r.territories.LAD, r.territories.LCx, r.territories.RCA].map((s) => `${Math.round(100 * s)}%`)],
  );
  flow.heading('Semi-quantitative scores');
  if (!r.scores.available)
    flow.paragraph(`Not available: ${r.scores.reason ?? 'no normal database'}`, { color: 'muted' });
  else
    flow.table(
      ['correction', 'SSS', 'SRS', 'SDS'],
      [r.scores.AC, r.scores.NAC]
        .filter((s) => s !== null)
        .map((s) => [s.correction, String(s.sss), String(s.srs), String(s.sds)]),
    );
  flow.heading('Heatmap');
  await flow.image(overlayPng, 'The map the model read, the Grad-CAM overlay and its colour scale.');
  await flow.image(
    new Uint8Array(await svgToPng(r.bullseye.svg)),
    `17-segment bull's-eye, coloured by ${r.bullseye.kind === 'score' ? 'stress score' : 'heatmap share'}.`,
    200,
  );
  return flow.save();
}
