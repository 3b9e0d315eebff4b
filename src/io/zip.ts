// Reading a zip archive held in memory, as torch.save writes it: the central directory at the end
// lists every entry, each entry's local header gives where its data starts. PyTorch writes its
// entries STORED and pads each local header so that the data lands on a 64-byte boundary, so a
// stored entry is returned as a view into the input (no copy); DEFLATE entries (an archive that
// was re-zipped by hand) are inflated with pako so the same code runs in the browser.
//
//   [local header 30 B + name + extra][data] ... [central directory entries] [zip64 EOCD]
//   [zip64 EOCD locator] [end of central directory, 22 B + comment]
//
// The file is treated as hostile: every offset and length is checked against the bytes present,
// and inflation is capped by the size the directory declares, so nothing is allocated beyond what
// the file itself could hold.

import { Inflate } from 'pako';
import { ModelFormatError } from '../errors.js';

export interface ZipEntry {
  name: string;
  /** 0 STORED, 8 DEFLATE. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_SIG = 0x06064b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_LEN = 22;
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

/** True when the bytes open with a zip local header ("PK\x03\x04"). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4;
}

function failer(fileName: string): (message: string) => never {
  return (message: string) => {
    throw new ModelFormatError(`${fileName}: ${message}`, fileName);
  };
}

/** A u64 field as a number; above 2^53 it cannot describe bytes this process holds anyway. */
function u64(view: DataView, at: number): number {
  return Number(view.getBigUint64(at, true));
}

/** The end-of-central-directory record: where the directory starts and how many entries it has. */
function findDirectory(u8: Uint8Array, view: DataView, fail: (m: string) => never) {
  const truncated = 'no end-of-central-directory record: the file is truncated or is not a zip archive';
  if (u8.length < EOCD_LEN) fail(truncated);
  let eocd = -1;
  const lowest = Math.max(0, u8.length - EOCD_LEN - MAX_COMMENT);
  for (let i = u8.length - EOCD_LEN; i >= lowest; i--) {
    // The comment length must reach exactly to the end of the file; this rejects a signature that
    // merely happens to occur inside the data of a truncated archive.
    if (view.getUint32(i, true) === EOCD_SIG && i + EOCD_LEN + view.getUint16(i + 20, true) === u8.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(truncated);
  let count = view.getUint16(eocd + 10, true);
  let size = view.getUint32(eocd + 12, true);
  let offset = view.getUint32(eocd + 16, true);
  if (count === U16_MAX || size === U32_MAX || offset === U32_MAX) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== EOCD64_LOCATOR_SIG) {
      fail('the directory needs zip64 fields but the zip64 locator is missing (corrupt file?)');
    }
    const rec = u64(view, loc + 8);
    if (rec + 56 > loc || view.getUint32(rec, true) !== EOCD64_SIG) {
      fail('the zip64 end-of-central-directory record is missing or out of range (corrupt file?)');
    }
    count = u64(view, rec + 32);
    size = u64(view, rec + 40);
    offset = u64(view, rec + 48);
  }
  if (offset + size > eocd) {
    fail(`the central directory [${offset}, ${offset + size}) runs past its end record (truncated?)`);
  }
  return { count, offset, end: offset + size };
}

/** Replaces saturated 32-bit fields by the values in the entry's zip64 extra field (id 0x0001). */
function applyZip64(
  view: DataView,
  extra: number,
  extraEnd: number,
  e: ZipEntry,
  fail: (m: string) => never,
): void {
  const wanted: ('size' | 'compressedSize' | 'headerOffset')[] = [];
  if (e.size === U32_MAX) wanted.push('size');
  if (e.compressedSize === U32_MAX) wanted.push('compressedSize');
  if (e.headerOffset === U32_MAX) wanted.push('headerOffset');
  if (wanted.length === 0) return;
  for (let p = extra; p + 4 <= extraEnd;) {
    const id = view.getUint16(p, true);
    const len = view.getUint16(p + 2, true);
    if (id === 1) {
      if (len < wanted.length * 8 || p + 4 + len > extraEnd) break;
      wanted.forEach((field, i) => (e[field] = u64(view, p + 4 + i * 8)));
      return;
    }
    p += 4 + len;
  }
  fail(`entry "${e.name}" needs a zip64 extra field but has none (corrupt file?)`);
}

/** Every entry of the archive, by name, from its central directory. */
export function readZipDirectory(bytes: Uint8Array, fileName: string): Map<string, ZipEntry> {
  const fail = failer(fileName);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dir = findDirectory(bytes, view, fail);
  const entries = new Map<string, ZipEntry>();
  const names = new TextDecoder('utf-8');
  let p = dir.offset;
  for (let i = 0; i < dir.count; i++) {
    if (p + 46 > dir.end || view.getUint32(p, true) !== CENTRAL_SIG) {
      fail(`central directory entry ${i} of ${dir.count} is missing or damaged (truncated?)`);
    }
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > dir.end) fail(`central directory entry ${i} runs past the directory (corrupt file?)`);
    const e: ZipEntry = {
      name: names.decode(bytes.subarray(p + 46, p + 46 + nameLen)),
      method: view.getUint16(p + 10, true),
      crc32: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      headerOffset: view.getUint32(p + 42, true),
    };
    applyZip64(view, p + 46 + nameLen, p + 46 + nameLen + extraLen, e, fail);
    if (entries.has(e.name)) fail(`entry "${e.name}" appears twice in the central directory`);
    entries.set(e.name, e);
    p = next;
  }
  return entries;
}

