// Writing a shard set (the format is in shard-format.ts): records stream into shard files through
// one write buffer plus the current shard's labels, whatever the size of the dataset; index.json is
// written last and atomically (rename), so a folder without it is an unfinished conversion.

import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

import { ConfigError, DatasetFormatError } from '../errors.js';
import {
  align4,
  SHARD_FORMAT,
  SHARD_HEADER_BYTES,
  SHARD_INDEX_FILE,
  SHARD_MAGIC,
  SHARD_VERSION,
  shardFileBytes,
  shardFileName,
  type ShardEntry,
  type ShardIndex,
} from './shard-format.js';
import type { ImageSet } from './types.js';

export interface LabeledRecord {
  /** H*W*C bytes. */
  image: Uint8Array;
  label: number;
}

export interface ShardWriterOptions {
  height: number;
  width: number;
  channels: number;
  classNames?: string[];
  /** Recorded in the index for messages and model metadata. */
  source?: string;
  /** Records per shard; by default as many as fit in `shardBytes`. */
  recordsPerShard?: number;
  /** Target shard file size when recordsPerShard is not given (default 4 MiB). */
  shardBytes?: number;
  /** Replace an existing shard set in `dir` (default false: refuse). */
  overwrite?: boolean;
}

/** Streams records into shard files; call close() to write the index (nothing is valid before). */
export class ShardWriter {
  readonly recordBytes: number;
  readonly recordsPerShard: number;
  private readonly entries: ShardEntry[] = [];
  private readonly labels: Int32Array;
  // Records are staged here and written in large pieces; its size bounds the writer's memory.
  private readonly buf: Uint8Array;
  private bufUsed = 0;
  private fh: FileHandle | null = null;
  /** Next byte offset to write in the open shard (every write is positional). */
  private filePos = 0;
  private hash: Hash | null = null;
  private inShard = 0;
  private total = 0;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly opts: ShardWriterOptions,
  ) {
    const { height, width, channels } = opts;
    for (const [k, v] of Object.entries({ height, width, channels })) {
      if (!(Number.isInteger(v) && v > 0))
        throw new ConfigError(`shard ${k} must be a positive integer, got ${v}`);
    }
    this.recordBytes = height * width * channels;
    const shardBytes = opts.shardBytes ?? 4 << 20;
    const rps =
      opts.recordsPerShard ??
      Math.max(1, Math.floor((shardBytes - SHARD_HEADER_BYTES) / (this.recordBytes + 4)));
    if (!(Number.isInteger(rps) && rps > 0)) {
      throw new ConfigError(`recordsPerShard must be a positive integer, got ${rps}`);
    }
    if (shardFileBytes(rps, this.recordBytes) > 0x7fffffff) {
      throw new ConfigError(
        `a shard of ${rps} records of ${this.recordBytes} bytes exceeds 2 GiB; use fewer records per shard`,
      );
    }
    this.recordsPerShard = rps;
    this.labels = new Int32Array(rps);
    this.buf = new Uint8Array(Math.max(this.recordBytes, Math.min(1 << 20, rps * this.recordBytes)));
  }

  static async create(dir: string, opts: ShardWriterOptions): Promise<ShardWriter> {
    const w = new ShardWriter(dir, opts);
    await mkdir(dir, { recursive: true });
    if (!opts.overwrite) {
      const exists = await stat(join(dir, SHARD_INDEX_FILE)).then(
        () => true,
        () => false,
      );
      if (exists) {
        throw new ConfigError(
          `${dir} already holds a shard set (index.json); pass overwrite: true or use another folder`,
        );
      }
    } else {
      // Invalidate the old set first: while rewriting, readers must not pair the old index with new shards.
      await rm(join(dir, SHARD_INDEX_FILE), { force: true });
    }
    return w;
  }

  /** Number of records appended so far. */
  get count(): number {
    return this.total;
  }

  async append(image: Uint8Array, label: number): Promise<void> {
    if (this.closed) throw new ConfigError('ShardWriter.append after close()');
    const R = this.recordBytes;
    if (image.length !== R) {
      throw new DatasetFormatError(
        `record ${this.total} has ${image.length} bytes, expected ${this.opts.height}x${this.opts.width}x${this.opts.channels} = ${R}`,
        this.opts.source ?? this.dir,
        this.total,
      );
    }
    const K = this.opts.classNames?.length;
    if (
      !Number.isInteger(label) ||
      label < -0x80000000 ||
      label > 0x7fffffff ||
      (K !== undefined && (label < 0 || label >= K))
    ) {
      throw new DatasetFormatError(
        `record ${this.total} has label ${label}; labels must be integers${K !== undefined ? ` in [0, ${K})` : ''}`,
        this.opts.source ?? this.dir,
        this.total,
      );
    }
    if (!this.fh) await this.startShard();
    if (this.bufUsed + R > this.buf.length) await this.flush();
    this.buf.set(image, this.bufUsed);
    this.bufUsed += R;
    this.labels[this.inShard++] = label;
    this.total++;
    if (this.inShard === this.recordsPerShard) await this.finishShard();
  }

  /** Appends `labels.length` records stored back to back in `images`. */
  async appendMany(images: Uint8Array, labels: ArrayLike<number>): Promise<void> {
    const R = this.recordBytes;
    if (images.length !== labels.length * R) {
      throw new DatasetFormatError(
        `appendMany got ${images.length} image bytes for ${labels.length} labels of ${R}-byte records`,
        this.opts.source ?? this.dir,
      );
    }
    for (let i = 0; i < labels.length; i++) await this.append(images.subarray(i * R, (i + 1) * R), labels[i]);
  }

  /** Finishes the last shard and writes index.json; returns the index. */
  async close(): Promise<ShardIndex> {
    if (this.closed) throw new ConfigError('ShardWriter.close called twice');
    if (this.fh) await this.finishShard();
    this.closed = true;
    const o = this.opts;
    const index: ShardIndex = {
      format: SHARD_FORMAT,
      version: SHARD_VERSION,
      height: o.height,
      width: o.width,
      channels: o.channels,
      recordBytes: this.recordBytes,
      count: this.total,
      recordsPerShard: this.recordsPerShard,
      classNames: o.classNames ?? null,
      source: o.source ?? this.dir,
      shards: this.entries,
    };
    const tmp = join(this.dir, `${SHARD_INDEX_FILE}.tmp`);
    await writeFile(tmp, JSON.stringify(index, null, 1) + '\n');
    await rename(tmp, join(this.dir, SHARD_INDEX_FILE));
    return index;
  }

  /** Closes the open shard file without writing the index (after an error in the producer). */
  async abort(): Promise<void> {
    this.closed = true;
    await this.fh?.close();
    this.fh = null;
  }

  private async startShard(): Promise<void> {
    const file = shardFileName(this.entries.length);
    this.fh = await open(join(this.dir, file), 'w');
    this.hash = createHash('sha256');
    this.inShard = 0;
    // The header is written at finishShard, once the count is known; data starts after it.
    this.filePos = SHARD_HEADER_BYTES;
  }

  private async flush(): Promise<void> {
    if (this.bufUsed === 0 || !this.fh || !this.hash) return;
    const chunk = this.buf.subarray(0, this.bufUsed);
    this.hash.update(chunk);
    await writeAll(this.fh, chunk, this.filePos);
    this.filePos += chunk.length;
    this.bufUsed = 0;
  }

  private async finishShard(): Promise<void> {
    const fh = this.fh;
    const hash = this.hash;
    if (!fh || !hash) return;
    await this.flush();
    const n = this.inShard;
    const R = this.recordBytes;
    const padding = align4(n * R) - n * R;
    const tail = new Uint8Array(padding + 4 * n);
    const dv = new DataView(tail.buffer);
    for (let i = 0; i < n; i++) dv.setInt32(padding + 4 * i, this.labels[i], true);
    hash.update(tail);
    await writeAll(fh, tail, this.filePos);
    const header = new Uint8Array(SHARD_HEADER_BYTES);
    const hv = new DataView(header.buffer);
    for (let i = 0; i < SHARD_MAGIC.length; i++) header[i] = SHARD_MAGIC.charCodeAt(i);
    hv.setUint32(8, n, true);
    hv.setUint32(12, R, true);
    await fh.write(header, 0, SHARD_HEADER_BYTES, 0);
    await fh.close();
    this.entries.push({
      file: shardFileName(this.entries.length),
      count: n,
      bytes: shardFileBytes(n, R),
      sha256: hash.digest('hex'),
    });
    this.fh = null;
    this.hash = null;
  }
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    off += bytesWritten;
  }
}

