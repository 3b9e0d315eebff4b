// Minimal ustar reader for the one archive we download (cifar-10-binary.tar.gz): regular files
// only, every header field bounds-checked against the archive length.
import { DatasetFormatError } from '../errors.js';

export interface TarEntry {
  path: string;
  data: Uint8Array;
}

function field(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(off, end));
}

export function readTar(bytes: Uint8Array, name: string): TarEntry[] {
  const out: TarEntry[] = [];
  for (let off = 0; off + 512 <= bytes.length;) {
    const header = bytes.subarray(off, off + 512);
    if (header.every((v) => v === 0)) break; // end-of-archive marker
    const sizeText = field(header, 124, 12).trim();
    if (!/^[0-7]+$/.test(sizeText)) {
      throw new DatasetFormatError(
        `${name}: corrupt tar header at byte ${off} (size field "${sizeText}")`,
        name,
      );
    }
    const size = parseInt(sizeText, 8);
    const start = off + 512;
    if (start + size > bytes.length) {
      throw new DatasetFormatError(
        `${name}: tar entry at byte ${off} runs past the end (truncated download)`,
        name,
      );
    }
    const type = String.fromCharCode(header[156]);
    const prefix = field(header, 345, 155);
    const base = field(header, 0, 100);
    if (type === '0' || type === '\0') {
      out.push({ path: prefix ? `${prefix}/${base}` : base, data: bytes.subarray(start, start + size) });
    }
    off = start + Math.ceil(size / 512) * 512;
  }
  return out;
}
