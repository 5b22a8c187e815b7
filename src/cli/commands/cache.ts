/**
 * `polarcad cache info|clear [--older-than DAYS] [--dir DIR]`: the on-disk feature cache
 * (library: src/engine/cache.ts). It holds features of patients' images: private to the user
 * (0700 / 0600), kept until cleared.
 */
import type { Command } from 'commander';
import { cacheInfo, clearCache, defaultCacheDir } from '../../engine/cache.js';
import { InputError } from '../../util/errors.js';

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
const age = (t: number | null): string =>
  t === null ? '-' : `${((Date.now() - t) / 86_400_000).toFixed(1)} days`;

export function registerCache(program: Command): void {
  const cache = program
    .command('cache')
    .description(
      "the feature cache of patients' images (default ~/.cache/polarcad/features): size, age, clear",
    );
  cache
    .command('info')
    .description('folder, entries, size, oldest and newest entry, permissions')
    .option('--dir <dir>', 'cache folder (default: $POLARCAD_CACHE_DIR, else ~/.cache/polarcad/features)')
    .action(async (o: { dir?: string }) => {
      const i = await cacheInfo(o.dir ?? defaultCacheDir());
      const mode =
        i.mode === null
          ? 'absent'
          : `0${i.mode.toString(8)}${(i.mode & 0o077) !== 0 ? ' (readable by others: run a command that writes the cache, or chmod 700)' : ''}`;
      process.stdout.write(
        `folder  ${i.dir}\nmode    ${mode}\nentries ${i.files}\nsize    ${mib(i.bytes)}\noldest  ${age(i.oldest)}\nnewest  ${age(i.newest)}\n`,
      );
    });
  cache
    .command('clear')
    .description('remove the cached features (all, or those older than DAYS)')
    .option('--older-than <days>', 'only entries last written more than DAYS days ago')
    .option('--dir <dir>', 'cache folder (default: $POLARCAD_CACHE_DIR, else ~/.cache/polarcad/features)')
    .action(async (o: { olderThan?: string; dir?: string }) => {
      const days = o.olderThan === undefined ? undefined : Number(o.olderThan);
      if (days !== undefined && (o.olderThan?.trim() === '' || !(days >= 0)))
        throw new InputError(`--older-than must be a number of days >= 0, got "${o.olderThan}"`);
      const dir = o.dir ?? defaultCacheDir();
      const r = await clearCache(dir, days);
      process.stdout.write(`removed ${r.files} entries (${mib(r.bytes)}) from ${dir}\n`);
    });
}
