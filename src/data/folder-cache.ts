// Image folders from disk at scale (Node only): decode once on worker threads, keep the decoded
// records in a cache in the shards format (shard-format.ts), and load that on later runs.
//
// The cache slot of a folder is named by sha256(resolved folder path, decode options), so each
// folder and option set has one slot. The slot's folder.json holds a contents key, sha256 over
// every file's class, name, size and mtime plus the options; when the folder changes the key
// changes and the slot is rebuilt in place. Slots live under the user's cache folder
// ($XDG_CACHE_HOME/webgpu-trainer/decoded, else ~/.cache/webgpu-trainer/decoded), never in the
// data folder unless `cacheDir` points there. A slot is written to a temporary folder and renamed
// into place, so an interrupted run leaves either the old slot or none, never half of one.
// Writing a slot also removes the slots of folders that no longer exist, and temporary folders
// left by runs that died.
//
// A miss decodes straight into the slot's shards: workers decode chunks of files, the records go
// to a ShardWriter in file order, and no more than `maxHeld` decoded images (default: 16 MiB of
// them, or half of `streamOver` when that is less) exist at once, so the first run on a folder
// larger than memory works. The set is then read from the new slot exactly as a hit reads it
// (loaded, or left on disk to stream when over `streamOver`). Only when the slot cannot be
// written (no space, no permission) does it decode into memory instead, and then only when the
// images fit `streamOver`.
//
// Bad files (skipped.ts) are skipped during that first pass on the workers, and the slot's
// folder.json keeps their list, so a run that loads the slot reports the same skipped files (and
// a `strict` run fails on them, as the first decode would have). With size 'native' the size is
// chosen from the pictures' headers first (folder-size.ts), then the slot is the one of that size.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { RRC_AUTO_MIN_SIDE, rrcRecordSize } from './augment-rrc.js';
import { decodeFiles, decodeFilesInOrder } from './decode-pool.js';
import { decoderLibrary, nodeImageDecoder } from './decode-node.js';
import { nativeFolderSize, pruneSizeMemos, scanFolderSize } from './folder-size.js';
import { givenImageSize, type ChosenImageSize, type ImageSize } from './image-size.js';
import { assembleImageFolder, checkClassesFound, listImageFolder } from './imagefolder.js';
import type { FolderFile, ImageFolderSet } from './imagefolder.js';
import type { ResizeMode } from './preprocess.js';
import { nodeFolderSource } from './readers-node.js';
import { ShardWriter } from './shard-writer.js';
import { ShardSet } from './shards.js';
import { replaySkipped, type BadFilePolicy, type SkippedFile } from './skipped.js';

export interface CachedFolderOptions extends BadFilePolicy {
  /** [height, width] every picture is resized to, or 'native' (image-size.ts). */
  size: ImageSize;
  channels?: 1 | 3;
  mode?: ResizeMode;
  maxPixels?: number;
  /** false: decode every time and write nothing. Default true. */
  cache?: boolean;
  /** Root of the cache slots; default decodedCacheRoot(). */
  cacheDir?: string;
  /** Decoding threads; default the machine's available parallelism. */
  threads?: number;
  onWarning?: (message: string) => void;
  /** One line per load saying where the records came from. */
  onInfo?: (message: string) => void;
  /**
   * On a cache hit whose records take more than this many bytes, leave them on disk: the set
   * comes back without images (images empty, labels and count kept) and `streamed` is true, for
   * the caller to stream the records from the slot `dir` (a shard set). Default: always load.
   */
  streamOver?: number;
  /**
   * Random-resized crop (augment-rrc.ts): store each picture RRC_RECORD_SCALE times the chosen
   * size, its centre cut to that aspect, and give the set `crop` = the chosen size. 'auto': only
   * when the chosen size's short side is at least RRC_AUTO_MIN_SIDE (photos, not thumbnails).
   */
  rrc?: boolean | 'auto';
  /** Most decoded images held at once while a miss writes the slot (default: see the header). */
  maxHeld?: number;
  /** Called with the number of decoded images held each time it changes (see decode-pool.ts). */
  onHeld?: (held: number) => void;
}

