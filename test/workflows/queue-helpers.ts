/**
 * Helpers of the queue tests (not a test file): `polarcad` as a child process with its output
 * collected, and the jobs a worker's log says it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `polarcad ARGS` as a child process, its output collected. */
export function spawnCli(
  args: string[],
  children: ChildProcess[] = [],
): {
  proc: ChildProcess;
  output: () => string;
  waitFor: (re: RegExp, ms?: number) => Promise<void>;
  exit: Promise<number | null>;
} {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/bin.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let text = '';
  const waiters: { re: RegExp; done: () => void }[] = [];
  const onData = (b: Buffer): void => {
    text += b.toString();
    for (const w of waiters.splice(0))
      if (w.re.test(text)) w.done();
      else waiters.push(w);
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    output: () => text,
    exit,
    waitFor: (re, ms = 60_000) =>
      new Promise<void>((res, rej) => {
        if (re.test(text)) return res();
        const t = setTimeout(() => rej(new Error(`timed out waiting for ${re}; output:\n${text}`)), ms);
        waiters.push({
          re,
          done: () => {
            clearTimeout(t);
            res();
          },
        });
      }),
  };
}

/** Jobs a worker's log says it started, with how often (ids of any kind). */
export function startsPerJob(log: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of log.matchAll(/^start ([a-z-]+-[0-9a-f]{32})/gm)) m.set(x[1], (m.get(x[1]) ?? 0) + 1);
  return m;
}
