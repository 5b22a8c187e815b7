/**
 * Atomic outputs: a file or folder is written under a temporary sibling
 * `.NAME.<pid>.<hex>.tmp` and renamed into place only when complete, so a reader never sees a
 * half-written output and a failure leaves none.
 *
 * Temporaries never outlive their process: those of this process are removed on failure and on
 * SIGINT / SIGTERM when the command does not handle the signal (then the signal takes its default
 * course; a command that does, through `onStopSignals`, finishes or fails on its ordinary path), and
 * those a killed process left behind (its pid no longer runs) are removed by the next write
 * beside them. A previous output moved aside (`.tmp.old`) by a process killed before it renamed
 * the new one into place is put back, never deleted, when nothing took its place.
 */
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkOutputDir, writeError, writeOutputMarker, type OutputKind } from './output.js';

const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onSignal(signal: NodeJS.Signals): void {
  // the command handles the signal (util/signals.ts): it stops at a safe point and its outputs in
  // flight are renamed or removed on the ordinary path, so they are left alone here
  if (process.listeners(signal).some((l) => l !== onSignal)) return;
  for (const p of live) rmSync(p, { recursive: true, force: true });
  live.clear();
  for (const s of SIGNALS) process.off(s, onSignal);
  // nobody else handles the signal: take its default course (exit), as without our handler
  process.kill(process.pid, signal);
}

/** Remember a temporary for removal on SIGINT/SIGTERM; returns the function that forgets it. */
function track(p: string): () => void {
  if (live.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  live.add(p);
  return () => {
    live.delete(p);
    if (live.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
  };
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Escape a string for use in a RegExp. */
const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Remove the temporaries of `target` left by processes that no longer run (see the module
 * comment); a `.tmp.old` (the previous output) is put back when `target` is missing.
 * @example await cleanStaleTemporaries('/data/prepared')
 */
export async function cleanStaleTemporaries(target: string): Promise<string[]> {
  const parent = dirname(target);
  const re = new RegExp(`^\\.${reEscape(basename(target))}\\.(\\d+)\\.[0-9a-f]+\\.tmp(\\.old)?$`);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names.sort()) {
    const m = re.exec(name);
    if (m === null || isRunning(Number(m[1]))) continue;
    const p = join(parent, name);
    if (m[2] !== undefined) {
      try {
        await rename(p, target); // fails when a newer output is in place: then the old one is stale
        continue;
      } catch {
        /* fall through: remove */
      }
    }
    await rm(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Write a file atomically: write to a temporary sibling, then rename over the target, so a
 * reader never sees a half-written file and a crash leaves no partial output. `perms.mode` is the
 * new file's mode, `perms.dirMode` that of the folders created for it (both under the umask).
 * @example await writeFileAtomic('run/metrics.json', JSON.stringify(m))
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  perms: { readonly mode?: number; readonly dirMode?: number } = {},
): Promise<void> {
  try {
    await mkdir(dirname(path), {
      recursive: true,
      ...(perms.dirMode !== undefined ? { mode: perms.dirMode } : {}),
    });
  } catch (e) {
    throw writeError(dirname(path), e);
  }
  await cleanStaleTemporaries(path);
  const tmp = temporaryName(path);
  const untrack = track(tmp);
  try {
    await writeFile(tmp, data, perms.mode !== undefined ? { mode: perms.mode } : {});
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw writeError(path, e);
  } finally {
    untrack();
  }
}

/**
 * Produce a whole output directory atomically: `build` fills a temporary sibling directory,
 * which is renamed to `dir` only when `build` succeeds. On failure nothing is left behind.
 * An existing `dir` is replaced only when it is polarcad's own `kind` output (src/util/output.ts),
 * and only after the new one is complete; the new one carries the marker of `kind`.
 * @throws InputError when `dir` is not polarcad's `kind` output, or cannot be written
 * @example await writeDirAtomic(out, 'prepare', async (tmp) => writeFile(join(tmp, 'a.csv'), text))
 */
export async function writeDirAtomic<T>(
  dir: string,
  kind: OutputKind,
  build: (tmpDir: string) => Promise<T>,
): Promise<T> {
  await checkOutputDir(dir, kind, true);
  const parent = dirname(dir);
  const tmp = temporaryName(dir);
  try {
    await mkdir(parent, { recursive: true });
    await cleanStaleTemporaries(dir);
    await mkdir(tmp, { recursive: true });
  } catch (e) {
    throw writeError(dir, e);
  }
  return buildThenSwap(tmp, build, async () => {
    try {
      await writeOutputMarker(tmp, kind);
      await swapInto(tmp, dir);
    } catch (e) {
      throw writeError(dir, e);
    }
  });
}

/**
 * `build` into the temporary folder `tmp` (tracked, so an exit removes it), then `finish` (which
 * moves it into place); on any failure `tmp` is removed and the error passed on.
 */
async function buildThenSwap<T>(
  tmp: string,
  build: (tmpDir: string) => Promise<T>,
  finish: () => Promise<void>,
): Promise<T> {
  const untrack = track(tmp);
  try {
    const result = await build(tmp);
    await finish();
    return result;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    untrack();
  }
}

/** Rename `tmp` to `dir`, moving a previous `dir` aside first and removing it after. */
async function swapInto(tmp: string, dir: string): Promise<void> {
  const old = `${tmp}.old`;
  let hadOld = false;
  try {
    await rename(dir, old);
    hadOld = true;
  } catch {
    /* no previous output */
  }
  await rename(tmp, dir);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/**
 * Write a folder that is part of an output already claimed (a report's `figures/` beside its
 * HTML): built under a temporary sibling and swapped into place only when `build` succeeds, so a
 * failure leaves the previous folder (or none), never a half-written one.
 * @example await replaceFolderAtomic(join(dir, 'figures'), async (tmp) => render(tmp))
 */
export async function replaceFolderAtomic<T>(dir: string, build: (tmpDir: string) => Promise<T>): Promise<T> {
  const tmp = temporaryName(dir);
  await mkdir(dirname(dir), { recursive: true });
  await cleanStaleTemporaries(dir);
  await mkdir(tmp, { recursive: true });
  return buildThenSwap(tmp, build, () => swapInto(tmp, dir));
}
