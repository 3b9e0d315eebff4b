// The first run on an image folder decodes straight into the decoded cache's shards: the same
// records, order, labels and shard bytes as decoding into memory and writing the shards after;
// never more than maxHeld decoded images alive; an interrupted write leaves no slot a later run
// trusts. Then the CLI's data layer on top: test/ folders over the budget stream too, a shard set
// given as --data, and one-line errors for folders that are neither.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { loadData } from '../../src/cli/data-flags.js';
import { decodeFilesInOrder } from '../../src/data/decode-pool.js';
import { readImageFolderCached } from '../../src/data/folder-cache.js';
import { readImageFolderFromDisk } from '../../src/data/readers-node.js';
import { ShardWriter, writeShards } from '../../src/data/shard-writer.js';
import { ShardSet } from '../../src/data/shards.js';
import { ConfigError, DatasetFormatError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';

function pngOf(rng: Rng, w: number, h: number): Uint8Array {
  const data = Uint8Array.from({ length: w * h * 3 }, () => rng.int(256));
  return encodePng({ width: w, height: h, data, channels: 3, depth: 8 });
}

/** root/<under>/<class>/<i>.png, `per` random PNGs of odd sizes per class. */
function folder(classes: string[], per: number, seed: number, under = ''): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-'));
  const rng = new Rng(seed);
  for (const c of classes) {
    mkdirSync(path.join(root, under, c), { recursive: true });
    for (let i = 0; i < per; i++) {
      const name = `${String(i).padStart(3, '0')}.png`;
      writeFileSync(path.join(root, under, c, name), pngOf(rng, 3 + rng.int(6), 2 + rng.int(7)));
    }
  }
  return root;
}

const size: [number, number] = [5, 4];
const img = { imageSize: size, channels: 3 as const, resize: 'resize' as const };

