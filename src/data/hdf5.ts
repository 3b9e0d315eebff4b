// HDF5 reader for the Coursera cat-vs-non-cat files: <split>_set_x (uint8, N x 64 x 64 x 3 NHWC),
// <split>_set_y (integer labels 0/1) and list_classes (fixed-length strings).
// Parsing goes through jsfive (pure JS, synchronous, no WASM, same code in Node and the browser).
// It was chosen over h5wasm because on fuzzed files it throws plain JS exceptions without
// polluting stderr or growing a WASM heap that never shrinks, and needs no async init or virtual FS.
// jsfive throws strings, TypeErrors and RangeErrors on corrupt input; everything is wrapped into
// DatasetFormatError. It never gets to read an array until the declared shape and type have been
// checked against the file length, so a forged header cannot make it allocate gigabytes.
import { Dataset, File, Group } from 'jsfive';
import { DatasetFormatError } from '../errors.js';
import type { ImageSet } from './types.js';

export interface Hdf5ReadOptions {
  /** Which split's datasets to read; default: inferred from the dataset names in the file. */
  split?: 'train' | 'test';
  /** Upper bound for a chunked (possibly compressed) dataset, where the file length says nothing. */
  maxDatasetBytes?: number;
}

const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const DEFAULT_MAX_DATASET_BYTES = 256 << 20;

/** Reads one catvnoncat-style HDF5 file. `name` names the file in error messages. */
export function parseCatHdf5(bytes: Uint8Array, name: string, opts: Hdf5ReadOptions = {}): ImageSet {
  if (bytes.length < 8 || HDF5_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new DatasetFormatError(
      `${name}: not an HDF5 file (missing the \\x89HDF\\r\\n\\x1a\\n signature)`,
      name,
    );
  }
  const file = wrap(name, 'the file header', () => {
    // jsfive wants an ArrayBuffer of exactly the file.
    const copy = bytes.slice().buffer;
    return new File(copy, name);
  });
  const keys = wrap(name, 'the root group', () => file.keys);
  const split = opts.split ?? (keys.includes('train_set_x') ? 'train' : 'test');
  const limit = opts.maxDatasetBytes ?? DEFAULT_MAX_DATASET_BYTES;
  const xName = `${split}_set_x`;
  const yName = `${split}_set_y`;

  const x = openDataset(file, keys, xName, name);
  const xShape = shapeOf(x, xName, name);
  if (xShape.length !== 4 || xShape[3] !== 3 || xShape.some((d) => d < 1)) {
    throw new DatasetFormatError(
      `${name}: dataset ${xName} has shape [${xShape.join(', ')}]; expected [N, H, W, 3] (uint8 NHWC RGB)`,
      name,
    );
  }
  const xType = dtypeOf(x, xName, name);
  if (!/^[<>|=]?u1$/.test(xType)) {
    throw new DatasetFormatError(`${name}: dataset ${xName} has dtype ${xType}; expected uint8 (u1)`, name);
  }
  const [count, height, width, channels] = xShape;
  checkReadable(x, xName, name, count * height * width * channels, bytes.length, limit);

  const y = openDataset(file, keys, yName, name);
  const yShape = shapeOf(y, yName, name);
  const yType = dtypeOf(y, yName, name);
  const yItem = /^[<>|=]?[iu]([1248])$/.exec(yType);
  if (!yItem) {
    throw new DatasetFormatError(
      `${name}: dataset ${yName} has dtype ${yType}; expected an integer type`,
      name,
    );
  }
  const yCount = yShape.length === 1 ? yShape[0] : yShape.length === 2 && yShape[0] === 1 ? yShape[1] : -1;
  if (yCount < 0) {
    throw new DatasetFormatError(
      `${name}: dataset ${yName} has shape [${yShape.join(', ')}]; expected [N]`,
      name,
    );
  }
  if (yCount !== count) {
    throw new DatasetFormatError(
      `${name}: dataset ${yName} holds ${yCount} labels but ${xName} holds ${count} images; they must match`,
      name,
    );
  }
  checkReadable(y, yName, name, yCount * Number(yItem[1]), bytes.length, limit);

  const classNames = readClassNames(file, keys, name, bytes.length, limit);
  const pixels = readArray(x, xName, name);
  if (pixels.length !== count * height * width * channels) {
    throw new DatasetFormatError(
      `${name}: dataset ${xName} returned ${pixels.length} values for its shape`,
      name,
    );
  }
  const images = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 255)) {
      throw new DatasetFormatError(
        `${name}: dataset ${xName} has a non-uint8 value`,
        name,
        Math.floor(i / (height * width * 3)),
      );
    }
    images[i] = v;
  }
  const raw = readArray(y, yName, name);
  if (raw.length !== count) {
    throw new DatasetFormatError(
      `${name}: dataset ${yName} returned ${raw.length} values for ${count} labels`,
      name,
    );
  }
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = Number(raw[i]);
    if (v !== 0 && v !== 1) {
      throw new DatasetFormatError(
        `${name}: dataset ${yName} record ${i} has label ${String(raw[i])}; expected 0 or 1`,
        name,
        i,
      );
    }
    labels[i] = v;
  }
  return { images, count, height, width, channels, labels, classNames, source: name };
}

