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

export async function readImageFolder(root: string, opts: ImageFolderOptions): Promise<ImageFolderSet> {
  const { source } = opts;
  const warn = opts.onWarning ?? ((m: string) => console.warn(m));
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
  const [h, w] = opts.size;
  const ch = opts.channels ?? 3;
  const per = h * w * ch;
  const chunks: Uint8Array[] = [];
  const labels: number[] = [];
  const files: string[] = [];
  for (let label = 0; label < classNames.length; label++) {
    const dir = source.join(root, classNames[label]);
    const names = (await source.list(dir))
      .filter((e) => !e.name.startsWith('.'))
      .sort((a, b) => byCodePoint(a.name, b.name));
    let found = 0;
    for (const e of names) {
      const file = source.join(dir, e.name);
      if (e.isDirectory) {
        warn(`${file}: nested folders are ignored (only ${dir}'s own files are read)`);
        continue;
      }
      const bytes = await source.read(file);
      let pixels: Uint8Array;
      try {
        pixels = await preprocessImageBytes(bytes, file, opts);
      } catch (err) {
        if (err instanceof NotAnImageError && opts.skipNonImages) {
          warn(`${file}: skipped, not a PNG or JPEG file`);
          continue;
        }
        throw err;
      }
      chunks.push(pixels);
      labels.push(label);
      files.push(file);
      found++;
    }
    if (found === 0) {
      throw new DatasetFormatError(
        `${dir}: class folder "${classNames[label]}" has no images; add PNG/JPEG files or remove the folder`,
        dir,
      );
    }
  }
  const images = new Uint8Array(chunks.length * per);
  chunks.forEach((c, i) => images.set(c, i * per));
  const classToIndex: Record<string, number> = {};
  classNames.forEach((n, i) => (classToIndex[n] = i));
  return {
    images,
    count: chunks.length,
    height: h,
    width: w,
    channels: ch,
    labels: Int32Array.from(labels),
    classNames,
    classToIndex,
    files,
    source: root,
  };
}
