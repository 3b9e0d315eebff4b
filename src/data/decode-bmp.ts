// A small BMP decoder, for the pure-JS fallback and for sharp (libvips reads no BMP). Browser-safe.
//   File header (14 bytes): "BM", file size, reserved, offset of the pixel array (u32 at 10).
//   DIB header: size 12 (OS/2 core: u16 width and height) or 40+ (Windows: i32 width, i32 height,
//   negative for top-down rows; u16 planes; u16 bits per pixel; u32 compression; ...; u32 colours
//   used at 46). Versions 52+ hold the bit masks at 54; a 40-byte header with BI_BITFIELDS (3) or
//   BI_ALPHABITFIELDS (6) has them right after it. The palette (4 bytes BGRx; 3 in the core
//   header) follows the header and any masks.
//   Rows are padded to 4 bytes and stored bottom-up unless the height is negative.
// Read: 1/4/8-bit palette and 24-bit BGR (BI_RGB), 16 and 32-bit (BI_RGB: 5-5-5 / BGRx, or
// BI_BITFIELDS). RLE and embedded JPEG/PNG are refused as unsupported compressions. Every
// offset is checked against the file's length before use, so a forged header fails with a
// DatasetFormatError rather than reading past the end or allocating gigabytes.
import { DatasetFormatError } from '../errors.js';
import { DEFAULT_MAX_PIXELS, type DecodeLimits, type RawImage } from './decode.js';

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;
const MAX_SIDE = 1 << 16;

/** The size a BMP header states: [width, height], or undefined when it is not a sane one. */
export function bmpSize(b: Uint8Array): [number, number] | undefined {
  if (b.length < 26) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dib = v.getUint32(14, true);
  const [w, h] =
    dib === 12 ? [v.getUint16(18, true), v.getInt16(20, true)] : [v.getInt32(18, true), v.getInt32(22, true)];
  const height = Math.abs(h);
  return w > 0 && height > 0 && w <= MAX_SIDE && height <= MAX_SIDE ? [w, height] : undefined;
}

interface Channel {
  mask: number;
  shift: number;
  max: number;
}

function channelOf(mask: number): Channel {
  if (mask === 0) return { mask, shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { mask, shift, max: mask >>> shift };
}

const sample = (px: number, c: Channel): number =>
  c.max === 0 ? 0 : Math.round((((px & c.mask) >>> c.shift) * 255) / c.max);

/** Decodes a BMP file's bytes (see the header); throws DatasetFormatError naming `name`. */
export function decodeBmp(b: Uint8Array, name: string, limits: DecodeLimits = {}): RawImage {
  const bad = (why: string): DatasetFormatError =>
    new DatasetFormatError(`${name}: corrupt or unreadable BMP (${why}); replace or delete the file`, name);
  if (b.length < 26) throw bad(`${b.length} bytes is too short for a BMP header`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataOff = v.getUint32(10, true);
  const dib = v.getUint32(14, true);
  const core = dib === 12;
  if (!core && (dib < 40 || 14 + dib > b.length)) throw bad(`DIB header of ${dib} bytes`);
  const width = core ? v.getUint16(18, true) : v.getInt32(18, true);
  const rawH = core ? v.getInt16(20, true) : v.getInt32(22, true);
  const bpp = v.getUint16(core ? 24 : 28, true);
  const compression = core ? BI_RGB : v.getUint32(30, true);
  const topDown = rawH < 0;
  const height = Math.abs(rawH);
  if (width <= 0 || height <= 0 || width > MAX_SIDE || height > MAX_SIDE) throw bad(`size ${width}x${rawH}`);
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width * height > maxPixels) {
    throw new DatasetFormatError(
      `${name}: BMP is ${width}x${height}, over the ${maxPixels}-pixel limit`,
      name,
    );
  }
  const bitfields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  if (!(compression === BI_RGB || (bitfields && (bpp === 16 || bpp === 32)))) {
    throw bad(`compression ${compression} at ${bpp} bits per pixel is not supported; convert it to PNG`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw bad(`${bpp} bits per pixel`);

  // Masks: inside a 52+ byte header, else right after a 40-byte one.
  let masks: number[] = bpp === 16 ? [0x7c00, 0x03e0, 0x001f, 0] : [0xff0000, 0xff00, 0xff, 0];
  let afterHeader = 14 + dib;
  if (bitfields) {
    const n = compression === BI_ALPHABITFIELDS || dib >= 56 ? 4 : 3;
    const at = dib >= 52 ? 54 : afterHeader;
    if (at + 4 * n > b.length) throw bad('bit masks past the end of the file');
    masks = Array.from({ length: 4 }, (_, k) => (k < n ? v.getUint32(at + 4 * k, true) : 0));
    if (dib < 52) afterHeader += 4 * n;
  }
  const chans = masks.map(channelOf);
  const alpha = bitfields && masks[3] !== 0;

  let palette: Uint8Array | undefined;
  if (bpp <= 8) {
    const entry = core ? 3 : 4;
    const used = core ? 0 : v.getUint32(46, true);
    const count = used > 0 && used <= 1 << bpp ? used : 1 << bpp;
    if (afterHeader + count * entry > b.length) throw bad('palette past the end of the file');
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < count; i++) {
      const p = afterHeader + i * entry;
      palette.set([b[p + 2], b[p + 1], b[p]], 3 * i);
    }
  }

  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (dataOff < 14 + (core ? 12 : 40) || dataOff + stride * height > b.length) {
    throw bad(
      `pixel data at ${dataOff} needs ${stride * height} bytes; the file has ${b.length} (truncated?)`,
    );
  }
  const ch = alpha ? 4 : 3;
  const out = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    const row = dataOff + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * ch;
      if (palette) {
        const bit = x * bpp;
        const idx = (b[row + (bit >> 3)] >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        out[o] = palette[3 * idx];
        out[o + 1] = palette[3 * idx + 1];
        out[o + 2] = palette[3 * idx + 2];
      } else if (bpp === 24) {
        const p = row + 3 * x;
        out[o] = b[p + 2];
        out[o + 1] = b[p + 1];
        out[o + 2] = b[p];
      } else {
        const px = bpp === 16 ? v.getUint16(row + 2 * x, true) : v.getUint32(row + 4 * x, true);
        for (let c = 0; c < ch; c++) out[o + c] = sample(px, chans[c]);
      }
    }
  }
  return { width, height, channels: ch, data: out };
}
