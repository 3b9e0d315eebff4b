// Image-folder reader: root/<class>/<image>, classes = sorted folder names (code-point order, so
// the mapping does not depend on the locale). Files within a class are read in sorted order.
// The file system and the decoder are injected (FolderSource, ImageDecoder) so the same code runs
// in Node (readers-node.ts supplies both) and in the browser (a directory handle + the browser's
// own decoders). Bad files (skipped.ts) are skipped and listed unless `strict`.
import { DatasetFormatError } from '../errors.js';
import type { ImageSet } from './types.js';
import type { DecodeLimits, ImageDecoder } from './decode.js';
import { preprocessImage } from './preprocess.js';
import type { PreprocessOptions } from './preprocess.js';
import { badFileKind, reasonOf, skips, type BadFilePolicy, type SkippedFile } from './skipped.js';

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

export interface ImageFolderOptions extends ImageLoadOptions, BadFilePolicy {
  source: FolderSource;
  onWarning?: (message: string) => void;
}

export interface ImageFolderSet extends ImageSet {
  classNames: string[];
  /** Class name -> label. */
  classToIndex: Record<string, number>;
  /** The file behind each record, in record order. */
  files: string[];
  /** Bad files left out (skipped.ts), in folder order; empty when none. */
  skipped: SkippedFile[];
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Decodes and preprocesses one image exactly as the folder reader does (used by `predict`). */
export async function preprocessImageBytes(
  bytes: Uint8Array,
  name: string,
  opts: ImageLoadOptions,
): Promise<Uint8Array> {
  const limits = { maxPixels: opts.maxPixels };
  if (opts.decoder.decodeResized) return opts.decoder.decodeResized(bytes, name, opts, limits);
  const raw = await opts.decoder.decode(bytes, name, limits);
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

/**
 * Fails when a class folder ended up with no images (`found[label]` images kept), naming it and,
 * when its files were all skipped, how many were.
 */
export function checkClassesFound(
  root: string,
  classNames: string[],
  found: ArrayLike<number>,
  join: (dir: string, name: string) => string,
  skippedPer: ArrayLike<number> = [],
): void {
  const empty = Array.from(found).findIndex((n) => n === 0);
  if (empty >= 0) {
    const dir = join(root, classNames[empty]);
    const bad = skippedPer[empty] ?? 0;
    const why = bad > 0 ? ` (its ${bad} file${bad === 1 ? ' was' : 's were'} skipped as bad)` : '';
    throw new DatasetFormatError(
      `${dir}: class folder "${classNames[empty]}" has no images${why}; add image files or remove the folder`,
      dir,
    );
  }
}

/** A decoded record, or the file's entry in the skipped list. */
export type FolderRecord = Uint8Array | SkippedFile;

/**
 * Builds the set from decoded records (or skipped files), in `files` order. Fails when a class
 * folder ends up with no images, naming the folder.
 */
export function assembleImageFolder(
  root: string,
  classNames: string[],
  files: FolderFile[],
  records: FolderRecord[],
  shape: { height: number; width: number; channels: number },
  join: (dir: string, name: string) => string,
): ImageFolderSet {
  const per = shape.height * shape.width * shape.channels;
  const found = new Array<number>(classNames.length).fill(0);
  const skippedPer = new Array<number>(classNames.length).fill(0);
  const skipped: SkippedFile[] = [];
  for (let i = 0; i < files.length; i++) {
    const r = records[i];
    if (r instanceof Uint8Array) found[files[i].label]++;
    else {
      skippedPer[files[i].label]++;
      skipped.push(r);
    }
  }
  checkClassesFound(root, classNames, found, join, skippedPer);
  const count = files.length - skipped.length;
  const images = new Uint8Array(count * per);
  const labels = new Int32Array(count);
  const kept: string[] = [];
  let k = 0;
  for (let i = 0; i < files.length; i++) {
    const px = records[i];
    if (!(px instanceof Uint8Array)) continue;
    images.set(px, k * per);
    labels[k++] = files[i].label;
    kept.push(files[i].file);
  }
  const classToIndex: Record<string, number> = {};
  classNames.forEach((n, i) => (classToIndex[n] = i));
  return { images, count, ...shape, labels, classNames, classToIndex, files: kept, source: root, skipped };
}

/**
 * What to do with a failure on `file` (`bytes`: what was read, if anything): its SkippedFile when
 * the policy skips it (with a warning for a non-image under `strict` + `skipNonImages`), else
 * the error itself, thrown.
 */
export function skipOrThrow(
  e: unknown,
  file: string,
  bytes: Uint8Array | undefined,
  policy: BadFilePolicy,
  warn: (message: string) => void,
): SkippedFile {
  const kind = badFileKind(e, bytes);
  if (kind === undefined || !skips(kind, policy)) throw e;
  if (policy.strict) warn(`${file}: skipped, not an image file`);
  return { file, kind, reason: reasonOf((e as Error).message, file) };
}

/** Reads and decodes one file; a bad file is skipped or thrown as `opts` says (skipOrThrow). */
export async function decodeFolderFile(
  read: (file: string) => Promise<Uint8Array>,
  file: string,
  opts: ImageLoadOptions & BadFilePolicy,
  warn: (message: string) => void,
): Promise<FolderRecord> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await read(file);
    return await preprocessImageBytes(bytes, file, opts);
  } catch (err) {
    return skipOrThrow(err, file, bytes, opts, warn);
  }
}

export async function readImageFolder(root: string, opts: ImageFolderOptions): Promise<ImageFolderSet> {
  const { source } = opts;
  const warn = opts.onWarning ?? ((m: string) => console.warn(m));
  const { classNames, files } = await listImageFolder(root, source, warn);
  const records: FolderRecord[] = [];
  for (const f of files)
    records.push(await decodeFolderFile((file) => source.read(file), f.file, opts, warn));
  const [height, width] = opts.size;
  const shape = { height, width, channels: opts.channels ?? 3 };
  return assembleImageFolder(root, classNames, files, records, shape, source.join);
}
