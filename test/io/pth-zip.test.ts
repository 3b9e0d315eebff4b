// The zip layer under the .pth reader, on archives built here: DEFLATE within its declared size,
// decompression bombs, CRC and method checks, and the central directory's own consistency.

import { deflateRaw } from 'pako';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { readZipDirectory, readZipEntry } from '../../src/io/zip.js';
import { zipStored } from './pth-helpers.js';

/** `zip` with its single entry's data replaced by `data` and its method set to `method`. */
function withEntry(method: number, data: Uint8Array, size: number, crc: number): Uint8Array {
  const zip = zipStored([['a/x', data]]);
  const v = new DataView(zip.buffer);
  const central = zip.length - 22 - (46 + 3);
  v.setUint16(8, method, true);
  v.setUint16(central + 10, method, true);
  v.setUint32(central + 16, crc, true);
  v.setUint32(central + 24, size, true);
  return zip;
}

function failure(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ModelFormatError);
  expect((caught as Error).message).not.toContain('\n');
  return (caught as Error).message;
}

const read = (zip: Uint8Array) => readZipEntry(zip, readZipDirectory(zip, 'z.pth').get('a/x')!, 'z.pth');

describe('zip entries', () => {
  const plain = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) % 13);
  const crcOf = (b: Uint8Array) => {
    const zip = zipStored([['a/x', b]]);
    return new DataView(zip.buffer).getUint32(14, true);
  };

  it('returns a STORED entry as a view and inflates a DEFLATE entry', () => {
    const stored = zipStored([['a/x', plain]]);
    const view = read(stored);
    expect(view.buffer).toBe(stored.buffer);
    expect(view).toEqual(plain);
    expect(read(withEntry(8, deflateRaw(plain), plain.length, crcOf(plain)))).toEqual(plain);
  });

  it('refuses a DEFLATE entry that inflates past, or short of, its declared size', () => {
    const bomb = deflateRaw(new Uint8Array(1 << 22));
    expect(failure(() => read(withEntry(8, bomb, 1000, 0)))).toMatch(/"a\/x": the deflate stream is corrupt/);
    expect(failure(() => read(withEntry(8, deflateRaw(plain), plain.length + 1, 0)))).toMatch(
      /declared 5001/,
    );
    // A declared size no deflate stream of this length could honestly produce is refused unread.
    expect(failure(() => read(withEntry(8, deflateRaw(plain), 2 ** 31, 0)))).toMatch(/declared 2147483648/);
  });

  it('refuses a CRC mismatch after inflating, corrupt deflate data and unknown methods', () => {
    expect(failure(() => read(withEntry(8, deflateRaw(plain), plain.length, 1)))).toMatch(/CRC-32 mismatch/);
    expect(failure(() => read(withEntry(8, Uint8Array.from([0xff, 0xff, 0xff]), 10, 0)))).toMatch(/corrupt/);
    expect(failure(() => read(withEntry(12, plain, plain.length, 0)))).toMatch(/compression method 12/);
  });

  it('refuses duplicate names and a directory that points outside the file', () => {
    const dup = zipStored([
      ['a/x', plain],
      ['a/x', plain],
    ]);
    expect(failure(() => readZipDirectory(dup, 'z.pth'))).toMatch(/"a\/x" appears twice/);
    const bad = zipStored([['a/x', plain]]);
    new DataView(bad.buffer).setUint32(bad.length - 6, bad.length, true);
    expect(failure(() => readZipDirectory(bad, 'z.pth'))).toMatch(/central directory/);
  });
});
