// The decode step behind a small interface: Node decodes with pure-JS decoders (decode-js.ts;
// decode-pool.ts runs them on worker threads), the demo with the browser's own (decode-browser.ts), and
// both hand the pixels to the same preprocessing (preprocess.ts), so a picture becomes the same
// record in the command line, the API and the demo.
import { DatasetFormatError, NotAnImageError } from '../errors.js';

/** A decoded image at its native size: 8-bit samples, interleaved. */
export interface RawImage {
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}

export interface DecodeLimits {
  /** Refuse images with more pixels than this (guards memory on forged headers). */
  maxPixels?: number;
}

export interface ImageDecoder {
  /**
   * Decodes PNG or JPEG bytes (the browser's decoder also GIF, WebP, BMP and AVIF); throws
   * DatasetFormatError naming `name` on bad input.
   */
  decode(bytes: Uint8Array, name: string, limits?: DecodeLimits): Promise<RawImage>;
}

/** 64 MP: far above any training image, small enough to keep a forged header harmless. */
export const DEFAULT_MAX_PIXELS = 64_000_000;

export type ImageFormat = 'png' | 'jpeg';

/** Recognises a format by its magic bytes, not by the file name. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return 'png';
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

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
      `${name}: corrupt image (no PNG or JPEG signature); replace or delete the file`,
      name,
    );
  }
  throw new NotAnImageError(
    `${name}: not a PNG or JPEG file; remove it from the image folder or pass skipNonImages: true`,
    name,
  );
}
