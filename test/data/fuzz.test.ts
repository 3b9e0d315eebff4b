// Seeded mutation fuzzing of every reader: bit flips, byte overwrites, truncations, header field
// rewrites (including huge values), insertions and deletions. Every variant must end in a valid
// result or a DatasetFormatError, within a per-case time bound, without large allocations.
// Seeds are small (a few records of the real files, re-packed) so ~7,000 cases fit in well under a
// minute on a 2-core machine.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { gzip } from 'pako';
import { describe, expect, it } from 'vitest';
import { parseCifarBatch } from '../../src/data/cifar.js';
import { decodeImageSync } from '../../src/data/decode-js.js';
import { parseCatHdf5 } from '../../src/data/hdf5.js';
import { parseIdxImages, parseIdxLabels } from '../../src/data/idx.js';
import { preprocessImage } from '../../src/data/preprocess.js';
import { DatasetFormatError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import { findData } from '../helpers/datasets.js';
import { cifarBatch, idxBytes } from './readers-helpers.js';

// Seeds from real files that ship with the repo: MNIST's first test records, the catvnoncat test set.
const mnistHead = findData('mnist-t10k-head', ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
const catDir = findData('catvnoncat');

const CASES = 1000;
const MAX_CASE_MS = 2000;
/** Allowed growth of ArrayBuffer memory over the baseline at any point (catches forged sizes). */
const MAX_BUFFER_GROWTH = 128 << 20;
const HUGE = [0, 1, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0x1000000];

interface Format {
  name: string;
  seed: Uint8Array;
  /** Byte ranges holding header fields worth rewriting. */
  headerEnd: number;
  /** Optional re-wrapping after mutation (e.g. gzip the mutated IDX, or fix PNG CRCs). */
  post?: (b: Uint8Array, rng: Rng) => Uint8Array;
  parse: (b: Uint8Array) => void;
}

function mutate(seed: Uint8Array, rng: Rng, headerEnd: number): Uint8Array {
  const pos = (): number =>
    rng.next() < 0.5 ? rng.int(Math.min(headerEnd, seed.length)) : rng.int(seed.length);
  let b = seed.slice();
  const kind = rng.int(6);
  if (kind === 0) {
    for (let n = 1 + rng.int(8); n > 0; n--) b[pos()] ^= 1 << rng.int(8);
  } else if (kind === 1) {
    for (let n = 1 + rng.int(4); n > 0; n--)
      b[pos()] = rng.next() < 0.5 ? rng.int(256) : [0, 0xff][rng.int(2)];
  } else if (kind === 2) {
    b = b.slice(0, rng.int(b.length));
  } else if (kind === 3) {
    // Rewrite a 32-bit field (either endianness) with an extreme value.
    const at = rng.int(Math.max(1, Math.min(headerEnd, b.length) - 4));
    const v = rng.next() < 0.7 ? HUGE[rng.int(HUGE.length)] : rng.nextUint32();
    if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, v, rng.next() < 0.5);
  } else if (kind === 4) {
    const at = pos();
    const ins = new Uint8Array(1 + rng.int(16)).map(() => rng.int(256));
    b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
  } else {
    const at = pos();
    b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + rng.int(32))]);
  }
  return b;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** Recomputes every PNG chunk CRC, so mutations reach past the CRC check into the decoder. */
function fixPngCrcs(b: Uint8Array): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let off = 8; off + 12 <= b.length;) {
    const len = v.getUint32(off);
    if (off + 12 + len > b.length) break;
    let c = 0xffffffff;
    for (let i = off + 4; i < off + 8 + len; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
    v.setUint32(off + 8 + len, (c ^ 0xffffffff) >>> 0);
    off += 12 + len;
  }
  return b;
}

function checkImages(
  count: number,
  h: number,
  w: number,
  c: number,
  images: Uint8Array,
  labels: Int32Array,
): void {
  if (images.length !== count * h * w * c || labels.length !== count) {
    throw new Error(
      `inconsistent result: ${count}x${h}x${w}x${c}, ${images.length} bytes, ${labels.length} labels`,
    );
  }
}

function u64(...v: number[]): number[] {
  return v.flatMap((x) => [x, 0, 0, 0, 0, 0, 0, 0]);
}

function patch(b: Uint8Array, from: number[], to: number[]): void {
  for (let i = 0; i + from.length <= b.length && i < 4096; i++) {
    if (from.every((x, j) => b[i + j] === x)) b.set(to, i);
  }
}

