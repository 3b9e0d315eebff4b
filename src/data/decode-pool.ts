// Decoding image files on worker threads (Node only; the browser path decodes in imagefolder.ts).
// Files go out in chunks to whichever worker is free, so a few large images do not stall one
// thread; results come back in file order. Errors are rebuilt as the same named classes the
// single-threaded reader throws, so callers cannot tell the two paths apart. When workers cannot
// start (or there is one core, or few files) the files are decoded on this thread instead.
// decodeFilesInOrder hands the records to a sink in file order instead of returning them all, and
// sends no more chunks ahead than `maxHeld` images allow, so a folder larger than memory can be
// decoded straight into a shard writer (folder-cache.ts) in bounded memory.
// A bad file (skipped.ts) reaches the sink as its SkippedFile, in its place in the order, unless
// `strict` makes it the error that stops the decoding.
// With sharp (decode-node.ts) there are no workers: the decoding runs on this thread with a few
// files in flight, as libvips does its work on libuv's pool threads and returns to JavaScript
// only to hand over the pixels. Measured on photos at 224x224 and 64x64 targets on two cores, four
// in flight here beat two worker threads each running sharp (with one or two in flight), which
// pay for the extra event loops and the transfers back.

import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  DatasetFormatError,
  DatasetNotFoundError,
  EngineError,
  FileTooLargeError,
  NotAnImageError,
} from '../errors.js';
import { decoderLibrary, nodeImageDecoder } from './decode-node.js';
import type { ImageDecoder } from './decode.js';
import type { ResizeMode } from './preprocess.js';
import { decodeFolderFile, type FolderRecord } from './imagefolder.js';
import { readFileBytesNow, readImageHeaders } from './readers-node.js';
import { SMALL_PICTURE_PIXELS } from './decode-sharp.js';
import { reasonOf, skips, type BadFilePolicy, type SkipKind } from './skipped.js';

/** What a worker needs to preprocess like the folder reader (plain data: it crosses threads). */
export interface DecodeJobOptions {
  size: [number, number];
  channels?: 1 | 3;
  mode?: ResizeMode;
  maxPixels?: number;
}

export interface DecodeJob {
  id: number;
  files: string[];
  opts: DecodeJobOptions;
}

export interface SerializedError {
  name: string;
  message: string;
  file?: string;
  size?: number;
  limit?: number;
  /** The kind of bad file this failure makes the file (skipped.ts), if it is one. */
  kind?: SkipKind;
}

export type DecodeResult = { ok: true; pixels: Uint8Array } | { ok: false; error: SerializedError };

export interface DecodePoolOptions extends DecodeJobOptions, BadFilePolicy {
  /**
   * Worker threads; default: the machine's available parallelism. 1 decodes on this thread. With
   * sharp: images decoding at once, on this thread; default 2 per core.
   */
  threads?: number;
  onWarning?: (message: string) => void;
}

const CHUNK = 64;
const MIN_FILES_FOR_WORKERS = 1024;
/**
 * Files in flight per core with sharp. Four on two cores keeps both busy while a file is being read
 * or its pixels handed over; more only queue behind libuv's four pool threads.
 */
const SHARP_IN_FLIGHT_PER_CORE = 2;
/**
 * The same for the JPEG accelerator (decode-turbo.ts): its calls are short enough that reading the
 * next files is what keeps the cores busy. On two cores, 500x375 photos to 224x224: 4 in flight
 * ~1,000 images/s, 8 ~1,300, 12 ~1,400, 16 ~1,300.
 */
const TURBO_IN_FLIGHT_PER_CORE = 6;

function rebuild(e: SerializedError): Error {
  const file = e.file ?? '';
  switch (e.name) {
    case 'NotAnImageError':
      return new NotAnImageError(e.message, file);
    case 'FileTooLargeError':
      return new FileTooLargeError(e.message, file, e.size ?? 0, e.limit ?? 0);
    case 'DatasetFormatError':
      return new DatasetFormatError(e.message, file);
    case 'DatasetNotFoundError':
      return new DatasetNotFoundError(e.message);
    default: {
      const err = new EngineError(e.message);
      err.name = e.name;
      return err;
    }
  }
}

function startWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./decode-worker.js', here));
  // Running from TypeScript sources (tests, tsx): load the worker through tsx's loader.
  // require.resolve finds the CommonJS build; its ESM twin sits beside it.
  const cjs = createRequire(here).resolve('tsx/esm/api');
  const api = pathToFileURL(cjs.replace(/\.cjs$/, '.mjs')).href;
  const target = new URL('./decode-worker.ts', here).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); })`;
  return new Worker(code, { eval: true });
}

/** Decodes `files` (a SkippedFile in the place of a skipped one), in order, all held in memory. */
export async function decodeFiles(files: string[], o: DecodePoolOptions): Promise<FolderRecord[]> {
  const out = new Array<FolderRecord>(files.length);
  await decodeFilesInOrder(files, o, (i, px) => {
    out[i] = px;
  });
  return out;
}

export interface DecodeStreamOptions extends DecodePoolOptions {
  /**
   * Most decoded images alive at once: sent to a worker, decoded and waiting for their turn, or
   * being handed to the sink. Chunks shrink and fewer are sent ahead to respect it. Default: no
   * bound beyond the pace of the workers.
   */
  maxHeld?: number;
  /** Called with the number of images held (as maxHeld counts them) each time it changes. */
  onHeld?: (held: number) => void;
}

/**
 * Decodes `files` and hands each record to `sink` in file order (a SkippedFile for a skipped bad
 * file), awaiting the sink before the next record, so a slow sink (a shard writer) holds the
 * decoders back rather than letting decoded images pile up. The first error (a bad file under
 * `strict`, a failing sink) stops the sending, terminates the workers and is thrown.
 */
export async function decodeFilesInOrder(
  files: string[],
  o: DecodeStreamOptions,
  sink: (i: number, record: FolderRecord) => Promise<void> | void,
): Promise<void> {
  const warn = o.onWarning ?? ((m: string) => console.warn(m));
  const opts: DecodeJobOptions = { size: o.size, channels: o.channels, mode: o.mode, maxPixels: o.maxPixels };
  const maxHeld = Math.max(1, Math.floor(o.maxHeld ?? Infinity));
  const onHeld = o.onHeld ?? (() => {});
  // Starting a worker costs more than decoding a few hundred small images, so small folders (and
  // one-core machines) decode here unless `threads` asks otherwise.
  const wanted = o.threads ?? (files.length >= MIN_FILES_FOR_WORKERS ? availableParallelism() : 1);
  // Two chunks per thread fit the bound, so a worker has its next chunk while one waits its turn.
  const chunk = Math.max(1, Math.min(CHUNK, Math.floor(maxHeld / (2 * Math.max(1, wanted)))));
  const window = Math.max(1, Math.floor(maxHeld / chunk));
  const nChunks = Math.ceil(files.length / chunk);
  const threads = Math.min(wanted, nChunks, window);
  const settle = async (i: number, r: DecodeResult): Promise<void> => {
    if (r.ok) return sink(i, r.pixels);
    const { kind } = r.error;
    if (kind === undefined || !skips(kind, o)) throw rebuild(r.error);
    if (o.strict) warn(`${files[i]}: skipped, not an image file`);
    await sink(i, { file: files[i], kind, reason: reasonOf(r.error.message, files[i]) });
  };
  // Chosen here, before any worker starts: a native module is loaded by the main thread first.
  const decoder = nodeImageDecoder();
  const job = { decoder, ...opts, strict: o.strict, skipNonImages: o.skipNonImages };
  const library = decoderLibrary(decoder);
  // Thumbnails go to worker threads under sharp only: the accelerator decodes them fastest here.
  if (library === 'turbo' || (library === 'sharp' && !(await smallPictures(files)))) {
    // `threads` is then the number of images decoding at once.
    const inFlight = Math.min(
      maxHeld,
      o.threads ??
        (library === 'turbo' ? TURBO_IN_FLIGHT_PER_CORE : SHARP_IN_FLIGHT_PER_CORE) * availableParallelism(),
    );
    return decodeHere(files, job, Math.max(1, inFlight), sink, onHeld, warn);
  }
  if (threads <= 1) return decodeHere(files, job, 1, sink, onHeld, warn);
  const workers = Array.from({ length: threads }, startWorker);
  try {
    await new Promise<void>((resolve, reject) => {
      const idle = [...workers];
      const ready = new Map<number, DecodeResult[]>();
      let sent = 0;
      let sunk = 0;
      let held = 0;
      let failed = false;
      let draining = false;
      const fail = (e: unknown): void => {
        if (!failed) reject(e instanceof Error ? e : new EngineError(String(e)));
        failed = true;
      };
      const pump = (): void => {
        while (!failed && idle.length > 0 && sent < nChunks && sent - sunk < window) {
          const k = sent++;
          const part = files.slice(k * chunk, (k + 1) * chunk);
          held += part.length;
          onHeld(held);
          idle.pop()!.postMessage({ id: k, files: part, opts } satisfies DecodeJob);
        }
      };
      // One drain at a time hands chunks to the sink in order; it re-checks after every chunk, so
      // a chunk that arrives while it runs is not missed.
      const drain = async (): Promise<void> => {
        if (draining || failed) return;
        draining = true;
        try {
          while (!failed && ready.has(sunk)) {
            const results = ready.get(sunk)!;
            ready.delete(sunk);
            for (let k = 0; k < results.length; k++) await settle(sunk * chunk + k, results[k]);
            // The chunk's array keeps its images alive until here.
            held -= results.length;
            onHeld(held);
            sunk++;
            pump();
          }
          if (sunk === nChunks) resolve();
        } catch (e) {
          fail(e);
        } finally {
          draining = false;
        }
      };
      for (const w of workers) {
        w.on('message', (m: { id: number; results: DecodeResult[] }) => {
          ready.set(m.id, m.results);
          idle.push(w);
          pump();
          void drain();
        });
        w.on('error', fail);
      }
      pump();
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Decodes on this thread, `inFlight` files at a time, handing records to `sink` in file order. A
 * failure waits its turn: the records before it still reach the sink, as on the workers' path.
 */
/**
 * Whether a folder holds thumbnails (CIFAR's 32x32 JPEGs): a sample of its files' headers, all at
 * most SMALL_PICTURE_PIXELS. The native decoder hands those to the pure-JS one (decode-sharp.ts),
 * where a native call's fixed cost would dominate, so they decode on worker threads instead of in
 * flight here. Only the speed depends on it, never the records.
 */
async function smallPictures(files: string[]): Promise<boolean> {
  if (files.length === 0) return false;
  const step = Math.max(1, Math.floor(files.length / 16));
  const sample = files.filter((_, i) => i % step === 0).slice(0, 16);
  const heads = await readImageHeaders(sample);
  return heads.every((h) => h !== undefined && h.width * h.height <= SMALL_PICTURE_PIXELS);
}

async function decodeHere(
  files: string[],
  job: DecodeJobOptions & BadFilePolicy & { decoder: ImageDecoder },
  inFlight: number,
  sink: (i: number, record: FolderRecord) => Promise<void> | void,
  onHeld: (held: number) => void,
  warn: (message: string) => void,
): Promise<void> {
  const pending = new Map<number, Promise<FolderRecord>>();
  let started = 0;
  for (let i = 0; i < files.length; i++) {
    while (started < files.length && started - i < inFlight) {
      const p = decodeFolderFile(readFileBytesNow, files[started], job, warn);
      // Marked handled now; the rejection is rethrown when its turn comes.
      p.catch(() => {});
      pending.set(started++, p);
    }
    onHeld(started - i);
    const record = await pending.get(i)!;
    pending.delete(i);
    await sink(i, record);
  }
  onHeld(0);
}