export type CacheOutcome = 'hit' | 'miss' | 'rebuilt' | 'off';

export interface CachedFolder {
  set: ImageFolderSet;
  cache: CacheOutcome;
  /** The slot folder (absent when caching is off). */
  dir?: string;
  /** The images were left in the slot (see streamOver). */
  streamed?: boolean;
  /** The size the pictures became, and why. */
  size: ChosenImageSize;
}

interface SlotMeta {
  key: string;
  root: string;
  classNames: string[];
  /** Kept files relative to the root, in record order. */
  files: string[];
  /** Bad files left out, relative to the root, in folder order. */
  skipped: SkippedFile[];
}

const FORMAT = 'webgpu-trainer/decoded-folder-2';

export function decodedCacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache');
  return path.join(base, 'webgpu-trainer', 'decoded');
}

/** Whether process `pid` is alive on this machine (EPERM: alive, someone else's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes slots whose data folder no longer exists (temporary folders, moved datasets) and
 * temporary slots of runs that died while writing them.
 */
async function pruneOrphans(cacheRoot: string): Promise<void> {
  for (const name of await readdir(cacheRoot)) {
    const slot = path.join(cacheRoot, name);
    const tmp = /\.tmp-(\d+)$/.exec(name);
    if (tmp) {
      const pid = Number(tmp[1]);
      if (pid !== process.pid && !alive(pid)) await rm(slot, { recursive: true, force: true });
      continue;
    }
    try {
      const meta = JSON.parse(await readFile(path.join(slot, 'folder.json'), 'utf8')) as SlotMeta;
      if (typeof meta.root === 'string' && !existsSync(meta.root))
        await rm(slot, { recursive: true, force: true });
    } catch {
      // Not a slot of ours: leave it.
    }
  }
}

/** A failure to write the slot (as opposed to a bad image), with the file-system error as cause. */
class SlotWriteError extends Error {}

async function writing<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new SlotWriteError((e as Error).message, { cause: e });
  }
}

interface SlotShape {
  height: number;
  width: number;
  channels: 1 | 3;
}

/**
 * Decodes `files` into a new slot in `tmp` (shards, then folder.json last), holding at most
 * `maxHeld` decoded images; returns the slot's meta. Bad images throw as they are; failures to
 * write throw SlotWriteError.
 */
async function writeSlot(
  tmp: string,
  abs: string,
  key: string,
  classNames: string[],
  files: FolderFile[],
  shape: SlotShape,
  o: CachedFolderOptions,
  warn: (message: string) => void,
): Promise<SlotMeta> {
  const writer = await writing(() =>
    ShardWriter.create(tmp, { ...shape, classNames, source: abs, overwrite: true }),
  );
  const found = new Array<number>(classNames.length).fill(0);
  const skippedPer = new Array<number>(classNames.length).fill(0);
  const kept: string[] = [];
  const skipped: SkippedFile[] = [];
  const recordBytes = shape.height * shape.width * shape.channels;
  try {
    await decodeFilesInOrder(
      files.map((f) => f.file),
      {
        size: [shape.height, shape.width],
        channels: shape.channels,
        mode: o.mode,
        maxPixels: o.maxPixels,
        strict: o.strict,
        skipNonImages: o.skipNonImages,
        threads: o.threads,
        onWarning: warn,
        // 16 MiB of decoded images in flight, or half the memory budget when that is less.
        maxHeld:
          o.maxHeld ??
          Math.max(1, Math.floor(Math.min(16 << 20, (o.streamOver ?? Infinity) / 2) / recordBytes)),
        onHeld: o.onHeld,
      },
      async (i, px) => {
        if (!(px instanceof Uint8Array)) {
          skippedPer[files[i].label]++;
          skipped.push({ ...px, file: path.relative(abs, px.file) });
          return;
        }
        await writing(() => writer.append(px, files[i].label));
        found[files[i].label]++;
        kept.push(path.relative(abs, files[i].file));
      },
    );
    checkClassesFound(abs, classNames, found, path.join, skippedPer);
  } catch (e) {
    await writer.abort();
    throw e;
  }
  await writing(() => writer.close());
  const meta: SlotMeta = { key, root: abs, classNames, files: kept, skipped };
  await writing(() => writeFile(path.join(tmp, 'folder.json'), JSON.stringify(meta)));
  return meta;
}

