/** Small file-system helpers shared by the readers of run folders (evaluate, report). */
import { access } from 'node:fs/promises';
import { InputError, errorMessage } from './errors.js';
import { readInputText } from './read-input.js';

/** Whether `p` exists (any kind of entry) and is accessible. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** A file's text (UTF-8). @throws InputError naming the file when it cannot be read */
export async function readTextFile(path: string): Promise<string> {
  try {
    return await readInputText(path, 'json');
  } catch (e) {
    throw new InputError(`${path}: cannot read (${errorMessage(e)})`);
  }
}

/**
 * Read a JSON file whose top level is an object.
 * @throws InputError naming the file when it cannot be read, is not JSON or is not an object
 */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  const text = await readTextFile(path);
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${errorMessage(e)})`);
  }
}
