// Browser decoding through the browser's own decoders (createImageBitmap + an OffscreenCanvas),
// for the demo: the pixels then go through the same preprocessing as in Node (preprocess.ts), so a
// picture becomes the same record in both. Colour-space conversion and alpha premultiplication are
// turned off so the pixels are the file's own, as in the pure-JS decoders Node uses (decode-js.ts).
// Besides PNG and JPEG it takes what browsers decode everywhere (GIF, WebP, BMP, AVIF), recognised
// by their magic bytes; anything else fails as requireImageFormat says.
import { DatasetFormatError } from '../errors.js';
import { DEFAULT_MAX_PIXELS, requireImageFormat } from './decode.js';
import type { ImageDecoder, RawImage } from './decode.js';

const ascii = (bytes: Uint8Array, from: number, to: number): string =>
  String.fromCharCode(...bytes.subarray(from, to));

/** The MIME type of a format only the browser decodes, or undefined. */
function browserOnlyType(bytes: Uint8Array): string | undefined {
  if (ascii(bytes, 0, 4) === 'GIF8') return 'image/gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'image/webp';
  if (ascii(bytes, 4, 8) === 'ftyp' && /^avi[fs]$/.test(ascii(bytes, 8, 12))) return 'image/avif';
  if (ascii(bytes, 0, 2) === 'BM' && bytes.length > 26) return 'image/bmp';
  return undefined;
}

export const browserImageDecoder: ImageDecoder = {
  async decode(bytes, name, limits = {}): Promise<RawImage> {
    const type =
      browserOnlyType(bytes) ?? (requireImageFormat(bytes, name) === 'png' ? 'image/png' : 'image/jpeg');
    const what = type.slice('image/'.length).toUpperCase();
    let bitmap: ImageBitmap;
    try {
      const blob = new Blob([bytes.slice()], { type });
      bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch (e) {
      throw new DatasetFormatError(`${name}: corrupt or unreadable ${what} (${String(e)})`, name);
    }
    try {
      const { width, height } = bitmap;
      if (width * height > (limits.maxPixels ?? DEFAULT_MAX_PIXELS)) {
        throw new DatasetFormatError(`${name}: image is ${width}x${height}, over the pixel limit`, name);
      }
      const canvas = new OffscreenCanvas(width, height);
      const ctx = canvas.getContext('2d');
      if (!ctx) throw new DatasetFormatError(`${name}: no 2D canvas context to decode into`, name);
      ctx.drawImage(bitmap, 0, 0);
      const pixels = ctx.getImageData(0, 0, width, height).data;
      return {
        width,
        height,
        channels: 4,
        data: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength),
      };
    } finally {
      bitmap.close();
    }
  },
};
