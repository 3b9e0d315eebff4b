// The tuners' cache: what the matmul tuner (src/engine/tune.ts) and the conv tuner
// (src/engine/conv-tune.ts) measured on this adapter, so the next process reads it instead of
// measuring again. One store for both, the same in Node and in browsers:
//   - Node: one JSON file, $XDG_CACHE_HOME/webgpu-trainer/tuning.json (default ~/.cache/...);
//   - browsers: the same JSON under one localStorage item, 'webgpu-trainer:tuning'.
// It maps a key (tuningKey: adapter, driver, llvmpipe worker threads, tuner and its shaders' hash,
// and what the tuner measured) to a flat record of strings that the tuner itself parses and
// checks. Keys of the two tuners differ in their tuner part, so their entries live side by side.
//
// It is only a cache: a missing store is empty, a corrupt one is ignored with one note (and
// replaced by the next write), and a store that cannot be written leaves the next run to measure.

import type { DriverThreads } from '../gpu/driver-threads.js';
import { driverThreadsKey } from '../gpu/driver-threads.js';
import { envVariable } from '../env-vars.js';

export type TuningEntry = Record<string, string>;
type Store = Record<string, TuningEntry>;

export const TUNING_STORAGE_KEY = 'webgpu-trainer:tuning';
export const TUNING_FILE_NAME = 'tuning.json';

/**
 * The cache key of one measurement: the adapter and driver (name, description, llvmpipe worker
 * threads, whose count changes which variant wins), the tuner with a hash of the shader sources it
 * times (an edit invalidates the entry), and the tuner's own detail (shape, candidates).
 */
export function tuningKey(
  report: { name: string; description: string; driverThreads?: DriverThreads },
  tuner: 'matmul' | 'conv',
  shaderSources: readonly (string | undefined)[],
  detail?: string,
): string {
  const shaders = `${tuner} ${fnv1a(shaderSources.map((s) => s ?? '').join(''))}`;
  return `${report.name} | ${report.description}${driverThreadsKey(report)} | ${shaders}${detail ? ` | ${detail}` : ''}`;
}

/** The stored entry for `key`, or undefined. */
export async function readTuning(key: string): Promise<TuningEntry | undefined> {
  return (await readStore())[key];
}

/** Stores `entry` under `key`, keeping every other entry (of either tuner). */
export async function writeTuning(key: string, entry: TuningEntry): Promise<void> {
  const all = await readStore();
  all[key] = entry;
  await writeStore(all);
}

/** Where the Node cache file is (undefined in a browser). */
export async function tuningCacheFile(): Promise<string | undefined> {
  if (inBrowser() || !inNode()) return undefined;
  const [os, path] = [await import('node:os'), await import('node:path')];
  const base = envVariable('XDG_CACHE_HOME') || path.join(os.homedir(), '.cache');
  return path.join(base, 'webgpu-trainer', TUNING_FILE_NAME);
}

function inBrowser(): boolean {
  return typeof localStorage !== 'undefined' && typeof window !== 'undefined';
}

function inNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

// One note per store and process: a corrupt store is read again until a write replaces it.
const noted = new Set<string>();
function note(where: string, why: string): void {
  if (noted.has(where)) return;
  noted.add(where);
  console.warn(
    `webgpu-trainer: ignoring the tuning cache ${where} (${why}); the kernels are measured again and the cache rewritten.`,
  );
}

/** Parses a store; anything but an object of objects is corrupt. */
function parseStore(text: string, where: string): Store {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    note(where, `not JSON: ${(e as Error).message}`);
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    note(where, 'not a JSON object');
    return {};
  }
  const store: Store = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) store[k] = v as TuningEntry;
  }
  return store;
}

async function readStore(): Promise<Store> {
  if (inBrowser()) {
    let text: string | null = null;
    try {
      text = localStorage.getItem(TUNING_STORAGE_KEY);
    } catch {
      return {}; // storage disabled (privacy settings): measure instead
    }
    return text === null ? {} : parseStore(text, `localStorage '${TUNING_STORAGE_KEY}'`);
  }
  const file = await tuningCacheFile();
  if (!file) return {};
  const fs = await import('node:fs/promises');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') note(file, (e as Error).message);
    return {};
  }
  return parseStore(text, file);
}

async function writeStore(all: Store): Promise<void> {
  const text = JSON.stringify(all, null, 2);
  try {
    if (inBrowser()) {
      localStorage.setItem(TUNING_STORAGE_KEY, text);
      return;
    }
    const file = await tuningCacheFile();
    if (!file) return;
    const [fs, path] = [await import('node:fs/promises'), await import('node:path')];
    await fs.mkdir(path.dirname(file), { recursive: true });
    // Write then rename, so a concurrent reader never sees half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, text);
    await fs.rename(tmp, file);
    noted.delete(file);
  } catch {
    // A read-only home or full storage must not stop training; the next run measures again.
  }
}

/** 32-bit FNV-1a of a string, as 8 hex digits: a cache key, not a security hash. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
