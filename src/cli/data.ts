// Datasets for the commands: by name (the known datasets) or by path (a folder of IDX files, or an
// image folder root/<class>/<image>, optionally split as root/train/<class> and root/test/<class>,
// or a shard set as src/data/shards.ts writes it: root/index.json, or root/train/ and root/test/
// each holding one), plus the normalisation that travels with the model so `predict` preprocesses like training
// (defined once, in src/data/pipeline-normalize.ts; this file only adapts its errors to the CLI).

import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, DatasetNotFoundError } from '../errors.js';
import type { Uint8Data } from '../engine/gpu-data.js';
import type { BatchSource, StreamedData } from '../engine/batch-source.js';
import { KNOWN_DATASETS, loadDataset } from '../data/known.js';
import { readIdxFiles } from '../data/readers-node.js';
import { readImageFolderCached } from '../data/folder-cache.js';
import { ShardRecordReader } from '../data/shard-records.js';
import { ShardSet } from '../data/shards.js';
import type { ImageSet } from '../data/types.js';
import {
  computeNormalization as normalizationOfImages,
  normalizationMulAdd,
  validateNormalization,
  type Normalization,
} from '../data/pipeline-normalize.js';
import { closest, UsageError } from './args.js';

export interface ImageOptions {
  imageSize: [number, number];
  channels: 1 | 3;
  resize: 'resize' | 'center-crop';
}

export interface LoadedData {
  /** What the user asked for (a name or the path given). */
  source: string;
  train: ImageSet;
  test?: ImageSet;
  classNames: string[];
  /** [height, width, channels] of every record. */
  shape: [number, number, number];
  /** false when the class names are only numbers made up for an unnamed format (IDX folders). */
  namedClasses: boolean;
  /**
   * Set when the training images were left in the decoded cache (over the memory budget): the
   * shard folder to stream them from; `train.images` is then empty.
   */
  trainShards?: string;
  /** The same for the test images. */
  testShards?: string;
  /** --data named a shard set (not an image folder whose decoded cache is in shards). */
  shardSet?: boolean;
}

/** JSON-able normalisation saved in the model file. */
export type NormalizationBlock = Normalization;

const IDX_TRAIN = /^train-images[-.]idx[34]-ubyte(\.gz)?$/;

/**
 * Loads a dataset by name or path. Image folders go through the decoded cache; `log` gets one line
 * per folder saying whether it was decoded or loaded from the cache (default: stderr).
 */
export async function loadData(
  spec: string,
  img: ImageOptions,
  limit: number | null,
  log: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  streamOver?: number,
): Promise<LoadedData> {
  checkDataSpec(spec);
  let d: LoadedData;
  if ((KNOWN_DATASETS as readonly string[]).includes(spec)) {
    const s = await loadDataset(spec);
    d = {
      source: spec,
      train: s.train,
      test: s.test,
      classNames: s.classNames,
      shape: shapeOf(s.train),
      namedClasses: true,
    };
  } else {
    d = await loadFolder(spec, img, log, streamOver);
  }
  if (limit !== null) {
    d.train = take(d.train, limit);
    if (d.test) d.test = take(d.test, limit);
  }
  return d;
}

/** Throws a one-line UsageError unless `spec` is a known dataset name or an existing path. */
export function checkDataSpec(spec: string): void {
  if ((KNOWN_DATASETS as readonly string[]).includes(spec) || existsSync(spec)) return;
  const guess = closest(spec, KNOWN_DATASETS);
  throw new UsageError(
    `--data: '${spec}' is neither a known dataset (${KNOWN_DATASETS.join(', ')}) nor an existing path` +
      (guess ? `; did you mean '${guess}'?` : ''),
  );
}

function shapeOf(s: ImageSet): [number, number, number] {
  return [s.height, s.width, s.channels];
}

