// The size an image folder trains at when none is given ('native'), chosen from the pictures'
// headers (decode-header.ts):
//   - every picture one size HxW, short side at most NATIVE_SIZE_CAP: that size (CIFAR's 32x32
//     JPEGs train at 32x32, as the pictures were made);
//   - otherwise square, side = the median short side, rounded down to a multiple of 8 (when 8 or
//     more), at most NATIVE_SIZE_CAP.
// Why these rules:
//   - the median, not the mean or the smallest: a few thumbnails or panoramas among the photos do
//     not move it; the short side, because that is the side a square resize or centre crop keeps;
//   - a multiple of 8: the convolutional presets halve the map up to three times, and a side that
//     divides by 8 halves exactly each time;
//   - 128, the cap: the default network is an MLP whose first weight matrix holds H*W*3*256
//     floats, 48 MiB at 128x128 but 147 MiB at 224x224, over the 128 MiB storage binding WebGPU
//     guarantees (such a run stops at its first step); the convolutional presets' activation
//     memory grows with H*W as well, and each record's decoding and cache space (48 KiB at
//     128x128x3) with it. 128 px is the low end of the 128-224 px range photo classifiers train
//     at; --image-size 224x224 (with --arch cnn) asks for more. Phone photos (3000 px and more)
//     would otherwise train at sizes no GPU batch holds.
// Pictures whose header cannot be read do not count (the decode skips or rejects them later).
// Browser-safe.

import type { ImageHeader } from './decode-header.js';

/** An image folder's training size: [height, width], or 'native' to choose it from the pictures. */
export type ImageSize = 'native' | [number, number];

export const NATIVE_SIZE_CAP = 128;
/** The side a native size is rounded down to a multiple of (sides under it are kept as they are). */
export const NATIVE_SIZE_STEP = 8;
/** The size a folder with no readable header gets (its decode then fails on the pictures themselves). */
const FALLBACK: [number, number] = [64, 64];

/** The size an image folder's pictures become, and why, in words for the `train` header. */
export interface ChosenImageSize {
  /** [height, width]. */
  size: [number, number];
  /** 'given': imageSize was [h, w]; 'uniform' or 'median': chosen from the pictures. */
  from: 'given' | 'uniform' | 'median';
  /** E.g. "every picture is 32x32", "mixed sizes; median short side 375 of 50 pictures, capped at 128". */
  reason: string;
}

const fmtInt = (n: number): string => n.toLocaleString('en-US');

/** The training size for pictures of these sizes (see the header); `headers` may be empty. */
export function chooseImageSize(headers: readonly Pick<ImageHeader, 'width' | 'height'>[]): ChosenImageSize {
  if (headers.length === 0) {
    return { size: [...FALLBACK], from: 'median', reason: 'no picture header could be read' };
  }
  const { width, height } = headers[0];
  const uniform = headers.every((h) => h.width === width && h.height === height);
  if (uniform && Math.min(width, height) <= NATIVE_SIZE_CAP) {
    return { size: [height, width], from: 'uniform', reason: `every picture is ${height}x${width}` };
  }
  const shorts = headers.map((h) => Math.min(h.width, h.height)).sort((a, b) => a - b);
  const mid = shorts.length >> 1;
  const median = shorts.length % 2 === 1 ? shorts[mid] : Math.floor((shorts[mid - 1] + shorts[mid]) / 2);
  const rounded = median >= NATIVE_SIZE_STEP ? median - (median % NATIVE_SIZE_STEP) : median;
  const side = Math.min(rounded, NATIVE_SIZE_CAP);
  const how =
    side < rounded
      ? `capped at ${NATIVE_SIZE_CAP}`
      : side < median
        ? `rounded down to a multiple of ${NATIVE_SIZE_STEP}`
        : '';
  const what = uniform
    ? `every picture is ${height}x${width}`
    : `mixed sizes; median short side ${median} of ${fmtInt(headers.length)} pictures`;
  return { size: [side, side], from: 'median', reason: how ? `${what}, ${how}` : what };
}

/** The choice for an explicit [h, w]. */
export function givenImageSize(size: [number, number]): ChosenImageSize {
  return { size: [size[0], size[1]], from: 'given', reason: 'as given' };
}
