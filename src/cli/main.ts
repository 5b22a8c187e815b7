/**
 * The `polarcad` command. Each sub-command lives in its own file under `commands/` and only
 * parses arguments and calls library functions; no science happens here.
 */
import { Command, CommanderError } from 'commander';
import { InputError, errorMessage } from '../util/errors.js';
import { COMMANDS } from './commands/index.js';

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('polarcad')
    .description('CAD diagnosis from SPECT MPI polar maps by transfer learning from ImageNet CNNs')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of COMMANDS) register(program);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof InputError) {
      process.stderr.write(`polarcad: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(
      `polarcad: internal error: ${errorMessage(e)}\n${e instanceof Error ? (e.stack ?? '') : ''}\n`,
    );
    return 1;
  }
}