/** The set in a slot: loaded, or (over streamOver) left on disk for the caller to stream. */
async function readSlot(
  dir: string,
  meta: SlotMeta,
  abs: string,
  root: string,
  shape: SlotShape,
  o: CachedFolderOptions,
  info: (message: string) => void,
  announceLoad: boolean,
): Promise<{ set: ImageFolderSet; streamed: boolean }> {
  const t0 = performance.now();
  const shards = await ShardSet.open(dir);
  const classToIndex: Record<string, number> = {};
  meta.classNames.forEach((n, i) => (classToIndex[n] = i));
  const about = {
    source: abs,
    classNames: meta.classNames,
    classToIndex,
    files: meta.files.map((f) => path.join(abs, f)),
    skipped: meta.skipped.map((s) => ({ ...s, file: path.join(abs, s.file) })),
  };
  if (o.streamOver !== undefined && shards.count * shards.recordBytes > o.streamOver) {
    info(`streaming ${shards.count} decoded images of ${root} from the cache ${dir}`);
    const set: ImageFolderSet = {
      images: new Uint8Array(0),
      labels: new Int32Array(0),
      count: shards.count,
      ...shape,
      ...about,
    };
    return { set, streamed: true };
  }
  const set: ImageFolderSet = { ...(await shards.toImageSet()), ...about };
  if (announceLoad) {
    info(
      `loaded ${set.count} decoded images of ${root} from the cache ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s${skippedNote(meta.skipped)}`,
    );
  }
  return { set, streamed: false };
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

const skippedNote = (skipped: readonly SkippedFile[]): string =>
  skipped.length === 0 ? '' : ` (${skipped.length} bad file${skipped.length === 1 ? '' : 's'} skipped)`;

/** Every file's path (relative to `abs`), size and mtime: what the cache keys hold. */
async function listingOf(abs: string, files: FolderFile[]): Promise<unknown[]> {
  // In slices: tens of thousands of stat calls queued at once are several times slower.
  const stats: { size: number; mtimeMs: number }[] = [];
  for (let i = 0; i < files.length; i += 256) {
    stats.push(...(await Promise.all(files.slice(i, i + 256).map((f) => stat(f.file)))));
  }
  return files.map((f, i) => [path.relative(abs, f.file), stats[i].size, stats[i].mtimeMs]);
}

async function readMeta(dir: string): Promise<SlotMeta | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'folder.json'), 'utf8')) as SlotMeta;
  } catch {
    return undefined;
  }
}

