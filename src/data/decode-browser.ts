// Browser decoding through the browser's own decoders (createImageBitmap + an OffscreenCanvas),
// for the demo: the pixels then go through the same preprocessing as in Node (preprocess.ts), so a
// picture becomes the same record in both. Colour-space conversion and alpha premultiplication are
// turned off so the pixels are the file's own, as in the pure-JS decoders Node uses (decode-js.ts).
// Formats are recognised by their magic bytes (decode.ts, shared with Node); the browser decodes
// what browsers decode everywhere (PNG, JPEG, GIF, WebP, BMP, AVIF); TIFF and HEIF fail as
// unreadable there. EXIF orientation is applied (imageOrientation 'from-image', asked for
// explicitly since older browsers defaulted to 'none'), as the Node decoders apply it.
import { DatasetFormatError } from '../errors.js';
import { DEFAULT_MAX_PIXELS, requireImageFormat } from './decode.js';
import type { ImageDecoder, RawImage } from './decode.js';

export const browserImageDecoder: ImageDecoder = {
  name: "the browser's own (createImageBitmap)",
  async decode(bytes, name, limits = {}): Promise<RawImage> {
    const fmt = requireImageFormat(bytes, name);
    const type = `image/${fmt}`;
    const what = fmt.toUpperCase();
    let bitmap: ImageBitmap;
    try {
      const blob = new Blob([bytes.slice()], { type });
      bitmap = await createImageBitmap(blob, {
        colorSpaceConversion: 'none',
        premultiplyAlpha: 'none',
        imageOrientation: 'from-image',
      });
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
