/** Small file-system helpers shared by the readers of run folders (evaluate, report). */
import { access, readFile } from 'node:fs/promises';
import { InputError, errorMessage } from './errors.js';

/** Whether `p` exists (any kind of entry) and is accessible. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Read a JSON file whose top level is an object.
 * @throws InputError naming the file when it cannot be read, is not JSON or is not an object
 */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new InputError(`${path}: cannot read (${errorMessage(e)})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${errorMessage(e)})`);
  }
}
