import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { applyNormalization } from '../../src/data/dataset.js';
import type { Normalization } from '../../src/data/dataset.js';
import { ShardSet, writeShards } from '../../src/data/shards.js';
import { StreamLoader } from '../../src/data/stream.js';
import type { Batch, StreamOptions } from '../../src/data/stream.js';
import type { ImageSet } from '../../src/data/types.js';
import { ConfigError, DataLoaderStateError, DatasetFormatError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';

function makeSet(n: number, h: number, w: number, c: number, classes: number, seed = 1): ImageSet {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = Int32Array.from({ length: n }, () => rng.int(classes));
  const classNames = Array.from({ length: classes }, (_, k) => `class${k}`);
  return { images, labels, count: n, height: h, width: w, channels: c, classNames, source: 'synthetic' };
}

const N = 1000;
const RPS = 64; // records per shard: 16 shards, the last one holding 40
const set = makeSet(N, 6, 5, 3, 10); // 90-byte records
const norm: Normalization = { kind: 'standardize', mean: [0.4, 0.5, 0.6], std: [0.25, 0.3, 0.2] };
let root = '';
let dir = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stream-test-'));
  dir = join(root, 'set');
  await writeShards(dir, set, { recordsPerShard: RPS });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base: StreamOptions = { batchSize: 32, normalization: norm, seed: 3, memoryBudget: 256 * 1024 };

/** Copies what we need out of a batch (the loader reuses its buffers). */
function snap(b: Batch): { epoch: number; index: number; size: number; idx: number[]; x: Float32Array } {
  return { epoch: b.epoch, index: b.index, size: b.size, idx: [...b.sampleIndices], x: b.x.slice() };
}

async function collect(loader: StreamLoader, epoch: number, start = 0): Promise<ReturnType<typeof snap>[]> {
  const out = [];
  for await (const b of loader.epoch(epoch, start)) out.push(snap(b));
  return out;
}

describe('StreamLoader', () => {
  it('yields every record exactly once per epoch, with the right bytes and labels', async () => {
    const loader = await StreamLoader.open(dir, { ...base, oneHot: true });
    expect(loader.batchesPerEpoch).toBe(32);
    const orders: number[][] = [];
    for (const epoch of [0, 1]) {
      const seen: number[] = [];
      let k = 0;
      for await (const b of loader.epoch(epoch)) {
        expect(b.index).toBe(k++);
        expect(b.epoch).toBe(epoch);
        expect(b.size).toBe(b.index === 31 ? N - 31 * 32 : 32);
        for (let r = 0; r < b.size; r++) {
          const s = b.sampleIndices[r];
          seen.push(s);
          expect(b.labels[r]).toBe(set.labels[s]);
          expect(b.oneHot![r * 10 + set.labels[s]]).toBe(1);
          const want = applyNormalization(set.images.subarray(s * 90, (s + 1) * 90), norm);
          expect(b.x.subarray(r * 90, (r + 1) * 90)).toEqual(want);
        }
      }
      expect(seen.length).toBe(N);
      expect([...seen].sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
      orders.push(seen);
    }
    expect(orders[0]).not.toEqual(orders[1]);
    await loader.close();
  });

  it('is reproducible from the seed and resumes exactly at (epoch, batch)', async () => {
    const a = await StreamLoader.open(dir, base);
    const e0 = await collect(a, 0);
    const e1 = await collect(a, 1);
    await a.close();
    const b = await StreamLoader.open(dir, base);
    expect(await collect(b, 1)).toEqual(e1);
    await b.close();
    const c = await StreamLoader.open(dir, base);
    c.seek({ epoch: 0, batchIndex: 13 });
    expect(c.position).toEqual({ epoch: 0, batchIndex: 13 });
    const tail: ReturnType<typeof snap>[] = [];
    for (let k = 13; k < 32; k++) tail.push(snap(await c.next()));
    expect(tail).toEqual(e0.slice(13));
    // next() carries on into the next epoch; the position is what a checkpoint stores.
    expect(c.position).toEqual({ epoch: 1, batchIndex: 0 });
    expect(snap(await c.next())).toEqual(e1[0]);
    await c.close();
    const d = await StreamLoader.open(dir, { ...base, seed: 4 });
    expect((await collect(d, 0)).map((s) => s.idx)).not.toEqual(e0.map((s) => s.idx));
    await d.close();
  });

  it('shuffles across shards: batches mix records from several shards', async () => {
    const loader = await StreamLoader.open(dir, base);
    let mixed = 0;
    let batches = 0;
    let maxShards = 0;
    for await (const b of loader.epoch(0)) {
      const shards = new Set([...b.sampleIndices].map((s) => Math.floor(s / RPS)));
      if (shards.size >= 2) mixed++;
      maxShards = Math.max(maxShards, shards.size);
      batches++;
    }
    expect(mixed).toBe(batches);
    expect(maxShards).toBeGreaterThanOrEqual(8);
    // The first batch already mixes many shards (the window is filled before the first draw).
    await loader.close();
  });

  it('stays within its memory budget, whatever the window it can afford', async () => {
    for (const budget of [64 * 1024, 128 * 1024, 1 << 20]) {
      const loader = await StreamLoader.open(dir, { ...base, memoryBudget: budget, readAhead: 3 });
      const m = loader.memory();
      expect(m.total).toBeLessThanOrEqual(budget);
      expect(m.total).toBe(m.readPool + m.shuffleWindow + m.batchBuffers + m.scratch);
      const shardBytes = (await ShardSet.open(dir)).maxShardBytes;
      expect(m.readPool).toBe(3 * ((shardBytes + 7) & ~7));
      expect(m.reserve).toBe(Math.min(6 << 20, Math.floor(budget / 4)));
      expect(m.total + m.reserve).toBeLessThanOrEqual(budget);
      const free = budget - m.reserve - m.readPool - m.batchBuffers - m.scratch;
      expect(loader.shuffleRecords).toBe(Math.min(N, Math.floor(free / 98)));
      const before = loader.bytesHeld();
      const seen = new Set<number>();
      for await (const b of loader.epoch(0)) for (const s of b.sampleIndices) seen.add(s);
      expect(seen.size).toBe(N);
      expect(loader.bytesHeld()).toBe(before);
      expect(loader.peakBusyShardBuffers).toBeLessThanOrEqual(3);
      await loader.close();
    }
    await expect(StreamLoader.open(dir, { ...base, memoryBudget: 20 * 1024 })).rejects.toThrow(/too small/);
  });

  it('double buffering: a batch stays valid until the call after next', async () => {
    const loader = await StreamLoader.open(dir, base);
    const b0 = await loader.next();
    const copy0 = snap(b0);
    const p1 = loader.next(); // fills the other buffer while b0 is in use
    expect(snap(b0)).toEqual(copy0);
    const b1 = await p1;
    expect(snap(b0)).toEqual(copy0);
    expect(b1.x.buffer).not.toBe(b0.x.buffer);
    const b2 = await loader.next(); // reuses b0's buffer
    expect(b2.x.buffer).toBe(b0.x.buffer);
    expect(b2.index).toBe(2);
    await loader.close();
    expect(() => loader.next()).toThrow(DataLoaderStateError);
  });

  it("shuffle off keeps shard order; lastBatch 'drop' skips the partial batch", async () => {
    const loader = await StreamLoader.open(dir, { ...base, shuffle: false, lastBatch: 'drop' });
    expect(loader.shuffleRecords).toBe(0);
    expect(loader.batchesPerEpoch).toBe(31);
    for (const epoch of [0, 1]) {
      const idx = (await collect(loader, epoch)).flatMap((s) => s.idx);
      expect(idx).toEqual([...Array(31 * 32).keys()]);
    }
    const next = await loader.next();
    expect([next.epoch, next.index, next.sampleIndices[0]]).toEqual([2, 0, 0]);
    await loader.close();
  });

  it('rejects bad options and reports a shard truncated mid-stream', async () => {
    await expect(StreamLoader.open(dir, { ...base, batchSize: 0 })).rejects.toThrow(ConfigError);
    await expect(StreamLoader.open(dir, { ...base, readAhead: 0 })).rejects.toThrow(/readAhead/);
    await expect(StreamLoader.open(dir, { ...base, memoryBudget: -1 })).rejects.toThrow(/memoryBudget/);
    const loader = await StreamLoader.open(dir, base);
    expect(() => loader.seek({ epoch: 0, batchIndex: 32 })).toThrow(ConfigError);
    const tdir = join(root, 'trunc');
    await writeShards(tdir, set, { recordsPerShard: RPS });
    const tl = await StreamLoader.open(tdir, { ...base, shuffle: false });
    await truncate(join(tdir, 'shard-00005.bin'), 500);
    let err: unknown = null;
    try {
      for await (const _ of tl.epoch(0)) void _;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as DatasetFormatError).file).toMatch(/shard-00005\.bin$/);
    // Once the file is repaired, the next call retries the failed batch from a clean state.
    expect(tl.position).toEqual({ epoch: 0, batchIndex: 10 });
    await writeShards(tdir, set, { recordsPerShard: RPS, overwrite: true });
    const retried = await tl.next();
    expect([retried.epoch, retried.index, retried.sampleIndices[0]]).toEqual([0, 10, 320]);
    await tl.close();
    await loader.close();
  });
});
