// Native image size: the header scan (PNG IHDR, JPEG SOFn after APPn segments, asked for more
// bytes when they end early), checked against the sample photos' manifest; the size rule (one
// size -> that size; mixed -> median short side, rounded down to a multiple of 8, capped at 128);
// and openDataset choosing it for a folder, the test split following the training size.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { scanImageHeader } from '../../src/data/decode-header.js';
import { chooseImageSize, NATIVE_SIZE_CAP } from '../../src/data/image-size.js';
import { readImageHeaders } from '../../src/data/readers-node.js';
import { openDataset } from '../../src/node.js';
import { Rng } from '../../src/rng.js';
import { REPO } from '../helpers/datasets.js';

const SAMPLE = path.join(REPO, 'test/fixtures/imagefolder-sample');

function noise(w: number, h: number, channels: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: w * h * channels }, () => rng.int(256));
}

const pngOf = (w: number, h: number, seed = 1): Uint8Array =>
  encodePng({ width: w, height: h, data: noise(w, h, 3, seed), channels: 3, depth: 8 });

const jpegOf = (w: number, h: number, seed = 1): Uint8Array =>
  new Uint8Array(jpeg.encode({ width: w, height: h, data: noise(w, h, 4, seed) }, 90).data);

/** SOI, an APP1 segment of `appBytes`, then a progressive frame header (SOF2) of w x h. */
function progressiveHead(w: number, h: number, appBytes: number): Uint8Array {
  const app = [0xff, 0xe1, (appBytes + 2) >> 8, (appBytes + 2) & 255, ...new Array<number>(appBytes).fill(0)];
  const sof = [0xff, 0xc2, 0, 17, 8, h >> 8, h & 255, w >> 8, w & 255, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1];
  return Uint8Array.from([0xff, 0xd8, ...app, 0xff, 0xff, ...sof]);
}

const tmps: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'wgt-native-'));
  tmps.push(d);
  return d;
}
afterAll(() => tmps.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('picture headers', () => {
  it('PNG and baseline JPEG: the stored width and height', () => {
    expect(scanImageHeader(pngOf(7, 3))).toEqual({ format: 'png', width: 7, height: 3 });
    expect(scanImageHeader(jpegOf(45, 17))).toEqual({ format: 'jpeg', width: 45, height: 17 });
  });

  it('a progressive frame after a large APP1 segment; too few bytes ask for more', () => {
    const head = progressiveHead(640, 427, 30_000);
    expect(scanImageHeader(head)).toEqual({ format: 'jpeg', width: 640, height: 427 });
    expect(scanImageHeader(head.subarray(0, 4096))).toBe('more');
    expect(scanImageHeader(head.subarray(0, 2))).toBe('more');
    // A scan (SOS) before any frame header, and text: no size.
    expect(scanImageHeader(Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0, 2]))).toBeUndefined();
    expect(scanImageHeader(new TextEncoder().encode('hello, not an image'))).toBeUndefined();
  });

  it('the sample photos and PNGs: the sizes their manifest lists', async () => {
    const rows = readFileSync(path.join(SAMPLE, 'MANIFEST.csv'), 'utf8').trim().split('\n').slice(1);
    const want = rows.map((r) => r.split(','));
    const got = await readImageHeaders(want.map((r) => path.join(SAMPLE, r[0])));
    expect(got.map((g) => [g?.width, g?.height])).toEqual(want.map((r) => [Number(r[3]), Number(r[4])]));
  });

  it('a file whose header sits past the first reads, an empty file and a missing one', async () => {
    const dir = tmp();
    const big = path.join(dir, 'exif.jpg');
    writeFileSync(big, progressiveHead(33, 21, 60_000));
    const empty = path.join(dir, 'empty.png');
    writeFileSync(empty, '');
    const got = await readImageHeaders([big, empty, path.join(dir, 'gone.jpg')]);
    expect(got).toEqual([{ format: 'jpeg', width: 33, height: 21 }, undefined, undefined]);
  });
});