/**
 * Converts an ImageSet, or a (possibly async) iterable of records, into a shard set in `dir`.
 * For an iterable, `opts` must give the record shape.
 */
export async function writeShards(
  dir: string,
  data: ImageSet | Iterable<LabeledRecord> | AsyncIterable<LabeledRecord>,
  opts: Partial<ShardWriterOptions> = {},
): Promise<ShardIndex> {
  if ('images' in data && data.images instanceof Uint8Array) {
    const set = data;
    const w = await ShardWriter.create(dir, {
      ...opts,
      height: set.height,
      width: set.width,
      channels: set.channels,
      classNames: opts.classNames ?? set.classNames,
      source: opts.source ?? set.source,
    });
    try {
      await w.appendMany(set.images, set.labels);
    } catch (e) {
      await w.abort();
      throw e;
    }
    return w.close();
  }
  const { height, width, channels } = opts;
  if (height === undefined || width === undefined || channels === undefined) {
    throw new ConfigError('writeShards from an iterator needs height, width and channels in the options');
  }
  const w = await ShardWriter.create(dir, { ...opts, height, width, channels });
  try {
    for await (const r of data as AsyncIterable<LabeledRecord>) await w.append(r.image, r.label);
  } catch (e) {
    await w.abort();
    throw e;
  }
  return w.close();
}
