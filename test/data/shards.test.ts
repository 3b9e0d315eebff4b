import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { computeNormalization } from '../../src/data/normalize.js';
import {
  readShardIndex,
  SHARD_HEADER_BYTES,
  shardFileBytes,
  shardLabelsOffset,
} from '../../src/data/shard-format.js';
import { ShardWriter, writeShards, type LabeledRecord } from '../../src/data/shard-writer.js';
import { ShardSet } from '../../src/data/shards.js';
import type { ImageSet } from '../../src/data/types.js';
import { ConfigError, DatasetFormatError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';

function makeSet(n: number, h: number, w: number, c: number, classes: number, seed = 1): ImageSet {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = Int32Array.from({ length: n }, () => rng.int(classes));
  const classNames = Array.from({ length: classes }, (_, k) => `class${k}`);
  return { images, labels, count: n, height: h, width: w, channels: c, classNames, source: 'synthetic' };
}

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'shards-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function expectFormatError(
  p: Promise<unknown>,
  file: RegExp,
  record?: number,
): Promise<DatasetFormatError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DatasetFormatError);
  const fe = e as DatasetFormatError;
  expect(fe.file).toMatch(file);
  if (record !== undefined) expect(fe.record).toBe(record);
  return fe;
}

describe('shards', () => {
  // 7x5x3 = 105-byte records: not a multiple of 4, so the label padding is exercised.
  const set = makeSet(1000, 7, 5, 3, 10);

  it('round trip: bytes, labels and metadata identical', async () => {
    const dir = join(root, 'rt');
    const index = await writeShards(dir, set, { recordsPerShard: 64 });
    expect(index.shards.length).toBe(16);
    expect(index.shards.map((s) => s.count)).toEqual([...Array(15).fill(64), 1000 - 15 * 64]);
    expect(index.shards[15].bytes).toBe(shardFileBytes(40, 105));
    expect(shardLabelsOffset(40, 105) % 4).toBe(0);
    const opened = await ShardSet.open(dir);
    await opened.verify();
    const back = await opened.toImageSet();
    expect(back.images).toEqual(set.images);
    expect(back.labels).toEqual(set.labels);
    expect(back.classNames).toEqual(set.classNames);
    expect([back.count, back.height, back.width, back.channels]).toEqual([1000, 7, 5, 3]);
    // The file's layout is what the header comment documents.
    const raw = await readFile(opened.shardPath(1));
    expect(raw.subarray(0, 8).toString('latin1')).toBe('WGTSHRD1');
    expect(raw.readUInt32LE(8)).toBe(64);
    expect(raw.readUInt32LE(12)).toBe(105);
    expect(raw.subarray(SHARD_HEADER_BYTES, SHARD_HEADER_BYTES + 105)).toEqual(
      Buffer.from(set.images.subarray(64 * 105, 65 * 105)),
    );
    expect(raw.readInt32LE(shardLabelsOffset(64, 105))).toBe(set.labels[64]);
    // Statistics streamed over shards equal the in-memory ones.
    expect(await opened.computeNormalization()).toEqual(computeNormalization(set.images, 3, 'standardize'));
  });

  it('writes from an async iterator with constant memory', async () => {
    const dir = join(root, 'iter');
    async function* records(): AsyncGenerator<LabeledRecord> {
      const image = new Uint8Array(28 * 28);
      for (let i = 0; i < 300; i++) {
        image.fill(i & 0xff);
        yield { image, label: i % 10 };
      }
    }
    const index = await writeShards(dir, records(), {
      height: 28,
      width: 28,
      channels: 1,
      shardBytes: 32 * 1024,
    });
    expect(index.recordsPerShard).toBe(Math.floor((32 * 1024 - 16) / (784 + 4)));
    const back = await (await ShardSet.open(dir)).toImageSet();
    expect(back.count).toBe(300);
    for (let i = 0; i < 300; i++) {
      expect(back.images[i * 784]).toBe(i & 0xff);
      expect(back.images[i * 784 + 783]).toBe(i & 0xff);
      expect(back.labels[i]).toBe(i % 10);
    }
    await expect(writeShards(join(root, 'noshape'), records())).rejects.toThrow(ConfigError);
  });

  it('a truncated shard is a DatasetFormatError naming the file and the first incomplete record', async () => {
    const dir = join(root, 'trunc');
    await writeShards(dir, set, { recordsPerShard: 100 });
    const index = await readShardIndex(dir);
    const path = join(dir, index.shards[3].file);
    // Cut inside record 57 of the image section.
    await truncate(path, SHARD_HEADER_BYTES + 57 * 105 + 50);
    const e = await expectFormatError(ShardSet.open(dir), /shard-00003\.bin$/, 57);
    expect(e.message).toMatch(/truncated.*record 57 of 100/);
    // Cut inside the labels section.
    await writeShards(dir, set, { recordsPerShard: 100, overwrite: true });
    await truncate(path, shardLabelsOffset(100, 105) + 4 * 42 + 1);
    await expectFormatError(ShardSet.open(dir), /shard-00003\.bin$/, 42);
    // Truncated after open (e.g. while streaming) is caught by the read itself.
    await writeShards(dir, set, { recordsPerShard: 100, overwrite: true });
    const opened = await ShardSet.open(dir);
    await truncate(path, 1000);
    await expectFormatError(opened.readShard(3), /shard-00003\.bin$/, Math.floor((1000 - 16) / 105));
  });

  it('corruption, bad headers, bad labels and bad indexes are named errors', async () => {
    const dir = join(root, 'corrupt');
    await writeShards(dir, set, { recordsPerShard: 250 });
    const opened = await ShardSet.open(dir);
    const path = opened.shardPath(2);
    const bytes = await readFile(path);
    bytes[SHARD_HEADER_BYTES + 10] ^= 0xff;
    await writeFile(path, bytes);
    await expectFormatError(opened.verify(), /shard-00002\.bin$/);
    await expectFormatError(opened.readShard(2, undefined, true), /shard-00002\.bin$/);
    bytes[SHARD_HEADER_BYTES + 10] ^= 0xff;
    bytes.writeInt32LE(77, shardLabelsOffset(250, 105) + 4 * 9);
    await writeFile(path, bytes);
    await expectFormatError(opened.readShard(2), /shard-00002\.bin$/, 9);
    // Loading the whole set reads records straight into place but checks labels alike.
    await expectFormatError(opened.toImageSet(), /shard-00002\.bin$/, 9);
    bytes.write('XXXX', 0, 'latin1');
    await writeFile(path, bytes);
    await expect(opened.readShard(2)).rejects.toThrow(/magic/);
    await expect(opened.toImageSet()).rejects.toThrow(/shard-00002\.bin does not start with the shard magic/);
    await truncate(path, 1000);
    await expectFormatError(opened.toImageSet(), /shard-00002\.bin$/);

    await expectFormatError(ShardSet.open(join(root, 'missing')), /index\.json$/);
    const idxPath = join(dir, 'index.json');
    const index = JSON.parse(await readFile(idxPath, 'utf8')) as Record<string, unknown>;
    await writeFile(idxPath, JSON.stringify({ ...index, count: 999 }));
    await expect(ShardSet.open(dir)).rejects.toThrow(/999/);
    await writeFile(idxPath, JSON.stringify({ ...index, version: 2 }));
    await expect(ShardSet.open(dir)).rejects.toThrow(/version 2/);
    await writeFile(
      idxPath,
      JSON.stringify({ ...index, shards: [{ file: '../etc/passwd', count: 1, bytes: 125, sha256: 'x' }] }),
    );
    await expect(ShardSet.open(dir)).rejects.toThrow(/invalid file name/);
    await writeFile(idxPath, '{ nope');
    await expect(ShardSet.open(dir)).rejects.toThrow(DatasetFormatError);
  });

  it('the writer validates records and refuses to overwrite by accident', async () => {
    const dir = join(root, 'writer');
    const w = await ShardWriter.create(dir, { height: 2, width: 2, channels: 1, classNames: ['a', 'b'] });
    await w.append(Uint8Array.of(1, 2, 3, 4), 1);
    await expect(w.append(Uint8Array.of(1, 2, 3), 0)).rejects.toThrow(DatasetFormatError);
    await expect(w.append(Uint8Array.of(1, 2, 3, 4), 2)).rejects.toThrow(/label 2/);
    const index = await w.close();
    expect(index.count).toBe(1);
    await expect(w.append(Uint8Array.of(1, 2, 3, 4), 0)).rejects.toThrow(ConfigError);
    await expect(ShardWriter.create(dir, { height: 2, width: 2, channels: 1 })).rejects.toThrow(/overwrite/);
  });
});
