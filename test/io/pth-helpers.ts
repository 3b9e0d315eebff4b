// Byte builders for the .pth reader's tests: a minimal STORED zip writer (optionally with zip64
// fields, and with data aligned as torch.save aligns it) and a pickle assembler.

import { crc32, readZipDirectory, readZipEntry } from '../../src/io/zip.js';

export interface ZipOptions {
  /** Pad each local header's extra field so the data starts at a multiple of this (torch: 64). */
  align?: number;
  /** Write every size and offset through zip64 extra fields and the zip64 end records. */
  zip64?: boolean;
}

/** A STORED zip archive of the entries, in order. */
export function zipStored(entries: [string, Uint8Array][], options: ZipOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let pos = 0;
  const enc = new TextEncoder();
  for (const [name, data] of entries) {
    const nameBytes = enc.encode(name);
    const fixed = 30 + nameBytes.length;
    const pad = options.align ? (options.align - ((pos + fixed + 4) % options.align)) % options.align : 0;
    const extraLen = options.align ? 4 + pad : 0;
    const local = new Uint8Array(fixed + extraLen);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc32(data), true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, extraLen, true);
    local.set(nameBytes, 30);
    if (options.align) {
      // An unknown extra-field id whose payload is the padding, as PyTorch's writer does.
      lv.setUint16(fixed, 0x1234, true);
      lv.setUint16(fixed + 2, pad, true);
    }
    const z = options.zip64 === true;
    const c = new Uint8Array(46 + nameBytes.length + (z ? 28 : 0));
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, 45, true);
    cv.setUint32(16, crc32(data), true);
    cv.setUint32(20, z ? 0xffffffff : data.length, true);
    cv.setUint32(24, z ? 0xffffffff : data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint16(30, z ? 28 : 0, true);
    cv.setUint32(42, z ? 0xffffffff : pos, true);
    c.set(nameBytes, 46);
    if (z) {
      // Extra field order is fixed by the spec: size, compressed size, header offset.
      const x = 46 + nameBytes.length;
      cv.setUint16(x, 1, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(data.length), true);
      cv.setBigUint64(x + 12, BigInt(data.length), true);
      cv.setBigUint64(x + 20, BigInt(pos), true);
    }
    parts.push(local, data);
    central.push(c);
    pos += local.length + data.length;
  }
  const dirStart = pos;
  const dirSize = central.reduce((n, c) => n + c.length, 0);
  parts.push(...central);
  pos += dirSize;
  if (options.zip64) {
    const rec = new Uint8Array(56 + 20);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setBigUint64(24, BigInt(entries.length), true);
    rv.setBigUint64(32, BigInt(entries.length), true);
    rv.setBigUint64(40, BigInt(dirSize), true);
    rv.setBigUint64(48, BigInt(dirStart), true);
    rv.setUint32(56, 0x07064b50, true);
    rv.setBigUint64(64, BigInt(pos), true);
    rv.setUint32(72, 1, true);
    parts.push(rec);
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  const z = options.zip64 === true;
  ev.setUint16(8, z ? 0xffff : entries.length, true);
  ev.setUint16(10, z ? 0xffff : entries.length, true);
  ev.setUint32(12, z ? 0xffffffff : dirSize, true);
  ev.setUint32(16, z ? 0xffffffff : dirStart, true);
  parts.push(end);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Pickle bytes from opcodes and arguments: numbers are single bytes, strings are Latin-1 bytes
 * (opcode letters, GLOBAL's "module\nname\n"), `u(s)` is a SHORT_BINUNICODE.
 */
export function pk(...parts: (number | string | Uint8Array)[]): Uint8Array {
  const bytes: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') bytes.push(p);
    else if (typeof p === 'string') for (const ch of p) bytes.push(ch.charCodeAt(0));
    else bytes.push(...p);
  }
  return Uint8Array.from(bytes);
}

/** SHORT_BINUNICODE s. */
export function u(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  return Uint8Array.from([0x8c, b.length, ...b]);
}

/** A .pth archive whose data.pkl is `pickle` (and no storages). */
export function pthWith(pickle: Uint8Array, top = 'archive'): Uint8Array {
  return zipStored([
    [`${top}/data.pkl`, pickle],
    [`${top}/version`, new TextEncoder().encode('3\n')],
  ]);
}

/** Every entry of an archive, by name, in directory order. */
export function entriesOf(bytes: Uint8Array): [string, Uint8Array][] {
  return [...readZipDirectory(bytes, 'x').values()].map((e) => [e.name, readZipEntry(bytes, e, 'x').slice()]);
}