function formats(): Format[] {
  const mnistImg = parseIdxImages(
    readFileSync(path.join(mnistHead ?? '', 't10k-images-idx3-ubyte.gz')),
    'seed',
  );
  const mnistLab = parseIdxLabels(
    readFileSync(path.join(mnistHead ?? '', 't10k-labels-idx1-ubyte.gz')),
    'seed',
  );
  const labSeed = idxBytes([64], Uint8Array.from(mnistLab.subarray(0, 64)));
  const imgSeed = idxBytes([8, 28, 28], mnistImg.images.subarray(0, 8 * 784));
  // HDF5 seed: the real test file with its datasets shrunk to 2 records (dims patched in the
  // dataspace messages) so each parse is fast; mutations still hit the real object headers.
  const h5 = new Uint8Array(readFileSync(path.join(catDir ?? '', 'test_catvnoncat.h5')));
  patch(h5, u64(50, 64, 64, 3), u64(2, 64, 64, 3));
  patch(h5, u64(50), u64(2));
  parseCatHdf5(h5, 'seed'); // the seed itself must be valid
  const h5Img = parseCatHdf5(
    new Uint8Array(readFileSync(path.join(catDir ?? '', 'test_catvnoncat.h5'))),
    'x',
  );
  const crop = new Uint8Array(16 * 16 * 3);
  for (let y = 0; y < 16; y++) crop.set(h5Img.images.subarray(y * 64 * 3, (y * 64 + 16) * 3), y * 48);
  const png = encodePng({ width: 16, height: 16, data: crop, channels: 3, depth: 8 });
  const rgba = new Uint8Array(16 * 16 * 4);
  for (let i = 0; i < 256; i++) rgba.set([...crop.subarray(3 * i, 3 * i + 3), 255], 4 * i);
  const jpg = new Uint8Array(jpeg.encode({ width: 16, height: 16, data: rgba }, 80).data);
  const limits = { maxPixels: 1 << 20 };
  const image = (b: Uint8Array): void => {
    const img = decodeImageSync(b, 'fuzz.img', limits);
    preprocessImage(img, { size: [8, 8], channels: 3 });
  };
  return [
    {
      name: 'IDX labels',
      seed: labSeed,
      headerEnd: 8,
      post: (b, rng) => (rng.next() < 0.5 ? gzip(b) : b),
      parse: (b) => void parseIdxLabels(b, 'fuzz.idx', 10),
    },
    {
      name: 'IDX images',
      seed: imgSeed,
      headerEnd: 16,
      post: (b, rng) => (rng.next() < 0.5 ? gzip(b) : b),
      parse: (b) => {
        const s = parseIdxImages(b, 'fuzz.idx');
        checkImages(s.count, s.height, s.width, s.channels, s.images, new Int32Array(s.count));
      },
    },
    {
      name: 'IDX images (mutated gzip stream)',
      seed: gzip(imgSeed),
      headerEnd: 32,
      parse: (b) => void parseIdxImages(b, 'fuzz.idx.gz', { maxDecompressedBytes: 1 << 20 }),
    },
    {
      name: 'HDF5',
      seed: h5,
      headerEnd: 2200,
      parse: (b) => {
        const s = parseCatHdf5(b, 'fuzz.h5');
        checkImages(s.count, s.height, s.width, s.channels, s.images, s.labels);
      },
    },
    {
      name: 'CIFAR',
      seed: cifarBatch([3, 1, 4], 'cifar10'),
      headerEnd: 3073,
      parse: (b) => {
        const s = parseCifarBatch(b, 'fuzz.bin', b.length % 3074 === 0 ? 'cifar100' : 'cifar10');
        checkImages(s.count, s.height, s.width, s.channels, s.images, s.labels);
      },
    },
    {
      name: 'PNG',
      seed: png,
      headerEnd: 64,
      post: (b, rng) => (rng.next() < 0.5 ? fixPngCrcs(b) : b),
      parse: image,
    },
    { name: 'JPEG', seed: jpg, headerEnd: 640, parse: image },
  ];
}

describe.skipIf(!mnistHead || !catDir)('fuzz', () => {
  it(`${CASES} mutated variants of each format end in a result or DatasetFormatError`, () => {
    const report: string[] = [];
    const failures: string[] = [];
    globalThis.gc?.();
    const baseline = process.memoryUsage().arrayBuffers;
    let peakGrowth = 0;
    let overallMax = 0;
    for (const [fi, f] of formats().entries()) {
      const rng = new Rng(0xf022 + fi);
      let ok = 0;
      let rejected = 0;
      let maxMs = 0;
      for (let i = 0; i < CASES; i++) {
        let b = mutate(f.seed, rng, f.headerEnd);
        if (f.post) b = f.post(b, rng);
        const t0 = performance.now();
        try {
          f.parse(b);
          ok++;
        } catch (e) {
          if (e instanceof DatasetFormatError) rejected++;
          else if (failures.length < 10) failures.push(`${f.name} case ${i}: ${String(e)}`);
        }
        const ms = performance.now() - t0;
        maxMs = Math.max(maxMs, ms);
        if (ms > MAX_CASE_MS && failures.length < 10)
          failures.push(`${f.name} case ${i}: took ${ms.toFixed(0)} ms`);
        if (i % 10 === 0) peakGrowth = Math.max(peakGrowth, process.memoryUsage().arrayBuffers - baseline);
      }
      overallMax = Math.max(overallMax, maxMs);
      report.push(
        `${f.name}: ${CASES} cases, ${ok} valid, ${rejected} DatasetFormatError, max ${maxMs.toFixed(1)} ms`,
      );
    }
    report.push(
      `peak ArrayBuffer growth ${(peakGrowth / 2 ** 20).toFixed(1)} MiB; max case ${overallMax.toFixed(1)} ms`,
    );
    console.log(report.join('\n'));
    expect(failures).toEqual([]);
    expect(overallMax).toBeLessThan(MAX_CASE_MS);
    expect(peakGrowth).toBeLessThan(MAX_BUFFER_GROWTH);
  });
});
