// An image folder's native training size (image-size.ts) from its pictures' headers (Node only).
// Reading 40,000 headers takes a few seconds, so the choice is kept beside the decoded cache, in
// <cache root>/native-size/<sha256(folder path)>.json, under a key of the folder's listing (every
// file's name, size and mtime, as the decoded cache keys its slots): a later run on the same files
// reads the choice back, and a changed folder (or a changed rule) is scanned again.
// A file whose header decode-header.ts cannot size (AVIF, HEIF) is asked of sharp's metadata()
// when sharp is the decoder; the decoder's library is part of the memo's key for that reason.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chooseImageSize, NATIVE_SIZE_CAP, NATIVE_SIZE_STEP, type ChosenImageSize } from './image-size.js';
import type { ImageHeader } from './decode-header.js';
import { decoderLibrary, nodeImageDecoder, sharpHeaderSize } from './decode-node.js';
import { readImageHeaders } from './readers-node.js';

const FORMAT = 'webgpu-trainer/native-size-1';
const MEMO_DIR = 'native-size';

interface SizeMemo {
  format: string;
  key: string;
  root: string;
  choice: ChosenImageSize;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The size `files` choose (image-size.ts), scanning every header. */
export async function scanFolderSize(files: readonly string[]): Promise<ChosenImageSize> {
  const headers = await readImageHeaders(files);
  for (let i = 0; i < files.length; i++) headers[i] ??= await sharpHeaderSize(files[i]);
  return chooseImageSize(headers.filter((h): h is ImageHeader => h !== undefined));
}

function isMemo(m: unknown): m is SizeMemo {
  const o = m as Partial<SizeMemo> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    o.format === FORMAT &&
    typeof o.key === 'string' &&
    Array.isArray(o.choice?.size) &&
    o.choice.size.length === 2 &&
    o.choice.size.every((n) => Number.isInteger(n) && n > 0) &&
    typeof o.choice.reason === 'string'
  );
}

/**
 * The native size of the folder `abs` whose files are `files` and whose listing is `listing`
 * (see the header): read back from `cacheRoot` when the listing is unchanged, else scanned and
 * kept there. A memo that cannot be read or written only costs a scan.
 */
export async function nativeFolderSize(
  abs: string,
  files: readonly string[],
  listing: unknown,
  cacheRoot: string,
): Promise<ChosenImageSize> {
  // The rule's constants are part of the key: a changed rule chooses again.
  const rule = [NATIVE_SIZE_CAP, NATIVE_SIZE_STEP];
  const decoder = decoderLibrary(nodeImageDecoder());
  const key = sha(JSON.stringify({ format: FORMAT, rule, decoder, listing }));
  const file = path.join(cacheRoot, MEMO_DIR, `${sha(abs).slice(0, 24)}.json`);
  try {
    const memo: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (isMemo(memo) && memo.key === key) return memo.choice;
  } catch {
    // No memo yet, or a damaged one: scan.
  }
  const choice = await scanFolderSize(files);
  const memo: SizeMemo = { format: FORMAT, key, root: abs, choice };
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(tmp, JSON.stringify(memo));
    await rename(tmp, file);
  } catch {
    await rm(tmp, { force: true }).catch(() => {});
  }
  return choice;
}

/** Removes the memos of folders that no longer exist (beside the decoded cache's own pruning). */
export async function pruneSizeMemos(cacheRoot: string): Promise<void> {
  const dir = path.join(cacheRoot, MEMO_DIR);
  if (!existsSync(dir)) return;
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name);
    try {
      const memo = JSON.parse(await readFile(file, 'utf8')) as Partial<SizeMemo>;
      if (typeof memo.root === 'string' && !existsSync(memo.root)) await rm(file, { force: true });
    } catch {
      // A temporary file being written, or not ours: leave it.
    }
  }
}
