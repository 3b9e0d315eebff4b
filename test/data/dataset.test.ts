import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { augmentRecord } from '../../src/data/augment.js';
import { applyNormalization, Dataset, validateNormalization } from '../../src/data/dataset.js';
import type { Batch, Normalization } from '../../src/data/dataset.js';
import type { ImageSet } from '../../src/data/types.js';
import { ConfigError, DatasetFormatError, ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import { needData } from '../helpers/datasets.js';

const mnist = needData('mnist', 'MNIST normalisation statistics', [
  'train-images-idx3-ubyte.gz',
  'train-labels-idx1-ubyte.gz',
]);

/** n random records of h x w x c, labels balanced over `classes` in a seeded order. */
function makeSet(n: number, h: number, w: number, c: number, classes: number, seed = 1): ImageSet {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % classes;
  rng.shuffle(labels);
  const classNames = Array.from({ length: classes }, (_, k) => `class${k}`);
  return { images, labels, count: n, height: h, width: w, channels: c, classNames, source: 'synthetic' };
}

function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  const buf = gunzipSync(readFileSync(file));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const nd = dv.getUint32(0) & 0xff;
  const dims = Array.from({ length: nd }, (_, i) => dv.getUint32(4 + 4 * i));
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + 4 + 4 * nd) };
}

const scale: Normalization = { kind: 'scale' };

function allIndices(batches: Batch[]): number[] {
  return batches.flatMap((b) => [...b.sampleIndices]);
}