function take(s: ImageSet, n: number): ImageSet {
  if (n >= s.count) return s;
  // Streamed (no images in memory): the reader serves the first n records.
  if (s.images.length === 0) return { ...s, count: n, labels: s.labels.subarray(0, n) };
  const per = s.height * s.width * s.channels;
  return { ...s, count: n, images: s.images.subarray(0, n * per), labels: s.labels.subarray(0, n) };
}

async function loadFolder(
  root: string,
  img: ImageOptions,
  log: (line: string) => void,
  streamOver?: number,
): Promise<LoadedData> {
  if (!statSync(root).isDirectory()) {
    throw new UsageError(`--data: ${root} is a file; give a folder of IDX files or of class folders`);
  }
  const names = await readdir(root);
  const trainImages = names.find((n) => IDX_TRAIN.test(n));
  if (trainImages) return loadIdxFolder(root, names, trainImages);
  const sub = (n: string) => path.join(root, n);
  const isDir = (n: string) => names.includes(n) && statSync(sub(n)).isDirectory();
  const testName = isDir('test') ? 'test' : isDir('val') ? 'val' : undefined;
  if (names.includes(SHARD_INDEX) || (isDir('train') && isShardSet(sub('train')))) {
    return loadShardFolder(
      root,
      names.includes(SHARD_INDEX) ? root : sub('train'),
      testName && sub(testName),
      log,
      streamOver,
    );
  }
  const dirs = names.filter((n) => !n.startsWith('.') && isDir(n));
  if (dirs.length === 0) {
    const unfinished = names.some((n) => /^shard-\d+\.bin$/.test(n));
    throw new UsageError(
      unfinished
        ? `--data: ${root} holds shard files but no index.json (an unfinished conversion?); write the shard set again`
        : `--data: ${root} is neither an image folder (root/<class>/<image>), a shard set (index.json) nor a folder of IDX files`,
    );
  }
  const opts = { size: img.imageSize, channels: img.channels, mode: img.resize, skipNonImages: true };
  const read = (dir: string, over: number | undefined) =>
    readImageFolderCached(dir, { ...opts, onInfo: log, onWarning: log, streamOver: over });
  if (isDir('train') && testName) {
    const train = await read(sub('train'), streamOver);
    // The test images get what the training images left of the budget.
    const left =
      streamOver === undefined ? undefined : streamOver - (train.streamed ? 0 : train.set.images.byteLength);
    const test = await read(sub(testName), left === undefined ? undefined : Math.max(0, left));
    if (test.set.classNames.join('\n') !== train.set.classNames.join('\n')) {
      throw new DatasetNotFoundError(
        `${root}: train/ has classes [${train.set.classNames.join(', ')}] but the test folder has [${test.set.classNames.join(', ')}]; they must match`,
      );
    }
    return {
      source: root,
      train: train.set,
      test: test.set,
      classNames: train.set.classNames,
      shape: shapeOf(train.set),
      namedClasses: true,
      trainShards: train.streamed ? train.dir : undefined,
      testShards: test.streamed ? test.dir : undefined,
    };
  }
  // root/train/<class>/... alone is training data (validation is held out of it), not one class
  // named "train".
  const trainOnly = dirs.length === 1 && dirs[0] === 'train';
  const got = await read(trainOnly ? sub('train') : root, streamOver);
  const train = got.set;
  return {
    source: root,
    train,
    classNames: train.classNames,
    shape: shapeOf(train),
    namedClasses: true,
    trainShards: got.streamed ? got.dir : undefined,
  };
}

const SHARD_INDEX = 'index.json';

function isShardSet(dir: string): boolean {
  return existsSync(path.join(dir, SHARD_INDEX));
}

/**
 * A shard set (shards.ts) given as --data: loaded, or left on disk to stream when its records are
 * over `streamOver`. Class names come from the index; a set written without them gets numbers.
 */
