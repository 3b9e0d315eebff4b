import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzip } from 'pako';
import { describe, expect, it } from 'vitest';
import { idxToImageSet, parseIdx, parseIdxImages, parseIdxLabels } from '../../src/data/idx.js';
import { readIdxFiles } from '../../src/data/readers-node.js';
import type { ImageSet } from '../../src/data/types.js';
import { findData, needData } from '../helpers/datasets.js';
import { expectFormatError, idxBytes } from './readers-helpers.js';

function classTotals(s: ImageSet): number[] {
  const t = new Array<number>(10).fill(0);
  for (const l of s.labels) t[l]++;
  return t;
}

function meanPixel(s: ImageSet): number {
  let sum = 0;
  for (const v of s.images) sum += v;
  return sum / s.images.length;
}

// Full MNIST and Fashion-MNIST through the dataset lookup; the rest from the shipped fixtures.
const mnist = needData('mnist', 'IDX on the full MNIST files');
const fashion = needData('fashion-mnist', 'IDX on the full Fashion-MNIST files');
const catIdx = findData('catvnoncat', ['t10k-images-idx4-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
const mnistHead = findData('mnist-t10k-head', ['t10k-labels-idx1-ubyte.gz']);

async function load(d: string, split: 'train' | 't10k'): Promise<ImageSet> {
  return readIdxFiles(
    path.join(d, `${split}-images-idx3-ubyte.gz`),
    path.join(d, `${split}-labels-idx1-ubyte.gz`),
    {
      numClasses: 10,
    },
  );
}

describe('IDX on the real MNIST and Fashion-MNIST files', () => {
  it.skipIf(!mnist)('MNIST counts, class totals and mean pixels match the README', async () => {
    const train = await load(mnist ?? '', 'train');
    expect([train.count, train.height, train.width, train.channels]).toEqual([60000, 28, 28, 1]);
    expect(classTotals(train)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(meanPixel(train)).toBeCloseTo(33.318, 2);
    const test = await load(mnist ?? '', 't10k');
    expect(test.count).toBe(10000);
    expect(classTotals(test)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(meanPixel(test)).toBeCloseTo(33.791, 2);
  });

  it.skipIf(!fashion)('Fashion-MNIST counts, class totals and mean pixels match the README', async () => {
    const train = await load(fashion ?? '', 'train');
    expect(train.count).toBe(60000);
    expect(classTotals(train)).toEqual(new Array(10).fill(6000));
    expect(meanPixel(train)).toBeCloseTo(72.94, 1);
    const test = await load(fashion ?? '', 't10k');
    expect(classTotals(test)).toEqual(new Array(10).fill(1000));
    expect(meanPixel(test)).toBeCloseTo(73.15, 1);
  });

  it('reads the NHWC idx4 catvnoncat copy', async () => {
    const d = catIdx ?? '';
    const s = await readIdxFiles(
      path.join(d, 't10k-images-idx4-ubyte.gz'),
      path.join(d, 't10k-labels-idx1-ubyte.gz'),
      {
        numClasses: 2,
      },
    );
    expect([s.count, s.height, s.width, s.channels]).toEqual([50, 64, 64, 3]);
    expect(Array.from(s.labels).filter((l) => l === 1).length).toBe(33);
  });

  it('plain (uncompressed) bytes parse the same as gzip', () => {
    const gz = readFileSync(path.join(mnistHead ?? '', 't10k-labels-idx1-ubyte.gz'));
    const a = parseIdxLabels(gz, 'gz');
    const raw = idxBytes([a.length], Uint8Array.from(a));
    expect(parseIdxLabels(raw, 'raw')).toEqual(a);
  });
});

describe('IDX bad input', () => {
  const labels = idxBytes([4], [0, 1, 2, 3]);
  const images = idxBytes([4, 2, 3], new Uint8Array(24).fill(7));

  it('parses a small valid pair', () => {
    const s = idxToImageSet(images, 'i.idx', labels, 'l.idx', { numClasses: 4 });
    expect([s.count, s.height, s.width, s.channels]).toEqual([4, 2, 3, 1]);
    expect(Array.from(s.labels)).toEqual([0, 1, 2, 3]);
    const rgb = parseIdxImages(idxBytes([1, 2, 2, 3], new Uint8Array(12)), 'rgb');
    expect(rgb.channels).toBe(3);
  });

  it('rejects a bad magic', () => {
    const b = labels.slice();
    b[0] = 0x50;
    expectFormatError(() => parseIdx(b, 'bad-magic.idx'), 'bad-magic.idx');
  });

  it('rejects a dtype byte other than 0x08', () => {
    expectFormatError(() => parseIdx(idxBytes([4], [0, 1, 2, 3], 0x0d), 'float.idx'), 'float.idx');
  });

  it('rejects 0 or more than 4 dims, and the wrong kind of file', () => {
    expectFormatError(() => parseIdx(idxBytes([], []), 'zero-dims.idx'), 'zero-dims.idx');
    expectFormatError(() => parseIdx(idxBytes([1, 1, 1, 1, 1], [0]), 'five.idx'), 'five.idx');
    expectFormatError(() => parseIdxLabels(images, 'swapped.idx'), 'swapped.idx');
    expectFormatError(() => parseIdxImages(labels, 'swapped2.idx'), 'swapped2.idx');
  });

  it('rejects a header claiming 2^31 images in a small file without allocating', () => {
    const before = process.memoryUsage().arrayBuffers;
    const huge = idxBytes([0x80000000, 28, 28], new Uint8Array(784 * 3));
    const e = expectFormatError(() => parseIdxImages(huge, 'huge.idx'), 'huge.idx', 3);
    expect(e.message).toMatch(/truncated/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
  });

  it('rejects truncated files and truncated headers, naming the broken record', () => {
    expectFormatError(
      () => parseIdxImages(images.subarray(0, images.length - 5), 'trunc.idx'),
      'trunc.idx',
      3,
    );
    expectFormatError(() => parseIdx(images.subarray(0, 10), 'short-header.idx'), 'short-header.idx');
    expectFormatError(() => parseIdx(images.subarray(0, 2), 'tiny.idx'), 'tiny.idx');
  });

  it('rejects trailing bytes', () => {
    const b = new Uint8Array(labels.length + 3);
    b.set(labels);
    expectFormatError(() => parseIdx(b, 'trailing.idx'), 'trailing.idx');
  });

  it('rejects a label count that differs from the image count', () => {
    expectFormatError(
      () => idxToImageSet(images, 'i.idx', idxBytes([3], [0, 1, 2]), 'three.idx'),
      'three.idx',
    );
  });

  it('rejects labels out of range when the class count is known, naming the record', () => {
    expectFormatError(() => parseIdxLabels(idxBytes([3], [0, 9, 1]), 'range.idx', 5), 'range.idx', 1);
  });

  it('rejects corrupt and truncated gzip', () => {
    const gz = gzip(labels);
    const bad = gz.slice();
    bad[12] ^= 0xff;
    expectFormatError(() => parseIdx(bad, 'corrupt.gz'), 'corrupt.gz');
    expectFormatError(() => parseIdx(gz.subarray(0, gz.length - 10), 'cut.gz'), 'cut.gz');
  });

  it('stops a decompression bomb at the cap', () => {
    // 64 MiB of zeros deflates to ~64 KiB.
    const bomb = gzip(idxBytes([64 << 20], new Uint8Array(64 << 20)));
    const before = process.memoryUsage().arrayBuffers;
    const e = expectFormatError(
      () => parseIdx(bomb, 'bomb.gz', { maxDecompressedBytes: 1 << 20 }),
      'bomb.gz',
    );
    expect(e.message).toMatch(/decompress/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });
});
