// The shapes every reader returns and every pipeline stage consumes. No GPU code in src/data.

/** Decoded images in one contiguous uint8 buffer, N x H x W x C (NHWC, channels interleaved). */
export interface ImageSet {
  /** N*H*W*C bytes, record i at [i*H*W*C, (i+1)*H*W*C). */
  images: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
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