/** Runs a jsfive call, turning whatever it throws into a DatasetFormatError naming file and part. */
function wrap<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DatasetFormatError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new DatasetFormatError(
      `${file}: corrupt HDF5 (${what}: ${msg.slice(0, 200)}); re-download the file`,
      file,
    );
  }
}

function openDataset(file: Group, keys: string[], ds: string, name: string): Dataset {
  if (!keys.includes(ds)) {
    throw new DatasetFormatError(
      `${name}: missing dataset ${ds} (found: ${keys.join(', ') || 'none'})`,
      name,
    );
  }
  const obj = wrap(name, `dataset ${ds}`, () => file.get(ds));
  if (!(obj instanceof Dataset)) {
    throw new DatasetFormatError(`${name}: ${ds} is not a dataset`, name);
  }
  return obj;
}

function shapeOf(ds: Dataset, dsName: string, name: string): number[] {
  const shape = wrap(name, `dataset ${dsName}`, () => ds.shape);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new DatasetFormatError(`${name}: dataset ${dsName} has an unreadable shape`, name);
  }
  return shape as number[];
}

function dtypeOf(ds: Dataset, dsName: string, name: string): string {
  const t = wrap(name, `dataset ${dsName}`, () => ds.dtype);
  if (typeof t !== 'string') {
    throw new DatasetFormatError(`${name}: dataset ${dsName} has a compound or unsupported dtype`, name);
  }
  return t;
}

/**
 * Refuses to read a dataset whose size cannot be real: contiguous data must lie inside the file;
 * chunked data (which may be compressed) is capped by `limit`.
 */
function checkReadable(
  ds: Dataset,
  dsName: string,
  name: string,
  bytes: number,
  fileLen: number,
  limit: number,
): void {
  const chunked = wrap(name, `dataset ${dsName}`, () => ds._dataobjects.chunks) != null;
  const max = chunked ? limit : fileLen;
  if (bytes > max) {
    throw new DatasetFormatError(
      `${name}: dataset ${dsName} claims ${bytes} bytes but ${chunked ? `the limit is ${limit}` : `the file has only ${fileLen}`}; the header is corrupt`,
      name,
    );
  }
}

function readArray(ds: Dataset, dsName: string, name: string): ArrayLike<unknown> {
  const v = wrap(name, `dataset ${dsName}`, () => ds.value);
  if (v === null || typeof v !== 'object' || typeof (v as { length?: unknown }).length !== 'number') {
    throw new DatasetFormatError(`${name}: dataset ${dsName} could not be read as an array`, name);
  }
  return v as ArrayLike<unknown>;
}

function readClassNames(file: Group, keys: string[], name: string, fileLen: number, limit: number): string[] {
  const ds = openDataset(file, keys, 'list_classes', name);
  const shape = shapeOf(ds, 'list_classes', name);
  const t = dtypeOf(ds, 'list_classes', name);
  const item = /^[|]?S(\d+)$/.exec(t);
  if (!item || shape.length !== 1 || shape[0] !== 2) {
    throw new DatasetFormatError(
      `${name}: dataset list_classes has dtype ${t} and shape [${shape.join(', ')}]; expected 2 fixed-length strings`,
      name,
    );
  }
  checkReadable(ds, 'list_classes', name, shape[0] * Number(item[1]), fileLen, limit);
  const v = readArray(ds, 'list_classes', name);
  const out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const s = v[i];
    if (typeof s !== 'string')
      throw new DatasetFormatError(`${name}: list_classes[${i}] is not a string`, name);
    // numpy S-strings are NUL-padded. jsfive silently shortens a string cut off by the end of the
    // file, so an empty or odd name is the only sign of truncation here.
    const clean = s.replace(/\0+$/, '');
    if (clean.length === 0 || [...clean].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
      throw new DatasetFormatError(
        `${name}: list_classes[${i}] is empty or not text (truncated file?)`,
        name,
      );
    }
    out.push(clean);
  }
  return out;
}
