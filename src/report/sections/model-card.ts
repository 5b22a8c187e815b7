/**
 * The model card (Mitchell et al. 2019, "Model cards for model reporting"): intended use, training
 * data, weights source (stated plainly when the embedded nsfwjs default was used), selection
 * protocol (loud warning for `--select-on test`), known limitations.
 */
import type { ReportData } from '../data.js';
import { esc } from '../escape.js';
import type { Section } from './types.js';

export function modelCardSection(data: ReportData): Section {
  const n = data.networks[0];
  const items: string[] = [];
  items.push(
    '<dt>Intended use</dt><dd>A <strong>second reader</strong> for research on SPECT myocardial perfusion polar maps: it flags maps for a physician to look at again. It is <strong>not a diagnosis</strong> and not a medical device; it must not decide care.</dd>',
  );
  if (n !== undefined) {
    const d = data.dataset;
    const cf = n.closedForm;
    const chosen =
      cf !== undefined
        ? ''
        : n.ensemble !== undefined
          ? ", each member's epochs chosen on its own fold"
          : `, epochs chosen on ${d?.split ? d.split.validation.cad + d.split.validation.normal : 0}`;
    const dataText = d
      ? `${d.patients} patients from <code>${esc(d.manifest)}</code> (${d.byClass.cad.n} CAD, ${d.byClass.normal.n} normal)${d.split ? `; trained on ${d.split.train.cad + d.split.train.normal}${chosen}, tested on ${d.split.test.cad + d.split.test.normal}` : ''}.`
      : 'not recorded in this folder.';
    items.push(
      cf !== undefined
        ? `<dt>Model</dt><dd>${esc(n.description)}. Members: ${esc(cf.members.join(', ') || cf.recipe)}; no epochs and no gradient training: each member is a ridge logistic regression fitted in closed form${cf.calibration ? `, calibrated by ${esc(cf.calibration)}` : ''}.${cf.colormap ? ` Colour map: ${esc(cf.colormap)}.` : ''}</dd>`
        : `<dt>Model</dt><dd>${esc(n.backbone ?? n.name)}${n.input ? `, input ${esc(n.input)}` : ''}: ImageNet-style backbone with a new classification head, warm-up then fine-tuning (Hai et al. 2022)${n.ensemble !== undefined ? `; a ${esc(n.ensemble)}` : ''}.</dd>`,
    );
    items.push(`<dt>Training data</dt><dd>${dataText}</dd>`);
    const w = n.weights;
    let weights: string;
    if (w === undefined) weights = 'not recorded.';
    else if (w.source === 'embedded') {
      weights = `<strong class="warn">The embedded default was used, not ImageNet weights.</strong> ${esc(w.description)}`;
    } else if (w.source === 'random')
      weights = `<strong class="warn">Random initialisation (no pre-trained weights).</strong> ${esc(w.description)}`;
    else weights = esc(w.description);
    items.push(`<dt>Weights source</dt><dd>${weights}</dd>`);
    const sel =
      n.selectOn === 'test'
        ? '<div class="alert"><strong>WARNING: the kept epochs were selected on the TEST set</strong> (<code>--select-on test</code>, the protocol of Hai et al. 2022). The test figures in this report are optimistically biased and are not an estimate of performance on new patients.</div>'
        : cf !== undefined
          ? "Stratified patient-level hold-out (80/20 by class), or a separate test manifest; no validation part is carved out: each member's penalty and the stacking were chosen by 5-fold cross-validation on the training patients only, and the baselines were fitted on the same training patients. The test part was used once, for the reported figures."
          : data.cv
            ? "Stratified k-fold cross-validation; in each fold the kept epoch of each stage was chosen on a validation part carved from the fold's training patients (nested), so no reported figure has seen its test fold."
            : 'Stratified patient-level hold-out (80/20 by class); the kept epoch of each stage was chosen on a validation part of the training patients; the test part was used once, for the reported figures.';
    items.push(`<dt>Selection protocol</dt><dd>${sel}</dd>`);
  }
  const limits = [
    'Small test sets give wide intervals: read the 95% CIs, not the point estimates.',
    'The operating threshold is fixed before testing; the probabilities are not calibrated unless the calibration section says they are.',
    'Trained and tested on one source of polar maps (one vendor, one colour map, one reconstruction); performance on other sites, vendors or protocols is unknown.',
    'Labels are per patient (CAD yes/no); the network does not localise disease, and its heatmaps show where it looked, not where the stenosis is.',
  ];
  if (data.networks.some((x) => x.weights?.source === 'embedded'))
    limits.push(
      'The embedded backbone (nsfwjs MobileNetV2) was retrained on another task and quantised to 8 bits; ImageNet weights may do better.',
    );
  if (data.notes.some((x) => /synthetic/i.test(x)))
    limits.push(
      "The patients are synthetic (polarcad's digital phantom): these figures say nothing about real patients.",
    );
  items.push(
    `<dt>Known limitations</dt><dd><ul>${limits.map((l) => `<li>${esc(l)}</li>`).join('')}</ul></dd>`,
  );
  return { id: 'model-card', title: 'Model card', html: `<dl class="card">${items.join('\n')}</dl>` };
}
