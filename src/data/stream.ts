// Streaming batches from a shard directory (shards.ts) with a fixed memory budget.
//
// Memory: every buffer is allocated once, in open(), and their sum (bytesHeld) never exceeds
// `memoryBudget`:
//   read pool       readAhead x largest shard file   shards being read or drained (8-byte aligned)
//   shuffle window  S x (recordBytes + 8)             records waiting to be drawn (+ label, index)
//   batch buffers   2 x batch (x, labels, indices, one-hot)        the double buffer
//   shard order     recordsPerShard x 4               in-shard permutation, reused
//   reserve         min(6 MiB, budget / 4), left unallocated for the loader's JS objects (promises,
//                   views), compiled code and heap growth, so the process's RSS grows by no more
//                   than the budget (bench/streaming.ts measures 3-4 MiB of it)
// S is whatever the budget leaves (capped at the dataset size), or `shuffleRecords` if given.
//
// Order of one epoch (all seeded from (seed, epoch), so it is reproducible and resumable):
//   1. shards are visited in a permutation of the shard list;
//   2. each shard's records are fed in a permutation of the shard;
//   3. the feed fills a window of S records; each sample is drawn uniformly from the window and its
//      slot is refilled from the feed (tf.data-style shuffle buffer). Near the end of the epoch the
//      window drains without refill, so every record is produced exactly once per epoch.
// The window spans about S / recordsPerShard shards, so batches mix records from many shards while
// shards themselves are consumed one after another — which keeps the read-ahead simple: the pool
// reads the next shards in that order (continuing into the next epoch) while the current one drains.
// Draws never depend on I/O timing, only on the seed.
//
// Double buffering: two batch buffers alternate between calls of next(). The batch returned by a call
// stays valid until the call after the next one, so a consumer can request batch n+1 (which fills the
// other buffer, e.g. while the GPU runs batch n) and keep reading batch n meanwhile:
//
//   let cur = await loader.next();
//   for (;;) {
//     const pending = loader.next();      // fills the other buffer; `cur` stays valid
//     queue.writeBuffer(xBuf, 0, cur.x);  // ... encode and submit step with cur ...
//     cur = await pending;                 // from here the old `cur` buffer may be overwritten
//   }
//
// Calls are serialised, so never hold more than two batches at once.
// Resuming at {epoch, batchIndex} (seek) replays that epoch's draws from its start without
// normalising the skipped samples; it costs reading the shards up to that point.

import { ConfigError, DataLoaderStateError } from '../errors.js';
import type { Rng } from '../rng.js';
import { batchBuffersBytes, batchesPerEpoch, resolveBatchOptions, SampleWriter } from './pipeline-batch.js';
import type {
  Batch,
  BatchBuffers,
  BatchOptions,
  BatchPosition,
  ResolvedBatchOptions,
} from './pipeline-batch.js';
import { deriveRng, SeedTag } from './pipeline-seed.js';
import { ShardSet } from './shards.js';
import type { ShardData } from './shards.js';

export type { Batch, BatchPosition } from './pipeline-batch.js';

export interface StreamOptions extends BatchOptions {
  /** Upper bound, in bytes, on the memory the loader adds to the process (see the header). */
  memoryBudget: number;
  /** Part of the budget kept free of buffers for JS overhead; default min(6 MiB, budget / 4). */
  reserveBytes?: number;
  /** Shard buffers in the read pool, including the one being drained (default 2, minimum 1). */
  readAhead?: number;
  /** Shuffle window size in records; default: as many as fit in the budget. */
  shuffleRecords?: number;
  /** Check each shard's sha256 as it is read (default false; costs CPU). */
  verifyChecksums?: boolean;
}

/** Bytes held by each part of the loader; constant for the loader's lifetime. */
export interface StreamMemory {
  readPool: number;
  shuffleWindow: number;
  batchBuffers: number;
  scratch: number;
  /** Budget deliberately left unallocated (not part of total). */
  reserve: number;
  /** Bytes actually held in buffers: readPool + shuffleWindow + batchBuffers + scratch. */
  total: number;
  budget: number;
}

interface PendingRead {
  epoch: number;
  /** Position in that epoch's shard order. */
  pos: number;
  buf: number;
  promise: Promise<ShardData>;
}

