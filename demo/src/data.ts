// Dataset loading for the demo: MNIST, Fashion-MNIST (IDX .gz) and cat-vs-non-cat (HDF5), from
// files the user picks or drops, or from a URL base (the dev server's /data/ folder by default).
// Parsing uses the engine's browser-safe readers, which throw DatasetFormatError on bad bytes.
// Runs in the training worker; the page gets a DataSummary (counts and a few images to draw).

import { DatasetFormatError, parseCatHdf5, parseIdx, type ImageSet } from '../../src/index.js';
import type { BadFile, DataSummary } from './protocol.js';
import { drawSampleGrid } from './render.js';

export type DatasetId = 'mnist' | 'fashion-mnist' | 'catvnoncat';

export interface DatasetInfo {
  id: DatasetId;
  title: string;
  classNames: string[];
  /** File names under `<base>/<id>/`: IDX image/label pairs, or one HDF5 file per split. */
  files: { train: string[]; test: string[] };
}

const IDX_FILES = {
  train: ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'],
  test: ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'],
};

export const DATASETS: Record<DatasetId, DatasetInfo> = {
  mnist: {
    id: 'mnist',
    title: 'MNIST digits',
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    files: IDX_FILES,
  },
  'fashion-mnist': {
    id: 'fashion-mnist',
    title: 'Fashion-MNIST',
    classNames: [
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ],
    files: IDX_FILES,
  },
  catvnoncat: {
    id: 'catvnoncat',
    title: 'Cat vs non-cat',
    classNames: ['non-cat', 'cat'],
    files: { train: ['train_catvnoncat.h5'], test: ['test_catvnoncat.h5'] },
  },
};

export interface LoadedDataset {
  /** A known dataset's info, or an image folder's (id 'folder', class names from its subfolders). */
  info: { id: string; title: string; classNames: string[] };
  train: ImageSet;
  test: ImageSet;
  /** Where it came from, for the stats line and the model file's metadata. */
  source: string;
  /** Files that were skipped (image folders), with why. */
  bad?: BadFile[];
}

export function isDatasetId(s: string): s is DatasetId {
  return Object.hasOwn(DATASETS, s);
}

/** Fetches a dataset's standard files from `<base>/<id>/`. */
export async function loadFromUrl(id: DatasetId, base: string): Promise<LoadedDataset> {
  const info = DATASETS[id];
  const root = new URL(`${id}/`, new URL(base.endsWith('/') ? base : `${base}/`, location.href));
  const named = await Promise.all(
    [...info.files.train, ...info.files.test].map(async (name) => {
      const url = new URL(name, root);
      let res: Response;
      try {
        res = await fetch(url);
      } catch (e) {
        throw new DatasetFormatError(
          `Could not fetch ${url.href} (${(e as Error).message}). Check the URL base, or pick the files instead.`,
          url.href,
        );
      }
      if (!res.ok) {
        throw new DatasetFormatError(
          `Could not fetch ${url.href}: HTTP ${res.status}. Check the URL base (it should hold ${id}/${name}), or pick the files instead.`,
          url.href,
        );
      }
      return { name, bytes: new Uint8Array(await res.arrayBuffer()) };
    }),
  );
  return assemble(id, named, root.href);
}

/** Reads picked or dropped files; the split and role of each is taken from its name and header. */
export async function loadFromFiles(id: DatasetId, files: File[]): Promise<LoadedDataset> {
  if (files.length === 0) throw new DatasetFormatError('No files were given.', '');
  const named = await Promise.all(
    files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })),
  );
  return assemble(id, named, files.map((f) => f.name).join(', '));
}

interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

function splitOf(name: string): 'train' | 'test' {
  return /t10k|test/i.test(name) ? 'test' : 'train';
}

