// CIFAR-10/100 binary reader. Each record is the label byte(s) then 3072 pixel bytes in CHW order
// (1024 R, 1024 G, 1024 B, rows top to bottom); we convert to NHWC to match every other reader.
//   CIFAR-10  (data_batch_1..5.bin, test_batch.bin): 1 label byte          -> 3073 bytes/record
//   CIFAR-100 (train.bin, test.bin):                 coarse, fine bytes    -> 3074 bytes/record
// Browser-safe: bytes in, ImageSet out; readers-node.ts reads the files.
import { DatasetFormatError } from '../errors.js';
import type { ImageSet } from './types.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, gunzipIfNeeded } from './gzip.js';

export type CifarVariant = 'cifar10' | 'cifar100';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

export function cifarRecordBytes(variant: CifarVariant): number {
  return (variant === 'cifar10' ? 1 : 2) + PIXELS;
}

export interface CifarReadOptions {
  classNames?: string[];
  maxDecompressedBytes?: number;
}

/** Parses one CIFAR binary batch (plain or gzip). CIFAR-100 uses the fine label. */
export function parseCifarBatch(
  bytes: Uint8Array,
  name: string,
  variant: CifarVariant,
  opts: CifarReadOptions = {},
): ImageSet {
  const raw = gunzipIfNeeded(bytes, name, opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES);
  const rec = cifarRecordBytes(variant);
  if (raw.length === 0 || raw.length % rec !== 0) {
    const whole = Math.floor(raw.length / rec);
    throw new DatasetFormatError(
      `${name}: ${raw.length} bytes is not a multiple of the ${variant} record size ${rec}; record ${whole} is cut off after ${raw.length - whole * rec} bytes (truncated download, or wrong variant?)`,
      name,
      whole,
    );
  }
  const count = raw.length / rec;
  const numClasses = opts.classNames?.length ?? (variant === 'cifar10' ? 10 : 100);
  const labelOffset = variant === 'cifar10' ? 0 : 1;
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  for (let r = 0; r < count; r++) {
    const base = r * rec;
    const label = raw[base + labelOffset];
    if (label >= numClasses) {
      throw new DatasetFormatError(
        `${name}: record ${r} has label ${label}, outside [0, ${numClasses})`,
        name,
        r,
      );
    }
    labels[r] = label;
    const src = base + rec - PIXELS;
    const dst = r * PIXELS;
    for (let p = 0; p < PLANE; p++) {
      images[dst + 3 * p] = raw[src + p];
      images[dst + 3 * p + 1] = raw[src + PLANE + p];
      images[dst + 3 * p + 2] = raw[src + 2 * PLANE + p];
    }
  }
  return {
    images,
    count,
    height: SIDE,
    width: SIDE,
    channels: 3,
    labels,
    classNames: opts.classNames,
    source: name,
  };
}

/** Class names from batches.meta.txt / fine_label_names.txt: one per line, blank lines ignored. */
export function parseClassNames(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Joins batches of equal image shape into one set (e.g. data_batch_1..5). */
export function concatImageSets(sets: ImageSet[], source: string): ImageSet {
  if (sets.length === 0) throw new RangeError('concatImageSets needs at least one set');
  const [first] = sets;
  const per = first.height * first.width * first.channels;
  const count = sets.reduce((a, s) => a + s.count, 0);
  const images = new Uint8Array(count * per);
  const labels = new Int32Array(count);
  let n = 0;
  for (const s of sets) {
    if (s.height !== first.height || s.width !== first.width || s.channels !== first.channels) {
      throw new DatasetFormatError(
        `${s.source}: images are ${s.height}x${s.width}x${s.channels}, unlike ${first.source} (${first.height}x${first.width}x${first.channels})`,
        s.source,
      );
    }
    images.set(s.images.subarray(0, s.count * per), n * per);
    labels.set(s.labels, n);
    n += s.count;
  }
  return { ...first, images, labels, count, source };
}
