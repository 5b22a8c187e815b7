/**
 * The PyTorch side of the benchmarks that compare with it (engine, fulltrain): child processes of
 * `/usr/bin/python3 bench/pytorch/reference.py` (Debian's python3-torch), one measurement per
 * process, and whether torch is installed at all.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../src/util/errors.js';
import type { Side, SideResult } from './engine-lib.js';

const here = dirname(fileURLToPath(import.meta.url));
export const REFERENCE = join(here, 'pytorch', 'reference.py');
export const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const TIMEOUT_MS = 10 * 60_000;

interface Proc {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runProcess(cmd: string, args: string[], timeoutMs = TIMEOUT_MS): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut)
        reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${Math.round(timeoutMs / 1000)} s`));
      else resolve({ code, stdout, stderr });
    });
  });
}

export function tail(s: string): string {
  return s.trim().split('\n').slice(-3).join(' | ');
}

/** Whether the PyTorch side can run: null when it can, else the reason. */
export async function torchMissing(): Promise<{ reason: string | null; info?: Record<string, unknown> }> {
  try {
    const p = await runProcess(PYTHON, [REFERENCE, 'info'], 120_000);
    const line = p.stdout.trim().split('\n').at(-1) ?? '';
    const info = line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : {};
    if (p.code === 0) return { reason: null, info };
    if (info.error === 'torch-missing')
      return {
        reason: `PyTorch is not installed for ${PYTHON} (${String(info.message)}); install python3-torch python3-torchvision`,
      };
    return { reason: `${PYTHON} reference.py info exited with ${p.code}: ${tail(p.stderr)}` };
  } catch (e) {
    return { reason: `cannot run ${PYTHON}: ${errorMessage(e)}` };
  }
}

/** PyTorch side: one reference.py process. */
export async function pytorch(args: string[], missing: string | null): Promise<Side> {
  if (missing !== null) return { skipped: missing };
  try {
    const p = await runProcess(PYTHON, [REFERENCE, ...args]);
    const line = p.stdout.trim().split('\n').at(-1) ?? '';
    if (p.code !== 0 || !line.startsWith('{'))
      return { error: `reference.py exited with ${p.code}: ${tail(p.stderr)}` };
    return JSON.parse(line) as SideResult;
  } catch (e) {
    return { error: errorMessage(e) };
  }
}
