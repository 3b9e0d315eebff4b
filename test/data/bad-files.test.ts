// Bad files in image folders: a truncated JPEG, text named .jpg, a zero-byte PNG and a text file
// among good pictures are skipped and listed (kind and reason), the labels of the rest stay with
// their files; strict makes the first one the error it was before; the first decode on worker
// threads skips them straight into the decoded cache, and a run that loads the cache reports the
// same list (and fails the same way under strict). A class left with no good file is an error.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { readImageFolderCached } from '../../src/data/folder-cache.js';
import { readImageFolderFromDisk } from '../../src/data/readers-node.js';
import { describeSkipped, formatSkippedList } from '../../src/data/skipped.js';
import { DatasetFormatError, NotAnImageError, openDataset } from '../../src/node.js';
import { Rng } from '../../src/rng.js';

/** A red or blue JPEG, 20x12, so a record shows which class folder it came from. */
function jpegOf(red: boolean, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const data = new Uint8Array(20 * 12 * 4);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = red ? 230 : 20;
    data[i + 1] = 90 + rng.int(20);
    data[i + 2] = red ? 20 : 230;
    data[i + 3] = 255;
  }
  return new Uint8Array(jpeg.encode({ width: 20, height: 12, data }, 90).data);
}

const tmps: string[] = [];
afterAll(() => tmps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * red/ and blue/ with `per` good JPEGs each, plus: red/cut.jpg (truncated), red/notes.txt (no
 * picture), blue/empty.png (0 bytes), blue/text.jpg (text with a picture's name).
 */
function badFolder(per: number): { root: string; bad: Record<string, string> } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'wgt-bad-'));
  tmps.push(root);
  for (const c of ['red', 'blue']) {
    mkdirSync(path.join(root, c));
    for (let i = 0; i < per; i++) {
      writeFileSync(path.join(root, c, `${String(i).padStart(3, '0')}.jpg`), jpegOf(c === 'red', i));
    }
  }
  const whole = jpegOf(true, 99);
  const bad = {
    cut: path.join(root, 'red', 'cut.jpg'),
    notes: path.join(root, 'red', 'notes.txt'),
    empty: path.join(root, 'blue', 'empty.png'),
    text: path.join(root, 'blue', 'text.jpg'),
  };
  writeFileSync(bad.cut, whole.subarray(0, Math.floor(whole.length / 2)));
  writeFileSync(bad.notes, 'a note, not a picture');
  writeFileSync(bad.empty, '');
  writeFileSync(bad.text, 'plain text with a picture name');
  return { root, bad };
}

/** Every record's colour says it came from its label's class (blue/ is 0, red/ 1). */
function expectLabelsMatchPixels(images: Uint8Array, labels: Int32Array, per: number): void {
  for (let i = 0; i < labels.length; i++) {
    const px = images.subarray(i * per, (i + 1) * per);
    let r = 0;
    let b = 0;
    for (let p = 0; p < px.length; p += 3) {
      r += px[p];
      b += px[p + 2];
    }
    expect(labels[i] === 1 ? r > b : b > r, `record ${i}`).toBe(true);
  }
}

const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'wgt-bad-cache-'));
tmps.push(cacheDir);