async function readShardSet(
  dir: string,
  streamOver: number | undefined,
  log: (line: string) => void,
): Promise<{ set: ImageSet; streamed: boolean; classNames: string[] | null }> {
  const shards = await ShardSet.open(dir);
  const { height, width, channels, classNames, source } = shards.index;
  const bytes = shards.count * shards.recordBytes;
  const what = `${dir}: shard set of ${shards.count} records ${height}x${width}x${channels} (${(bytes / 2 ** 20).toFixed(1)} MiB)`;
  if (streamOver !== undefined && bytes > streamOver) {
    log(`${what}, streamed from disk`);
    const set: ImageSet = {
      images: new Uint8Array(0),
      labels: new Int32Array(0),
      count: shards.count,
      height,
      width,
      channels,
      classNames: classNames ?? undefined,
      source,
    };
    return { set, streamed: true, classNames };
  }
  const t0 = performance.now();
  const set = await shards.toImageSet();
  log(`${what}, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { set, streamed: false, classNames };
}

/** Highest label + 1 over a shard set, one shard in memory at a time (sets without class names). */
async function classCount(dir: string, set: ImageSet): Promise<number> {
  let k = 0;
  if (set.images.length > 0 || set.count === 0) {
    for (const l of set.labels) k = Math.max(k, l + 1);
    return k;
  }
  const shards = await ShardSet.open(dir);
  const buf = new Uint8Array(shards.maxShardBytes);
  for (let i = 0; i < shards.shardCount; i++)
    for (const l of (await shards.readShard(i, buf)).labels) k = Math.max(k, l + 1);
  return k;
}

async function loadShardFolder(
  root: string,
  trainDir: string,
  testDir: string | undefined,
  log: (line: string) => void,
  streamOver?: number,
): Promise<LoadedData> {
  const train = await readShardSet(trainDir, streamOver, log);
  let test: Awaited<ReturnType<typeof readShardSet>> | undefined;
  if (testDir) {
    if (!isShardSet(testDir)) {
      throw new UsageError(
        `--data: ${trainDir} is a shard set but ${testDir} is not (no index.json); convert both`,
      );
    }
    const left = streamOver === undefined ? undefined : streamOver - train.set.images.byteLength;
    test = await readShardSet(testDir, left === undefined ? undefined : Math.max(0, left), log);
    const [a, b] = [train.set, test.set];
    if (a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
      throw new UsageError(
        `--data: ${trainDir} holds ${a.height}x${a.width}x${a.channels} records but ${testDir} holds ${b.height}x${b.width}x${b.channels}; they must match`,
      );
    }
    if (JSON.stringify(train.classNames) !== JSON.stringify(test.classNames)) {
      throw new DatasetNotFoundError(
        `${root}: the training shards have classes [${(train.classNames ?? []).join(', ')}] but the test shards have [${(test.classNames ?? []).join(', ')}]; they must match`,
      );
    }
  }
  let classNames = train.classNames;
  if (!classNames) {
    let k = await classCount(trainDir, train.set);
    if (test && testDir) k = Math.max(k, await classCount(testDir, test.set));
    classNames = Array.from({ length: k }, (_, i) => String(i));
  }
  return {
    source: root,
    train: train.set,
    test: test?.set,
    classNames,
    shape: shapeOf(train.set),
    namedClasses: train.classNames !== null,
    trainShards: train.streamed ? trainDir : undefined,
    testShards: test?.streamed ? testDir : undefined,
    shardSet: true,
  };
}

async function loadIdxFolder(root: string, names: string[], trainImages: string): Promise<LoadedData> {
  const find = (re: RegExp) => names.find((n) => re.test(n));
  const trainLabels = find(/^train-labels[-.]idx1-ubyte(\.gz)?$/);
  if (!trainLabels) {
    throw new DatasetNotFoundError(
      `${root}: found ${trainImages} but no train-labels-idx1-ubyte(.gz) beside it`,
    );
  }
  const train = await readIdxFiles(path.join(root, trainImages), path.join(root, trainLabels));
  const testImages = find(/^(t10k|test)-images[-.]idx[34]-ubyte(\.gz)?$/);
  const testLabels = find(/^(t10k|test)-labels[-.]idx1-ubyte(\.gz)?$/);
  const test =
    testImages && testLabels
      ? await readIdxFiles(path.join(root, testImages), path.join(root, testLabels))
      : undefined;
  let classes = 0;
  for (const s of [train, test]) if (s) for (const l of s.labels) classes = Math.max(classes, l + 1);
  const classNames = train.classNames ?? Array.from({ length: classes }, (_, i) => String(i));
  return { source: root, train, test, classNames, shape: shapeOf(train), namedClasses: !!train.classNames };
}

/**
 * Labels of data whose classes are `dataNames`, renumbered into the model's `modelNames` by name.
 * Returns the labels unchanged when the names agree (or the data's names are made-up numbers);
 * a data class the model does not know is a one-line UsageError.
 */
export function matchClasses(
  labels: Int32Array,
  dataNames: string[],
  modelNames: string[],
  named: boolean,
  what: string,
): Int32Array {
  if (!named || dataNames.join('\n') === modelNames.join('\n')) return labels;
  const index = new Map(modelNames.map((n, i) => [n, i]));
  const missing = dataNames.filter((n) => !index.has(n));
  if (missing.length > 0) {
    const list = (a: string[]) => (a.length > 8 ? [...a.slice(0, 8), '...'] : a).join(', ');
    throw new UsageError(
      `${what}: class${missing.length > 1 ? 'es' : ''} ${list(missing)} ${missing.length > 1 ? 'are' : 'is'} not among the model's classes (${list(modelNames)}); evaluate data with the model's class folders`,
    );
  }
  const map = dataNames.map((n) => index.get(n)!);
  return labels.map((l) => map[l]);
}

/** Per-channel mean and std (on the [0, 1] scale) of the training images. */
export function computeNormalization(s: ImageSet, kind: 'standardize' | 'scale'): NormalizationBlock {
  return normalizationOfImages(s.images, s.channels, kind);
}

/** Reads a normalisation block back from a model file, checking it fits `channels`. */
export function parseNormalization(raw: unknown, channels: number, file: string): NormalizationBlock {
  try {
    return validateNormalization(raw, channels);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new UsageError(`${file}: the model's normalization block is not valid: ${e.message}`);
  }
}