/** Reads shards, in epoch order and across epoch boundaries, into a fixed pool of buffers. */
class ShardReadAhead {
  private readonly free: number[];
  private readonly queue: PendingRead[] = [];
  private nextEpoch = 0;
  private nextPos = 0;
  /** Most buffers ever busy at once (read in flight or being drained); a test hook. */
  peakBusy = 0;

  constructor(
    private readonly set: ShardSet,
    readonly pool: Uint8Array[],
    private readonly order: (epoch: number) => Uint32Array,
    private readonly verify: boolean,
  ) {
    this.free = pool.map((_, i) => i);
  }

  /**
   * Drops every queued read (waiting for them to settle), takes back `held` buffers from the
   * consumer, and restarts at `epoch`'s first shard.
   */
  async restart(epoch: number, held: number[]): Promise<void> {
    await Promise.allSettled(this.queue.map((r) => r.promise));
    for (const r of this.queue) this.free.push(r.buf);
    this.free.push(...held);
    this.queue.length = 0;
    this.nextEpoch = epoch;
    this.nextPos = 0;
    this.pump();
  }

  /** The next shard in order; its buffer stays busy until release(). */
  async take(): Promise<{ data: ShardData; buf: number; epoch: number; pos: number }> {
    this.pump();
    const r = this.queue.shift();
    if (!r) {
      throw new DataLoaderStateError('internal: shard read queue is empty (the read pool has no buffers)');
    }
    let data: ShardData;
    try {
      data = await r.promise;
    } catch (e) {
      // Give the buffer back (without starting reads) so a retry starts from a full pool.
      this.free.push(r.buf);
      throw e;
    }
    return { data, buf: r.buf, epoch: r.epoch, pos: r.pos };
  }

  release(buf: number): void {
    this.free.push(buf);
    this.pump();
  }

  async settle(): Promise<void> {
    await Promise.allSettled(this.queue.map((r) => r.promise));
  }

  private pump(): void {
    const n = this.set.shardCount;
    while (this.free.length > 0) {
      const buf = this.free.shift()!;
      const shard = this.order(this.nextEpoch)[this.nextPos];
      const promise = this.set.readShard(shard, this.pool[buf], this.verify);
      // Errors surface when the read is taken; this only stops Node reporting them as unhandled first.
      promise.catch(() => undefined);
      this.queue.push({ epoch: this.nextEpoch, pos: this.nextPos, buf, promise });
      if (++this.nextPos === n) {
        this.nextPos = 0;
        this.nextEpoch++;
      }
      this.peakBusy = Math.max(this.peakBusy, this.pool.length - this.free.length);
    }
  }
}

export class StreamLoader {
  readonly options: ResolvedBatchOptions;
  readonly batchesPerEpoch: number;
  /** Shuffle window size in records (0 when shuffle is off). */
  readonly shuffleRecords: number;
  private readonly writer: SampleWriter;
  private readonly reader: ShardReadAhead;
  private readonly buffers: [BatchBuffers, BatchBuffers];
  private readonly R: number;
  // The read pool and the shuffle window share one arena so records move between them with
  // copyWithin (a memmove, no view allocated per record). Window slot s holds bytes
  // [winBase + s*R, winBase + (s+1)*R) of the arena, plus its label and its global index.
  private readonly arena: Uint8Array;
  private readonly winBase: number;
  private readonly winLabels: Int32Array;
  private readonly winIndex: Uint32Array;
  private fill = 0;
  private readonly localOrder: Uint32Array;
  private readonly memoryInfo: StreamMemory;
  private orderCache = { epoch: -1, order: new Uint32Array(0) as Uint32Array };

  // Epoch state.
  private epochNo = 0;
  private batchNo = 0;
  private producedInEpoch = 0;
  private shardsTaken = 0;
  private drawRng: Rng | null = null;
  private feed: { data: ShardData; buf: number; order: Uint32Array; at: number } | null = null;
  private started = false;
  private pendingSeek: BatchPosition | null = { epoch: 0, batchIndex: 0 };

