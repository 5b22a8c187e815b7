/**
 * SHA-256 of bytes and of files: the one hashing helper of manifests, weight files and run
 * integrity checksums.
 */
import { createHash } from 'node:crypto';
import { withInputFile } from './read-input.js';

/** SHA-256 (hex) of bytes or a string. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * SHA-256 (hex) of a file, streamed; only a regular file of at most the model-file size limit is
 * read (src/util/read-input.ts), so a path to a device or a FIFO is refused instead of hashed for
 * ever or waited on.
 * @throws InputError naming the file when it is missing, not a regular file or too large
 * @example await sha256File('run/model/weights.bin') // '9f86d0…'
 */
export async function sha256File(path: string): Promise<string> {
  return withInputFile(path, 'model', async (fh) => {
    const h = createHash('sha256');
    for await (const chunk of fh.createReadStream({ autoClose: false, start: 0 })) h.update(chunk as Buffer);
    return h.digest('hex');
  });
}
