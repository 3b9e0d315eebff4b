// IDX reader (the MNIST format): big-endian header, then uint8 payload in C order.
//   magic = 0x0000_08_DD: 0x08 = unsigned byte, DD = number of dims
//   2049 labels (N) | 2051 grayscale images (N,H,W) | 2052 images (N,H,W,C), NHWC interleaved.
// Browser-safe: works on bytes; the Node helpers that read files live in readers-node.ts.
// Every header field is checked against the actual byte length before anything is allocated,
// so a header claiming 2^31 images in a small file fails fast instead of allocating.
import { DatasetFormatError } from '../errors.js';
import type { ImageSet } from './types.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, gunzipIfNeeded } from './gzip.js';

export interface IdxReadOptions {
  /** Cap on the decompressed size of a .gz file (decompression-bomb guard). */
  maxDecompressedBytes?: number;
}

/** A validated IDX array: its dims and a view of its payload (no copy). */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

/** Parses any uint8 IDX file (gzip or plain). `name` is used in error messages. */
export function parseIdx(bytes: Uint8Array, name: string, opts: IdxReadOptions = {}): IdxArray {
  const raw = gunzipIfNeeded(bytes, name, opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES);
  if (raw.length < 4) {
    throw new DatasetFormatError(
      `${name}: ${raw.length} bytes is too short for an IDX header (need 4+)`,
      name,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (raw[0] !== 0 || raw[1] !== 0) {
    throw new DatasetFormatError(
      `${name}: bad IDX magic 0x${view.getUint32(0).toString(16).padStart(8, '0')} (expected 0x000008DD); is this an IDX file?`,
      name,
    );
  }
  if (raw[2] !== UBYTE) {
    throw new DatasetFormatError(
      `${name}: IDX dtype byte 0x${raw[2].toString(16)} is not supported (only 0x08, unsigned byte)`,
      name,
    );
  }
  const ndim = raw[3];
  if (ndim < 1 || ndim > 4) {
    throw new DatasetFormatError(`${name}: IDX header has ${ndim} dimensions (supported: 1 to 4)`, name);
  }
  const headerBytes = 4 + 4 * ndim;
  if (raw.length < headerBytes) {
    throw new DatasetFormatError(
      `${name}: truncated IDX header (${raw.length} of ${headerBytes} bytes)`,
      name,
    );
  }
  const dims: number[] = [];
  // A float product stays exact below 2^53, and we compare it with the byte length before use.
  let payload = 1;
  for (let d = 0; d < ndim; d++) {
    const v = view.getUint32(4 + 4 * d);
    dims.push(v);
    payload *= v;
  }
  const have = raw.length - headerBytes;
  if (payload !== have) {
    const what = payload > have ? 'truncated' : 'has trailing bytes';
    throw new DatasetFormatError(
      `${name}: file ${what}: header dims [${dims.join(', ')}] need ${payload} payload bytes, found ${have}`,
      name,
      payload > have ? recordAt(dims, have) : undefined,
    );
  }
  return { dims, data: raw.subarray(headerBytes) };
}

/** Index of the first record that is incomplete, for truncation messages. */
function recordAt(dims: number[], have: number): number | undefined {
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  return per > 0 ? Math.floor(have / per) : undefined;
}

/** Parses an IDX label file (magic 2049). Checks range when `numClasses` is given. */
export function parseIdxLabels(
  bytes: Uint8Array,
  name: string,
  numClasses?: number,
  opts: IdxReadOptions = {},
): Int32Array {
  const arr = parseIdx(bytes, name, opts);
  if (arr.dims.length !== 1) {
    throw new DatasetFormatError(
      `${name}: expected an IDX label file (magic 2049, 1 dim), got ${arr.dims.length} dims; did you swap the images and labels files?`,
      name,
    );
  }
  const labels = Int32Array.from(arr.data);
  if (numClasses !== undefined) checkLabelRange(labels, numClasses, name);
  return labels;
}

export function checkLabelRange(labels: Int32Array, numClasses: number, name: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= numClasses) {
      throw new DatasetFormatError(
        `${name}: label ${labels[i]} at record ${i} is outside [0, ${numClasses})`,
        name,
        i,
      );
    }
  }
}

export interface IdxImages {
  images: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

/** Parses IDX images: magic 2051 (N,H,W, one channel) or 2052 (N,H,W,C). */
export function parseIdxImages(bytes: Uint8Array, name: string, opts: IdxReadOptions = {}): IdxImages {
  const arr = parseIdx(bytes, name, opts);
  const [count, height, width, channels = 1] = arr.dims;
  if (arr.dims.length !== 3 && arr.dims.length !== 4) {
    throw new DatasetFormatError(
      `${name}: expected IDX images (magic 2051 or 2052, 3 or 4 dims), got ${arr.dims.length} dims; did you swap the images and labels files?`,
      name,
    );
  }
  if (height === 0 || width === 0 || channels === 0) {
    throw new DatasetFormatError(`${name}: image dims [${arr.dims.join(', ')}] contain a zero`, name);
  }
  return { images: arr.data, count, height, width, channels };
}

export interface IdxPairOptions extends IdxReadOptions {
  numClasses?: number;
  classNames?: string[];
  /** Where the data came from, for ImageSet.source. */
  source?: string;
}

/** Joins an images file and a labels file into an ImageSet, checking that the counts agree. */
export function idxToImageSet(
  imageBytes: Uint8Array,
  imageName: string,
  labelBytes: Uint8Array,
  labelName: string,
  opts: IdxPairOptions = {},
): ImageSet {
  const numClasses = opts.numClasses ?? opts.classNames?.length;
  const labels = parseIdxLabels(labelBytes, labelName, numClasses, opts);
  const img = parseIdxImages(imageBytes, imageName, opts);
  if (labels.length !== img.count) {
    throw new DatasetFormatError(
      `${labelName}: ${labels.length} labels but ${imageName} holds ${img.count} images; the two files must come from the same split`,
      labelName,
    );
  }
  return { ...img, labels, classNames: opts.classNames, source: opts.source ?? imageName };
}
