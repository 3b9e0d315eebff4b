// EXIF orientation (src/data/exif.ts): finding tag 0x0112 in a JPEG's APP1 segment in both byte
// orders, reading malformed blocks as upright without reading past them, and turning pictures
// upright (checked on a 3x2 picture against the eight turns and mirrors drawn by hand).
import { describe, expect, it } from 'vitest';
import { applyOrientation, jpegOrientation } from '../../src/data/exif.js';
import type { RawImage } from '../../src/data/decode.js';

/** SOI, an APP1 "Exif" segment holding a TIFF block with IFD0 `entries`, then SOS. */
function jpegWithExif(
  little: boolean,
  entries: [tag: number, type: number, value: number][],
  ifdOffset = 8,
): Uint8Array {
  const tiff = new Uint8Array(8 + 2 + 12 * entries.length + 4);
  const v = new DataView(tiff.buffer);
  tiff.set(little ? [0x49, 0x49] : [0x4d, 0x4d]);
  v.setUint16(2, 42, little);
  v.setUint32(4, ifdOffset, little);
  v.setUint16(8, entries.length, little);
  entries.forEach(([tag, type, value], k) => {
    const e = 10 + 12 * k;
    v.setUint16(e, tag, little);
    v.setUint16(e + 2, type, little);
    v.setUint32(e + 4, 1, little);
    if (type === 3) v.setUint16(e + 8, value, little);
    else v.setUint32(e + 8, value, little);
  });
  const seg = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const len = seg.length + 2;
  return Uint8Array.from([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0,
    4,
    0,
    0,
    0xff,
    0xe1,
    len >> 8,
    len & 0xff,
    ...seg,
    0xff,
    0xda,
    0,
    2,
  ]);
}

describe('jpegOrientation', () => {
  it('reads tag 0x0112 in little- and big-endian blocks, after other tags', () => {
    for (let o = 1; o <= 8; o++) {
      expect(
        jpegOrientation(
          jpegWithExif(true, [
            [0x010f, 3, 7],
            [0x0112, 3, o],
          ]),
        ),
      ).toBe(o);
      expect(jpegOrientation(jpegWithExif(false, [[0x0112, 3, o]]))).toBe(o);
    }
  });

  it('reads malformed or absent orientation as 1, within the segment', () => {
    expect(jpegOrientation(jpegWithExif(true, [[0x0112, 3, 9]]))).toBe(1);
    expect(jpegOrientation(jpegWithExif(true, [[0x0112, 3, 0]]))).toBe(1);
    expect(jpegOrientation(jpegWithExif(true, [[0x0110, 3, 6]]))).toBe(1);
    expect(jpegOrientation(jpegWithExif(true, [[0x0112, 3, 6]], 4000))).toBe(1);
    expect(jpegOrientation(Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0, 2]))).toBe(1);
    expect(jpegOrientation(new Uint8Array(0))).toBe(1);
    // Every cut of a file with orientation 6 reads 1 or 6, never out of bounds.
    const full = jpegWithExif(false, [[0x0112, 3, 6]]);
    for (let n = 0; n <= full.length; n++) expect([1, 6]).toContain(jpegOrientation(full.subarray(0, n)));
    // An entry count that runs past the block: stops at its end, reading nothing beyond.
    const b = jpegWithExif(true, [[0x0110, 3, 6]]);
    b[12 + 6 + 8] = 0xff;
    expect(jpegOrientation(b)).toBe(1);
  });
});

describe('applyOrientation', () => {
  // The upright picture is   a b c   (3x2). For each orientation, the stored pixels that a viewer
  //                          d e f   turns into it, drawn by hand.
  const STORED: Record<number, [number, number, string]> = {
    1: [3, 2, 'abcdef'],
    2: [3, 2, 'cbafed'],
    3: [3, 2, 'fedcba'],
    4: [3, 2, 'defabc'],
    5: [2, 3, 'adbecf'],
    6: [2, 3, 'cfbead'],
    7: [2, 3, 'fcebda'],
    8: [2, 3, 'daebfc'],
  };
  const img = ([w, h, s]: [number, number, string]): RawImage => ({
    width: w,
    height: h,
    channels: 2,
    data: Uint8Array.from([...s].flatMap((c) => [c.charCodeAt(0), 200])),
  });

  it.each(Object.keys(STORED).map(Number))('orientation %i turns the stored pixels upright', (o) => {
    const up = applyOrientation(img(STORED[o]), o);
    expect([up.width, up.height, up.channels]).toEqual([3, 2, 2]);
    expect(String.fromCharCode(...up.data.filter((_, i) => i % 2 === 0))).toBe('abcdef');
  });

  it('leaves unknown orientations as stored', () => {
    const stored = img(STORED[6]);
    expect(applyOrientation(stored, 0)).toBe(stored);
    expect(applyOrientation(stored, 9)).toBe(stored);
  });
});
