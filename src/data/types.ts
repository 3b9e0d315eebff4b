// The shapes every reader returns and every pipeline stage consumes. No GPU code in src/data.

import type { ChosenImageSize } from './image-size.js';
import type { SkippedFile } from './skipped.js';

/** Decoded images in one contiguous uint8 buffer, N x H x W x C (NHWC, channels interleaved). */
export interface ImageSet {
  /** N*H*W*C bytes, record i at [i*H*W*C, (i+1)*H*W*C). */
  images: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  /**
   * The network's input [height, width] when the records are stored larger for random-resized
   * crop (src/data/augment-rrc.ts); evaluation takes the centre. Default: the record's size.
   */
  crop?: { height: number; width: number };
  /** Class index per image, in [0, classNames.length) when classNames is known. */
  labels: Int32Array;
  /** Names of the classes in index order, when the format has them. */
  classNames?: string[];
  /** Where it came from (a path or a URL), for error messages and model metadata. */
  source: string;
}

/** Train and test splits of a known or user dataset. */
export interface DatasetSplits {
  name: string;
  train: ImageSet;
  test?: ImageSet;
  classNames: string[];
}

/** A dataset opened by openDataset (src/data/open.ts): its splits, classes and shape. */
export interface OpenedDataset {
  /** What was asked for: the name or the path given. */
  source: string;
  train: ImageSet;
  test?: ImageSet;
  classNames: string[];
  /** [height, width, channels] of every record. */
  shape: [number, number, number];
  /** false when the class names are only numbers made up for an unnamed format (IDX folders). */
  namedClasses: boolean;
  /**
   * Set when the training records were left on disk (over `streamOver`): the shard folder to stream
   * them from; `train.images` is then empty (count and labels are kept where known).
   */
  trainShards?: string;
  /** The same for the test records. */
  testShards?: string;
  /** The path named a shard set (not an image folder whose decoded cache is in shards). */
  shardSet?: boolean;
  /** Image folders: the size the pictures were resized to, and why (native or given). */
  imageSize?: ChosenImageSize;
  /** Image folders: the bad files left out (all splits), each with its reason; [] when none. */
  skipped?: SkippedFile[];
  /** Image folders: the files found in the class folders (all splits), kept and skipped. */
  imageFiles?: number;
}
