// The .pth reader on small archives whose pickles CPython wrote (test/fixtures/pth/make_fixtures.py:
// stand-in torch globals, no PyTorch needed), so a fresh clone exercises every path: F16, BF16 and
// F64 widened to F32, I64 kept as BigInt64Array, a transposed view, storage offsets, shared
// storages, protocol 4 opcodes, DEFLATE entries, big-endian storages, zip64, and truncation.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError, PickleRefusedError } from '../../src/errors.js';
import { readStateDict } from '../../src/io/state-dict-file.js';
import { parseStateDict, type StateDict } from '../../src/io/state-dict.js';
import { encodeSafetensors } from '../../src/io/safetensors.js';
import { readZipDirectory, readZipEntry } from '../../src/io/zip.js';
import { REPO } from '../helpers/datasets.js';
import { entriesOf, pk, pthWith, zipStored } from './pth-helpers.js';

const DIR = path.join(REPO, 'test/fixtures/pth');
const load = (name: string) => new Uint8Array(readFileSync(path.join(DIR, name)));

interface Expected {
  dtype: string;
  sourceDtype: string;
  shape: number[];
  values: (number | string)[];
}
const EXPECTED = JSON.parse(readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as Record<
  string,
  Expected
>;

function checkAgainstExpected(sd: StateDict): void {
  expect([...sd.keys()]).toEqual(Object.keys(EXPECTED));
  for (const [name, e] of Object.entries(EXPECTED)) {
    const t = sd.get(name)!;
    expect({ name, dtype: t.dtype, sourceDtype: t.sourceDtype, shape: t.shape }).toEqual({
      name,
      dtype: e.dtype,
      sourceDtype: e.sourceDtype,
      shape: e.shape,
    });
    const got = Array.from(t.data as ArrayLike<number | bigint>, (v) =>
      typeof v === 'bigint' ? String(v) : v,
    );
    expect({ name, values: got }).toEqual({ name, values: e.values });
    if (e.dtype === 'I64') expect(t.data).toBeInstanceOf(BigInt64Array);
    if (e.dtype === 'F32') expect(t.data).toBeInstanceOf(Float32Array);
  }
}

/** The message of what `fn` throws, checked to be a one-line ModelFormatError naming `file`. */
function oneLineError(fn: () => unknown, file: string): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ModelFormatError);
  const message = (caught as Error).message;
  expect(message).not.toContain('\n');
  expect(message.startsWith(`${file}: `)).toBe(true);
  return message;
}

describe('.pth reader on CPython-written fixtures', () => {
  it('reads protocol 2, STORED, unaligned entries: every dtype, view, offset and parameter', () => {
    checkAgainstExpected(parseStateDict(load('small.pth'), 'small.pth'));
  });

  it('reads protocol 4 (FRAME, STACK_GLOBAL, MEMOIZE) with DEFLATE entries and another top folder', () => {
    checkAgainstExpected(parseStateDict(load('deflate.pth'), 'deflate.pth'));
  });

  it('honours byteorder "big"', () => {
    checkAgainstExpected(parseStateDict(load('bigendian.pth'), 'bigendian.pth'));
  });

  it('reads the same archive rewritten with zip64 fields and end records', () => {
    const bytes = zipStored(entriesOf(load('small.pth')), { zip64: true });
    checkAgainstExpected(parseStateDict(bytes, 'zip64.pth'));
  });

  it('makes views into the file for aligned contiguous tensors and copies the rest', () => {
    // Aligned as torch.save aligns (64 bytes): only the views that need a gather or a widening copy.
    const bytes = zipStored(entriesOf(load('small.pth')), { align: 64 });
    const sd = parseStateDict(bytes, 'aligned.pth');
    checkAgainstExpected(sd);
    const views = [...sd].filter(([, t]) => t.data.buffer === bytes.buffer).map(([k]) => k);
    expect(views.sort()).toEqual(
      ['conv.weight', 'offset', 'bn.num_batches_tracked', 'big_ints', 'ints', 'mask', 'fc.weight'].sort(),
    );
    // An unaligned archive copies every non-empty tensor, so each typed array stays aligned.
    const unaligned = parseStateDict(load('small.pth'), 'small.pth');
    for (const t of unaligned.values()) expect(t.data.byteOffset % (t.data.BYTES_PER_ELEMENT ?? 1)).toBe(0);
  });

  it('reads a file from disk by content, whatever its name', async () => {
    const sd = await readStateDict(path.join(DIR, 'small.pth'));
    expect(sd.get('half')!.data).toEqual(Float32Array.from([1.5, -2.25, 65504, 2 ** -24]));
  });
});

