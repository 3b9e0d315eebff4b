// Node-only file helpers for model and checkpoint files.
//
// writeFileAtomic: readers see either the old file or the complete new one, never a torn write,
// even if the process dies mid-save. The bytes go to a uniquely named temp file in the target's
// directory (rename is only atomic within one filesystem), are fsynced, and the temp file is
// renamed over the target; the directory is then fsynced so the rename itself survives a crash.
// On any failure the temp file is removed and the previous file is left as it was. A process
// killed mid-write (SIGKILL, power loss) cannot remove its temp file; the next successful write
// of the same target removes temp files whose writer's pid is no longer running.
// test/io/sigkill.test.ts kills writers at many points and loads the file after each kill.

import { randomBytes } from 'node:crypto';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileTooLargeError } from '../errors.js';

export interface AtomicWriteOptions {
  /** Bytes per write call (default 4 MiB). */
  chunkBytes?: number;
  /** Called after each chunk is written; throwing aborts the write (the target is untouched). */
  onProgress?: (written: number, total: number) => void;
}

export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const chunkBytes = options.chunkBytes ?? 4 << 20;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) {
    throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  }
  const dir = dirname(path);
  const tmp = join(dir, `${tempPrefix(path)}${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const mode = await existingMode(path);

  // 'wx' fails if the name exists, so two writers can never share a temp file.
  const fh = await open(tmp, 'wx', mode);
  let closed = false;
  let renamed = false;
  try {
    let written = 0;
    while (written < bytes.length) {
      const n = Math.min(chunkBytes, bytes.length - written);
      const { bytesWritten } = await fh.write(bytes, written, n, written);
      written += bytesWritten;
      options.onProgress?.(written, bytes.length);
    }
    await fh.sync();
    closed = true;
    await fh.close();
    await rename(tmp, path);
    renamed = true;
  } finally {
    if (!renamed) {
      // Cleanup must not mask the error that got us here, so its own failures are dropped.
      if (!closed) await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
  await syncDirectory(dir);
  await removeDeadTemps(path);
}

const tempPrefix = (path: string): string => `.${basename(path)}.`;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp files of `path` left by writers that died before renaming them. */
async function removeDeadTemps(path: string): Promise<void> {
  const prefix = tempPrefix(path);
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return; // An unlistable directory only means leftovers stay; the write itself succeeded.
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !pidAlive(pid)) await unlink(join(dirname(path), name)).catch(() => undefined);
  }
}

async function existingMode(path: string): Promise<number> {
  try {
    return (await stat(path)).mode & 0o777;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0o666;
    throw e;
  }
}

// Some platforms (Windows) and filesystems cannot open or fsync a directory; there the rename is
// as durable as the OS makes it and there is nothing more to do.
const DIR_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'ENOTSUP', 'EBADF']);

async function syncDirectory(dir: string): Promise<void> {
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (e) {
    if (!DIR_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
}

/**
 * Reads a whole file, refusing (FileTooLargeError) once it is larger than maxBytes, so a huge or
 * endless file (a FIFO, /dev/zero) cannot exhaust memory. The result starts at byte offset 0 of
 * its own buffer.
 */
export async function readFileLimited(path: string, maxBytes: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
  }
  const tooLarge = (size: string, n: number): FileTooLargeError =>
    new FileTooLargeError(
      `${path} is ${size} bytes, over the ${maxBytes}-byte limit for reading it; ` +
        'raise the limit if the file is trusted',
      path,
      n,
      maxBytes,
    );
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (st.isFile() && st.size > maxBytes) throw tooLarge(String(st.size), st.size);
    // One spare byte lets a single read past the expected end detect a file that grew.
    let buf = new Uint8Array(Math.min(st.isFile() ? st.size : 1 << 16, maxBytes) + 1);
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        if (total > maxBytes) throw tooLarge('more than ' + maxBytes, total);
        const bigger = new Uint8Array(Math.min(buf.length * 2, maxBytes + 1));
        bigger.set(buf);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return buf.subarray(0, total);
  } finally {
    await fh.close();
  }
}