  private calls = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly shards: ShardSet,
    opts: StreamOptions,
  ) {
    const idx = shards.index;
    if (shards.count === 0) throw new ConfigError(`shard set ${shards.dir} is empty`);
    const shape = { height: idx.height, width: idx.width, channels: idx.channels };
    const K = idx.classNames?.length;
    if (opts.oneHot && K === undefined && opts.numClasses === undefined) {
      throw new ConfigError(`shard set ${shards.dir} has no class names; pass numClasses to use oneHot`);
    }
    this.options = resolveBatchOptions(opts, shape, opts.numClasses ?? K ?? 1);
    const o = this.options;
    this.batchesPerEpoch = batchesPerEpoch(shards.count, o.batchSize, o.lastBatch);
    if (this.batchesPerEpoch === 0) {
      throw new ConfigError(
        `batch size ${o.batchSize} with lastBatch 'drop' gives no batches for ${shards.count} records; use a smaller batch`,
      );
    }
    const budget = opts.memoryBudget;
    if (!(Number.isFinite(budget) && budget > 0)) {
      throw new ConfigError(`memoryBudget must be a positive number of bytes, got ${budget}`);
    }
    const readAhead = opts.readAhead ?? 2;
    if (!(Number.isInteger(readAhead) && readAhead >= 1)) {
      throw new ConfigError(`readAhead must be an integer >= 1, got ${readAhead}`);
    }
    this.R = idx.recordBytes;
    this.writer = new SampleWriter(shape, o, idx.source);
    const batchBytes =
      2 * (o.batchSize * (this.writer.features * 4 + 8) + (o.oneHot ? o.batchSize * o.numClasses * 4 : 0));
    // Pool slots start on 8-byte boundaries so each shard's labels can be viewed in place.
    const poolStride = (shards.maxShardBytes + 7) & ~7;
    const readPool = readAhead * poolStride;
    const scratch = idx.recordsPerShard * 4 + (o.augment ? this.R : 0);
    const reserve = opts.reserveBytes ?? Math.min(6 << 20, Math.floor(budget / 4));
    if (!(Number.isInteger(reserve) && reserve >= 0 && reserve < budget)) {
      throw new ConfigError(`reserveBytes must be an integer in [0, memoryBudget), got ${reserve}`);
    }
    const fixed = readPool + batchBytes + scratch + reserve;
    const slotBytes = this.R + 8;
    const minWindow = o.shuffle ? Math.min(shards.count, o.batchSize) : 0;
    let S: number;
    if (!o.shuffle) S = 0;
    else if (opts.shuffleRecords !== undefined) {
      S = opts.shuffleRecords;
      if (!(Number.isInteger(S) && S >= 1))
        throw new ConfigError(`shuffleRecords must be an integer >= 1, got ${S}`);
      S = Math.min(S, shards.count);
    } else S = Math.min(shards.count, Math.floor((budget - fixed) / slotBytes));
    if (S < minWindow || fixed + S * slotBytes > budget) {
      const need = fixed + Math.max(S, minWindow) * slotBytes;
      throw new ConfigError(
        `memoryBudget ${fmt(budget)} is too small: the read pool needs ${fmt(readPool)} (${readAhead} x ${fmt(shards.maxShardBytes)} shards), ` +
          `the two batch buffers ${fmt(batchBytes)}, a reserve of ${fmt(reserve)}, and a shuffle window of at least ${Math.max(S, minWindow)} records ` +
          `${fmt(Math.max(S, minWindow) * slotBytes)}; need ${fmt(need)}. Raise the budget, lower batchSize or readAhead, ` +
          `or re-shard with fewer records per shard`,
      );
    }
    this.shuffleRecords = S;
    this.arena = new Uint8Array(readPool + S * this.R);
    this.winBase = readPool;
    this.reader = new ShardReadAhead(
      shards,
      Array.from({ length: readAhead }, (_, i) =>
        this.arena.subarray(i * poolStride, i * poolStride + shards.maxShardBytes),
      ),
      (e) => this.shardOrder(e),
      opts.verifyChecksums ?? false,
    );
    this.buffers = [this.writer.allocate(), this.writer.allocate()];
    this.winLabels = new Int32Array(S);
    this.winIndex = new Uint32Array(S);
    this.localOrder = new Uint32Array(idx.recordsPerShard);
    this.memoryInfo = {
      readPool,
      shuffleWindow: S * slotBytes,
      batchBuffers: batchBuffersBytes(this.buffers[0]) + batchBuffersBytes(this.buffers[1]),
      scratch,
      reserve,
      total: 0,
      budget,
    };
    const m = this.memoryInfo;
    m.total = m.readPool + m.shuffleWindow + m.batchBuffers + m.scratch;
  }

  /** Opens a shard directory (or an opened ShardSet) and allocates every buffer. */
  static async open(dir: string | ShardSet, opts: StreamOptions): Promise<StreamLoader> {
    const set = typeof dir === 'string' ? await ShardSet.open(dir) : dir;
    return new StreamLoader(set, opts);
  }

  get count(): number {
    return this.shards.count;
  }

  /** Bytes held in buffers: constant, and at most memoryBudget. */
  bytesHeld(): number {
    return this.memoryInfo.total;
  }

  memory(): StreamMemory {
    return { ...this.memoryInfo };
  }

  /** Most read-pool buffers busy at once so far (never more than readAhead). */
  get peakBusyShardBuffers(): number {
    return this.reader.peakBusy;
  }

  /** The batch the next call of next() returns. Store it in a checkpoint. */
  get position(): BatchPosition {
    if (this.pendingSeek) return { ...this.pendingSeek };
    return this.batchNo === this.batchesPerEpoch
      ? { epoch: this.epochNo + 1, batchIndex: 0 }
      : { epoch: this.epochNo, batchIndex: this.batchNo };
  }

  /** Makes the next call of next() return batch `pos` (takes effect at that call). */
  seek(pos: BatchPosition): void {
    this.ensureOpen();
    if (!(Number.isInteger(pos.epoch) && pos.epoch >= 0 && pos.epoch <= 0xffffffff)) {
      throw new ConfigError(`seek: epoch must be an integer in [0, 2^32), got ${pos.epoch}`);
    }
    if (!(Number.isInteger(pos.batchIndex) && pos.batchIndex >= 0 && pos.batchIndex < this.batchesPerEpoch)) {
      throw new ConfigError(
        `seek: batch index ${pos.batchIndex} is outside the epoch's ${this.batchesPerEpoch} batches`,
      );
    }
    const p = this.position;
    this.pendingSeek =
      p.epoch === pos.epoch && p.batchIndex === pos.batchIndex ? this.pendingSeek : { ...pos };
  }

  /**
   * The next batch (continuing into the next epoch after the last one). It lives in one of two
   * alternating buffers: valid until the call after the next one (see the header).
   * If producing it fails (e.g. a truncated shard), the promise rejects and the following call
   * retries the same batch from a clean state.
   */
  next(): Promise<Batch> {
    this.ensureOpen();
    const buffers = this.buffers[this.calls++ & 1];
    const p = this.chain.then(async () => {
      const pos = this.position;
      try {
        return await this.produce(buffers);
      } catch (e) {
        this.pendingSeek = pos;
        throw e;
      }
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Batches of one epoch from `startBatch` on (seeks first when needed). */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<Batch, void, undefined> {
    this.seek({ epoch, batchIndex: startBatch });
    for (let k = startBatch; k < this.batchesPerEpoch; k++) yield await this.next();
  }

  /** Waits for pending work and stops; the loader cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.reader.settle();
  }

  private ensureOpen(): void {
    if (this.closed) throw new DataLoaderStateError('StreamLoader used after close(); open a new one');
  }

  private shardOrder(epoch: number): Uint32Array {
    if (this.orderCache.epoch !== epoch) {
      const n = this.shards.shardCount;
      const order = this.options.shuffle
        ? deriveRng(this.options.seed, SeedTag.shardOrder, epoch).permutation(n)
        : Uint32Array.from({ length: n }, (_, i) => i);
      this.orderCache = { epoch, order };
    }
    return this.orderCache.order;
  }

  private async produce(buffers: BatchBuffers): Promise<Batch> {
    if (this.pendingSeek) {
      const pos = this.pendingSeek;
      this.pendingSeek = null;
      await this.startEpoch(pos.epoch, true);
      for (let k = 0; k < pos.batchIndex; k++) await this.fillBatch(null);
    } else if (this.batchNo === this.batchesPerEpoch) {
      // Finish the epoch: with lastBatch 'drop' the leftover (< batchSize) records are consumed unseen.
      while (this.producedInEpoch < this.count)
        await this.drawSamples(null, this.count - this.producedInEpoch);
      await this.startEpoch(this.epochNo + 1, false);
    }
    return (await this.fillBatch(buffers))!;
  }

  private async startEpoch(epoch: number, restartReads: boolean): Promise<void> {
    const held = this.feed ? [this.feed.buf] : [];
    this.feed = null;
    if (restartReads || !this.started) await this.reader.restart(epoch, held);
    else for (const b of held) this.reader.release(b);
    this.started = true;
    this.epochNo = epoch;
    this.batchNo = 0;
    this.producedInEpoch = 0;
    this.shardsTaken = 0;
    this.fill = 0;
    this.drawRng = this.options.shuffle ? deriveRng(this.options.seed, SeedTag.shuffleBuffer, epoch) : null;
  }

  /** Produces the next batch of the epoch into `buffers`, or skips it when buffers is null. */
  private async fillBatch(buffers: BatchBuffers | null): Promise<Batch | null> {
    const size = Math.min(this.options.batchSize, this.count - this.producedInEpoch);
    const index = this.batchNo;
    await this.drawSamples(buffers, size);
    this.batchNo++;
    return buffers ? this.writer.view(buffers, size, this.epochNo, index) : null;
  }

  /** Draws `size` samples into rows 0..size-1 of `buffers` (or discards them when null). */
  private async drawSamples(buffers: BatchBuffers | null, size: number): Promise<void> {
    const R = this.R;
    const S = this.shuffleRecords;
    const arena = this.arena;
    const wb = this.winBase;
    for (let r = 0; r < size; r++) {
      if (!this.drawRng) {
        // No shuffle: records go straight from the feed, in shard order.
        if (!this.feedReady() && !(await this.advanceFeed())) throw this.exhausted();
        const f = this.feed!;
        const k = f.order[f.at++];
        if (buffers) {
          const { images, labels, firstRecord } = f.data;
          this.writer.write(buffers, r, images, k * R, labels[k], firstRecord + k, this.epochNo);
        }
        this.producedInEpoch++;
        continue;
      }
      while (this.fill < S) {
        if (!this.feedReady() && !(await this.advanceFeed())) break;
        this.feedInto(this.fill++);
      }
      if (this.fill === 0) throw this.exhausted();
      const j = this.drawRng.int(this.fill);
      if (buffers) {
        this.writer.write(buffers, r, arena, wb + j * R, this.winLabels[j], this.winIndex[j], this.epochNo);
      }
      this.producedInEpoch++;
      if (this.feedReady() || (await this.advanceFeed())) {
        this.feedInto(j);
      } else {
        const last = --this.fill;
        if (j !== last) {
          arena.copyWithin(wb + j * R, wb + last * R, wb + (last + 1) * R);
          this.winLabels[j] = this.winLabels[last];
          this.winIndex[j] = this.winIndex[last];
        }
      }
    }
  }

  private feedReady(): boolean {
    return this.feed !== null && this.feed.at < this.feed.data.count;
  }

  private feedInto(slot: number): void {
    const f = this.feed!;
    const k = f.order[f.at++];
    const R = this.R;
    const from = f.data.images.byteOffset - this.arena.byteOffset + k * R;
    this.arena.copyWithin(this.winBase + slot * R, from, from + R);
    this.winLabels[slot] = f.data.labels[k];
    this.winIndex[slot] = f.data.firstRecord + k;
  }

  /** Moves the feed to the epoch's next shard; false when the epoch has no more shards. */
  private async advanceFeed(): Promise<boolean> {
    if (this.feed) {
      this.reader.release(this.feed.buf);
      this.feed = null;
    }
    if (this.shardsTaken === this.shards.shardCount) return false;
    const { data, buf, epoch, pos } = await this.reader.take();
    if (epoch !== this.epochNo || pos !== this.shardsTaken) {
      throw new DataLoaderStateError(
        `internal: expected shard ${this.shardsTaken} of epoch ${this.epochNo}, read-ahead gave ${pos} of ${epoch}`,
      );
    }
    this.shardsTaken++;
    const order = this.localOrder.subarray(0, data.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.options.shuffle)
      deriveRng(this.options.seed, SeedTag.shardLocal, this.epochNo, data.shard).shuffle(order);
    this.feed = { data, buf, order, at: 0 };
    return true;
  }

  private exhausted(): Error {
    return new DataLoaderStateError(
      `internal: epoch ${this.epochNo} ran out of records after ${this.producedInEpoch} of ${this.count}`,
    );
  }
}

function fmt(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${bytes} bytes`;
}
