// Pure-JS decoding: PNG (fast-png), JPEG (jpeg-js, EXIF orientation applied by exif.ts) and BMP
// (decode-bmp.ts). Runs in Node and in the browser; Node falls back to it where sharp cannot load
// (decode-node.ts). WebP, GIF, TIFF and AVIF/HEIF need the native decoder: such a file is a
// NotAnImageError, which a folder skips as 'unsupported' (skipped.ts) with a reason that says so.
// Before handing bytes to a decoder we check the header's size against limits and (for PNG)
// against what the compressed data could possibly hold, so a forged width/height fails with a
// DatasetFormatError instead of a giant allocation.
import { convertIndexedToRgb, decode as decodePngLib } from 'fast-png';
import jpeg from 'jpeg-js';
import { DatasetFormatError, NotAnImageError } from '../errors.js';
import { decodeBmp } from './decode-bmp.js';
import { DEFAULT_MAX_PIXELS, requireImageFormat } from './decode.js';
import type { DecodeLimits, ImageDecoder, RawImage } from './decode.js';
import { applyOrientation, jpegOrientation } from './exif.js';

export const JS_DECODER_NAME = 'jpeg-js + fast-png (pure JavaScript)';

export function decodeImageSync(bytes: Uint8Array, name: string, limits: DecodeLimits = {}): RawImage {
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const fmt = requireImageFormat(bytes, name);
  switch (fmt) {
    case 'png':
      return decodePng(bytes, name, maxPixels);
    case 'jpeg':
      return applyOrientation(decodeJpeg(bytes, name, maxPixels), jpegOrientation(bytes));
    case 'bmp':
      return decodeBmp(bytes, name, { maxPixels });
    default:
      throw new NotAnImageError(
        `${name}: ${fmt.toUpperCase()} image, which the pure-JavaScript decoder (PNG, JPEG, BMP) cannot read; ` +
          'the native decoder (sharp) is needed: npm install sharp, or convert the file to PNG or JPEG',
        name,
      );
  }
}

/** The pure-JS decoder; `name` may say why it is in use (decode-node.ts). */
export function jsDecoderNamed(name: string): ImageDecoder {
  return {
    name,
    decode: (bytes, file, limits) => Promise.resolve().then(() => decodeImageSync(bytes, file, limits)),
  };
}

export const jsImageDecoder: ImageDecoder = jsDecoderNamed(JS_DECODER_NAME);

function corrupt(name: string, kind: string, e: unknown): DatasetFormatError {
  if (e instanceof DatasetFormatError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new DatasetFormatError(
    `${name}: corrupt or unreadable ${kind} (${msg.slice(0, 200)}); replace or delete the file`,
    name,
  );
}

/** Bits per pixel for PNG colour types 0, 2, 3, 4, 6. */
const PNG_SAMPLES: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Walks the PNG chunk list (bounded by the file length) and validates IHDR against IDAT. */
function checkPngHeader(bytes: Uint8Array, name: string, maxPixels: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 33 || view.getUint32(12) !== 0x49484452) {
    throw new DatasetFormatError(`${name}: corrupt PNG (missing IHDR chunk)`, name);
  }
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24];
  const samples = PNG_SAMPLES[bytes[25]];
  if (width === 0 || height === 0 || samples === undefined || ![1, 2, 4, 8, 16].includes(depth)) {
    throw new DatasetFormatError(
      `${name}: corrupt PNG header (${width}x${height}, depth ${depth}, colour type ${bytes[25]})`,
      name,
    );
  }
  if (width * height > maxPixels) {
    throw new DatasetFormatError(
      `${name}: PNG is ${width}x${height}, over the ${maxPixels}-pixel limit`,
      name,
    );
  }
  let idat = 0;
  for (let off = 8; off + 8 <= bytes.length;) {
    const len = view.getUint32(off);
    if (view.getUint32(off + 4) === 0x49444154) idat += len;
    off += 12 + len;
  }
  // Adam7 adds at most one filter byte per row per pass; 7*height covers it.
  const rawBytes = height * Math.ceil((width * samples * depth) / 8) + 7 * height;
  if (rawBytes > idat * 1032 + 1024) {
    throw new DatasetFormatError(
      `${name}: corrupt PNG: header says ${width}x${height} but the image data (${idat} bytes) cannot hold it`,
      name,
    );
  }
}

function decodePng(bytes: Uint8Array, name: string, maxPixels: number): RawImage {
  checkPngHeader(bytes, name, maxPixels);
  let png;
  try {
    png = decodePngLib(bytes, { checkCrc: true });
  } catch (e) {
    throw corrupt(name, 'PNG', e);
  }
  const { width, height } = png;
  let data: Uint8Array;
  let channels: number;
  if (png.palette) {
    try {
      data = Uint8Array.from(convertIndexedToRgb(png));
    } catch (e) {
      throw corrupt(name, 'PNG', e);
    }
    channels = data.length / (width * height);
  } else {
    channels = png.channels;
    data =
      png.depth === 16
        ? to8bit(png.data)
        : png.depth === 8
          ? Uint8Array.from(png.data)
          : scaleLowDepth(png.data, png.depth);
  }
  if (![1, 2, 3, 4].includes(channels) || data.length !== width * height * channels) {
    throw new DatasetFormatError(
      `${name}: corrupt PNG (decoded ${data.length} samples for ${width}x${height})`,
      name,
    );
  }
  return { width, height, channels: channels as RawImage['channels'], data };
}

/** 16-bit samples keep their high byte (what browsers and PIL do). */
function to8bit(src: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] >> 8;
  return out;
}

/** fast-png unpacks 1/2/4-bit gray to one sample per byte in [0, 2^depth); stretch to 0..255. */
function scaleLowDepth(src: ArrayLike<number>, depth: number): Uint8Array {
  const scale = 255 / ((1 << depth) - 1);
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Math.round(src[i] * scale);
  return out;
}

function decodeJpeg(bytes: Uint8Array, name: string, maxPixels: number): RawImage {
  try {
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: maxPixels / 1e6,
      // RGBA output plus the decoder's component buffers: about 8 bytes per pixel.
      maxMemoryUsageInMB: Math.max(64, Math.ceil((maxPixels * 8) / (1 << 20))),
    });
    if (img.width < 1 || img.height < 1 || img.data.length !== img.width * img.height * 4) {
      throw new Error(`decoded ${img.data.length} bytes for ${img.width}x${img.height}`);
    }
    return { width: img.width, height: img.height, channels: 4, data: img.data };
  } catch (e) {
    throw corrupt(name, 'JPEG', e);
  }
}
