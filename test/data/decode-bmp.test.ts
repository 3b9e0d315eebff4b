// The BMP decoder (src/data/decode-bmp.ts) on files built here bit by bit: every bit depth it reads,
// both row orders, BI_RGB and BI_BITFIELDS, the OS/2 core header; and forged headers, which must
// fail as DatasetFormatError before any large allocation or read past the end.
import { describe, expect, it } from 'vitest';
import { decodeBmp } from '../../src/data/decode-bmp.js';
import { scanImageHeader } from '../../src/data/decode-header.js';
import { sniffImageFormat } from '../../src/data/decode.js';
import { DatasetFormatError } from '../../src/errors.js';

interface BmpSpec {
  w: number;
  h: number;
  bpp: number;
  topDown?: boolean;
  compression?: number;
  /** R, G, B(, A) masks written after a 40-byte header. */
  masks?: number[];
  palette?: number[][];
  /** The stored value of pixel (x, y): a palette index, or the packed pixel. */
  value: (x: number, y: number) => number;
}

function makeBmp(s: BmpSpec): Uint8Array {
  const stride = Math.ceil((s.w * s.bpp) / 32) * 4;
  const masks = s.masks ?? [];
  const pal = s.palette ?? [];
  const offset = 14 + 40 + 4 * masks.length + 4 * pal.length;
  const b = new Uint8Array(offset + stride * s.h);
  const v = new DataView(b.buffer);
  b.set([0x42, 0x4d]);
  v.setUint32(2, b.length, true);
  v.setUint32(10, offset, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, s.w, true);
  v.setInt32(22, s.topDown ? -s.h : s.h, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, s.bpp, true);
  v.setUint32(30, s.compression ?? 0, true);
  v.setUint32(46, pal.length, true);
  masks.forEach((m, k) => v.setUint32(54 + 4 * k, m, true));
  pal.forEach(([r, g, bl], k) => b.set([bl, g, r, 0], 54 + 4 * masks.length + 4 * k));
  for (let y = 0; y < s.h; y++) {
    const row = offset + (s.topDown ? y : s.h - 1 - y) * stride;
    for (let x = 0; x < s.w; x++) {
      const val = s.value(x, y);
      if (s.bpp < 8) {
        const bit = x * s.bpp;
        b[row + (bit >> 3)] |= val << (8 - s.bpp - (bit & 7));
      } else if (s.bpp === 8) b[row + x] = val;
      else if (s.bpp === 16) v.setUint16(row + 2 * x, val, true);
      else if (s.bpp === 24) b.set([val & 0xff, (val >> 8) & 0xff, val >> 16], row + 3 * x);
      else v.setUint32(row + 4 * x, val >>> 0, true);
    }
  }
  return b;
}

/** A palette of 16 distinct colours, and an awkward 7x5 picture of indices into it. */
const PALETTE = Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 13, (i * 71) % 256]);
const W = 7;
const H = 5;
const index = (x: number, y: number, colours: number): number => (x * 3 + y * 5) % colours;

function expectPixels(img: ReturnType<typeof decodeBmp>, want: (x: number, y: number) => number[]): void {
  expect([img.width, img.height]).toEqual([W, H]);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * img.channels;
      expect([...img.data.subarray(o, o + img.channels)], `pixel (${x}, ${y})`).toEqual(want(x, y));
    }
  }
}