describe('bad files in an image folder', () => {
  it('are skipped and listed; the labels stay with their files; strict fails as before', async () => {
    const { root, bad } = badFolder(5);
    const d = await openDataset(root, { cacheDir });
    expect(d.classNames).toEqual(['blue', 'red']);
    expect(d.shape).toEqual([12, 20, 3]);
    expect(d.train.count).toBe(10);
    expect(d.imageFiles).toBe(14);
    expect([...d.train.labels]).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expectLabelsMatchPixels(d.train.images, d.train.labels, 12 * 20 * 3);
    expect(d.skipped!.map((s) => [s.file, s.kind])).toEqual([
      [bad.empty, 'empty'],
      [bad.text, 'unreadable'],
      [bad.cut, 'unreadable'],
      [bad.notes, 'unsupported'],
    ]);
    expect(d.skipped![2].reason).toMatch(/^corrupt or unreadable JPEG \(.*\); replace or delete the file$/);
    expect(d.skipped![3].reason).toMatch(/^not a PNG, JPEG, WebP, GIF, BMP, TIFF or AVIF\/HEIF file/);
    expect(describeSkipped(d.skipped!, d.imageFiles!)).toBe(
      '4 of 14 files (1 empty, 2 unreadable, 1 unsupported)',
    );
    expect(describeSkipped(d.skipped!.slice(1, 3), 12)).toBe('2 of 12 files (unreadable)');
    expect(formatSkippedList(d.skipped!).split('\n')[2]).toBe(
      `${bad.cut}\tunreadable: ${d.skipped![2].reason}`,
    );

    // Strict: the first bad file in folder order is the error, with the decoder's message.
    const err = await openDataset(root, { cacheDir: path.join(cacheDir, 'strict'), strict: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as DatasetFormatError).file).toBe(bad.empty);
    expect((err as Error).message).toBe(
      `${bad.empty}: corrupt image (no PNG, JPEG, WebP, GIF, BMP, TIFF or AVIF/HEIF signature); replace or delete the file`,
    );
    // The pure-JS reader the browser path shares follows the same policy.
    const plain = await readImageFolderFromDisk(root, { size: [12, 20], onWarning: () => {} });
    expect(plain.images).toEqual(d.train.images);
    expect(plain.skipped).toEqual(d.skipped);
    await expect(readImageFolderFromDisk(root, { size: [12, 20], strict: true })).rejects.toThrow(
      DatasetFormatError,
    );
  });

  it('the worker-thread first pass skips into the cache; a cached run reports the same list', async () => {
    // 2 x 40 good files: more than one chunk, so two workers share them.
    const { root, bad } = badFolder(40);
    const opts = { size: [12, 20] as [number, number], cacheDir, threads: 2, onWarning: () => {} };
    const info: string[] = [];
    const first = await readImageFolderCached(root, { ...opts, onInfo: (m) => info.push(m) });
    expect(first.cache).toBe('miss');
    expect(first.set.count).toBe(80);
    expect(first.set.skipped.map((s) => s.file)).toEqual([bad.empty, bad.text, bad.cut, bad.notes]);
    expect(info[0]).toMatch(/^decoded 80 images from .* \(4 bad files skipped\); wrote the decoded cache /);
    const meta = JSON.parse(readFileSync(path.join(first.dir!, 'folder.json'), 'utf8')) as {
      skipped: { file: string }[];
    };
    // Stored relative to the folder, so the list is the folder's, wherever it is read from.
    expect(meta.skipped.map((s) => s.file)).toEqual([
      'blue/empty.png',
      'blue/text.jpg',
      'red/cut.jpg',
      'red/notes.txt',
    ]);

    const second = await readImageFolderCached(root, { ...opts, onInfo: (m) => info.push(m) });
    expect(second.cache).toBe('hit');
    expect(second.set.skipped).toEqual(first.set.skipped);
    expect(second.set.images).toEqual(first.set.images);
    expect([...second.set.labels]).toEqual([...first.set.labels]);
    expect(info[1]).toMatch(/^loaded 80 decoded images .* \(4 bad files skipped\)$/);
    // Streamed from the slot, the list is the same too.
    const streamed = await readImageFolderCached(root, { ...opts, streamOver: 100 });
    expect(streamed.streamed).toBe(true);
    expect(streamed.set.skipped).toEqual(first.set.skipped);

    // Strict on the cached slot: the same error the first decode would have thrown.
    const strict = await readImageFolderCached(root, { ...opts, strict: true, skipNonImages: true }).catch(
      (e: unknown) => e,
    );
    expect(strict).toBeInstanceOf(DatasetFormatError);
    expect((strict as Error).message).toBe(
      `${bad.empty}: corrupt image (no PNG, JPEG, WebP, GIF, BMP, TIFF or AVIF/HEIF signature); replace or delete the file`,
    );
    // Strict on workers, uncached: the same first error, named.
    const fresh = await readImageFolderCached(root, { ...opts, cache: false, strict: true }).catch(
      (e: unknown) => e,
    );
    expect((fresh as DatasetFormatError).file).toBe(bad.empty);
    // Only the text file left: strict with skipNonImages warns about it and keeps going.
    for (const f of [bad.empty, bad.text, bad.cut]) rmSync(f);
    const warnings: string[] = [];
    const only = await readImageFolderCached(root, {
      ...opts,
      threads: 1,
      strict: true,
      skipNonImages: true,
      onWarning: (m) => warnings.push(m),
    });
    expect(only.set.count).toBe(80);
    expect(warnings).toEqual([`${bad.notes}: skipped, not an image file`]);
    const noSkip = await readImageFolderCached(root, {
      ...opts,
      threads: 1,
      strict: true,
      cache: false,
    }).catch((e: unknown) => e);
    expect(noSkip).toBeInstanceOf(NotAnImageError);
  });

  it('a class whose files are all bad, or a folder of no pictures, is still an error', async () => {
    const { root } = badFolder(2);
    for (const f of ['000.jpg', '001.jpg']) rmSync(path.join(root, 'blue', f));
    const err = await openDataset(root, { cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as Error).message).toBe(
      `${path.join(root, 'blue')}: class folder "blue" has no images (its 2 files were skipped as bad); add image files or remove the folder`,
    );
    for (const f of ['000.jpg', '001.jpg']) rmSync(path.join(root, 'red', f));
    await expect(openDataset(root, { cacheDir })).rejects.toThrow(/has no images/);
  });
});
