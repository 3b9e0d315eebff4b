// Reading a shard set (the format is in shard-format.ts, the writer in shard-writer.ts): open()
// checks the index against every shard's size, and each shard's header and labels are checked when
// it is read; every mismatch is a DatasetFormatError naming the file and record.

import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { ConfigError } from '../errors.js';
import { histogramNormalization, PixelHistogram, type Normalization } from './normalize.js';
import {
  fail,
  LITTLE_ENDIAN,
  readShardIndex,
  SHARD_HEADER_BYTES,
  SHARD_MAGIC,
  shardLabelsOffset,
  type ShardIndex,
} from './shard-format.js';
import type { ImageSet } from './types.js';

/** One shard in memory: views into the buffer it was read into. */
export interface ShardData {
  shard: number;
  /** Global index of the shard's first record. */
  firstRecord: number;
  count: number;
  /** count * recordBytes bytes. */
  images: Uint8Array;
  labels: Int32Array;
}

/** An opened shard set: index checked, every shard file's size checked against it. */
export class ShardSet {
  /** Global index of each shard's first record. */
  readonly firstRecord: number[];
  /** Size of the largest shard file: the buffer size readShard needs. */
  readonly maxShardBytes: number;

  private constructor(
    readonly dir: string,
    readonly index: ShardIndex,
  ) {
    this.firstRecord = [];
    let acc = 0;
    for (const s of index.shards) {
      this.firstRecord.push(acc);
      acc += s.count;
    }
    this.maxShardBytes = index.shards.reduce((m, s) => Math.max(m, s.bytes), 0);
  }

  static async open(dir: string): Promise<ShardSet> {
    const index = await readShardIndex(dir);
    const set = new ShardSet(dir, index);
    await Promise.all(
      index.shards.map(async (s, i) => {
        const path = set.shardPath(i);
        let size: number;
        try {
          size = (await stat(path)).size;
        } catch {
          fail(`shard ${path} listed in index.json is missing; re-run the conversion`, path);
        }
        if (size !== s.bytes) set.sizeMismatch(i, size);
      }),
    );
    return set;
  }

  get count(): number {
    return this.index.count;
  }

  get shardCount(): number {
    return this.index.shards.length;
  }

  get recordBytes(): number {
    return this.index.recordBytes;
  }

  shardPath(i: number): string {
    return join(this.dir, this.index.shards[i].file);
  }

