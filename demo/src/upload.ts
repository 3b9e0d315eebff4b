// An uploaded photo as the cat model's input: decoded by the browser itself (any format it
// supports), resized to 64x64 with its own resampler, and read back as RGB bytes (NHWC).

import { DatasetFormatError } from '../../src/index.js';

export async function imageToRgb(file: Blob & { name?: string }, size = 64): Promise<Uint8Array> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    const name = file.name ?? 'the file';
    throw new DatasetFormatError(
      `${name} is not an image this browser can decode; use a PNG, JPEG, GIF or WebP picture.`,
      name,
    );
  }
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, size, size);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const rgb = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) {
    rgb[3 * p] = rgba[4 * p];
    rgb[3 * p + 1] = rgba[4 * p + 1];
    rgb[3 * p + 2] = rgba[4 * p + 2];
  }
  return rgb;
}
