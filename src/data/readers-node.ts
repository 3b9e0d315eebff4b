// Node-only helpers: read dataset files from disk and hand the bytes to the browser-safe readers.
// Kept apart so that the core readers never import node:fs (they are bundled for the browser).
import { readFileSync } from 'node:fs';
import { open, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { DatasetNotFoundError } from '../errors.js';
import type { ImageSet } from './types.js';
import { idxToImageSet } from './idx.js';
import type { IdxPairOptions } from './idx.js';
import { parseCatHdf5 } from './hdf5.js';
import type { Hdf5ReadOptions } from './hdf5.js';
import { concatImageSets, parseCifarBatch, parseClassNames } from './cifar.js';
import type { CifarVariant } from './cifar.js';
import { scanImageHeader, type ImageHeader } from './decode-header.js';
import { nodeImageDecoder } from './decode-node.js';
import { preprocessImageBytes, readImageFolder } from './imagefolder.js';
import type { FolderSource, ImageFolderOptions, ImageFolderSet, ImageLoadOptions } from './imagefolder.js';

/** Reads a whole file; a missing file becomes DatasetNotFoundError naming the path. */
export async function readFileBytes(file: string): Promise<Uint8Array> {
  try {
    const b = await readFile(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DatasetNotFoundError(`${file}: file not found`);
    }
    throw e;
  }
}

/**
 * readFileBytes without the thread pool: one blocking read. decode-pool.ts reads this way while
 * the native decoders hold libuv's pool threads, where an async read's open, stat, read and close
 * would each queue behind the decodes (about 15% of the first pass over JPEG photos).
 */
export function readFileBytesNow(file: string): Promise<Uint8Array> {
  try {
    const b = readFileSync(file);
    return Promise.resolve(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return Promise.reject(new DatasetNotFoundError(`${file}: file not found`));
    }
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

export async function readIdxFiles(
  imagesFile: string,
  labelsFile: string,
  opts: IdxPairOptions = {},
): Promise<ImageSet> {
  const [img, lab] = await Promise.all([readFileBytes(imagesFile), readFileBytes(labelsFile)]);
  return idxToImageSet(img, imagesFile, lab, labelsFile, { source: imagesFile, ...opts });
}

export async function readHdf5File(file: string, opts: Hdf5ReadOptions = {}): Promise<ImageSet> {
  return parseCatHdf5(await readFileBytes(file), file, opts);
}

/** Reads CIFAR batches, with class names from batches.meta.txt / fine_label_names.txt beside them. */
export async function readCifarFiles(files: string[], variant: CifarVariant): Promise<ImageSet> {
  const dir = path.dirname(files[0]);
  const namesFile = path.join(dir, variant === 'cifar10' ? 'batches.meta.txt' : 'fine_label_names.txt');
  let classNames: string[] | undefined;
  try {
    classNames = parseClassNames(new TextDecoder().decode(await readFileBytes(namesFile)));
  } catch (e) {
    if (!(e instanceof DatasetNotFoundError)) throw e;
  }
  const sets: ImageSet[] = [];
  for (const f of files) sets.push(parseCifarBatch(await readFileBytes(f), f, variant, { classNames }));
  return sets.length === 1 ? sets[0] : concatImageSets(sets, dir);
}

export const nodeFolderSource: FolderSource = {
  async list(dir) {
    try {
      const ents = await readdir(dir, { withFileTypes: true });
      return ents.map((e) => ({ name: e.name, isDirectory: e.isDirectory() }));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new DatasetNotFoundError(`${dir}: folder not found`);
      throw e;
    }
  },
  read: readFileBytes,
  join: (dir, name) => path.join(dir, name),
};

export type NodeImageFolderOptions = Omit<ImageFolderOptions, 'source' | 'decoder'> &
  Partial<Pick<ImageFolderOptions, 'decoder'>>;

/** Image folder from disk with Node's decoder (decode-node.ts: sharp, else the pure-JS one). */
export function readImageFolderFromDisk(root: string, opts: NodeImageFolderOptions): Promise<ImageFolderSet> {
  return readImageFolder(root, { decoder: nodeImageDecoder(), ...opts, source: nodeFolderSource });
}

/** One image file, decoded and preprocessed exactly like training (for `predict`). */
export async function readImageFileFromDisk(
  file: string,
  opts: Omit<ImageLoadOptions, 'decoder'> & Partial<Pick<ImageLoadOptions, 'decoder'>>,
): Promise<Uint8Array> {
  return preprocessImageBytes(await readFileBytes(file), file, { decoder: nodeImageDecoder(), ...opts });
}

/**
 * Bytes read when scanning a header, in turn: 4 KiB hold a PNG's IHDR and a plain JPEG's SOF;
 * 256 KiB the EXIF and ICC segments a phone photo puts first; the whole file beyond that.
 */
const HEAD_READS = [4 << 10, 256 << 10];

/** The size one file's header states (decode-header.ts), or undefined when it cannot be read. */
async function readImageHeader(file: string): Promise<ImageHeader | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    for (const n of HEAD_READS) {
      const head = new Uint8Array(n);
      const { bytesRead } = await fh.read(head, 0, n, 0);
      const scan = scanImageHeader(head.subarray(0, bytesRead));
      if (scan !== 'more') return scan;
      if (bytesRead < n) return undefined;
    }
    const all = await fh.readFile();
    const scan = scanImageHeader(new Uint8Array(all.buffer, all.byteOffset, all.byteLength));
    return scan === 'more' ? undefined : scan;
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * The header sizes of `files` (undefined where a header cannot be read), 256 files in flight: one
 * small read per file, a few seconds for 40,000 files where decoding them takes minutes.
 */
export async function readImageHeaders(files: readonly string[]): Promise<(ImageHeader | undefined)[]> {
  const out: (ImageHeader | undefined)[] = [];
  for (let i = 0; i < files.length; i += 256) {
    out.push(...(await Promise.all(files.slice(i, i + 256).map(readImageHeader))));
  }
  return out;
}