describe('the native size rule', () => {
  const dims = (...wh: [number, number][]) => wh.map(([width, height]) => ({ width, height }));

  it('one size: that size, height by width', () => {
    expect(chooseImageSize(dims([32, 32], [32, 32]))).toEqual({
      size: [32, 32],
      from: 'uniform',
      reason: 'every picture is 32x32',
    });
    expect(chooseImageSize(dims([64, 48])).size).toEqual([48, 64]);
  });

  it('mixed sizes: the median short side, rounded down to a multiple of 8, square', () => {
    const c = chooseImageSize(dims([250, 187], [81, 150], [45, 60], [200, 85], [85, 86]));
    // Short sides 187, 81, 45, 85, 85: median 85 -> 80.
    expect(c).toEqual({
      size: [80, 80],
      from: 'median',
      reason: 'mixed sizes; median short side 85 of 5 pictures, rounded down to a multiple of 8',
    });
    // An even count takes the mean of the middle two (floored): 100 and 131 -> 115 -> 112.
    expect(chooseImageSize(dims([100, 100], [131, 140], [90, 90], [200, 200])).size).toEqual([112, 112]);
    // A multiple of 8 is kept, with no rounding note; under 8 the side is kept as it is.
    expect(chooseImageSize(dims([40, 40], [40, 50], [41, 60])).reason).toBe(
      'mixed sizes; median short side 40 of 3 pictures',
    );
    expect(chooseImageSize(dims([5, 6], [3, 4], [7, 9])).size).toEqual([5, 5]);
  });

  it(`large pictures are capped at ${NATIVE_SIZE_CAP}, one size or mixed`, () => {
    expect(chooseImageSize(dims([500, 375], [499, 400], [320, 240]))).toEqual({
      size: [128, 128],
      from: 'median',
      reason: 'mixed sizes; median short side 375 of 3 pictures, capped at 128',
    });
    expect(chooseImageSize(dims([4032, 3024], [4032, 3024])).reason).toBe(
      'every picture is 3024x4032, capped at 128',
    );
    // At the cap, one size is kept whatever its long side.
    expect(chooseImageSize(dims([300, 128], [300, 128])).size).toEqual([128, 300]);
    // No readable header: a fallback (the decode then fails on the pictures themselves).
    expect(chooseImageSize([]).size).toEqual([64, 64]);
  });
});

describe('openDataset with imageSize native (the default)', () => {
  it('one size trains at it; mixed sizes at the rule; the test split follows training', async () => {
    const cacheDir = path.join(tmp(), 'cache');
    const one = tmp();
    for (const c of ['a', 'b']) {
      mkdirSync(path.join(one, c));
      for (let i = 0; i < 3; i++) writeFileSync(path.join(one, c, `${i}.jpg`), jpegOf(20, 12, i));
    }
    const d = await openDataset(one, { cacheDir });
    expect(d.shape).toEqual([12, 20, 3]);
    expect(d.imageSize).toEqual({ size: [12, 20], from: 'uniform', reason: 'every picture is 12x20' });
    expect(d.skipped).toEqual([]);
    expect(d.imageFiles).toBe(6);

    const split = tmp();
    const sizes = [
      [30, 40],
      [17, 19],
      [25, 26],
    ];
    for (const c of ['a', 'b']) {
      mkdirSync(path.join(split, 'train', c), { recursive: true });
      mkdirSync(path.join(split, 'test', c), { recursive: true });
      sizes.forEach(([w, h], i) => writeFileSync(path.join(split, 'train', c, `${i}.png`), pngOf(w, h, i)));
      writeFileSync(path.join(split, 'test', c, 'x.png'), pngOf(9, 9));
    }
    const m = await openDataset(split, { cacheDir });
    // Short sides 30, 17, 25 (twice each): median 25 -> 24.
    expect(m.imageSize?.size).toEqual([24, 24]);
    expect(m.imageSize?.reason).toBe(
      'mixed sizes; median short side 25 of 6 pictures, rounded down to a multiple of 8',
    );
    expect(m.shape).toEqual([24, 24, 3]);
    expect([m.test?.height, m.test?.width]).toEqual([24, 24]);
    // The second open reads the choice back with the records: the same answer.
    expect((await openDataset(split, { cacheDir })).imageSize).toEqual(m.imageSize);
    // A size given wins.
    const given = await openDataset(split, { cacheDir, imageSize: [8, 6] });
    expect(given.shape).toEqual([8, 6, 3]);
    expect(given.imageSize).toEqual({ size: [8, 6], from: 'given', reason: 'as given' });
  });
});
