// Downloads with md5 verification and progress, through an injectable fetch so tests never touch
// the network. Node-only (writes into the cache directory). A file is written under a temporary
// name and renamed only after its checksum matches, so a cache never holds a bad file.
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetFormatError } from '../errors.js';

export type FetchFn = (url: string) => Promise<Response>;

export interface DownloadProgress {
  file: string;
  url: string;
  loaded: number;
  /** From Content-Length, when the server sent it. */
  total?: number;
}

export interface RemoteFile {
  /** Name inside the target directory. */
  name: string;
  /** Mirrors, tried in order. */
  urls: string[];
  md5: string;
}

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** Error from every mirror; the caller turns it into DatasetNotFoundError with instructions. */
export class DownloadFailed extends Error {}

/** Fetches one file into `dir`, verifying md5. Returns the bytes. */
export async function downloadVerified(
  file: RemoteFile,
  dir: string,
  fetchFn: FetchFn,
  onProgress?: (p: DownloadProgress) => void,
): Promise<Uint8Array> {
  const failures: string[] = [];
  for (const url of file.urls) {
    let bytes: Uint8Array;
    try {
      bytes = await fetchAll(url, file.name, fetchFn, onProgress);
    } catch (e) {
      failures.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const got = md5Hex(bytes);
    const target = path.join(dir, file.name);
    if (got !== file.md5) {
      throw new DatasetFormatError(
        `${url}: downloaded ${bytes.length} bytes with md5 ${got}, expected ${file.md5}; the mirror served a different file, so nothing was saved to ${target}`,
        target,
      );
    }
    await mkdir(dir, { recursive: true });
    const tmp = `${target}.part-${process.pid}`;
    await writeFile(tmp, bytes);
    await rename(tmp, target);
    return bytes;
  }
  throw new DownloadFailed(failures.join('; '));
}

async function fetchAll(
  url: string,
  name: string,
  fetchFn: FetchFn,
  onProgress?: (p: DownloadProgress) => void,
): Promise<Uint8Array> {
  const res = await fetchFn(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const len = Number(res.headers.get('content-length'));
  const total = Number.isFinite(len) && len > 0 ? len : undefined;
  if (!res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    onProgress?.({ file: name, url, loaded: b.length, total });
    return b;
  }
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.({ file: name, url, loaded, total });
  }
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
