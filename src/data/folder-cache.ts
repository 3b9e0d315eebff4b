// Image folders from disk at scale (Node only): decode once on worker threads, keep the decoded
// records in a cache in the shards format (shards.ts), and load that on later runs.
//
// The cache slot of a folder is named by sha256(resolved folder path, decode options), so each
// folder and option set has one slot. The slot's folder.json holds a contents key, sha256 over
// every file's class, name, size and mtime plus the options; when the folder changes the key
// changes and the slot is rebuilt in place. Slots live under the user's cache folder
// ($XDG_CACHE_HOME/webgpu-trainer/decoded, else ~/.cache/webgpu-trainer/decoded), never in the
// data folder unless `cacheDir` points there. A slot is written to a temporary folder and renamed
// into place, so an interrupted run leaves either the old slot or none, never half of one.
// Writing a slot also removes the slots of folders that no longer exist.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { decodeFiles } from './decode-pool.js';
import { assembleImageFolder, listImageFolder } from './imagefolder.js';
import type { ImageFolderSet } from './imagefolder.js';
import type { ResizeMode } from './preprocess.js';
import { nodeFolderSource } from './readers-node.js';
import { ShardSet, writeShards } from './shards.js';

export interface CachedFolderOptions {
  size: [number, number];
  channels?: 1 | 3;
  mode?: ResizeMode;
  maxPixels?: number;
  skipNonImages?: boolean;
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
}

export type CacheOutcome = 'hit' | 'miss' | 'rebuilt' | 'off';

export interface CachedFolder {
  set: ImageFolderSet;
  cache: CacheOutcome;
  /** The slot folder (absent when caching is off). */
  dir?: string;
  /** The images were left in the slot (see streamOver). */
  streamed?: boolean;
}

interface SlotMeta {
  key: string;
  root: string;
  classNames: string[];
  /** Kept files relative to the root, in record order. */
  files: string[];
}

const FORMAT = 'webgpu-trainer/decoded-folder-1';

export function decodedCacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache');
  return path.join(base, 'webgpu-trainer', 'decoded');
}

/** Removes slots whose data folder no longer exists (temporary folders, moved datasets). */
async function pruneOrphans(cacheRoot: string): Promise<void> {
  for (const name of await readdir(cacheRoot)) {
    if (name.includes('.tmp-')) continue;
    const slot = path.join(cacheRoot, name);
    try {
      const meta = JSON.parse(await readFile(path.join(slot, 'folder.json'), 'utf8')) as SlotMeta;
      if (typeof meta.root === 'string' && !existsSync(meta.root))
        await rm(slot, { recursive: true, force: true });
    } catch {
      // Not a slot of ours, or being written: leave it.
    }
  }
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Reads root/<class>/<image> through the decoded cache (see the header). */
export async function readImageFolderCached(root: string, o: CachedFolderOptions): Promise<CachedFolder> {
  const warn = o.onWarning ?? ((m: string) => console.warn(m));
  const info = o.onInfo ?? (() => {});
  const abs = path.resolve(root);
  const [height, width] = o.size;
  const channels = o.channels ?? 3;
  const decode = { size: o.size, channels, mode: o.mode ?? 'resize', maxPixels: o.maxPixels ?? null };
  const { classNames, files } = await listImageFolder(abs, nodeFolderSource, warn);
  const decodeAll = async (): Promise<ImageFolderSet> => {
    const t0 = performance.now();
    const pixels = await decodeFiles(
      files.map((f) => f.file),
      { ...o, channels, onWarning: warn },
    );
    const set = assembleImageFolder(abs, classNames, files, pixels, { height, width, channels }, path.join);
    info(`decoded ${set.count} images from ${root} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return set;
  };
  if (o.cache === false) return { set: await decodeAll(), cache: 'off' };

  // In slices: tens of thousands of stat calls queued at once are several times slower.
  const stats: { size: number; mtimeMs: number }[] = [];
  for (let i = 0; i < files.length; i += 256) {
    stats.push(...(await Promise.all(files.slice(i, i + 256).map((f) => stat(f.file)))));
  }
  const listing = files.map((f, i) => [path.relative(abs, f.file), stats[i].size, stats[i].mtimeMs]);
  const key = sha(JSON.stringify({ format: FORMAT, decode, skip: !!o.skipNonImages, listing }));
  const dir = path.join(o.cacheDir ?? decodedCacheRoot(), sha(JSON.stringify({ abs, decode })).slice(0, 24));
  const metaFile = path.join(dir, 'folder.json');
  let old: SlotMeta | undefined;
  try {
    old = JSON.parse(await readFile(metaFile, 'utf8')) as SlotMeta;
  } catch {
    old = undefined;
  }
  if (old?.key === key) {
    try {
      const t0 = performance.now();
      const shards = await ShardSet.open(dir);
      const classToIndex: Record<string, number> = {};
      old.classNames.forEach((n, i) => (classToIndex[n] = i));
      if (o.streamOver !== undefined && shards.count * shards.recordBytes > o.streamOver) {
        const set: ImageFolderSet = {
          images: new Uint8Array(0),
          labels: new Int32Array(0),
          count: shards.count,
          height,
          width,
          channels,
          source: abs,
          classNames: old.classNames,
          classToIndex,
          files: old.files.map((f) => path.join(abs, f)),
        };
        info(`streaming ${set.count} decoded images of ${root} from the cache ${dir}`);
        return { set, cache: 'hit', dir, streamed: true };
      }
      const s = await shards.toImageSet();
      const set: ImageFolderSet = {
        ...s,
        source: abs,
        classNames: old.classNames,
        classToIndex,
        files: old.files.map((f) => path.join(abs, f)),
      };
      info(
        `loaded ${set.count} decoded images of ${root} from the cache ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      return { set, cache: 'hit', dir };
    } catch (e) {
      // A damaged slot is rebuilt, not fatal: it is only a cache.
      warn(`${dir}: decoded cache unreadable (${(e as Error).message}); rebuilding it`);
    }
  }
  const set = await decodeAll();
  const tmp = `${dir}.tmp-${process.pid}`;
  try {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(path.dirname(dir), { recursive: true });
    await writeShards(tmp, set, { source: abs, classNames });
    const meta: SlotMeta = { key, root: abs, classNames, files: set.files.map((f) => path.relative(abs, f)) };
    await writeFile(path.join(tmp, 'folder.json'), JSON.stringify(meta));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    info(`${old ? 'rebuilt' : 'wrote'} the decoded cache ${dir}${old ? ' (the folder changed)' : ''}`);
    await pruneOrphans(path.dirname(dir));
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    warn(`could not write the decoded cache ${dir} (${(e as Error).message}); the next run decodes again`);
    return { set, cache: old ? 'rebuilt' : 'miss' };
  }
  return { set, cache: old ? 'rebuilt' : 'miss', dir };
}
