// "Bring your own images" (runs in the training worker): a dropped or picked folder with one
// subfolder per class ("flowers/rose/a.jpg"), optionally split as train/<class>/ and test/<class>/.
// Each picture is decoded by the browser (the library's browserImageDecoder) and resized to the
// chosen [h, w, c] by the library's preprocessing (c = 1: grey by Rec. 601 luma), the same steps
// the command line takes, so a picture is the same record here and there. Files that are not
// pictures, or do not decode, are listed with why and skipped; only an empty result is an error.
// Without a test/ folder a seeded sixth of the pictures (at most 1000) is held out for testing.

import { DatasetFormatError, Rng, type ImageSet } from '../../src/index.js';
import { browserImageDecoder } from '../../src/data/decode-browser.js';
import { preprocessImage } from '../../src/data/preprocess.js';
import type { LoadedDataset } from './data.js';
import type { BadFile, FolderFile } from './protocol.js';

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|avif)$/i;
/** Pictures decoded at once: enough to keep the decoder busy, few enough to bound memory. */
const PARALLEL = 8;

interface Entry {
  file: File;
  path: string;
  split: 'train' | 'test';
  className: string;
}

/** Decodes one picture into `out` (h*w*c bytes, NHWC); throws when it cannot be decoded. */
export async function decodeResized(
  file: Blob,
  [h, w, c]: readonly [number, number, number],
  out: Uint8Array,
): Promise<void> {
  const name = file instanceof File ? file.name : 'picture';
  const raw = await browserImageDecoder.decode(new Uint8Array(await file.arrayBuffer()), name);
  out.set(preprocessImage(raw, { size: [h, w], channels: c === 1 ? 1 : 3, mode: 'resize' }));
}

/** Sorts the files into splits and classes; what cannot be placed goes to `bad`. */
function classify(files: FolderFile[], bad: BadFile[]): Entry[] {
  const parts = files.map((f) => f.path.split('/').filter((p) => p !== ''));
  // Split folders only when every file sits under a top-level train/ or test/ folder.
  const split = parts.every((p) => p.length >= 4 && /^(train|test)$/i.test(p[1]));
  const entries: Entry[] = [];
  files.forEach((f, i) => {
    const p = parts[i];
    const name = p[p.length - 1] ?? f.file.name;
    if (name.startsWith('.')) return; // .DS_Store and friends: not a user's file.
    const depth = split ? 4 : 3;
    if (p.length < depth) {
      bad.push({ name: f.path, reason: 'not inside a class folder' });
      return;
    }
    if (!IMAGE.test(name) && !f.file.type.startsWith('image/')) {
      bad.push({ name: f.path, reason: 'not a picture (expected PNG, JPEG, GIF, WebP, BMP or AVIF)' });
      return;
    }
    entries.push({
      file: f.file,
      path: f.path,
      split: split && /^test$/i.test(p[1]) ? 'test' : 'train',
      className: p[split ? 2 : 1],
    });
  });
  return entries;
}

export async function loadFolder(
  files: FolderFile[],
  shape: [number, number, number],
  progress: (text: string) => void,
): Promise<LoadedDataset> {
  const bad: BadFile[] = [];
  const entries = classify(files, bad);
  const root = files[0]?.path.split('/')[0] ?? 'folder';
  const classNames = [...new Set(entries.map((e) => e.className))].sort();
  if (classNames.length < 2) {
    throw new DatasetFormatError(
      `${root}: found ${classNames.length} class folder(s) with pictures; give a folder with one subfolder per class (at least two), e.g. ${root}/cats/*.jpg and ${root}/dogs/*.jpg.`,
      root,
    );
  }
  const F = shape[0] * shape[1] * shape[2];
  const pixels = new Uint8Array(entries.length * F);
  const ok = new Uint8Array(entries.length);
  let next = 0;
  let done = 0;
  const work = async () => {
    while (next < entries.length) {
      const i = next++;
      try {
        await decodeResized(entries[i].file, shape, pixels.subarray(i * F, (i + 1) * F));
        ok[i] = 1;
      } catch (e) {
        bad.push({
          name: entries[i].path,
          reason: `cannot be decoded (${(e as Error).message || String(e)})`,
        });
      }
      if (++done % 50 === 0) progress(`Decoded ${done} of ${entries.length} pictures…`);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, work));

  const bySplit = (split: 'train' | 'test'): number[] =>
    entries.flatMap((e, i) => (ok[i] && e.split === split ? [i] : []));
  // Shuffled (seeded) so a held-out tail holds every class, and batches mix classes.
  const shuffle = (idx: number[]): number[] => {
    const perm = new Rng(1).permutation(idx.length);
    return Array.from(perm, (k) => idx[k]);
  };
  let train = shuffle(bySplit('train'));
  let test = bySplit('test');
  if (test.length === 0) {
    const n = Math.max(1, Math.min(1000, Math.floor(train.length / 6)));
    test = train.slice(train.length - n);
    train = train.slice(0, train.length - n);
  }
  if (train.length === 0) {
    throw new DatasetFormatError(
      `${root}: none of the ${entries.length} pictures could be decoded (${bad.length} skipped files listed below).`,
      root,
    );
  }
  const set = (idx: number[], source: string): ImageSet => {
    const images = new Uint8Array(idx.length * F);
    idx.forEach((k, j) => images.set(pixels.subarray(k * F, (k + 1) * F), j * F));
    const labels = Int32Array.from(idx, (k) => classNames.indexOf(entries[k].className));
    return {
      images,
      labels,
      count: idx.length,
      height: shape[0],
      width: shape[1],
      channels: shape[2],
      source,
    };
  };
  bad.sort((a, b) => a.name.localeCompare(b.name));
  return {
    info: { id: 'folder', title: `Image folder ${root}`, classNames },
    train: set(train, `${root} (train)`),
    test: set(test, `${root} (test)`),
    source: root,
    bad,
  };
}