/** Reads root/<class>/<image> through the decoded cache (see the header). */
export async function readImageFolderCached(root: string, o: CachedFolderOptions): Promise<CachedFolder> {
  const warn = o.onWarning ?? ((m: string) => console.warn(m));
  const info = o.onInfo ?? (() => {});
  const abs = path.resolve(root);
  const channels = o.channels ?? 3;
  const cacheRoot = o.cacheDir ?? decodedCacheRoot();
  const { classNames, files } = await listImageFolder(abs, nodeFolderSource, warn);
  const paths = files.map((f) => f.file);
  const listing = o.cache === false ? [] : await listingOf(abs, files);
  const size: ChosenImageSize =
    o.size !== 'native'
      ? givenImageSize(o.size)
      : o.cache === false
        ? await scanFolderSize(paths)
        : await nativeFolderSize(abs, paths, listing, cacheRoot);
  const chosen = { height: size.size[0], width: size.size[1] };
  const rrc =
    o.rrc === true || (o.rrc === 'auto' && Math.min(chosen.height, chosen.width) >= RRC_AUTO_MIN_SIDE);
  const { height, width } = rrc ? rrcRecordSize(chosen) : chosen;
  const shape: SlotShape = { height, width, channels };
  // Records larger than the input keep the picture's aspect: the centre cut, not a stretch.
  const mode = rrc ? 'center-crop' : (o.mode ?? 'resize');
  const withCrop = (got: CachedFolder): CachedFolder =>
    rrc ? { ...got, set: { ...got.set, crop: chosen } } : got;
  const decodeAll = async (): Promise<ImageFolderSet> => {
    const t0 = performance.now();
    const records = await decodeFiles(paths, {
      ...o,
      size: [height, width],
      mode,
      channels,
      onWarning: warn,
    });
    const set = assembleImageFolder(abs, classNames, files, records, shape, path.join);
    info(
      `decoded ${set.count} images from ${root} in ${((performance.now() - t0) / 1000).toFixed(1)} s${skippedNote(set.skipped)}`,
    );
    return set;
  };
  if (o.cache === false) return withCrop({ set: await decodeAll(), cache: 'off', size });

  // The decoding library is part of the key: records from sharp and from jpeg-js differ slightly.
  const decoder = decoderLibrary(nodeImageDecoder());
  const decode = { size: [height, width], channels, mode, maxPixels: o.maxPixels ?? null, decoder };
  const key = sha(JSON.stringify({ format: FORMAT, decode, listing }));
  const dir = path.join(cacheRoot, sha(JSON.stringify({ abs, decode })).slice(0, 24));
  const old = await readMeta(dir);
  if (old?.key === key) {
    let got: Awaited<ReturnType<typeof readSlot>> | undefined;
    try {
      got = await readSlot(dir, old, abs, root, shape, o, info, true);
    } catch (e) {
      // A damaged slot is rebuilt, not fatal: it is only a cache.
      warn(`${dir}: decoded cache unreadable (${(e as Error).message}); rebuilding it`);
    }
    if (got) {
      replaySkipped(got.set.skipped, o, warn);
      return withCrop({ set: got.set, cache: 'hit', dir, size, ...(got.streamed ? { streamed: true } : {}) });
    }
  }
  const outcome: CacheOutcome = old ? 'rebuilt' : 'miss';
  const tmp = `${dir}.tmp-${process.pid}`;
  const t0 = performance.now();
  let meta: SlotMeta;
  try {
    await writing(async () => {
      await rm(tmp, { recursive: true, force: true });
      await mkdir(path.dirname(dir), { recursive: true });
    });
    meta = await writeSlot(tmp, abs, key, classNames, files, shape, { ...o, mode }, warn);
    await writing(async () => {
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (!(e instanceof SlotWriteError)) throw e;
    const bytes = files.length * height * width * channels;
    if (o.streamOver !== undefined && bytes > o.streamOver) {
      throw new ConfigError(
        `could not write the decoded cache ${dir} (${e.message}); the ${files.length} images of ${root} (${(bytes / 2 ** 20).toFixed(1)} MiB decoded) are over the memory budget and can only stream from it: free disk space there or set XDG_CACHE_HOME to a writable folder`,
      );
    }
    warn(
      `could not write the decoded cache ${dir} (${e.message}); decoding into memory, the next run decodes again`,
    );
    return withCrop({ set: await decodeAll(), cache: outcome, size });
  }
  info(
    `decoded ${meta.files.length} images from ${root} in ${((performance.now() - t0) / 1000).toFixed(1)} s${skippedNote(meta.skipped)}; ${old ? 'rebuilt' : 'wrote'} the decoded cache ${dir}${old ? ' (the folder changed)' : ''}`,
  );
  await pruneOrphans(cacheRoot).catch(() => {});
  await pruneSizeMemos(cacheRoot).catch(() => {});
  const { set, streamed } = await readSlot(dir, meta, abs, root, shape, o, info, false);
  return withCrop({ set, cache: outcome, dir, size, ...(streamed ? { streamed } : {}) });
}
