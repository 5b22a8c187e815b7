/** Training curves per stage (accuracy and loss, training and validation) of every network. */
import type { ReportData } from '../data.js';
import { esc } from '../escape.js';
import type { ReportFigures } from '../figures.js';
import { figureHtml } from './metrics.js';
import type { Section } from './types.js';

export function trainingSection(data: ReportData, figs: ReportFigures): Section {
  if (figs.training.length === 0 && data.networks[0]?.closedForm !== undefined && !data.cv)
    return {
      id: 'training',
      title: 'Training',
      html: "<p>A closed-form model is fitted in one step, without epochs: every choice (each member's penalty, the stacker) was made by 5-fold cross-validation on the training patients, never on the test patients.</p>",
    };
  if (figs.training.length === 0) {
    const why = data.cv
      ? 'cross-validation folds keep their curves in their own run folders (folds/fold-NN/)'
      : data.networks[0]?.closedForm !== undefined
        ? 'a closed-form model is fitted in one step, without epochs (its choices were made by cross-validation on the training patients)'
        : 'the folder has no training history (history.csv)';
    return {
      id: 'training',
      title: 'Training curves',
      html: `<p class="na">Not available: ${esc(why)}.</p>`,
    };
  }
  const stagesText = data.networks
    .filter((n) => n.stages && n.stages.length > 0)
    .slice(0, 1)
    .map(
      (n) =>
        `<p>${esc(n.name)}: ${(n.stages ?? []).map((s) => `${esc(s.name)} ${s.epochs} epochs at learning rate ${esc(s.lr)}, top ${s.unfreeze} backbone layers trainable`).join('; ')}.</p>`,
    );
  return {
    id: 'training',
    title: 'Training curves',
    html: [...stagesText, ...figs.training.map((f) => figureHtml(f))].join('\n'),
  };
}
