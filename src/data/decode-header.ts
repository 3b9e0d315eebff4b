// A picture's size from the start of its file, without decoding it: PNG's IHDR chunk, or a JPEG's
// SOF marker segment. Image folders read these to choose their native training size
// (image-size.ts) in a pass that costs one small read per file. Browser-safe: bytes in, numbers out.
//
// JPEG: after SOI (FF D8) come marker segments, each FF xx then a 16-bit big-endian length that
// counts itself; SOFn (C0-C3, C5-C7, C9-CB, CD-CF; not C4 DHT, C8 JPG or CC DAC) holds precision,
// height and width. APPn segments (EXIF with a thumbnail, ICC profiles) can come first and take
// tens of kilobytes, so a caller that read only the head of a file may be told to read more.
// The size is the stored one: EXIF orientation is not applied (neither does the decoder).

import { sniffImageFormat, type ImageFormat } from './decode.js';

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
      return width > 0 && height > 0 ? { format: 'jpeg', width, height } : undefined;
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

/** The size a PNG or JPEG file's header states, read from its first bytes (see the header). */
export function scanImageHeader(bytes: Uint8Array): HeaderScan {
  const fmt = sniffImageFormat(bytes);
  if (fmt === 'png') return pngHeader(bytes);
  if (fmt === 'jpeg') return jpegHeader(bytes);
  // Too short to tell yet: 8 bytes tell PNG, 3 JPEG.
  return bytes.length < 8 ? 'more' : undefined;
}
