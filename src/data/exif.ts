// EXIF orientation for JPEG: where to find it, and how to turn the stored pixels upright.
// Browser-safe: bytes in, numbers out.
//
// A JPEG's EXIF block is an APP1 segment (FF E1, 16-bit length) starting "Exif\0\0", then a TIFF
// structure: "II" (little-endian) or "MM" (big-endian), the number 42, and the offset of IFD0 from
// the TIFF start. IFD0 is a 16-bit entry count then 12-byte entries (tag u16, type u16, count u32,
// value or offset u32); tag 0x0112 (Orientation, type SHORT) holds 1-8. Every read is checked
// against the segment's end; anything malformed reads as 1 (upright), as libvips does.
//
// Orientation n says how the stored pixels map to the picture a viewer shows:
//   1 as stored             2 mirrored left-right      3 turned 180          4 mirrored top-bottom
//   5 transposed (mirrored across the top-left diagonal)      6 turned 90 clockwise to display
//   7 transversed (mirrored across the other diagonal)        8 turned 90 anticlockwise to display
// 5-8 swap width and height.

import type { RawImage } from './decode.js';

const EXIF_HEADER = [0x45, 0x78, 0x69, 0x66, 0, 0];

/** The orientation in a JPEG's EXIF APP1 segment (1-8), or 1 when there is none or it is malformed. */
export function jpegOrientation(b: Uint8Array): number {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return 1;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return 1;
    const m = b[i + 1];
    if (m === 0xff) {
      i++;
      continue;
    }
    // Start of scan or end of image: metadata comes before both.
    if (m === 0xda || m === 0xd9) return 1;
    const len = (b[i + 2] << 8) | b[i + 3];
    if (len < 2) return 1;
    const start = i + 4;
    const end = Math.min(b.length, i + 2 + len);
    if (m === 0xe1 && end - start >= 14 && EXIF_HEADER.every((c, k) => b[start + k] === c)) {
      const o = tiffOrientation(b.subarray(start + 6, end));
      if (o !== undefined) return o;
    }
    i += 2 + len;
  }
  return 1;
}

/** Orientation from a TIFF structure's IFD0, or undefined when it holds none. */
function tiffOrientation(t: Uint8Array): number | undefined {
  if (t.length < 8) return undefined;
  const little = t[0] === 0x49 && t[1] === 0x49;
  if (!little && !(t[0] === 0x4d && t[1] === 0x4d)) return undefined;
  const v = new DataView(t.buffer, t.byteOffset, t.byteLength);
  if (v.getUint16(2, little) !== 42) return undefined;
  const ifd = v.getUint32(4, little);
  if (ifd + 2 > t.length) return undefined;
  const n = v.getUint16(ifd, little);
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > t.length) return undefined;
    if (v.getUint16(e, little) !== 0x0112) continue;
    const type = v.getUint16(e + 2, little);
    const value = type === 3 ? v.getUint16(e + 8, little) : type === 4 ? v.getUint32(e + 8, little) : 0;
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return undefined;
}

/** True for orientations that swap width and height. */
export const swapsSides = (orientation: number): boolean => orientation >= 5 && orientation <= 8;

/**
 * The stored pixel (sx, sy) shown at (x, y) of the upright picture, for a stored image w wide and
 * h high (see the header for what each orientation means).
 */
export function storedPixel(
  orientation: number,
  x: number,
  y: number,
  w: number,
  h: number,
): [number, number] {
  switch (orientation) {
    case 2:
      return [w - 1 - x, y];
    case 3:
      return [w - 1 - x, h - 1 - y];
    case 4:
      return [x, h - 1 - y];
    case 5:
      return [y, x];
    case 6:
      return [y, h - 1 - x];
    case 7:
      return [w - 1 - y, h - 1 - x];
    case 8:
      return [w - 1 - y, x];
    default:
      return [x, y];
  }
}

/** The upright picture of `img` stored with EXIF `orientation` (1 or unknown: `img` itself). */
export function applyOrientation(img: RawImage, orientation: number): RawImage {
  if (orientation < 2 || orientation > 8) return img;
  const { width: w, height: h, channels: ch, data } = img;
  const [ow, oh] = swapsSides(orientation) ? [h, w] : [w, h];
  const out = new Uint8Array(data.length);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const [sx, sy] = storedPixel(orientation, x, y, w, h);
      const s = (sy * w + sx) * ch;
      const o = (y * ow + x) * ch;
      for (let c = 0; c < ch; c++) out[o + c] = data[s + c];
    }
  }
  return { width: ow, height: oh, channels: ch, data: out };
}
