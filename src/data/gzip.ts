// Gzip detection and bounded decompression, shared by the IDX and CIFAR readers.
// pako rather than node:zlib so the same code runs in the browser. The output is capped because
// a few kilobytes of deflate can expand to gigabytes (a "decompression bomb"): we stop as soon as
// the running total passes the cap instead of trusting the gzip trailer's ISIZE, which is
// attacker-controlled and only stores the size modulo 2^32.
import { Inflate } from 'pako';
import { DatasetFormatError } from '../errors.js';

/** 1 GiB: above MNIST (47 MB), Fashion-MNIST and CIFAR-10 (~180 MB) with a wide margin. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 1 << 30;

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Deflate cannot beat ~1032:1, so this bounds the output a given input could honestly produce. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * Returns the bytes unchanged when they are not gzip, else the decompressed payload.
 * Throws DatasetFormatError naming `name` on a corrupt stream or when the output would pass
 * `maxBytes`.
 */
export function gunzipIfNeeded(
  bytes: Uint8Array,
  name: string,
  maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  const cap = Math.min(maxBytes, bytes.length * MAX_DEFLATE_RATIO + 1024);
  const chunks: Uint8Array[] = [];
  let total = 0;
  let overflow = false;
  const inflator = new Inflate();
  inflator.onData = (chunk: Uint8Array): void => {
    total += chunk.length;
    if (total > cap) {
      overflow = true;
      // Throwing out of onData aborts pako's inner loop at once; caught below.
      throw new DatasetFormatError(bomb(name, cap), name);
    }
    chunks.push(chunk);
  };
  // Feed the input in slices so a bomb is stopped after at most one slice's worth of output.
  const slice = 1 << 16;
  try {
    for (let off = 0; off < bytes.length && !inflator.ended; off += slice) {
      const last = off + slice >= bytes.length;
      inflator.push(bytes.subarray(off, Math.min(off + slice, bytes.length)), last);
      if (inflator.err !== 0) break;
    }
  } catch (e) {
    if (e instanceof DatasetFormatError) throw e;
    throw new DatasetFormatError(`${name}: corrupt gzip stream (${String(e)}); re-download the file`, name);
  }
  if (overflow) throw new DatasetFormatError(bomb(name, cap), name);
  if (inflator.err !== 0) {
    throw new DatasetFormatError(
      `${name}: corrupt gzip stream (${inflator.msg || `zlib error ${inflator.err}`}); re-download the file`,
      name,
    );
  }
  if (!inflator.ended) {
    throw new DatasetFormatError(`${name}: gzip stream is truncated; re-download the file`, name);
  }
  return concat(chunks, total);
}

function bomb(name: string, cap: number): string {
  return `${name}: decompressed size exceeds ${cap} bytes (corrupt file or decompression bomb); raise maxDecompressedBytes if the file is genuine`;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