  /**
   * Reads shard i into `into` (at least shards[i].bytes long; allocated when omitted) and checks
   * header, length and labels. With `verify`, also checks the sha256.
   */
  async readShard(i: number, into?: Uint8Array, verify = false): Promise<ShardData> {
    const entry = this.index.shards[i];
    if (!entry) throw new ConfigError(`shard ${i} does not exist (the set has ${this.shardCount})`);
    const path = this.shardPath(i);
    const buf = into ?? new Uint8Array(entry.bytes);
    if (buf.length < entry.bytes) {
      throw new ConfigError(
        `readShard: buffer of ${buf.length} bytes is smaller than ${path} (${entry.bytes})`,
      );
    }
    const fh = await open(path, 'r');
    let got = 0;
    try {
      while (got < entry.bytes) {
        const { bytesRead } = await fh.read(buf, got, entry.bytes - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } finally {
      await fh.close();
    }
    if (got !== entry.bytes) this.sizeMismatch(i, got);
    return this.parseShard(i, buf.subarray(0, entry.bytes), verify);
  }

  /** Checks every shard's sha256, streaming (one 1 MiB buffer). */
  async verify(): Promise<void> {
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < this.shardCount; i++) {
      const entry = this.index.shards[i];
      const path = this.shardPath(i);
      const hash = createHash('sha256');
      const fh = await open(path, 'r');
      try {
        let pos = SHARD_HEADER_BYTES;
        while (pos < entry.bytes) {
          const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, entry.bytes - pos), pos);
          if (bytesRead === 0) this.sizeMismatch(i, pos);
          hash.update(chunk.subarray(0, bytesRead));
          pos += bytesRead;
        }
      } finally {
        await fh.close();
      }
      if (hash.digest('hex') !== entry.sha256) {
        fail(
          `shard ${path} does not match its sha256 in index.json: the file is corrupt; re-run the conversion`,
          path,
        );
      }
    }
  }

  /**
   * Loads the whole set into memory (for sets that fit). Each shard's records are read straight
   * into their place in the set (no second copy); its header and labels are checked as readShard
   * checks them.
   */
  async toImageSet(): Promise<ImageSet> {
    const R = this.recordBytes;
    const images = new Uint8Array(this.count * R);
    const labels = new Int32Array(this.count);
    const load = async (i: number): Promise<void> => {
      const n = this.index.shards[i].count;
      const first = this.firstRecord[i];
      const lo = shardLabelsOffset(n, R);
      const head = new Uint8Array(SHARD_HEADER_BYTES);
      const tail = new Uint8Array(4 * n);
      const path = this.shardPath(i);
      const fh = await open(path, 'r');
      try {
        const parts: [Uint8Array, number][] = [
          [head, 0],
          [images.subarray(first * R, (first + n) * R), SHARD_HEADER_BYTES],
          [tail, lo],
        ];
        for (const [into, at] of parts) {
          let got = 0;
          while (got < into.length) {
            const { bytesRead } = await fh.read(into, got, into.length - got, at + got);
            if (bytesRead === 0) this.sizeMismatch(i, at + got);
            got += bytesRead;
          }
        }
      } finally {
        await fh.close();
      }
      this.checkHeader(i, head);
      labels.set(this.parseLabels(i, tail, 0), first);
    };
    // Four shards at a time: reads from the page cache are memory copies, which more than one
    // core (libuv's pool threads) makes faster than one read after another.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.shardCount) await load(next++);
    };
    await Promise.all(Array.from({ length: Math.min(4, this.shardCount) }, worker));
    const { height, width, channels, classNames, source } = this.index;
    return {
      images,
      labels,
      count: this.count,
      height,
      width,
      channels,
      classNames: classNames ?? undefined,
      source,
    };
  }

  /**
   * The standardisation of the first `count` records (default all), one shard in memory at a time:
   * the same numbers computeNormalization (normalize.ts) gives for the records in memory.
   */
  async computeNormalization(count = this.count): Promise<Normalization> {
    return histogramNormalization(await this.pixelHistogram(count));
  }

  /** The pixel histogram of the first `count` records (default all), one shard in memory at a time. */
  async pixelHistogram(count = this.count): Promise<PixelHistogram> {
    const h = new PixelHistogram(this.index.channels);
    const buf = new Uint8Array(this.maxShardBytes);
    for (let i = 0; i < this.shardCount && this.firstRecord[i] < count; i++) {
      const images = (await this.readShard(i, buf)).images;
      const n = Math.min(this.index.shards[i].count, count - this.firstRecord[i]);
      h.add(images.subarray(0, n * this.recordBytes));
    }
    return h;
  }

  /** Validates a shard's bytes (already read) and returns views into them. */
  parseShard(i: number, bytes: Uint8Array, verify = false): ShardData {
    const entry = this.index.shards[i];
    const path = this.shardPath(i);
    const R = this.recordBytes;
    const n = entry.count;
    this.checkHeader(i, bytes);
    if (verify) {
      const digest = createHash('sha256').update(bytes.subarray(SHARD_HEADER_BYTES)).digest('hex');
      if (digest !== entry.sha256) {
        fail(
          `shard ${path} does not match its sha256 in index.json: the file is corrupt; re-run the conversion`,
          path,
        );
      }
    }
    return {
      shard: i,
      firstRecord: this.firstRecord[i],
      count: n,
      images: bytes.subarray(SHARD_HEADER_BYTES, SHARD_HEADER_BYTES + n * R),
      labels: this.parseLabels(i, bytes, shardLabelsOffset(n, R)),
    };
  }

  /** Checks shard i's magic and its header's record count and size against index.json. */
  private checkHeader(i: number, bytes: Uint8Array): void {
    const path = this.shardPath(i);
    const R = this.recordBytes;
    const n = this.index.shards[i].count;
    for (let k = 0; k < SHARD_MAGIC.length; k++) {
      if (bytes[k] !== SHARD_MAGIC.charCodeAt(k))
        fail(`${path} does not start with the shard magic "${SHARD_MAGIC}"`, path);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const hn = dv.getUint32(8, true);
    const hr = dv.getUint32(12, true);
    if (hn !== n || hr !== R) {
      fail(`${path} header says ${hn} records of ${hr} bytes, index.json says ${n} of ${R}`, path);
    }
  }

  /** Shard i's labels at byte `lo` of `bytes`, each checked against the classes of index.json. */
  private parseLabels(i: number, bytes: Uint8Array, lo: number): Int32Array {
    const path = this.shardPath(i);
    const n = this.index.shards[i].count;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const labels =
      LITTLE_ENDIAN && (bytes.byteOffset + lo) % 4 === 0
        ? new Int32Array(bytes.buffer, bytes.byteOffset + lo, n)
        : Int32Array.from({ length: n }, (_, k) => dv.getInt32(lo + 4 * k, true));
    const K = this.index.classNames?.length;
    if (K !== undefined) {
      for (let k = 0; k < n; k++) {
        if (!(labels[k] >= 0 && labels[k] < K)) {
          fail(`${path} record ${k} has label ${labels[k]}, outside the ${K} classes of index.json`, path, k);
        }
      }
    }
    return labels;
  }

  private sizeMismatch(i: number, size: number): never {
    const entry = this.index.shards[i];
    const path = this.shardPath(i);
    const R = this.recordBytes;
    const n = entry.count;
    const lo = shardLabelsOffset(n, R);
    if (size > entry.bytes) {
      fail(
        `${path} is ${size} bytes, expected ${entry.bytes} for ${n} records of ${R} bytes: it has trailing data`,
        path,
      );
    }
    if (size < SHARD_HEADER_BYTES) {
      fail(`${path} is truncated inside its header (${size} bytes); re-run the conversion`, path, 0);
    }
    if (size < SHARD_HEADER_BYTES + n * R) {
      const record = Math.floor((size - SHARD_HEADER_BYTES) / R);
      fail(
        `${path} is truncated: ${size} of ${entry.bytes} bytes; record ${record} of ${n} is incomplete ` +
          `(image section). Re-run the conversion`,
        path,
        record,
      );
    }
    const record = Math.max(0, Math.floor((size - lo) / 4));
    fail(
      `${path} is truncated: ${size} of ${entry.bytes} bytes; the label of record ${record} of ${n} is missing. Re-run the conversion`,
      path,
      record,
    );
  }
}
