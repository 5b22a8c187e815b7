/** `polarcad models [--json]`: the backbone table and where weights are available on this machine. */
import type { Command } from 'commander';
import { backboneCatalogue, formatCatalogue } from '../../models/weights/catalogue.js';

export function registerModels(program: Command): void {
  program
    .command('models')
    .description(
      'list the backbones (Hai et al. 2022, Table 2) and whether weights are available here, and from where',
    )
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }) => {
      const catalogue = await backboneCatalogue();
      process.stdout.write(
        opts.json ? `${JSON.stringify(catalogue, null, 2)}\n` : formatCatalogue(catalogue),
      );
    });
}
