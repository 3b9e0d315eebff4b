import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCatHdf5 } from '../../src/data/hdf5.js';
import { parseIdxImages, parseIdxLabels } from '../../src/data/idx.js';
import { findData, needData } from '../helpers/datasets.js';
import { expectFormatError } from './readers-helpers.js';

// The .h5 files ship as the package's sample (data/catvnoncat); the test split's IDX copy ships in
// test/fixtures/catvnoncat; the train split's (2 MB) is only in the shared data folder.
const IDX = (split: string): string[] => [`${split}-images-idx4-ubyte.gz`, `${split}-labels-idx1-ubyte.gz`];
const dir = findData('catvnoncat') ?? '';
const idxDirs: Record<string, string | undefined> = {
  t10k: findData('catvnoncat', IDX('t10k')),
  train: needData('catvnoncat', 'HDF5 train split against its IDX copy', IDX('train')),
};
const read = (f: string, d = dir): Uint8Array => new Uint8Array(readFileSync(path.join(d, f)));

/** Finds a byte pattern in the object headers (searching, not hard-coding, where it sits). */
function find(b: Uint8Array, pattern: number[] | string, from = 0): number {
  const p = typeof pattern === 'string' ? Array.from(new TextEncoder().encode(pattern)) : pattern;
  outer: for (let i = from; i + p.length <= b.length; i++) {
    for (let j = 0; j < p.length; j++) if (b[i + j] !== p[j]) continue outer;
    return i;
  }
  throw new Error(`pattern ${String(pattern)} not found`);
}

const u64 = (...v: number[]): number[] => v.flatMap((x) => [x, 0, 0, 0, 0, 0, 0, 0]);

describe('HDF5 catvnoncat', () => {
  for (const [split, h5, idx, n, cats] of [
    ['train', 'train_catvnoncat.h5', 'train', 209, 72],
    ['test', 'test_catvnoncat.h5', 't10k', 50, 33],
  ] as const) {
    it.skipIf(!idxDirs[idx])(`${split}: equals the IDX copies byte for byte`, () => {
      const d = idxDirs[idx] ?? '';
      const s = parseCatHdf5(read(h5), h5);
      expect([s.count, s.height, s.width, s.channels]).toEqual([n, 64, 64, 3]);
      expect(s.classNames).toEqual(['non-cat', 'cat']);
      const img = parseIdxImages(read(`${idx}-images-idx4-ubyte.gz`, d), idx);
      const lab = parseIdxLabels(read(`${idx}-labels-idx1-ubyte.gz`, d), idx);
      expect(Buffer.compare(Buffer.from(s.images), Buffer.from(img.images))).toBe(0);
      expect(s.labels).toEqual(lab);
      expect(Array.from(s.labels).filter((l) => l === 1).length).toBe(cats);
    });
  }

  it('matches the README offsets cross-check', () => {
    const b = read('train_catvnoncat.h5');
    const s = parseCatHdf5(b, 'train');
    expect(Buffer.compare(Buffer.from(b.subarray(2144, 2144 + 2568192)), Buffer.from(s.images))).toBe(0);
    const dv = new DataView(b.buffer, b.byteOffset);
    for (let i = 0; i < 209; i++) expect(Number(dv.getBigInt64(2570336 + 8 * i, true))).toBe(s.labels[i]);
    expect(new TextDecoder().decode(b.subarray(2572008, 2572008 + 14)).replace(/\0/g, '')).toBe('non-catcat');
    const t = read('test_catvnoncat.h5');
    const ts = parseCatHdf5(t, 'test');
    expect(Buffer.compare(Buffer.from(t.subarray(2144, 2144 + 614400)), Buffer.from(ts.images))).toBe(0);
  });

  describe('bad input (patched copies of the test file)', () => {
    const orig = read('test_catvnoncat.h5');
    const f = 'bad.h5';

    it('not HDF5 at all', () => {
      expectFormatError(() => parseCatHdf5(new Uint8Array(100), f), f);
    });

    it('missing dataset names the dataset', () => {
      const b = orig.slice();
      b[find(b, 'test_set_y') + 9] = 'q'.charCodeAt(0);
      expect(expectFormatError(() => parseCatHdf5(b, f), f).message).toContain('test_set_y');
      const c = orig.slice();
      c[find(c, 'list_classes')] = 'L'.charCodeAt(0);
      expect(expectFormatError(() => parseCatHdf5(c, f), f).message).toContain('list_classes');
    });

    it('wrong shape names the dataset', () => {
      const b = orig.slice();
      const dims = find(b, u64(50, 64, 64, 3));
      b[dims + 24] = 4; // channels 3 -> 4
      expect(expectFormatError(() => parseCatHdf5(b, f), f).message).toMatch(/test_set_x.*shape/);
    });

    it('wrong dtype names the dataset', () => {
      const b = orig.slice();
      // Datatype message of test_set_y: version 1, class 0 (fixed point), signed, size 8.
      const at = find(b, [0x10, 0x08, 0, 0, 8, 0, 0, 0]);
      b[at] = 0x11; // class 1: floating point
      expect(expectFormatError(() => parseCatHdf5(b, f), f).message).toMatch(/test_set_y.*dtype/);
    });

    it('label/image count mismatch', () => {
      const b = orig.slice();
      const dims = find(b, u64(50, 64, 64, 3));
      b[dims] = 49;
      expect(expectFormatError(() => parseCatHdf5(b, f), f).message).toMatch(/49 images/);
    });

    it('labels not 0/1 name the record', () => {
      const b = orig.slice();
      // The labels are an int64 array after the 614400 image bytes; locate them by their values.
      const s = parseCatHdf5(orig, f);
      const firstLabels = s.labels.slice(0, 6);
      const at = find(b, u64(...firstLabels), 2144 + 614400 - 8);
      b[at + 8 * 5] = 7;
      const e = expectFormatError(() => parseCatHdf5(b, f), f, 5);
      expect(e.message).toContain('test_set_y');
    });

    it('truncated files and a forged huge shape fail with the named error, without big allocations', () => {
      for (const len of [8, 100, 1000, 2000, 2144, 300000, orig.length - 7]) {
        expectFormatError(() => parseCatHdf5(orig.subarray(0, len), f), f);
      }
      const b = orig.slice();
      const dims = find(b, u64(50, 64, 64, 3));
      b.set([0xff, 0xff, 0xff, 0x7f], dims); // 2^31-1 images
      const before = process.memoryUsage().arrayBuffers;
      expectFormatError(() => parseCatHdf5(b, f), f);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 << 20);
    });
  });
});
