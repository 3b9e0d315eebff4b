// CIFAR has no copy in shared/data, so these tests build batches with known pixels.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCifarBatch, parseClassNames } from '../../src/data/cifar.js';
import { readCifarFiles } from '../../src/data/readers-node.js';
import { cifarBatch, expectFormatError } from './readers-helpers.js';

describe('CIFAR binary', () => {
  it('converts CHW records to NHWC, CIFAR-10', () => {
    const s = parseCifarBatch(cifarBatch([3, 9, 0], 'cifar10'), 'b.bin', 'cifar10');
    expect([s.count, s.height, s.width, s.channels]).toEqual([3, 32, 32, 3]);
    expect(Array.from(s.labels)).toEqual([3, 9, 0]);
    // record 1, pixel (row 2, col 5) -> p = 69
    const o = 1 * 3072 + (2 * 32 + 5) * 3;
    expect(Array.from(s.images.subarray(o, o + 3))).toEqual([70, 69, 186]);
  });

  it('uses the fine label for CIFAR-100', () => {
    const s = parseCifarBatch(cifarBatch([42, 99], 'cifar100'), 'train.bin', 'cifar100');
    expect(Array.from(s.labels)).toEqual([42, 99]);
    expect(s.images[3]).toBe(1); // record 0, pixel 1, R = p
  });

  it('reads files with class names from batches.meta.txt', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cifar-'));
    writeFileSync(path.join(dir, 'data_batch_1.bin'), cifarBatch([1, 2], 'cifar10'));
    writeFileSync(path.join(dir, 'data_batch_2.bin'), cifarBatch([3], 'cifar10'));
    const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    writeFileSync(path.join(dir, 'batches.meta.txt'), names.join('\n') + '\n\n');
    const s = await readCifarFiles(
      ['data_batch_1.bin', 'data_batch_2.bin'].map((f) => path.join(dir, f)),
      'cifar10',
    );
    expect(s.count).toBe(3);
    expect(Array.from(s.labels)).toEqual([1, 2, 3]);
    expect(s.classNames).toEqual(names);
    expect(parseClassNames('a\r\nb\r\n\r\n')).toEqual(['a', 'b']);
  });

  it('a size that is not a multiple of the record size names the broken record', () => {
    const b = cifarBatch([1, 2, 3], 'cifar10');
    const e = expectFormatError(
      () => parseCifarBatch(b.subarray(0, 3073 * 2 + 100), 'cut.bin', 'cifar10'),
      'cut.bin',
      2,
    );
    expect(e.message).toContain('3073');
    expectFormatError(() => parseCifarBatch(new Uint8Array(0), 'empty.bin', 'cifar10'), 'empty.bin', 0);
    // A CIFAR-10 file read as CIFAR-100 breaks at record 1 (3073 % 3074 = 3073).
    expectFormatError(() => parseCifarBatch(b.subarray(0, 3073), 'v.bin', 'cifar100'), 'v.bin', 0);
  });

  it('labels out of range name the record', () => {
    expectFormatError(
      () => parseCifarBatch(cifarBatch([1, 10], 'cifar10'), 'lab.bin', 'cifar10'),
      'lab.bin',
      1,
    );
    const names = ['a', 'b'];
    expectFormatError(
      () => parseCifarBatch(cifarBatch([1, 0, 2], 'cifar10'), 'two.bin', 'cifar10', { classNames: names }),
      'two.bin',
      2,
    );
  });
});
