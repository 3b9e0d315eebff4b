// Image-folder reader: root/<class>/<image>, classes = sorted folder names (code-point order, so
// the mapping does not depend on the locale). Files within a class are read in sorted order.
// The file system and the decoder are injected (FolderSource, ImageDecoder) so the same code runs
// in Node (readers-node.ts supplies both) and in the browser (a directory handle + the browser's
// own decoders).
import { DatasetFormatError, NotAnImageError } from '../errors.js';
import type { ImageSet } from './types.js';
import type { DecodeLimits, ImageDecoder } from './decode.js';
import { preprocessImage } from './preprocess.js';
import type { PreprocessOptions } from './preprocess.js';

export interface FolderEntry {
  name: string;
  isDirectory: boolean;
}

/** The little file-system access the reader needs. */
export interface FolderSource {
  list(dir: string): Promise<FolderEntry[]>;
  read(path: string): Promise<Uint8Array>;
  join(dir: string, name: string): string;
}

export interface ImageLoadOptions extends PreprocessOptions, DecodeLimits {
  decoder: ImageDecoder;
}

export interface ImageFolderOptions extends ImageLoadOptions {
  source: FolderSource;
  /** Skip files that are not PNG/JPEG (with a warning) instead of failing. Corrupt images still fail. */
  skipNonImages?: boolean;
  onWarning?: (message: string) => void;
}

export interface ImageFolderSet extends ImageSet {
  classNames: string[];
  /** Class name -> label. */
  classToIndex: Record<string, number>;
  /** The file behind each record, in record order. */
  files: string[];
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Decodes and preprocesses one image exactly as the folder reader does (used by `predict`). */
export async function preprocessImageBytes(
  bytes: Uint8Array,
  name: string,
  opts: ImageLoadOptions,
): Promise<Uint8Array> {
  const raw = await opts.decoder.decode(bytes, name, { maxPixels: opts.maxPixels });
  return preprocessImage(raw, opts);
}

/** One image file of a folder tree and the label of its class folder. */
export interface FolderFile {
  file: string;
  label: number;
}

/** The class folders (sorted) and their files (sorted within each class), before any decoding. */
export async function listImageFolder(
  root: string,
  source: FolderSource,
  warn: (message: string) => void,
): Promise<{ classNames: string[]; files: FolderFile[] }> {
  const entries = await source.list(root);
  const classNames = entries
    .filter((e) => e.isDirectory && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(byCodePoint);
  if (classNames.length === 0) {
    throw new DatasetFormatError(
      `${root}: no class folders; put each class's images in its own subfolder (root/<class>/<image>.png)`,
      root,
    );
  }
  const files: FolderFile[] = [];
  for (let label = 0; label < classNames.length; label++) {
    const dir = source.join(root, classNames[label]);
    const names = (await source.list(dir))
      .filter((e) => !e.name.startsWith('.'))
      .sort((a, b) => byCodePoint(a.name, b.name));
    for (const e of names) {
      const file = source.join(dir, e.name);
      if (e.isDirectory) {
        warn(`${file}: nested folders are ignored (only ${dir}'s own files are read)`);
        continue;
      }
      files.push({ file, label });
    }
  }
  return { classNames, files };
}

/** Fails when a class folder ended up with no images (`found[label]` images kept), naming it. */
export function checkClassesFound(
  root: string,
  classNames: string[],
  found: ArrayLike<number>,
  join: (dir: string, name: string) => string,
): void {
  const empty = Array.from(found).findIndex((n) => n === 0);
  if (empty >= 0) {
    const dir = join(root, classNames[empty]);
    throw new DatasetFormatError(
      `${dir}: class folder "${classNames[empty]}" has no images; add PNG/JPEG files or remove the folder`,
      dir,
    );
  }
}

/**
 * Builds the set from decoded records (null: a skipped non-image file), in `files` order. Fails
 * when a class folder ends up with no images, naming the folder.
 */
export function assembleImageFolder(
  root: string,
  classNames: string[],
  files: FolderFile[],
  pixels: (Uint8Array | null)[],
  shape: { height: number; width: number; channels: number },
  join: (dir: string, name: string) => string,
): ImageFolderSet {
  const per = shape.height * shape.width * shape.channels;
  const found = new Array<number>(classNames.length).fill(0);
  let count = 0;
  for (let i = 0; i < files.length; i++) {
    if (pixels[i]) {
      found[files[i].label]++;
      count++;
    }
  }
  checkClassesFound(root, classNames, found, join);
  const images = new Uint8Array(count * per);
  const labels = new Int32Array(count);
  const kept: string[] = [];
  let k = 0;
  for (let i = 0; i < files.length; i++) {
    const px = pixels[i];
    if (!px) continue;
    images.set(px, k * per);
    labels[k++] = files[i].label;
    kept.push(files[i].file);
  }
  const classToIndex: Record<string, number> = {};
  classNames.forEach((n, i) => (classToIndex[n] = i));
  return { images, count, ...shape, labels, classNames, classToIndex, files: kept, source: root };
}

/** Decodes one file, or returns null for a non-image file when skipping them (with a warning). */
export async function decodeFolderFile(
  bytes: Uint8Array,
  file: string,
  opts: ImageLoadOptions & { skipNonImages?: boolean },
  warn: (message: string) => void,
): Promise<Uint8Array | null> {
  try {
    return await preprocessImageBytes(bytes, file, opts);
  } catch (err) {
    if (err instanceof NotAnImageError && opts.skipNonImages) {
      warn(`${file}: skipped, not a PNG or JPEG file`);
      return null;
    }
    throw err;
  }
}

export async function readImageFolder(root: string, opts: ImageFolderOptions): Promise<ImageFolderSet> {
  const { source } = opts;
  const warn = opts.onWarning ?? ((m: string) => console.warn(m));
  const { classNames, files } = await listImageFolder(root, source, warn);
  const pixels: (Uint8Array | null)[] = [];
  for (const f of files) pixels.push(await decodeFolderFile(await source.read(f.file), f.file, opts, warn));
  const [height, width] = opts.size;
  const shape = { height, width, channels: opts.channels ?? 3 };
  return assembleImageFolder(root, classNames, files, pixels, shape, source.join);
}
