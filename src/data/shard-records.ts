// Random access to the records of a shard set (shards.ts), for training that streams a dataset
// larger than memory in the order the seeded pipeline chooses (Node only).
//
// read(ids, images, labels) copies record ids[i] (global record number) into images[i*R, (i+1)*R)
// and its label into labels[i]. Records are read with one positioned read each (R bytes at
// 16 + local*R of their shard); labels come from each shard's label section, read once on first
// use and kept (4 bytes per record). When `images` and `labels` view a SharedArrayBuffer, the
// reads run on a worker thread that writes into them in place, so reading the next batches
// overlaps the training step on this thread (read-ahead); otherwise they run here.
// Memory: the label cache plus one open file descriptor per shard; nothing per batch.

import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError, DatasetFormatError } from '../errors.js';
import { SHARD_HEADER_BYTES, shardLabelsOffset } from './shard-format.js';
import { ShardSet } from './shards.js';

/** What the reading code needs (plain data: it crosses to the worker thread). */
export interface ShardLayout {
  paths: string[];
  counts: number[];
  firstRecord: number[];
  recordBytes: number;
  count: number;
}

/** Positioned reads of records and labels; used on the worker thread and on this one. */
export class RecordFiles {
  private readonly fds: (number | undefined)[];
  private readonly labels: (Int32Array | undefined)[];

  constructor(readonly layout: ShardLayout) {
    this.fds = layout.paths.map(() => undefined);
    this.labels = layout.paths.map(() => undefined);
  }

  /** The shard holding global record `id` (binary search over first records). */
  private shardOf(id: number): number {
    const f = this.layout.firstRecord;
    let lo = 0;
    let hi = f.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (f[mid] <= id) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private fd(s: number): number {
    let fd = this.fds[s];
    if (fd === undefined) this.fds[s] = fd = openSync(this.layout.paths[s], 'r');
    return fd;
  }

  private readExact(s: number, into: Uint8Array, position: number): void {
    let got = 0;
    while (got < into.length) {
      const n = readSync(this.fd(s), into, got, into.length - got, position + got);
      if (n === 0) {
        throw new DatasetFormatError(
          `${this.layout.paths[s]} ended at byte ${position + got}; the shard set changed since it was opened, convert it again`,
          this.layout.paths[s],
        );
      }
      got += n;
    }
  }

  private labelsOf(s: number): Int32Array {
    let l = this.labels[s];
    if (!l) {
      const n = this.layout.counts[s];
      const bytes = new Uint8Array(4 * n);
      this.readExact(s, bytes, shardLabelsOffset(n, this.layout.recordBytes));
      const view = new DataView(bytes.buffer);
      l = new Int32Array(n);
      for (let i = 0; i < n; i++) l[i] = view.getInt32(4 * i, true);
      this.labels[s] = l;
    }
    return l;
  }

  read(ids: Uint32Array, images: Uint8Array, labels: Int32Array): void {
    const R = this.layout.recordBytes;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id < this.layout.count)) {
        throw new ConfigError(`record ${id} does not exist (the shard set has ${this.layout.count})`);
      }
      const s = this.shardOf(id);
      const local = id - this.layout.firstRecord[s];
      this.readExact(s, images.subarray(i * R, (i + 1) * R), SHARD_HEADER_BYTES + local * R);
      labels[i] = this.labelsOf(s)[local];
    }
  }

  close(): void {
    for (const fd of this.fds) if (fd !== undefined) closeSync(fd);
    this.fds.fill(undefined);
  }
}

export interface ReadJob {
  id: number;
  ids: Uint32Array;
  images: Uint8Array;
  labels: Int32Array;
}

export type ReadReply = { id: number; ok: true } | { id: number; ok: false; name: string; message: string };

function startWorker(layout: ShardLayout): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts'))
    return new Worker(new URL('./shard-records-worker.js', here), { workerData: layout });
  // From TypeScript sources (tests, tsx): load the worker through tsx's loader (see decode-pool.ts).
  const cjs = createRequire(here).resolve('tsx/esm/api');
  const api = pathToFileURL(cjs.replace(/\.cjs$/, '.mjs')).href;
  const target = new URL('./shard-records-worker.ts', here).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); })`;
  return new Worker(code, { eval: true, workerData: layout });
}

/** A shard set opened for random access, with a reading thread for shared batch buffers. */
export class ShardRecordReader {
  private readonly local: RecordFiles;
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private seq = 0;

  private constructor(
    readonly set: ShardSet,
    private readonly layout: ShardLayout,
    private readonly useWorker: boolean,
  ) {
    this.local = new RecordFiles(layout);
  }

  /**
   * `worker: false` reads on the calling thread (blocking it for the read): faster when the shards
   * sit in the page cache and the cores are busy (bench/streaming.ts measures both); the default
   * worker thread overlaps reads from a real disk with the training step.
   */
  static async open(dir: string, o: { worker?: boolean } = {}): Promise<ShardRecordReader> {
    const set = await ShardSet.open(dir);
    const layout: ShardLayout = {
      paths: set.index.shards.map((_, i) => set.shardPath(i)),
      counts: set.index.shards.map((s) => s.count),
      firstRecord: set.firstRecord,
      recordBytes: set.recordBytes,
      count: set.count,
    };
    return new ShardRecordReader(set, layout, o.worker ?? true);
  }

  get count(): number {
    return this.set.count;
  }
  get recordBytes(): number {
    return this.set.recordBytes;
  }

  read(ids: Uint32Array, images: Uint8Array, labels: Int32Array): Promise<void> {
    const shared = images.buffer instanceof SharedArrayBuffer && labels.buffer instanceof SharedArrayBuffer;
    if (!shared || !this.useWorker) {
      try {
        this.local.read(ids, images, labels);
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    if (!this.worker) {
      const w = startWorker(this.layout);
      w.on('message', (r: ReadReply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        // Keep the process alive only while a read is outstanding.
        if (this.pending.size === 0) w.unref();
        if (r.ok) p.resolve();
        else {
          const err = new DatasetFormatError(r.message, this.set.dir);
          err.name = r.name;
          p.reject(err);
        }
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      w.unref();
      this.worker = w;
    }
    const id = this.seq++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.ref();
      const job: ReadJob = { id, ids, images, labels };
      this.worker!.postMessage(job);
    });
  }

  async close(): Promise<void> {
    this.local.close();
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
