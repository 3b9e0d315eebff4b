// A picture's size from the start of its file, without decoding it: PNG's IHDR chunk, a JPEG's
// SOF marker segment, WebP's VP8/VP8L/VP8X header, GIF's logical screen, BMP's DIB header, TIFF's
// IFD0. Image folders read these to choose their native training size (image-size.ts) in a pass
// that costs one small read per file. AVIF/HEIF sizes sit in nested boxes (and may be rotated by
// others): no size here; folder-size.ts asks sharp for them. Browser-safe: bytes in, numbers out.
//
// JPEG: after SOI (FF D8) come marker segments, each FF xx then a 16-bit big-endian length that
// counts itself; SOFn (C0-C3, C5-C7, C9-CB, CD-CF; not C4 DHT, C8 JPG or CC DAC) holds precision,
// height and width. APPn segments (EXIF with a thumbnail, ICC profiles) can come first and take
// tens of kilobytes, so a caller that read only the head of a file may be told to read more.
// The size is the upright one, as the decoders return it: an EXIF orientation of 5-8 (exif.ts),
// which sits in an APP1 segment before SOF, swaps width and height; so does a TIFF orientation.

import { bmpSize } from './decode-bmp.js';
import { sniffImageFormat, type ImageFormat } from './decode.js';
import { jpegOrientation, swapsSides } from './exif.js';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/** A header, 'more' when the bytes end before the size (read more of the file), or undefined: no size. */
export type HeaderScan = ImageHeader | 'more' | undefined;

/** SOFn markers: every C0-CF except C4 (DHT), C8 (JPG) and CC (DAC). */
const isSof = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function jpegHeader(b: Uint8Array): HeaderScan {
  let i = 2;
  for (;;) {
    // Like libjpeg, skip stray bytes before a marker and any number of FF fill bytes.
    while (i < b.length && b[i] !== 0xff) i++;
    while (i < b.length && b[i] === 0xff) i++;
    if (i >= b.length) return 'more';
    const m = b[i++];
    // Markers without a length: SOI, RSTn, TEM.
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) continue;
    // The end of the image, or the scan's entropy-coded data, before any frame header.
    if (m === 0xd9 || m === 0xda) return undefined;
    if (i + 2 > b.length) return 'more';
    const len = (b[i] << 8) | b[i + 1];
    if (len < 2) return undefined;
    if (isSof(m)) {
      if (i + 7 > b.length) return 'more';
      const height = (b[i + 3] << 8) | b[i + 4];
      const width = (b[i + 5] << 8) | b[i + 6];
      // Height 0 defers it to a DNL marker after the first scan: no size from the header.
      if (!(width > 0 && height > 0)) return undefined;
      // Every APPn segment before SOF is in `b`: the orientation is read from them.
      const swap = swapsSides(jpegOrientation(b.subarray(0, i)));
      return { format: 'jpeg', width: swap ? height : width, height: swap ? width : height };
    }
    i += len;
  }
}

function pngHeader(b: Uint8Array): HeaderScan {
  if (b.length < 24) return 'more';
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (view.getUint32(12) !== 0x49484452) return undefined;
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  return width > 0 && height > 0 ? { format: 'png', width, height } : undefined;
}

const sized = (format: ImageFormat, width: number, height: number): HeaderScan =>
  width > 0 && height > 0 ? { format, width, height } : undefined;

/** WebP: the first chunk after "RIFF....WEBP" is VP8 (lossy), VP8L (lossless) or VP8X (extended). */
function webpHeader(b: Uint8Array): HeaderScan {
  if (b.length < 30) return 'more';
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const chunk = String.fromCharCode(b[12], b[13], b[14], b[15]);
  if (chunk === 'VP8 ') {
    // Frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height (2 bits of scale).
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
    return sized('webp', v.getUint16(26, true) & 0x3fff, v.getUint16(28, true) & 0x3fff);
  }
  if (chunk === 'VP8L') {
    // Signature 0x2F, then width-1 and height-1 in 14 bits each, little-endian bit order.
    if (b[20] !== 0x2f) return undefined;
    const bits = v.getUint32(21, true);
    return sized('webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (chunk === 'VP8X') {
    // Flags and reserved (4 bytes), then canvas width-1 and height-1 in 24 bits each.
    const u24 = (o: number): number => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);
    return sized('webp', u24(24) + 1, u24(27) + 1);
  }
  return undefined;
}

/** GIF: the logical screen's width and height (16-bit little-endian) follow the 6-byte signature. */
function gifHeader(b: Uint8Array): HeaderScan {
  if (b.length < 10) return 'more';
  return sized('gif', b[6] | (b[7] << 8), b[8] | (b[9] << 8));
}

/** TIFF: IFD0's ImageWidth (256) and ImageLength (257), SHORT or LONG; Orientation (274) 5-8 swaps them. */
function tiffHeader(b: Uint8Array): HeaderScan {
  if (b.length < 8) return 'more';
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const little = b[0] === 0x49;
  const ifd = v.getUint32(4, little);
  if (ifd < 8) return undefined;
  if (ifd + 2 > b.length) return 'more';
  const n = v.getUint16(ifd, little);
  if (ifd + 2 + 12 * n > b.length) return 'more';
  const tags = new Map<number, number>();
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + 12 * k;
    const type = v.getUint16(e + 2, little);
    if (type === 3) tags.set(v.getUint16(e, little), v.getUint16(e + 8, little));
    else if (type === 4) tags.set(v.getUint16(e, little), v.getUint32(e + 8, little));
  }
  const width = tags.get(256) ?? 0;
  const height = tags.get(257) ?? 0;
  return swapsSides(tags.get(274) ?? 1) ? sized('tiff', height, width) : sized('tiff', width, height);
}

function bmpHeader(b: Uint8Array): HeaderScan {
  if (b.length < 26) return 'more';
  const size = bmpSize(b);
  return size ? sized('bmp', size[0], size[1]) : undefined;
}

/** The size an image file's header states, read from its first bytes (see the header). */
export function scanImageHeader(bytes: Uint8Array): HeaderScan {
  switch (sniffImageFormat(bytes)) {
    case 'png':
      return pngHeader(bytes);
    case 'jpeg':
      return jpegHeader(bytes);
    case 'webp':
      return webpHeader(bytes);
    case 'gif':
      return gifHeader(bytes);
    case 'bmp':
      return bmpHeader(bytes);
    case 'tiff':
      return tiffHeader(bytes);
    case 'avif':
    case 'heif':
      return undefined;
    default:
      // Too short to tell yet: 18 bytes tell every format (BMP's DIB header size ends at 18).
      return bytes.length < 18 ? 'more' : undefined;
  }
}
