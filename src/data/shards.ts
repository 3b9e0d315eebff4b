// Sharded on-disk dataset for data larger than memory: a directory of shard files plus index.json.
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
//
// Writing streams: memory is one write buffer plus the current shard's labels, whatever the size of
// the dataset. Reading checks the index against every shard's size on open, and each shard's header
// and labels when it is read; every mismatch is a DatasetFormatError naming the file and record.

import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';

import { ConfigError, DatasetFormatError } from '../errors.js';
import { PixelHistogram } from './pipeline-normalize.js';
import type { StandardizeNormalization } from './pipeline-normalize.js';
import type { ImageSet } from './types.js';

export const SHARD_FORMAT = 'webgpu-trainer/shards';
export const SHARD_VERSION = 1;
export const SHARD_HEADER_BYTES = 16;
const MAGIC = 'WGTSHRD1';
const INDEX_FILE = 'index.json';
const LITTLE_ENDIAN = endianness() === 'LE';

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

const align4 = (n: number): number => (n + 3) & ~3;

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
      const exists = await stat(join(dir, INDEX_FILE)).then(
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
      await rm(join(dir, INDEX_FILE), { force: true });
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
    const tmp = join(this.dir, `${INDEX_FILE}.tmp`);
    await writeFile(tmp, JSON.stringify(index, null, 1) + '\n');
    await rename(tmp, join(this.dir, INDEX_FILE));
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
    for (let i = 0; i < MAGIC.length; i++) header[i] = MAGIC.charCodeAt(i);
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

function fail(message: string, file: string, record?: number): never {
  throw new DatasetFormatError(message, file, record);
}

/** Parses and checks index.json (hostile input: every field is checked). */
export async function readShardIndex(dir: string): Promise<ShardIndex> {
  const file = join(dir, INDEX_FILE);
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

  /** Loads the whole set into memory (for sets that fit). */
  async toImageSet(): Promise<ImageSet> {
    const R = this.recordBytes;
    const images = new Uint8Array(this.count * R);
    const labels = new Int32Array(this.count);
    const buf = new Uint8Array(this.maxShardBytes);
    for (let i = 0; i < this.shardCount; i++) {
      const d = await this.readShard(i, buf);
      images.set(d.images, d.firstRecord * R);
      labels.set(d.labels, d.firstRecord);
    }
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

  /** Per-channel mean/std over every record, one shard in memory at a time. */
  async computeNormalization(): Promise<StandardizeNormalization> {
    return (await this.pixelHistogram()).toNormalization();
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
    for (let k = 0; k < MAGIC.length; k++) {
      if (bytes[k] !== MAGIC.charCodeAt(k))
        fail(`${path} does not start with the shard magic "${MAGIC}"`, path);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const hn = dv.getUint32(8, true);
    const hr = dv.getUint32(12, true);
    if (hn !== n || hr !== R) {
      fail(`${path} header says ${hn} records of ${hr} bytes, index.json says ${n} of ${R}`, path);
    }
    if (verify) {
      const digest = createHash('sha256').update(bytes.subarray(SHARD_HEADER_BYTES)).digest('hex');
      if (digest !== entry.sha256) {
        fail(
          `shard ${path} does not match its sha256 in index.json: the file is corrupt; re-run the conversion`,
          path,
        );
      }
    }
    const lo = shardLabelsOffset(n, R);
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
    return {
      shard: i,
      firstRecord: this.firstRecord[i],
      count: n,
      images: bytes.subarray(SHARD_HEADER_BYTES, SHARD_HEADER_BYTES + n * R),
      labels,
    };
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
