// Browser decoding through the browser's own PNG/JPEG decoders (createImageBitmap + an
// OffscreenCanvas). Colour-space conversion and alpha premultiplication are turned off so the
// pixels are the file's own, as in the pure-JS decoders used in Node.
import { DatasetFormatError } from '../errors.js';
import { DEFAULT_MAX_PIXELS, requireImageFormat } from './decode.js';
import type { ImageDecoder, RawImage } from './decode.js';

export const browserImageDecoder: ImageDecoder = {
  async decode(bytes, name, limits = {}): Promise<RawImage> {
    const fmt = requireImageFormat(bytes, name);
    let bitmap: ImageBitmap;
    try {
      const blob = new Blob([bytes.slice()], { type: fmt === 'png' ? 'image/png' : 'image/jpeg' });
      bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch (e) {
      throw new DatasetFormatError(
        `${name}: corrupt or unreadable ${fmt.toUpperCase()} (${String(e)})`,
        name,
      );
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
