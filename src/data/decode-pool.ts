// Decoding image files on worker threads (Node only; the browser path decodes in imagefolder.ts).
// Files go out in chunks to whichever worker is free, so a few large images do not stall one
// thread; results come back in file order. Errors are rebuilt as the same named classes the
// single-threaded reader throws, so callers cannot tell the two paths apart. When workers cannot
// start (or there is one core, or few files) the files are decoded on this thread instead.

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
import { jsImageDecoder } from './decode-js.js';
import type { ResizeMode } from './preprocess.js';
import { decodeFolderFile } from './imagefolder.js';
import { readFileBytes } from './readers-node.js';

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
  notImage: boolean;
  size?: number;
  limit?: number;
}

export type DecodeResult = { ok: true; pixels: Uint8Array } | { ok: false; error: SerializedError };

export interface DecodePoolOptions extends DecodeJobOptions {
  skipNonImages?: boolean;
  /** Worker threads; default: the machine's available parallelism. 1 decodes on this thread. */
  threads?: number;
  onWarning?: (message: string) => void;
}

const CHUNK = 64;
const MIN_FILES_FOR_WORKERS = 1024;

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

/** Decodes `files` (null for a skipped non-image file), in order. */
export async function decodeFiles(files: string[], o: DecodePoolOptions): Promise<(Uint8Array | null)[]> {
  const warn = o.onWarning ?? ((m: string) => console.warn(m));
  const opts: DecodeJobOptions = { size: o.size, channels: o.channels, mode: o.mode, maxPixels: o.maxPixels };
  // Starting a worker costs more than decoding a few hundred small images, so small folders (and
  // one-core machines) decode here unless `threads` asks otherwise.
  const wanted = o.threads ?? (files.length >= MIN_FILES_FOR_WORKERS ? availableParallelism() : 1);
  const threads = Math.min(wanted, Math.ceil(files.length / CHUNK));
  const out: (Uint8Array | null)[] = new Array<Uint8Array | null>(files.length).fill(null);
  const settle = (i: number, r: DecodeResult): void => {
    if (r.ok) out[i] = r.pixels;
    else if (r.error.notImage && o.skipNonImages) warn(`${files[i]}: skipped, not a PNG or JPEG file`);
    else throw rebuild(r.error);
  };
  if (threads <= 1) {
    for (let i = 0; i < files.length; i++) {
      const bytes = await readFileBytes(files[i]);
      out[i] = await decodeFolderFile(bytes, files[i], { decoder: jsImageDecoder, ...opts, ...o }, warn);
    }
    return out;
  }
  const workers = Array.from({ length: threads }, startWorker);
  try {
    let next = 0;
    let id = 0;
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            let start = 0;
            const send = (): void => {
              if (next >= files.length) return resolve();
              start = next;
              next = Math.min(files.length, next + CHUNK);
              w.postMessage({ id: id++, files: files.slice(start, next), opts } satisfies DecodeJob);
            };
            w.on('message', (m: { results: DecodeResult[] }) => {
              try {
                m.results.forEach((r, k) => settle(start + k, r));
              } catch (e) {
                reject(e);
                return;
              }
              send();
            });
            w.on('error', reject);
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
