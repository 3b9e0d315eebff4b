// The shard-set format: a dataset larger than memory as a directory of shard files plus index.json.
// This file holds the layout and the index reader; shard-writer.ts writes sets, shards.ts reads them.
//
// Shard file `shard-NNNNN.bin` (all integers little-endian):
//   [0, 8)        magic "WGTSHRD1" (the digit is the format version)
//   [8, 12)       uint32 n, records in this shard
//   [12, 16)      uint32 R, bytes per record (H*W*C)
//   [16, 16+n*R)  the records, uint8 NHWC, back to back
//   zero padding to the next multiple of 4, so the labels can be viewed as an Int32Array in place
//   [L, L+4n)     n int32 labels, L = 16 + align4(n*R)
// Records and labels are separate sections so the image section is one contiguous block (a shard
// can be uploaded or normalised in one call), and labels of any class count fit.
//
// index.json:
//   { format: "webgpu-trainer/shards", version: 1, height, width, channels, recordBytes, count,
//     recordsPerShard, classNames: string[] | null, source,
//     shards: [{ file, count, bytes, sha256 }] }
// `sha256` is over bytes [16, end) of the shard (everything after the header, which is written last
// and is checked field by field instead). index.json is written last and atomically (rename), so a
// directory without it is an unfinished conversion.

import { endianness } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { DatasetFormatError } from '../errors.js';

export const SHARD_FORMAT = 'webgpu-trainer/shards';
export const SHARD_VERSION = 1;
export const SHARD_HEADER_BYTES = 16;
export const SHARD_MAGIC = 'WGTSHRD1';
export const SHARD_INDEX_FILE = 'index.json';
export const LITTLE_ENDIAN = endianness() === 'LE';

export interface ShardEntry {
  file: string;
  count: number;
  bytes: number;
  sha256: string;
}

export interface ShardIndex {
  format: typeof SHARD_FORMAT;
  version: number;
  height: number;
  width: number;
  channels: number;
  recordBytes: number;
  count: number;
  recordsPerShard: number;
  classNames: string[] | null;
  source: string;
  shards: ShardEntry[];
}

export const align4 = (n: number): number => (n + 3) & ~3;

/** Byte offset of the labels section of a shard with n records of R bytes. */
export function shardLabelsOffset(n: number, recordBytes: number): number {
  return SHARD_HEADER_BYTES + align4(n * recordBytes);
}

/** Total file size of a shard with n records of R bytes. */
export function shardFileBytes(n: number, recordBytes: number): number {
  return shardLabelsOffset(n, recordBytes) + 4 * n;
}

export function shardFileName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}.bin`;
}

/** Throws the DatasetFormatError every reader check ends in. */
export function fail(message: string, file: string, record?: number): never {
  throw new DatasetFormatError(message, file, record);
}

/** Parses and checks index.json (hostile input: every field is checked). */
export async function readShardIndex(dir: string): Promise<ShardIndex> {
  const file = join(dir, SHARD_INDEX_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DatasetFormatError(
      `cannot read ${file} (${(e as Error).message}); is ${dir} a shard set written by writeShards, and did the conversion finish?`,
      file,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(`${file} is not valid JSON: ${(e as Error).message}`, file);
  }
  const v = raw as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || v.format !== SHARD_FORMAT) {
    fail(`${file} is not a shard index (format must be "${SHARD_FORMAT}")`, file);
  }
  if (v.version !== SHARD_VERSION) {
    fail(
      `${file} has shard format version ${String(v.version)}; this reader understands version ${SHARD_VERSION}`,
      file,
    );
  }
  const posInt = (k: string, min = 1): number => {
    const x = v[k];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min)
      fail(`${file}: "${k}" must be an integer >= ${min}`, file);
    return x;
  };
  const height = posInt('height');
  const width = posInt('width');
  const channels = posInt('channels');
  const recordBytes = posInt('recordBytes');
  const count = posInt('count', 0);
  const recordsPerShard = posInt('recordsPerShard');
  if (recordBytes !== height * width * channels) {
    fail(
      `${file}: recordBytes ${recordBytes} is not height*width*channels = ${height * width * channels}`,
      file,
    );
  }
  let classNames: string[] | null = null;
  if (v.classNames !== null && v.classNames !== undefined) {
    if (!Array.isArray(v.classNames) || v.classNames.some((c) => typeof c !== 'string')) {
      fail(`${file}: "classNames" must be an array of strings or null`, file);
    }
    classNames = (v.classNames as string[]).slice();
  }
  if (!Array.isArray(v.shards)) fail(`${file}: "shards" must be an array`, file);
  const shards: ShardEntry[] = [];
  let sum = 0;
  (v.shards as unknown[]).forEach((s, i) => {
    const e = s as Record<string, unknown>;
    const name = e?.file;
    if (typeof name !== 'string' || !/^[\w.-]+$/.test(name) || name.startsWith('.')) {
      fail(
        `${file}: shard ${i} has an invalid file name ${JSON.stringify(name)} (plain names in the same folder only)`,
        file,
      );
    }
    const n = e.count;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > recordsPerShard) {
      fail(
        `${file}: shard ${name} count must be an integer in [1, ${recordsPerShard}], got ${String(n)}`,
        file,
      );
    }
    if (e.bytes !== shardFileBytes(n, recordBytes)) {
      fail(
        `${file}: shard ${name} bytes ${String(e.bytes)} does not match ${n} records of ${recordBytes} bytes`,
        file,
      );
    }
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) {
      fail(`${file}: shard ${name} needs a hex sha256`, file);
    }
    shards.push({ file: name, count: n, bytes: e.bytes, sha256: e.sha256 });
    sum += n;
  });
  if (sum !== count) fail(`${file}: shards hold ${sum} records but "count" says ${count}`, file);
  const source = typeof v.source === 'string' ? v.source : dir;
  return {
    format: SHARD_FORMAT,
    version: SHARD_VERSION,
    height,
    width,
    channels,
    recordBytes,
    count,
    recordsPerShard,
    classNames,
    source,
    shards,
  };
}
