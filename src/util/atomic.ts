import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Write a file atomically: write to a temporary sibling, then rename over the target, so a
 * reader never sees a half-written file and a crash leaves no partial output.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Produce a whole output directory atomically: `build` fills a temporary sibling directory,
 * which is renamed to `dir` only when `build` succeeds. On failure nothing is left behind.
 * An existing `dir` is replaced only after the new one is complete.
 */
export async function writeDirAtomic<T>(dir: string, build: (tmpDir: string) => Promise<T>): Promise<T> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(dir)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(tmp, { recursive: true });
  try {
    const result = await build(tmp);
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
    return result;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
