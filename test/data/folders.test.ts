// Image folders at scale: the decoded cache (miss, hit, rebuild when a file changes, never inside
// the data folder), decoding on worker threads (same bytes as the single-threaded reader, same
// named errors), train/-only folders, and matching class names between a model and the data.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { loadData, matchClasses } from '../../src/cli/data-flags.js';
import { decodeFiles } from '../../src/data/decode-pool.js';
import { readImageFolderCached } from '../../src/data/folder-cache.js';
import { readImageFolderFromDisk } from '../../src/data/readers-node.js';
import { DatasetFormatError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';

function pngOf(rng: Rng, w: number, h: number): Uint8Array {
  const data = Uint8Array.from({ length: w * h * 3 }, () => rng.int(256));
  return encodePng({ width: w, height: h, data, channels: 3, depth: 8 });
}

/** root/<class>/<i>.png with `per` random images of odd sizes per class. */
function folder(classes: string[], per: number, seed: number, under = ''): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'wgt-folders-'));
  const rng = new Rng(seed);
  for (const c of classes) {
    mkdirSync(path.join(root, under, c), { recursive: true });
    for (let i = 0; i < per; i++) {
      writeFileSync(path.join(root, under, c, `${i}.png`), pngOf(rng, 3 + rng.int(6), 2 + rng.int(7)));
    }
  }
  return root;
}

const listTree = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String).sort();

describe('image folders at scale', () => {
  let cacheDir = '';
  let savedXdg: string | undefined;
  beforeAll(() => {
    cacheDir = mkdtempSync(path.join(os.tmpdir(), 'wgt-cache-'));
    savedXdg = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cacheDir;
  });
  afterAll(() => {
    if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = savedXdg;
  });

  it('decoded cache: miss, then hit with identical records, rebuilt when a file changes', async () => {
    // 3 x 25 = 75 files: more than one 64-file chunk, so two workers share the decoding.
    const root = folder(['cat', 'dog', 'emu'], 25, 1);
    const before = listTree(root);
    // Two worker threads for the first decode; the rest decode on this thread (faster to start).
    const opts = { size: [5, 4] as [number, number], channels: 3 as const, threads: 1 };
    const info: string[] = [];
    const want = await readImageFolderFromDisk(root, { size: [5, 4], channels: 3 });
    const first = await readImageFolderCached(root, { ...opts, threads: 2, onInfo: (m) => info.push(m) });
    expect(first.cache).toBe('miss');
    expect(first.set.images).toEqual(want.images);
    expect([...first.set.labels]).toEqual([...want.labels]);
    expect(first.set.classNames).toEqual(['cat', 'dog', 'emu']);
    expect(first.dir!.startsWith(path.join(cacheDir, 'webgpu-trainer', 'decoded'))).toBe(true);
    // Nothing was written into the data folder.
    expect(listTree(root)).toEqual(before);

    const second = await readImageFolderCached(root, { ...opts, onInfo: (m) => info.push(m) });
    expect(second.cache).toBe('hit');
    expect(second.dir).toBe(first.dir);
    expect(second.set.images).toEqual(want.images);
    expect([...second.set.labels]).toEqual([...want.labels]);
    expect(second.set.files).toEqual(want.files);
    expect(info.some((m) => /^loaded 75 decoded images of .* from the cache /.test(m))).toBe(true);

    // Other decode options are another slot, not a hit.
    const gray = await readImageFolderCached(root, { ...opts, channels: 1 });
    expect(gray.cache).toBe('miss');
    expect(gray.dir).not.toBe(first.dir);

    // A changed file (new content, new mtime) rebuilds the slot in place.
    const changed = path.join(root, 'dog', '3.png');
    writeFileSync(changed, pngOf(new Rng(99), 9, 9));
    utimesSync(changed, new Date(), new Date(Date.now() + 5000));
    const third = await readImageFolderCached(root, { ...opts, onInfo: (m) => info.push(m) });
    expect(third.cache).toBe('rebuilt');
    expect(third.dir).toBe(first.dir);
    const now = await readImageFolderFromDisk(root, { size: [5, 4], channels: 3 });
    expect(third.set.images).toEqual(now.images);
    expect(third.set.images).not.toEqual(want.images);
    expect((await readImageFolderCached(root, opts)).cache).toBe('hit');
    // The slot of a folder that is gone is removed when another slot is written.
    const gone = folder(['x'], 2, 7);
    const goneSlot = (await readImageFolderCached(gone, opts)).dir!;
    rmSync(gone, { recursive: true });
    await readImageFolderCached(folder(['y'], 2, 8), opts);
    expect(existsSync(goneSlot)).toBe(false);
    expect(existsSync(first.dir!)).toBe(true);
    // Off: decodes, writes nothing.
    expect((await readImageFolderCached(root, { ...opts, cache: false })).cache).toBe('off');
  });

  it('worker decoding, strict: skips non-images with a warning and names a corrupt file', async () => {
    const root = folder(['a', 'b'], 40, 2);
    writeFileSync(path.join(root, 'a', 'notes.txt'), 'not an image');
    const warnings: string[] = [];
    const r = await readImageFolderCached(root, {
      size: [3, 3],
      threads: 2,
      strict: true,
      skipNonImages: true,
      cache: false,
      onWarning: (m) => warnings.push(m),
    });
    expect(r.set.count).toBe(80);
    expect(warnings.join('\n')).toContain(path.join(root, 'a', 'notes.txt'));
    const bad = path.join(root, 'b', '7.png');
    writeFileSync(bad, 'not really a png');
    const files = readdirSync(path.join(root, 'b')).map((f) => path.join(root, 'b', f));
    const err = await decodeFiles(files, { size: [3, 3], threads: 2, strict: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as DatasetFormatError).file).toBe(bad);
  });

  it('a folder with only train/<class>/ is training data, not one class named "train"', async () => {
    const root = folder(['ant', 'bee'], 3, 3, 'train');
    const img = { imageSize: [4, 4] as [number, number], channels: 3 as const, resize: 'resize' as const };
    const lines: string[] = [];
    const d = await loadData(root, img, null, (l) => lines.push(l));
    expect(d.classNames).toEqual(['ant', 'bee']);
    expect(d.train.count).toBe(6);
    expect(d.test).toBeUndefined();
    expect(lines.join('\n')).toMatch(/decoded 6 images/);
    // The second run says it loaded the cache.
    await loadData(root, img, null, (l) => lines.push(l));
    expect(lines[lines.length - 1]).toMatch(/^loaded 6 decoded images .* from the cache /);
    // Beside other class folders, "train" is just a class.
    const other = folder(['train', 'wasp'], 2, 4);
    const mixed = await loadData(other, img, null, () => {});
    expect(mixed.classNames).toEqual(['train', 'wasp']);
  });

  it('class names are matched by name between the model and the data', () => {
    const labels = Int32Array.of(0, 1, 1, 0);
    expect(matchClasses(labels, ['a', 'b'], ['a', 'b'], true, 'd')).toBe(labels);
    // The data has a subset of the model's classes, in another order.
    expect([...matchClasses(labels, ['dog', 'ant'], ['ant', 'cat', 'dog'], true, 'd')]).toEqual([2, 0, 0, 2]);
    // Made-up numeric names (IDX folders) are taken as they are.
    expect(matchClasses(labels, ['0', '1'], ['zero', 'one'], false, 'd')).toBe(labels);
    let err: unknown;
    try {
      matchClasses(labels, ['ant', 'yak'], ['ant', 'cat'], true, './photos');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      "./photos: class yak is not among the model's classes (ant, cat); evaluate data with the model's class folders",
    );
  });
});
