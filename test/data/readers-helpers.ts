// Shared by the reader tests: where the real data lives, and small byte builders.
// The data sits in ../shared/data beside the repo (CI clones the repo elsewhere with ../shared
// beside it). Locally a missing folder skips; in CI (CI=true) it fails loudly instead.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { cifarRecordBytes } from '../../src/data/cifar.js';
import type { CifarVariant } from '../../src/data/cifar.js';
import { DatasetFormatError } from '../../src/errors.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DATA = path.resolve(repoRoot, '../shared/data');
export const haveData = existsSync(path.join(DATA, 'README.md'));
if (!haveData && process.env.CI === 'true') {
  throw new Error(`shared data missing at ${DATA}; CI must have ../shared/data beside the repo`);
}

/** Builds an IDX file: magic 0x000008DD, big-endian dims, then the payload. */
export function idxBytes(dims: number[], payload: Uint8Array | number[], dtype = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, (dtype << 8) | dims.length);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d >>> 0));
  out.set(payload, 4 + 4 * dims.length);
  return out;
}

/** Asserts `fn` throws a DatasetFormatError whose message names `file` (and the record, if given). */
export function expectFormatError(fn: () => unknown, file: string, record?: number): DatasetFormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return checkFormatError(caught, file, record);
}

export async function expectFormatErrorAsync(
  p: Promise<unknown>,
  file: string,
  record?: number,
): Promise<DatasetFormatError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  return checkFormatError(caught, file, record);
}

function checkFormatError(caught: unknown, file: string, record?: number): DatasetFormatError {
  expect(caught, 'expected a DatasetFormatError').toBeInstanceOf(DatasetFormatError);
  const e = caught as DatasetFormatError;
  expect(e.message).toContain(file);
  expect(e.file).toBe(file);
  if (record !== undefined) {
    expect(e.record).toBe(record);
    expect(e.message).toContain(String(record));
  }
  return e;
}

/** Record r: label(s), then CHW planes where R = (r + p) % 256, G = p % 256, B = 255 - (p % 256). */
export function cifarBatch(labels: number[], variant: CifarVariant): Uint8Array {
  const rec = cifarRecordBytes(variant);
  const out = new Uint8Array(labels.length * rec);
  labels.forEach((l, r) => {
    const base = r * rec;
    if (variant === 'cifar100') {
      out[base] = 19; // coarse label, must be ignored
      out[base + 1] = l;
    } else out[base] = l;
    const px = base + rec - 3072;
    for (let p = 0; p < 1024; p++) {
      out[px + p] = (r + p) % 256;
      out[px + 1024 + p] = p % 256;
      out[px + 2048 + p] = 255 - (p % 256);
    }
  });
  return out;
}