describe('decodeBmp', () => {
  it.each([1, 4, 8])('reads %i-bit palette pictures, bottom-up and top-down', (bpp) => {
    const colours = 1 << Math.min(bpp, 4);
    for (const topDown of [false, true]) {
      const bytes = makeBmp({
        w: W,
        h: H,
        bpp,
        topDown,
        palette: PALETTE.slice(0, colours),
        value: (x, y) => index(x, y, colours),
      });
      expect(sniffImageFormat(bytes)).toBe('bmp');
      expect(scanImageHeader(bytes)).toEqual({ format: 'bmp', width: W, height: H });
      expectPixels(decodeBmp(bytes, 'p.bmp'), (x, y) => PALETTE[index(x, y, colours)]);
    }
  });

  it('reads 24-bit BGR and 32-bit BGRx (BI_RGB), alpha byte ignored', () => {
    const rgb = (x: number, y: number): number[] => [x * 30, y * 50, 200 - x * 10];
    const packed = (x: number, y: number): number => {
      const [r, g, b] = rgb(x, y);
      return (r << 16) | (g << 8) | b;
    };
    expectPixels(decodeBmp(makeBmp({ w: W, h: H, bpp: 24, value: packed }), 'a.bmp'), rgb);
    const img32 = decodeBmp(
      makeBmp({ w: W, h: H, bpp: 32, topDown: true, value: (x, y) => packed(x, y) | 0x7f000000 }),
      'b.bmp',
    );
    expect(img32.channels).toBe(3);
    expectPixels(img32, rgb);
  });

  it('reads BI_BITFIELDS: 16-bit 5-6-5 and 32-bit RGBA masks', () => {
    const r5 = (x: number): number => x * 4;
    const g6 = (y: number): number => y * 12;
    const b5 = (x: number, y: number): number => (x + y) * 2;
    const img16 = decodeBmp(
      makeBmp({
        w: W,
        h: H,
        bpp: 16,
        compression: 3,
        masks: [0xf800, 0x07e0, 0x001f],
        value: (x, y) => (r5(x) << 11) | (g6(y) << 5) | b5(x, y),
      }),
      'c.bmp',
    );
    const scale = (v: number, bits: number): number => Math.round((v * 255) / ((1 << bits) - 1));
    expectPixels(img16, (x, y) => [scale(r5(x), 5), scale(g6(y), 6), scale(b5(x, y), 5)]);
    // Masks in an unusual order (alpha low, red high), as BI_ALPHABITFIELDS files may have them.
    const masks = [0xff000000, 0x00ff0000, 0x0000ff00, 0x000000ff];
    const px = (x: number, y: number): number[] => [x * 20, y * 40, 90, 255 - x * y];
    const img32 = decodeBmp(
      makeBmp({
        w: W,
        h: H,
        bpp: 32,
        compression: 6,
        masks,
        value: (x, y) => px(x, y).reduce((s, v) => s * 256 + v, 0),
      }),
      'd.bmp',
    );
    expect(img32.channels).toBe(4);
    expectPixels(img32, px);
  });

  it('reads the OS/2 core header (12 bytes, 3-byte palette entries)', () => {
    const b = new Uint8Array(14 + 12 + 2 * 3 + 4 * 2);
    const v = new DataView(b.buffer);
    b.set([0x42, 0x4d]);
    v.setUint32(10, 14 + 12 + 6, true);
    v.setUint32(14, 12, true);
    v.setUint16(18, 3, true);
    v.setInt16(20, 2, true);
    v.setUint16(22, 1, true);
    v.setUint16(24, 1, true);
    b.set([0, 0, 255, 255, 0, 0], 26); // palette: red, blue (BGR)
    b[32] = 0b10100000; // bottom row: 1 0 1
    b[36] = 0b01000000; // top row: 0 1 0
    const img = decodeBmp(b, 'os2.bmp');
    expect([img.width, img.height, img.channels]).toEqual([3, 2, 3]);
    expect([...img.data]).toEqual([255, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 255]);
  });

  it('refuses forged and unsupported headers with a DatasetFormatError naming the file', () => {
    const good = (): Uint8Array => makeBmp({ w: W, h: H, bpp: 24, value: () => 0x102030 });
    const forge = (edit: (v: DataView) => void, cut = 0): Uint8Array => {
      const b = good();
      edit(new DataView(b.buffer));
      return b.subarray(0, b.length - cut);
    };
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated pixels', forge(() => {}, 5), /truncated/],
      ['huge width', forge((v) => v.setInt32(18, 1 << 30, true)), /size/],
      ['zero height', forge((v) => v.setInt32(22, 0, true)), /size/],
      ['offset past the end', forge((v) => v.setUint32(10, 1 << 30, true)), /pixel data/],
      ['RLE8', forge((v) => v.setUint32(30, 1, true)), /compression 1/],
      ['2 bits per pixel', forge((v) => v.setUint16(28, 2, true)), /2 bits per pixel/],
      ['DIB past the end', forge((v) => v.setUint32(14, 5000, true)), /DIB header/],
      [
        'palette past the end',
        forge((v) => {
          v.setUint16(28, 8, true);
          v.setUint32(46, 200, true);
        }),
        /palette/,
      ],
    ];
    for (const [what, bytes, why] of cases) {
      let err: unknown;
      try {
        decodeBmp(bytes, 'forged.bmp');
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(DatasetFormatError);
      expect((err as Error).message, what).toMatch(/^forged\.bmp: corrupt or unreadable BMP/);
      expect((err as Error).message, what).toMatch(why);
    }
    expect(() => decodeBmp(good(), 'big.bmp', { maxPixels: 20 })).toThrow(/over the 20-pixel limit/);
  });
});
