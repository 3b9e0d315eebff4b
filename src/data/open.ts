// Opening a dataset the way the command line does (Node only): by name, one of the known datasets
// (known.ts), or by path:
//   - a folder of IDX files: train-images-idx3-ubyte(.gz) with its labels, and t10k-* or test-*
//     files for the test split (idx.ts);
//   - an image folder root/<class>/<image>, optionally split as root/train/<class> and
//     root/test/<class> (or root/val/<class>); root/train/<class> alone is training data. Pictures
//     are decoded once into the decoded cache (folder-cache.ts) and resized to `imageSize`: by
//     default 'native', chosen from the training pictures' headers (image-size.ts), the test
//     pictures following the training size. Bad files are skipped and listed in `skipped` unless
//     `strict` (skipped.ts);
//   - a shard set (shard-format.ts): root/index.json, or root/train/ and root/test/ each holding
//     one (open-shards.ts).
// A split whose records take more than `streamOver` bytes is left on disk (its `images` empty) and
// trains streamed from there: toBatchSource turns either kind into what the Trainer consumes.
// Every failure is a named error: DatasetNotFoundError (no such name or path), DatasetLayoutError
// (a folder in none of these layouts, or splits that disagree), DatasetFormatError (a bad file).

import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DatasetLayoutError, DatasetNotFoundError } from '../errors.js';
import type { BatchSource, StreamedData } from './batches.js';
import { toTrainingData } from './batches.js';
import { readImageFolderCached } from './folder-cache.js';
import { KNOWN_DATASETS, loadDataset } from './known.js';
import {
  computeNormalization,
  histogramNormalization,
  normalizationMulAdd,
  type Normalization,
} from './normalize.js';
import { isShardSet, openShardFolder } from './open-shards.js';
import type { ChosenImageSize, ImageSize } from './image-size.js';
import type { ImageFolderSet } from './imagefolder.js';
import type { ResizeMode } from './preprocess.js';
import { readIdxFiles } from './readers-node.js';
import { SHARD_INDEX_FILE as SHARD_INDEX } from './shard-format.js';
import { ShardRecordReader } from './shard-records.js';
import { ShardSet } from './shards.js';
import type { ImageSet, OpenedDataset } from './types.js';

/** How the pictures of an image folder become records (other formats keep their own size). */
export interface ImageOptions {
  /** [height, width] every picture is resized to, or 'native': chosen from the pictures (image-size.ts). */
  imageSize: ImageSize;
  /** 3: RGB; 1: grey (ITU-R BT.601 luma). */
  channels: 1 | 3;
  /** Stretch to imageSize, or crop the centre to its aspect first. */
  resize: ResizeMode;
  /**
   * Random-resized crop: records are stored RRC_RECORD_SCALE times imageSize (their centre cut to
   * its aspect) and the sets carry `crop` = imageSize (augment-rrc.ts). 'auto': for folders
   * whose size has a short side of RRC_AUTO_MIN_SIDE or more. Default false.
   */
  rrc?: boolean | 'auto';
}

/** The command line's defaults (no --image-size: native; --channels 3 --resize resize). */
export const DEFAULT_IMAGE_OPTIONS: ImageOptions = { imageSize: 'native', channels: 3, resize: 'resize' };

export interface OpenOptions extends Partial<ImageOptions> {
  /** Keep the first `limit` records of each split (default: all). */
  limit?: number | null;
  /** One line per folder or shard set: decoded, loaded from the cache, or streamed (default: none). */
  log?: (line: string) => void;
  /** Leave a split whose records take more than this many bytes on disk, to stream (default: load). */
  streamOver?: number;
  /** Root of the decoded-image cache (default: the user's cache folder, see folder-cache.ts). */
  cacheDir?: string;
  /**
   * Image folders: any bad file (unreadable, truncated, empty, unsupported) is an error. Default
   * false: bad files are skipped and listed in OpenedDataset.skipped.
   */
  strict?: boolean;
}