describe('first decode into the cache', () => {
  let cacheDir = '';
  let savedXdg: string | undefined;
  beforeAll(() => {
    cacheDir = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-cache-'));
    savedXdg = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cacheDir;
  });
  afterAll(() => {
    if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = savedXdg;
  });
  const slots = (root = path.join(cacheDir, 'webgpu-trainer', 'decoded')): string[] =>
    existsSync(root) ? readdirSync(root) : [];

  it('streams into shards equal to decoding into memory: records, order, labels, shard bytes', async () => {
    const root = folder(['cat', 'dog', 'emu'], 23, 11);
    // A non-image in the middle is skipped with a warning under strict, as before.
    writeFileSync(path.join(root, 'dog', '010.txt'), 'not an image');
    const warnings: string[] = [];
    const want = await readImageFolderFromDisk(root, {
      size,
      strict: true,
      skipNonImages: true,
      onWarning: () => {},
    });
    expect(want.count).toBe(69);
    let most = 0;
    const got = await readImageFolderCached(root, {
      size,
      threads: 2,
      strict: true,
      skipNonImages: true,
      // Chunks of 2 on 2 threads, so results arrive out of order and are put back in order.
      maxHeld: 5,
      onHeld: (n) => (most = Math.max(most, n)),
      onWarning: (m) => warnings.push(m),
    });
    expect(got.cache).toBe('miss');
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(5);
    expect(warnings.filter((w) => w.includes('010.txt'))).toHaveLength(1);
    expect(got.set.count).toBe(want.count);
    expect(got.set.images).toEqual(want.images);
    expect([...got.set.labels]).toEqual([...want.labels]);
    expect(got.set.files).toEqual(want.files);
    // The slot's shards are byte for byte what writing the in-memory set gives.
    const ref = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-ref-'));
    const refIndex = await writeShards(ref, want, { classNames: want.classNames, source: want.source });
    const slot = await ShardSet.open(got.dir!);
    expect(slot.index.shards).toEqual(refIndex.shards);
    expect(slot.index.classNames).toEqual(['cat', 'dog', 'emu']);
    await slot.verify();
    // The next run is a hit on the same records.
    const again = await readImageFolderCached(root, { size, skipNonImages: true, onWarning: () => {} });
    expect(again.cache).toBe('hit');
    expect(again.set.images).toEqual(want.images);
  });

  it('never holds more than maxHeld decoded images, even with a slow sink', async () => {
    const root = folder(['a', 'b'], 30, 12);
    const files = ['a', 'b'].flatMap((c) =>
      readdirSync(path.join(root, c)).map((f) => path.join(root, c, f)),
    );
    for (const [threads, maxHeld] of [
      [2, 7],
      [2, 1],
      [1, 3],
    ]) {
      let held = 0;
      let most = 0;
      const order: number[] = [];
      await decodeFilesInOrder(
        files,
        { size, threads, maxHeld, onHeld: (n) => ((held = n), (most = Math.max(most, n))) },
        async (i, px) => {
          expect(px).toHaveLength(60);
          expect(held).toBeGreaterThan(0);
          order.push(i);
          // A slow writer: the workers must wait for it, not pile up records.
          await new Promise((r) => setTimeout(r, 2));
        },
      );
      expect(order).toEqual(files.map((_, i) => i));
      expect(most, `threads ${threads}, maxHeld ${maxHeld}`).toBeLessThanOrEqual(maxHeld);
      expect(held).toBe(0);
    }
  });

  it('an interrupted first run leaves no slot a later run trusts', async () => {
    const root = folder(['ant', 'bee'], 40, 13);
    const before = slots();
    // Thrown mid-way through the writing (after 30 records), as a crash would stop it.
    let seen = 0;
    const boom = readImageFolderCached(root, {
      size,
      threads: 1,
      onHeld: (n) => {
        if (n === 1 && ++seen === 30) throw new Error('simulated crash');
      },
    });
    await expect(boom).rejects.toThrow('simulated crash');
    expect(slots()).toEqual(before);
    // A corrupt image half-way: the named error, and again nothing left behind.
    const bad = path.join(root, 'bee', '005.png');
    const good = pngOf(new Rng(5), 4, 4);
    writeFileSync(bad, 'not really a png');
    const err = await readImageFolderCached(root, { size, threads: 2, strict: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as DatasetFormatError).file).toBe(bad);
    expect(slots()).toEqual(before);
    writeFileSync(bad, good);
    // A run killed while writing leaves <slot>.tmp-<pid>: never read, removed by a later write.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const first = await readImageFolderCached(root, { size });
    expect(first.cache).toBe('miss');
    const stale = `${first.dir!}.tmp-${dead}`;
    const w = await ShardWriter.create(stale, { height: 5, width: 4, channels: 3 });
    await w.append(new Uint8Array(60).fill(7), 0);
    await w.abort();
    expect(existsSync(stale)).toBe(true);
    await readImageFolderCached(folder(['x'], 2, 14), { size });
    expect(existsSync(stale)).toBe(false);
    const hit = await readImageFolderCached(root, { size });
    expect(hit.cache).toBe('hit');
    expect(hit.set.count).toBe(80);
  });

  it('a cache that cannot be written: memory when the images fit the budget, else a one-line error', async () => {
    const root = folder(['p', 'q'], 4, 15);
    const notADir = path.join(mkdtempSync(path.join(os.tmpdir(), 'wgt-first-ro-')), 'file');
    writeFileSync(notADir, 'x');
    const warnings: string[] = [];
    const r = await readImageFolderCached(root, {
      size,
      cacheDir: notADir,
      onWarning: (m) => warnings.push(m),
    });
    expect(r.cache).toBe('miss');
    expect(r.dir).toBeUndefined();
    expect(r.set.count).toBe(8);
    expect(warnings.join('\n')).toMatch(/could not write the decoded cache .*decoding into memory/);
    const err = await readImageFolderCached(root, { size, cacheDir: notADir, streamOver: 100 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/over the memory budget and can only stream from it/);
    expect((err as Error).message).not.toContain('\n');
  });

  it('a test/ folder beside train/ streams when it does not fit what the training images left', async () => {
    const root = folder(['ant', 'bee'], 6, 16, 'train');
    const rng = new Rng(17);
    for (const c of ['ant', 'bee']) {
      mkdirSync(path.join(root, 'test', c), { recursive: true });
      for (let i = 0; i < 3; i++) writeFileSync(path.join(root, 'test', c, `${i}.png`), pngOf(rng, 5, 6));
    }
    const R = 5 * 4 * 3;
    const whole = await loadData(root, img, null, () => {});
    expect(whole.trainShards).toBeUndefined();
    expect(whole.testShards).toBeUndefined();
    // Room for the 12 training images but not the 6 test images as well.
    const some = await loadData(root, img, null, () => {}, 12 * R + 5 * R);
    expect(some.trainShards).toBeUndefined();
    expect(some.train.images).toEqual(whole.train.images);
    expect(some.testShards).toBeDefined();
    expect(some.test!.images).toHaveLength(0);
    expect(some.test!.count).toBe(6);
    // Over the budget both stream, and the shards hold the same records.
    const none = await loadData(root, img, null, () => {}, R);
    expect(none.trainShards).toBeDefined();
    expect(none.train.images).toHaveLength(0);
    const t = await (await ShardSet.open(none.testShards!)).toImageSet();
    expect(t.images).toEqual(whole.test!.images);
    expect([...t.labels]).toEqual([...whole.test!.labels]);
  });

  it('--data naming a shard set: loaded, streamed over the budget, numbered classes without names', async () => {
    const src = await readImageFolderFromDisk(folder(['owl', 'yak'], 5, 18), { size });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-shards-'));
    await writeShards(dir, src, { classNames: src.classNames, recordsPerShard: 3 });
    const lines: string[] = [];
    const d = await loadData(dir, img, null, (l) => lines.push(l));
    expect(d.shardSet).toBe(true);
    expect(d.classNames).toEqual(['owl', 'yak']);
    expect(d.train.images).toEqual(src.images);
    expect(d.trainShards).toBeUndefined();
    expect(lines.join('\n')).toMatch(/shard set of 10 records 5x4x3 .*loaded/);
    const s = await loadData(dir, img, 7, (l) => lines.push(l), 100);
    expect(s.trainShards).toBe(dir);
    expect(s.train.count).toBe(7);
    expect(lines[lines.length - 1]).toMatch(/streamed from disk$/);
    // Written without class names (labels 0 and 1 only): classes are numbered from the labels.
    const bare = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-bare-'));
    await writeShards(bare, { ...src, classNames: undefined }, { recordsPerShard: 4 });
    for (const over of [undefined, 10]) {
      const b = await loadData(bare, img, null, () => {}, over);
      expect(b.classNames).toEqual(['0', '1']);
      expect(b.namedClasses).toBe(false);
    }
    // root/train and root/test each a shard set.
    const split = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-split-'));
    await writeShards(path.join(split, 'train'), src, { classNames: src.classNames });
    await writeShards(path.join(split, 'test'), src, { classNames: src.classNames });
    const p = await loadData(split, img, null, () => {});
    expect(p.test!.count).toBe(10);
    expect(p.classNames).toEqual(['owl', 'yak']);
  });

  it('a folder that is neither an image tree nor shards is a one-line error', async () => {
    const loose = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-loose-'));
    writeFileSync(path.join(loose, 'a.png'), pngOf(new Rng(1), 3, 3));
    const e1 = await loadData(loose, img, null, () => {}).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(UsageError);
    expect((e1 as Error).message).toBe(
      `--data: ${loose} is neither an image folder (root/<class>/<image>), a shard set (index.json) nor a folder of IDX files`,
    );
    const half = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-half-'));
    writeFileSync(path.join(half, 'shard-00000.bin'), new Uint8Array(20));
    const e2 = await loadData(half, img, null, () => {}).catch((e: unknown) => e);
    expect((e2 as Error).message).toMatch(/holds shard files but no index\.json/);
    const broken = mkdtempSync(path.join(os.tmpdir(), 'wgt-first-broken-'));
    writeFileSync(path.join(broken, 'index.json'), '{"format": "something else"}');
    const e3 = await loadData(broken, img, null, () => {}).catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(DatasetFormatError);
    expect((e3 as Error).message).toMatch(/is not a shard index/);
    for (const e of [e1, e2, e3]) expect((e as Error).message).not.toContain('\n');
  });
});