/**
 * The uncompressed bytes of one entry: a view into `bytes` when STORED, a new array when DEFLATE.
 * Throws ModelFormatError naming the file and entry when the data lies outside the file, the method
 * is neither, or inflation does not give exactly the declared size. Inflated entries are always
 * CRC-checked; stored ones only with `checkCrc`, because the CRC costs about 4 ms per MB here,
 * several times the rest of a load, and truncation is caught by the directory anyway.
 */
export function readZipEntry(bytes: Uint8Array, e: ZipEntry, fileName: string, checkCrc = false): Uint8Array {
  const fail = failer(fileName);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = e.headerOffset;
  if (h + 30 > bytes.length || view.getUint32(h, true) !== LOCAL_SIG) {
    fail(`entry "${e.name}": no local header at offset ${h} (truncated or corrupt file)`);
  }
  const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
  const end = start + e.compressedSize;
  if (end > bytes.length) {
    fail(`entry "${e.name}": its ${e.compressedSize} bytes run past the end of the file (truncated?)`);
  }
  const raw = bytes.subarray(start, end);
  if (e.method === 0) {
    if (e.size !== e.compressedSize) fail(`entry "${e.name}": stored entry with two different sizes`);
    if (checkCrc && crc32(raw) !== e.crc32) fail(`entry "${e.name}": CRC-32 mismatch (corrupt file?)`);
    return raw;
  }
  if (e.method !== 8) {
    fail(`entry "${e.name}": compression method ${e.method} is not supported (only stored and deflate)`);
  }
  const out = inflateExactly(raw, e.size);
  if (!out) {
    return fail(
      `entry "${e.name}": the deflate stream is corrupt or does not give the declared ${e.size} bytes`,
    );
  }
  if (crc32(out) !== e.crc32) fail(`entry "${e.name}": CRC-32 mismatch after inflating (corrupt file?)`);
  return out;
}

/** Deflate cannot beat ~1032:1, so a larger declared size is a lie (or a bomb). */
const MAX_DEFLATE_RATIO = 1032;

/**
 * Inflates raw deflate into a buffer of the declared size, or undefined when the stream is
 * corrupt, ends early, or would write past that size: output beyond what the directory declares
 * is never kept, so a decompression bomb costs at most one pako chunk.
 */
function inflateExactly(raw: Uint8Array, size: number): Uint8Array | undefined {
  if (size > raw.length * MAX_DEFLATE_RATIO + 1024) return undefined;
  const out = new Uint8Array(size);
  let written = 0;
  const inflator = new Inflate({ raw: true });
  inflator.onData = (chunk: Uint8Array): void => {
    // Throwing out of onData aborts pako's inner loop at once; caught below.
    if (written + chunk.length > size) throw new RangeError('inflated past the declared size');
    out.set(chunk, written);
    written += chunk.length;
  };
  try {
    inflator.push(raw, true);
  } catch {
    return undefined;
  }
  return inflator.err === 0 && inflator.ended && written === size ? out : undefined;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zip uses) of the bytes. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