const IDX_TRAIN = /^train-images[-.]idx[34]-ubyte(\.gz)?$/;

/** Throws DatasetNotFoundError unless `spec` is a known dataset name or an existing path. */
export function checkDatasetSpec(spec: string): void {
  if ((KNOWN_DATASETS as readonly string[]).includes(spec) || existsSync(spec)) return;
  throw new DatasetNotFoundError(
    `'${spec}' is neither a known dataset (${KNOWN_DATASETS.join(', ')}) nor an existing path; ` +
      'give one of those names or a folder of IDX files, of class folders, or a shard set',
  );
}

export type { OpenedDataset } from './types.js';

/** Opens a dataset by known name or by path (see the header for the layouts it recognises). */
export async function openDataset(spec: string, options: OpenOptions = {}): Promise<OpenedDataset> {
  checkDatasetSpec(spec);
  let d: OpenedDataset;
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
    d = await openFolder(spec, options);
  }
  const limit = options.limit;
  if (limit !== undefined && limit !== null) {
    d.train = take(d.train, limit);
    if (d.test) d.test = take(d.test, limit);
  }
  return d;
}

/** The network's input shape for `s`: its crop when records are stored larger, else the record. */
export function shapeOf(s: ImageSet): [number, number, number] {
  return s.crop ? [s.crop.height, s.crop.width, s.channels] : [s.height, s.width, s.channels];
}

function take(s: ImageSet, n: number): ImageSet {
  if (n >= s.count) return s;
  // Streamed (no images in memory): the reader serves the first n records.
  if (s.images.length === 0) return { ...s, count: n, labels: s.labels.subarray(0, n) };
  const per = s.height * s.width * s.channels;
  return { ...s, count: n, images: s.images.subarray(0, n * per), labels: s.labels.subarray(0, n) };
}

