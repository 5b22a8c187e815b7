/**
 * SHA-256 of bytes and of files: the one hashing helper of manifests, weight files and run
 * integrity checksums.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** SHA-256 (hex) of bytes or a string. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * SHA-256 (hex) of a file, streamed.
 * @example await sha256File('run/model/weights.bin') // '9f86d0…'
 */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
