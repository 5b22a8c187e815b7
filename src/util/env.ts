/**
 * The environment polarcad reads, in one place (as transformers.js keeps its `env`): every
 * variable, what it sets and its default. Read when called, so tests and long-lived servers see
 * changes.
 *
 * | variable             | sets                                   | default                         |
 * | -------------------- | -------------------------------------- | ------------------------------- |
 * | `POLARCAD_CACHE_DIR` | the feature cache folder (used as is)  | `$XDG_CACHE_HOME/polarcad/features` |
 * | `XDG_CACHE_HOME`     | the base of the cache folder           | `~/.cache`                      |
 * | `KERAS_HOME`         | where Keras weight files are looked up | `~/.keras`                      |
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

const nonEmpty = (v: string | undefined): string | undefined => (v !== undefined && v !== '' ? v : undefined);

/** The feature cache folder (`POLARCAD_CACHE_DIR`, else `$XDG_CACHE_HOME/polarcad/features`, else `~/.cache/polarcad/features`). */
export function featureCacheDir(): string {
  return (
    nonEmpty(process.env['POLARCAD_CACHE_DIR']) ??
    join(nonEmpty(process.env['XDG_CACHE_HOME']) ?? join(homedir(), '.cache'), 'polarcad', 'features')
  );
}

/** Keras' home folder (`KERAS_HOME`, else `~/.keras`). */
export function kerasHome(): string {
  return process.env['KERAS_HOME'] ?? join(homedir(), '.keras');
}