export function mulAdd(norm: NormalizationBlock, channels: number): { mul: number[]; add: number[] } {
  return normalizationMulAdd(norm, channels);
}

/** An ImageSet as GPU training data, normalised on the device. */
export function toTrainingData(s: ImageSet, norm: NormalizationBlock): Uint8Data {
  return {
    kind: 'uint8',
    images: s.images,
    count: s.count,
    labels: s.labels,
    channels: s.channels,
    // The geometry lets the GPU gather crop and flip non-square images (--augment).
    height: s.height,
    width: s.width,
    ...mulAdd(norm, s.channels),
  };
}

/**
 * A set as what the engine trains or evaluates on: resident, or (when its images were left in
 * `shards`) streamed from that shard folder a batch at a time.
 */
export async function toBatchSource(
  s: ImageSet,
  shards: string | undefined,
  norm: NormalizationBlock,
): Promise<BatchSource> {
  if (!shards) return toTrainingData(s, norm);
  const d: StreamedData = {
    kind: 'stream',
    reader: await ShardRecordReader.open(shards),
    count: s.count,
    channels: s.channels,
    height: s.height,
    width: s.width,
    ...mulAdd(norm, s.channels),
    source: shards,
  };
  return d;
}

/**
 * Bytes the dataset occupies on the GPU once uploaded (images packed 4 per u32, plus labels);
 * streamed data takes none beyond its batches.
 */
export function dataBytes(d: BatchSource): number {
  if (d.kind === 'stream') return 0;
  const x = d.kind === 'uint8' ? Math.ceil(d.images.byteLength / 4) * 4 : d.x.byteLength;
  return x + d.count * 4;
}