async function openFolder(root: string, o: OpenOptions): Promise<OpenedDataset> {
  if (!statSync(root).isDirectory()) {
    throw new DatasetLayoutError(`${root} is a file; give a folder of IDX files or of class folders`, root);
  }
  const names = await readdir(root);
  const trainImages = names.find((n) => IDX_TRAIN.test(n));
  if (trainImages) return openIdxFolder(root, names, trainImages);
  const sub = (n: string) => path.join(root, n);
  const isDir = (n: string) => names.includes(n) && statSync(sub(n)).isDirectory();
  const testName = isDir('test') ? 'test' : isDir('val') ? 'val' : undefined;
  const log = o.log ?? (() => {});
  if (names.includes(SHARD_INDEX) || (isDir('train') && isShardSet(sub('train')))) {
    const trainDir = names.includes(SHARD_INDEX) ? root : sub('train');
    return openShardFolder(root, trainDir, testName && sub(testName), log, o.streamOver);
  }
  const dirs = names.filter((n) => !n.startsWith('.') && isDir(n));
  if (dirs.length === 0) {
    const unfinished = names.some((n) => /^shard-\d+\.bin$/.test(n));
    throw new DatasetLayoutError(
      unfinished
        ? `${root} holds shard files but no index.json (an unfinished conversion?); write the shard set again`
        : `${root} is neither an image folder (root/<class>/<image>), a shard set (index.json) nor a folder of IDX files`,
      root,
    );
  }
  const img = { ...DEFAULT_IMAGE_OPTIONS, ...definedImageOptions(o) };
  const read = (dir: string, size: ImageSize, rrc: boolean | 'auto' | undefined, over: number | undefined) =>
    readImageFolderCached(dir, {
      size,
      channels: img.channels,
      mode: img.resize,
      rrc,
      strict: o.strict,
      // Under strict, files that are no picture at all (a README) are still only warned about.
      skipNonImages: true,
      cacheDir: o.cacheDir,
      onInfo: log,
      onWarning: log,
      streamOver: over,
    });
  if (isDir('train') && testName) {
    const train = await read(sub('train'), img.imageSize, img.rrc, o.streamOver);
    // The test images get what the training images left of the budget, at the training size.
    const left =
      o.streamOver === undefined
        ? undefined
        : o.streamOver - (train.streamed ? 0 : train.set.images.byteLength);
    const test = await read(
      sub(testName),
      train.size.size,
      train.set.crop !== undefined,
      left === undefined ? undefined : Math.max(0, left),
    );
    if (test.set.classNames.join('\n') !== train.set.classNames.join('\n')) {
      throw new DatasetLayoutError(
        `${root}: train/ has classes [${train.set.classNames.join(', ')}] but the test folder has [${test.set.classNames.join(', ')}]; they must match`,
        root,
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
      ...folderReport(train.size, train.set, test.set),
    };
  }
  // root/train/<class>/... alone is training data (validation is held out of it), not one class
  // named "train".
  const trainOnly = dirs.length === 1 && dirs[0] === 'train';
  const got = await read(trainOnly ? sub('train') : root, img.imageSize, img.rrc, o.streamOver);
  return {
    source: root,
    train: got.set,
    classNames: got.set.classNames,
    shape: shapeOf(got.set),
    namedClasses: true,
    trainShards: got.streamed ? got.dir : undefined,
    ...folderReport(got.size, got.set),
  };
}

/** What an image folder adds to OpenedDataset: the size chosen, and the files read and skipped. */
function folderReport(
  imageSize: ChosenImageSize,
  ...sets: ImageFolderSet[]
): Pick<OpenedDataset, 'imageSize' | 'skipped' | 'imageFiles'> {
  const skipped = sets.flatMap((s) => s.skipped);
  const imageFiles = sets.reduce((n, s) => n + s.files.length, skipped.length);
  return { imageSize, skipped, imageFiles };
}

/** The image options actually given (an explicit `undefined` keeps the default). */
function definedImageOptions(o: OpenOptions): Partial<ImageOptions> {
  const out: Partial<ImageOptions> = {};
  if (o.imageSize !== undefined) out.imageSize = o.imageSize;
  if (o.channels !== undefined) out.channels = o.channels;
  if (o.resize !== undefined) out.resize = o.resize;
  if (o.rrc !== undefined) out.rrc = o.rrc;
  return out;
}

async function openIdxFolder(root: string, names: string[], trainImages: string): Promise<OpenedDataset> {
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
 * The normalisation to train `d` with (saved with the model so prediction preprocesses alike):
 * 'scale', or the per-channel mean and std of the training records, computed in memory or, for
 * records left on disk, one shard at a time (the same numbers either way).
 */
export async function datasetNormalization(
  d: OpenedDataset,
  kind: 'standardize' | 'scale',
): Promise<Normalization> {
  if (d.trainShards && kind === 'standardize') {
    const shards = await ShardSet.open(d.trainShards);
    return histogramNormalization(await shards.pixelHistogram(d.train.count));
  }
  return computeNormalization(d.train.images, d.train.channels, kind);
}

/**
 * A split as what the Trainer trains or evaluates on: resident (normalised on the GPU by `norm`),
 * or, when its records were left in `shards` (OpenedDataset.trainShards / testShards), streamed
 * from that shard folder a batch at a time. Close a streamed source's reader when done with it.
 */
export async function toBatchSource(
  s: ImageSet,
  shards: string | undefined,
  norm: Normalization,
): Promise<BatchSource> {
  if (!shards) return toTrainingData(s, norm);
  const d: StreamedData = {
    kind: 'stream',
    reader: await ShardRecordReader.open(shards),
    count: s.count,
    channels: s.channels,
    height: s.height,
    width: s.width,
    crop: s.crop,
    ...normalizationMulAdd(norm, s.channels),
    source: shards,
  };
  return d;
}
