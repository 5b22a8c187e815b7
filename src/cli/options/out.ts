/**
 * `--force`, the one option of the `--out` rule (src/util/output.ts) shared by every command that
 * writes an output folder.
 */
import type { Command } from 'commander';

/** Add `--force` to a command that writes a folder. @example withForce(program.command('prepare')) */
export function withForce(cmd: Command): Command {
  return cmd.option(
    '--force',
    'allow --out to be an existing empty folder (polarcad never replaces a folder it did not write)',
  );
}