describe('.pth reader refusals', () => {
  it('gives a one-line error naming the file for the archive cut anywhere', () => {
    const bytes = load('small.pth');
    const cuts = [
      0,
      1,
      3,
      4,
      29,
      100,
      1000,
      bytes.length >> 1,
      bytes.length - 100,
      bytes.length - 22,
      bytes.length - 1,
    ];
    for (const cut of cuts) {
      const message = oneLineError(() => parseStateDict(bytes.slice(0, cut), 'cut.pth'), 'cut.pth');
      expect({ cut, message }).toEqual({
        cut,
        message: expect.stringMatching(/truncated|not a zip|neither/) as unknown,
      });
    }
  });

  it('gives a one-line error for a truncated safetensors file', () => {
    const st = encodeSafetensors({ w: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
    for (const cut of [5, 12, st.length - 1]) {
      oneLineError(() => parseStateDict(st.slice(0, cut), 'cut.safetensors'), 'cut.safetensors');
    }
  });

  it('refuses the legacy (pre-zip) format with how to re-save it', () => {
    const legacy = pk(0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.');
    expect(oneLineError(() => parseStateDict(legacy, 'old.pth'), 'old.pth')).toMatch(
      /legacy.*_use_new_zipfile_serialization=True/,
    );
  });

  it('refuses a pickle that is a list, or a dict holding something other than tensors', () => {
    const list = pthWith(pk(0x80, 2, ']', 'q', 0, '.'));
    expect(oneLineError(() => parseStateDict(list, 'list.pth'), 'list.pth')).toMatch(
      /holds a list, not a dict/,
    );
    // {'epoch': 3}
    const dict = pthWith(pk(0x80, 2, '}', 0x8c, 5, 'epoch', 'K', 3, 's', '.'));
    expect(oneLineError(() => parseStateDict(dict, 'ckpt.pth'), 'ckpt.pth')).toMatch(
      /"epoch" holds a number, not a tensor/,
    );
  });

  it('refuses a TorchScript archive, and a zip without data.pkl', () => {
    const jit = zipStored([
      ['m/data.pkl', pk(0x80, 2, '}', '.')],
      ['m/code/__torch__.py', new Uint8Array(1)],
    ]);
    expect(oneLineError(() => parseStateDict(jit, 'jit.pt'), 'jit.pt')).toMatch(/TorchScript/);
    const other = zipStored([['readme.txt', new Uint8Array(3)]]);
    expect(oneLineError(() => parseStateDict(other, 'x.zip'), 'x.zip')).toMatch(/data\.pkl/);
  });

  it('refuses a storage record whose size disagrees with the pickle, and a view past its storage', () => {
    const entries = entriesOf(load('small.pth'));
    const shorter = entries.map(([n, d]): [string, Uint8Array] => [
      n,
      n === 'small/data/1' ? d.subarray(4) : d,
    ]);
    expect(oneLineError(() => parseStateDict(zipStored(shorter), 's.pth'), 's.pth')).toMatch(
      /data\/1 holds 20 bytes/,
    );
    const missing = entries.filter(([n]) => n !== 'small/data/3');
    expect(oneLineError(() => parseStateDict(zipStored(missing), 'm.pth'), 'm.pth')).toMatch(
      /data\/3 is missing/,
    );
  });

  it('refuses a damaged pickle by its CRC', () => {
    const bytes = load('small.pth');
    const e = readZipDirectory(bytes, 'x').get('small/data.pkl')!;
    const pickle = readZipEntry(bytes, e, 'x');
    pickle[pickle.length >> 1] ^= 1;
    expect(oneLineError(() => parseStateDict(bytes, 'crc.pth'), 'crc.pth')).toMatch(
      /data\.pkl": CRC-32 mismatch/,
    );
  });

  it('refuses a hostile global even inside a well-formed archive', () => {
    const evil = pthWith(pk(0x80, 2, 'c', 'posix\nsystem\n', 'X', 2, 0, 0, 0, 'id', 0x85, 'R', '.'));
    let caught: unknown;
    try {
      parseStateDict(evil, 'evil.pth');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PickleRefusedError);
    expect((caught as Error).message).toMatch(/^evil\.pth: refused to unpickle global posix\.system/);
  });
});