describe('BatchLoader shuffling', () => {
  const set = makeSet(103, 3, 2, 1, 5);
  const ds = new Dataset(set);

  it('same seed and epoch give the same order; different epochs differ', () => {
    const a = ds.loader({ batchSize: 10, normalization: scale, seed: 7 });
    const b = ds.loader({ batchSize: 10, normalization: scale, seed: 7 });
    expect([...a.epochOrder(3)]).toEqual([...b.epochOrder(3)]);
    expect([...a.epochOrder(0)]).not.toEqual([...a.epochOrder(1)]);
    const c = ds.loader({ batchSize: 10, normalization: scale, seed: 8 });
    expect([...a.epochOrder(0)]).not.toEqual([...c.epochOrder(0)]);
  });

  it('visits every sample exactly once per epoch, keeping the last partial batch', () => {
    const loader = ds.loader({ batchSize: 10, normalization: scale, seed: 1 });
    expect(loader.batchesPerEpoch).toBe(11);
    for (const epoch of [0, 1, 2]) {
      const batches = [...loader.epoch(epoch)];
      expect(batches.map((b) => b.size)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
      expect(batches[10].x.length).toBe(3 * 6);
      expect(batches[10].labels.length).toBe(3);
      expect(allIndices(batches).sort((x, y) => x - y)).toEqual([...Array(103).keys()]);
      batches.forEach((b, k) => {
        expect(b.epoch).toBe(epoch);
        expect(b.index).toBe(k);
      });
    }
  });

  it("lastBatch 'drop' gives only full batches of distinct samples", () => {
    const loader = ds.loader({ batchSize: 10, normalization: scale, seed: 1, lastBatch: 'drop' });
    const batches = [...loader.epoch(0)];
    expect(batches.map((b) => b.size)).toEqual(Array(10).fill(10));
    expect(new Set(allIndices(batches)).size).toBe(100);
  });

  it('shuffle: false keeps source order', () => {
    const loader = ds.loader({ batchSize: 50, normalization: scale, shuffle: false });
    expect(allIndices([...loader.epoch(4)])).toEqual([...Array(103).keys()]);
  });

  it('resuming at (epoch, batch) reproduces the same batches, augmentation included', () => {
    const img = makeSet(37, 6, 5, 3, 4);
    const opts = {
      batchSize: 8,
      normalization: scale,
      seed: 11,
      augment: { crop: { padding: 2, mode: 'zero' as const }, flip: true, brightness: 0.1, contrast: 0.2 },
    };
    const full = [...new Dataset(img).loader(opts).epoch(2)];
    const resumed = [...new Dataset(img).loader(opts).epoch(2, 3)];
    expect(resumed.length).toBe(full.length - 3);
    resumed.forEach((b, k) => {
      expect(b.index).toBe(k + 3);
      expect([...b.sampleIndices]).toEqual([...full[k + 3].sampleIndices]);
      expect(b.x).toEqual(full[k + 3].x);
    });
    const loader = new Dataset(img).loader(opts);
    expect(loader.nextPosition({ epoch: 2, batchIndex: 3 })).toEqual({ epoch: 2, batchIndex: 4 });
    expect(loader.nextPosition({ epoch: 2, batchIndex: 4 })).toEqual({ epoch: 3, batchIndex: 0 });
  });

  it('augments each row with the draws of (seed, epoch, source index), as the GPU gather does', () => {
    const img = makeSet(29, 5, 7, 3, 4);
    const augment = {
      crop: { padding: 2, mode: 'reflect' as const },
      flip: true,
      brightness: 0.2,
      contrast: 0.3,
    };
    const loader = new Dataset(img).loader({ batchSize: 8, normalization: scale, seed: 21, augment });
    const F = 5 * 7 * 3;
    const shape = { height: 5, width: 7, channels: 3 };
    for (const b of loader.epoch(4)) {
      for (let r = 0; r < b.size; r++) {
        const s = b.sampleIndices[r];
        const bytes = new Uint8Array(F);
        augmentRecord(img.images.subarray(s * F, (s + 1) * F), bytes, shape, augment, 21, 4, s);
        expect(b.x.subarray(r * F, (r + 1) * F)).toEqual(applyNormalization(bytes, scale));
      }
    }
  });

  it('fills caller buffers in place and gives index lists that match the batches', () => {
    const loader = ds.loader({ batchSize: 10, normalization: scale, seed: 3, oneHot: true });
    const buffers = loader.allocateBuffers();
    const idx = new Uint32Array(10);
    for (let k = 0; k < loader.batchesPerEpoch; k++) {
      const b = loader.fillBatch(1, k, buffers);
      expect(b.x.buffer).toBe(buffers.x.buffer);
      expect(b.oneHot!.buffer).toBe(buffers.oneHot!.buffer);
      expect([...loader.batchIndices(1, k, idx)]).toEqual([...b.sampleIndices]);
    }
    expect(loader.batchIndices(1, 10).length).toBe(3);
  });

  it('rows hold the normalised record and its label (NHWC flattened)', () => {
    const img = makeSet(20, 4, 3, 3, 3);
    const loader = new Dataset(img).loader({ batchSize: 6, normalization: scale, seed: 5 });
    for (const b of loader.epoch(0)) {
      for (let r = 0; r < b.size; r++) {
        const s = b.sampleIndices[r];
        expect(b.labels[r]).toBe(img.labels[s]);
        for (let f = 0; f < 36; f++) expect(b.x[r * 36 + f]).toBe(Math.fround(img.images[s * 36 + f] / 255));
      }
    }
  });

  it('one-hot rows have a single 1 at the label', () => {
    const loader = ds.loader({ batchSize: 16, normalization: scale, oneHot: true, seed: 2 });
    const b = loader.batch(0, 6);
    expect(b.size).toBe(7);
    expect(b.oneHot!.length).toBe(7 * 5);
    for (let r = 0; r < b.size; r++) {
      const row = [...b.oneHot!.subarray(r * 5, (r + 1) * 5)];
      expect(row).toEqual([0, 1, 2, 3, 4].map((k) => (k === b.labels[r] ? 1 : 0)));
    }
  });

  it('rejects bad options with named errors', () => {
    expect(() => ds.loader({ batchSize: 0, normalization: scale })).toThrow(ConfigError);
    expect(() => ds.loader({ batchSize: 2.5, normalization: scale })).toThrow(/batchSize/);
    expect(() => ds.loader({ batchSize: 200, normalization: scale, lastBatch: 'drop' })).toThrow(ConfigError);
    expect(() =>
      ds.loader({ batchSize: 4, normalization: { kind: 'standardize', mean: [0.5], std: [0] } }),
    ).toThrow(/std of channel 0 is 0/);
    expect(() =>
      ds.loader({ batchSize: 4, normalization: { kind: 'standardize', mean: [0.5, 0.5], std: [1, 1] } }),
    ).toThrow(/2 channel/);
    const loader = ds.loader({ batchSize: 10, normalization: scale });
    expect(() => loader.batch(0, 11)).toThrow(ConfigError);
    expect(() => loader.batch(-1, 0)).toThrow(ConfigError);
    expect(() =>
      loader.fillBatch(0, 0, {
        x: new Float32Array(3),
        labels: new Int32Array(10),
        sampleIndices: new Uint32Array(10),
      }),
    ).toThrow(ShapeError);
  });

  it('rejects inconsistent ImageSets and out-of-range labels for one-hot', () => {
    const bad = { ...makeSet(4, 2, 2, 1, 2), count: 5 };
    expect(() => new Dataset(bad)).toThrow(DatasetFormatError);
    const set2 = makeSet(4, 2, 2, 1, 2);
    set2.labels[2] = 9;
    const loader = new Dataset(set2).loader({
      batchSize: 4,
      normalization: scale,
      oneHot: true,
      shuffle: false,
    });
    expect(() => loader.batch(0, 0)).toThrow(DatasetFormatError);
  });
});

describe('Dataset.split', () => {
  const set = makeSet(1000, 2, 2, 1, 3);
  const ds = new Dataset(set);

  it('sizes, disjointness, union and reproducibility', () => {
    const { train, validation } = ds.split({ validationFraction: 0.1, seed: 4 });
    expect(validation.length).toBe(100);
    expect(train.length).toBe(900);
    const all = [...train.indices, ...validation.indices].sort((a, b) => a - b);
    expect(all).toEqual([...Array(1000).keys()]);
    const again = ds.split({ validationFraction: 0.1, seed: 4 });
    expect([...again.validation.indices]).toEqual([...validation.indices]);
    const other = ds.split({ validationFraction: 0.1, seed: 5 });
    expect([...other.validation.indices]).not.toEqual([...validation.indices]);
    // Shares the bytes: records are views of the same ImageSet buffer.
    expect(train.record(0).buffer).toBe(set.images.buffer);
  });

  it('stratified split keeps class proportions', () => {
    // Unbalanced: class 0 has 600, class 1 300, class 2 100.
    const s = makeSet(1000, 1, 1, 1, 3);
    s.labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
    const { train, validation } = new Dataset(s).split({ validationFraction: 0.25, seed: 1, stratify: true });
    const counts = (d: Dataset): number[] => {
      const c = [0, 0, 0];
      for (let i = 0; i < d.length; i++) c[d.label(i)]++;
      return c;
    };
    expect(counts(validation)).toEqual([150, 75, 25]);
    expect(counts(train)).toEqual([450, 225, 75]);
    // Largest remainder keeps the total exact when quotas are fractional.
    const odd = new Dataset(s).split({ validationFraction: 0.333, seed: 1, stratify: true });
    expect(odd.validation.length).toBe(333);
  });

  it('rejects fractions outside (0, 1) and splits with an empty part', () => {
    for (const f of [0, 1, -0.5, 1.5, NaN]) {
      expect(() => ds.split({ validationFraction: f, seed: 1 })).toThrow(ConfigError);
    }
    expect(() => new Dataset(makeSet(3, 1, 1, 1, 1)).split({ validationFraction: 0.1, seed: 1 })).toThrow(
      /at least one/,
    );
  });
});

describe('normalisation', () => {
  it('computed mean/std match a float64 computation over the split', () => {
    const set = makeSet(211, 7, 5, 3, 4, 9);
    const { train } = new Dataset(set).split({ validationFraction: 0.2, seed: 2 });
    const norm = train.computeNormalization();
    for (let c = 0; c < 3; c++) {
      let s = 0;
      let n = 0;
      for (let i = 0; i < train.length; i++) {
        const r = train.record(i);
        for (let k = c; k < r.length; k += 3) {
          s += r[k] / 255;
          n++;
        }
      }
      const mean = s / n;
      let q = 0;
      for (let i = 0; i < train.length; i++) {
        const r = train.record(i);
        for (let k = c; k < r.length; k += 3) q += (r[k] / 255 - mean) ** 2;
      }
      expect(norm.mean[c]).toBeCloseTo(mean, 12);
      expect(norm.std[c]).toBeCloseTo(Math.sqrt(q / n), 12);
    }
    // JSON round trip (saved with the model) gives the same preprocessing.
    const restored = validateNormalization(JSON.parse(JSON.stringify(norm)), 3);
    const rec = train.record(5);
    expect(applyNormalization(rec, restored)).toEqual(applyNormalization(rec, norm));
  });

  it('applyNormalization equals the float64 formula rounded to float32', () => {
    const norm: Normalization = { kind: 'standardize', mean: [0.1, 0.5, 0.9], std: [0.2, 0.3, 0.05] };
    const bytes = Uint8Array.from({ length: 256 * 3 }, (_, i) => Math.floor(i / 3));
    const out = applyNormalization(bytes, norm);
    for (let i = 0; i < bytes.length; i++) {
      const c = i % 3;
      expect(out[i]).toBe(Math.fround((bytes[i] / 255 - norm.mean[c]) / norm.std[c]));
    }
    // Several records back to back, written at an offset into a preallocated array.
    const dst = new Float32Array(10 + bytes.length).fill(NaN);
    applyNormalization(bytes, norm, dst, 10);
    expect(dst.subarray(10)).toEqual(out);
    expect(Number.isNaN(dst[9])).toBe(true);
    expect(() => applyNormalization(bytes.subarray(0, 4), norm)).toThrow(ShapeError);
    const s = applyNormalization(Uint8Array.of(0, 51, 255), { kind: 'scale' });
    expect([...s]).toEqual([0, Math.fround(0.2), 1]);
  });

  it('a constant channel cannot be standardised', () => {
    const set = makeSet(10, 2, 2, 2, 2);
    for (let i = 1; i < set.images.length; i += 2) set.images[i] = 17;
    expect(() => new Dataset(set).computeNormalization()).toThrow(/channel 1 .*std is 0/);
    expect(() => validateNormalization({ kind: 'standardize', mean: [0], std: [-1] })).toThrow(ConfigError);
    expect(() => validateNormalization({ kind: 'zscore' })).toThrow(ConfigError);
  });

  it.skipIf(!mnist)('MNIST train: mean 0.1307, std 0.3081 (the published values)', () => {
    const dir = mnist ?? '';
    const im = readIdx(`${dir}/train-images-idx3-ubyte.gz`);
    const lb = readIdx(`${dir}/train-labels-idx1-ubyte.gz`);
    const [n, h, w] = im.dims;
    const set: ImageSet = {
      images: im.data,
      labels: Int32Array.from(lb.data),
      count: n,
      height: h,
      width: w,
      channels: 1,
      source: dir,
    };
    const ds = new Dataset(set);
    const norm = ds.computeNormalization();
    expect(norm.mean[0]).toBeCloseTo(0.1307, 4);
    expect(norm.std[0]).toBeCloseTo(0.3081, 4);
    expect(ds.numClasses).toBe(10);
    const loader = ds.loader({ batchSize: 256, normalization: norm, seed: 0, oneHot: true });
    expect(loader.batchesPerEpoch).toBe(235);
    const last = loader.batch(0, 234);
    expect(last.size).toBe(60000 - 234 * 256);
    // Standardised over the whole set, the mean of x is ~0.
    let s = 0;
    let m = 0;
    const buffers = loader.allocateBuffers();
    for (const b of loader.epoch(0, 0, buffers)) {
      for (let i = 0; i < b.x.length; i++) s += b.x[i];
      m += b.x.length;
    }
    expect(Math.abs(s / m)).toBeLessThan(1e-5);
  });
});
