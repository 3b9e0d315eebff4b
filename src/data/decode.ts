// The decode step behind a small interface: Node decodes with sharp (decode-sharp.ts) or, where it
// cannot load, pure-JS decoders (decode-js.ts); decode-node.ts picks one, decode-pool.ts runs it on
// worker threads; the demo decodes with the browser's own (decode-browser.ts). All hand the pixels
// to the same preprocessing (preprocess.ts), so a picture becomes the same record in the command
// line, the API and the demo.
import { DatasetFormatError, NotAnImageError } from '../errors.js';

/** A decoded image at its native size: 8-bit samples, interleaved. */
export interface RawImage {
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}

export type ResizeMode = 'resize' | 'center-crop';

export interface PreprocessOptions {
  /** Output [height, width]. */
  size: [number, number];
  mode?: ResizeMode;
  channels?: 1 | 3;
}

export interface DecodeLimits {
  /** Refuse images with more pixels than this (guards memory on forged headers). */
  maxPixels?: number;
}

export interface ImageDecoder {
  /**
   * Which library decodes, in words for `info` and the train header, e.g.
   * "sharp 0.35.5 (libvips 8.18.7, libjpeg-turbo)" or "jpeg-js + fast-png (pure JavaScript)".
   */
  readonly name: string;
  /**
   * Decodes an image file's bytes at its native size, EXIF orientation applied; throws
   * DatasetFormatError naming `name` on bad input (NotAnImageError for a file that is no image).
   */
  decode(bytes: Uint8Array, name: string, limits?: DecodeLimits): Promise<RawImage>;
  /**
   * Optional fast path: decode straight to what preprocessImage(decode(bytes), opts) returns
   * (HWC uint8 of opts.size x opts.channels), letting a native library shrink while it decodes.
   * The pixels may differ from the two-step path by the library's resampler, never in shape.
   */
  decodeResized?(
    bytes: Uint8Array,
    name: string,
    opts: PreprocessOptions,
    limits?: DecodeLimits,
  ): Promise<Uint8Array>;
}

/** 64 MP: far above any training image, small enough to keep a forged header harmless. */
export const DEFAULT_MAX_PIXELS = 64_000_000;

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif' | 'bmp' | 'tiff' | 'avif' | 'heif';

/** The formats in words, for messages. */
export const IMAGE_FORMATS_TEXT = 'PNG, JPEG, WebP, GIF, BMP, TIFF or AVIF/HEIF';

const ascii = (b: Uint8Array, from: number, to: number): string =>
  b.length >= to ? String.fromCharCode(...b.subarray(from, to)) : '';

/** BITMAPINFOHEADER sizes and its later versions (OS/2 1.x 12, Windows 40 .. 124 bytes). */
const BMP_DIB_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);
/** ISO-BMFF `ftyp` major brands: AVIF, then HEIF (HEVC, or a bare image file). */
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1']);

/**
 * Recognises a format by its magic bytes, not by the file name. BMP's two-byte "BM" is weak, so
 * its DIB header size must be one of the known ones too.
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(b, 0, 2) === 'BM' && b.length >= 18) {
    const dib = b[14] | (b[15] << 8) | (b[16] << 16) | (b[17] << 24);
    if (BMP_DIB_SIZES.has(dib)) return 'bmp';
  }
  const tiff = ascii(b, 0, 4);
  if (tiff === 'II*\0' || tiff === 'MM\0*') return 'tiff';
  if (ascii(b, 4, 8) === 'ftyp') {
    const brand = ascii(b, 8, 12);
    if (AVIF_BRANDS.has(brand)) return 'avif';
    if (HEIF_BRANDS.has(brand)) return 'heif';
  }
  return undefined;
}

const IMAGE_EXT = /\.(png|jpe?g|jfif?|webp|gif|bmp|dib|tiff?|avif|heic|heif)$/i;

/** True when the name claims to be an image we decode (used to tell corrupt from non-image). */
export function hasImageExtension(name: string): boolean {
  return IMAGE_EXT.test(name);
}

/** Checks the format before decoding; returns it or throws a named error. */
export function requireImageFormat(bytes: Uint8Array, name: string): ImageFormat {
  const fmt = sniffImageFormat(bytes);
  if (fmt) return fmt;
  if (hasImageExtension(name)) {
    throw new DatasetFormatError(
      `${name}: corrupt image (no ${IMAGE_FORMATS_TEXT} signature); replace or delete the file`,
      name,
    );
  }
  throw new NotAnImageError(
    `${name}: not a ${IMAGE_FORMATS_TEXT} file; remove it from the image folder or pass skipNonImages: true`,
    name,
  );
}