function assemble(requested: DatasetId, files: NamedBytes[], source: string): LoadedDataset {
  const sets: Partial<Record<'train' | 'test', ImageSet>> = {};
  const h5 = files.filter((f) => /\.h5$|\.hdf5$/i.test(f.name));
  for (const f of h5) sets[splitOf(f.name)] = parseCatHdf5(f.bytes, f.name);
  const idx = files.filter((f) => !h5.includes(f));
  for (const split of ['train', 'test'] as const) {
    const mine = idx.filter((f) => splitOf(f.name) === split);
    if (mine.length === 0) continue;
    let images: { name: string; dims: number[]; data: Uint8Array } | undefined;
    let labels: { name: string; data: Uint8Array } | undefined;
    for (const f of mine) {
      const arr = parseIdx(f.bytes, f.name);
      if (arr.dims.length === 1) labels = { name: f.name, data: arr.data };
      else if (arr.dims.length === 3 || arr.dims.length === 4) images = { name: f.name, ...arr };
      else
        throw new DatasetFormatError(
          `${f.name}: IDX with ${arr.dims.length} dims is neither images nor labels.`,
          f.name,
        );
    }
    if (!images || !labels) {
      throw new DatasetFormatError(
        `The ${split} split needs an images file and a labels file; got ${mine.map((f) => f.name).join(', ')}.`,
        mine[0].name,
      );
    }
    const [count, height, width, channels = 1] = images.dims;
    if (labels.data.length !== count) {
      throw new DatasetFormatError(
        `${labels.name} has ${labels.data.length} labels but ${images.name} has ${count} images; they must come from the same split.`,
        labels.name,
      );
    }
    sets[split] = {
      images: images.data,
      count,
      height,
      width,
      channels,
      labels: Int32Array.from(labels.data),
      source: images.name,
    };
  }
  const train = sets.train;
  if (!train) {
    throw new DatasetFormatError(
      'No training split found: give the train images and labels (.gz IDX) or train_*.h5.',
      files[0]?.name ?? '',
    );
  }
  const id = inferId(requested, train);
  const info = DATASETS[id];
  const test = sets.test ?? holdOut(train);
  for (const set of [train, test]) checkLabels(set, info.classNames.length);
  if (test.height !== train.height || test.width !== train.width || test.channels !== train.channels) {
    throw new DatasetFormatError(
      `The test images are ${test.height}x${test.width}x${test.channels} but the training images are ${train.height}x${train.width}x${train.channels}.`,
      test.source,
    );
  }
  return { info, train: sets.test ? train : trimmed(train, train.count - test.count), test, source };
}

/** The dataset the images' shape says it is (a 64x64 RGB set cannot be MNIST). */
function inferId(requested: DatasetId, set: ImageSet): DatasetId {
  if (set.height === 64 && set.width === 64 && set.channels === 3) return 'catvnoncat';
  if (set.height === 28 && set.width === 28 && set.channels === 1)
    return requested === 'catvnoncat' ? 'mnist' : requested;
  throw new DatasetFormatError(
    `${set.source}: images are ${set.height}x${set.width}x${set.channels}; this demo handles 28x28x1 (MNIST, Fashion-MNIST) and 64x64x3 (cat vs non-cat).`,
    set.source,
  );
}

function checkLabels(set: ImageSet, classes: number): void {
  for (let i = 0; i < set.count; i++) {
    if (set.labels[i] < 0 || set.labels[i] >= classes) {
      throw new DatasetFormatError(
        `${set.source}: label ${set.labels[i]} at record ${i} is outside [0, ${classes}).`,
        set.source,
        i,
      );
    }
  }
}

/** Without a test file, the last sixth (at most 1000) of the training set is held out. */
export function holdOut(train: ImageSet): ImageSet {
  const n = Math.max(1, Math.min(1000, Math.floor(train.count / 6)));
  const start = train.count - n;
  const F = train.height * train.width * train.channels;
  return {
    ...train,
    images: train.images.subarray(start * F),
    labels: train.labels.subarray(start),
    count: n,
    source: `${train.source} (held-out tail)`,
  };
}

/** The first `count` records of a set (views, no copy). */
export function trimmed(set: ImageSet, count: number): ImageSet {
  const n = Math.max(1, Math.min(set.count, Math.floor(count)));
  if (n === set.count) return set;
  const F = set.height * set.width * set.channels;
  return { ...set, images: set.images.subarray(0, n * F), labels: set.labels.subarray(0, n), count: n };
}

function classCounts(set: ImageSet, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const l of set.labels) counts[l]++;
  return counts;
}

/** What the page shows: the stats line, counts per class and the first images of each split. */
export function summarize(d: LoadedDataset, samples = 64, testImages = 24): DataSummary {
  const F = d.train.height * d.train.width * d.train.channels;
  const grid = new OffscreenCanvas(320, 320);
  drawSampleGrid(grid, d.train, samples);
  const nt = Math.min(testImages, d.test.count);
  return {
    id: d.info.id,
    title: d.info.title,
    classNames: d.info.classNames,
    shape: [d.train.height, d.train.width, d.train.channels],
    trainCount: d.train.count,
    testCount: d.test.count,
    counts: classCounts(d.train, d.info.classNames.length),
    stats: describe(d),
    sampleGrid: grid.transferToImageBitmap(),
    testImages: d.test.images.slice(0, nt * F),
    testImageCount: nt,
    bad: d.bad ?? [],
  };
}

export function describe(d: LoadedDataset): string {
  const counts = classCounts(d.train, d.info.classNames.length);
  let sum = 0;
  for (const b of d.train.images) sum += b;
  const mean = sum / Math.max(1, d.train.images.length);
  const perClass = d.info.classNames.map((c, i) => `${c}: ${counts[i]}`).join(', ');
  return (
    `${d.info.title}: ${d.train.count} training and ${d.test.count} test images, ` +
    `${d.train.height}x${d.train.width}x${d.train.channels}, mean pixel ${mean.toFixed(1)}. ` +
    `Training images per class: ${perClass}.`
  );
}
