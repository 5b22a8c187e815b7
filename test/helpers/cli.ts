/**
 * Run `main()` with stdout/stderr captured (shared by every command test). Output is teed, not
 * swallowed: the test runner writes its own TAP stream to the same stdout while a command runs.
 */
import { main } from '../../src/cli/main.js';

/** `polarcad ARGS` through `main()`: exit code and what it wrote to stdout and stderr. */
export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  // strings are captured (and teed); the test runner's own binary reports pass through untouched
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof s === 'string') out += s;
    return (ow as (...a: unknown[]) => boolean)(s, ...rest);
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof s === 'string') err += s;
    return (ew as (...a: unknown[]) => boolean)(s, ...rest);
  }) as typeof process.stderr.write;
  try {
    return { code: await main(args), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}
