// Bad files in an image folder: which failures skip a file rather than stop the run, and how the
// skipped files are reported. A folder of 40,000 scraped photos with three broken ones should
// train on the other 39,997 (PyTorch's ImageFolder stops at the first; Keras skips silently), so by
// default every file that fails for a reason of its own (its bytes, its size, its read) is skipped
// and listed; `strict` makes such a file an error with the decoder's message. Failures that are
// not the file's fault (a bug, memory) always throw. Browser-safe: no Node imports.

import { DatasetFormatError, DatasetNotFoundError, FileTooLargeError, NotAnImageError } from '../errors.js';

/**
 * Why a file was skipped: unreadable (corrupt, truncated, a forged or oversized header, a read
 * error), empty (0 bytes), unsupported (no image signature and no image extension: a text
 * file, a WebP), too-large (over the reader's byte limit), missing (gone since the listing).
 */
export type SkipKind = 'unreadable' | 'empty' | 'unsupported' | 'too-large' | 'missing';

/** One file left out of an image folder's set. */
export interface SkippedFile {
  file: string;
  kind: SkipKind;
  /** The decoder's message without the leading "<file>: ", e.g. "corrupt or unreadable JPEG (...)". */
  reason: string;
}

/** How a folder reader treats bad files. */
export interface BadFilePolicy {
  /**
   * true: any bad file is an error (its DatasetFormatError or NotAnImageError), except that
   * unsupported files are skipped with a warning under `skipNonImages`. Default false: every bad
   * file is skipped and listed in the set's `skipped`.
   */
  strict?: boolean;
  /** Under `strict`, skip files that are not images at all (with a warning) instead of failing. */
  skipNonImages?: boolean;
}

const READ_ERRORS = new Set(['EACCES', 'EPERM', 'EISDIR', 'EIO', 'ELOOP', 'ENAMETOOLONG']);

/** The kind of bad file `e` says `file` is, or undefined when the failure is not the file's fault. */
export function badFileKind(e: unknown, bytes?: Uint8Array): SkipKind | undefined {
  if (e instanceof NotAnImageError) return 'unsupported';
  if (bytes && bytes.length === 0) return 'empty';
  if (e instanceof FileTooLargeError) return 'too-large';
  if (e instanceof DatasetNotFoundError) return 'missing';
  if (e instanceof DatasetFormatError) return 'unreadable';
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && READ_ERRORS.has(code) ? 'unreadable' : undefined;
}

/** The message without a leading "<file>: " (the list names the file in its own column). */
export function reasonOf(message: string, file: string): string {
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

/** Whether a bad file of this kind is skipped (true) or thrown (false) under `policy`. */
export function skips(kind: SkipKind, policy: BadFilePolicy): boolean {
  return !policy.strict || (kind === 'unsupported' && !!policy.skipNonImages);
}

/**
 * The error a strict reader throws for a file already known to be bad (a cached folder's list):
 * the decoder's own message, as the first decode threw it.
 */
export function skippedError(s: SkippedFile): DatasetFormatError {
  const message = `${s.file}: ${s.reason}`;
  return s.kind === 'unsupported'
    ? new NotAnImageError(message, s.file)
    : new DatasetFormatError(message, s.file);
}

/**
 * Applies `policy` to files a cached folder already knows are bad, as the first decode did: under
 * `strict` the first one it does not skip is thrown with its message, the others warned about.
 */
export function replaySkipped(
  skipped: readonly SkippedFile[],
  policy: BadFilePolicy,
  warn: (message: string) => void,
): void {
  if (!policy.strict) return;
  for (const s of skipped) {
    if (!skips(s.kind, policy)) throw skippedError(s);
    warn(`${s.file}: skipped, not an image file`);
  }
}

const fmtInt = (n: number): string => n.toLocaleString('en-US');

/** "3 of 40,003 files (unreadable)" or "3 of 40,003 files (2 unreadable, 1 empty)". */
export function describeSkipped(skipped: readonly SkippedFile[], total: number): string {
  const counts = new Map<SkipKind, number>();
  for (const s of skipped) counts.set(s.kind, (counts.get(s.kind) ?? 0) + 1);
  const kinds =
    counts.size === 1
      ? [...counts.keys()][0]
      : [...counts.entries()].map(([k, n]) => `${fmtInt(n)} ${k}`).join(', ');
  return `${fmtInt(skipped.length)} of ${fmtInt(total)} files (${kinds})`;
}

/** The skipped list as text: one "<file>\t<kind>: <reason>" line per file. */
export function formatSkippedList(skipped: readonly SkippedFile[]): string {
  return skipped.map((s) => `${s.file}\t${s.kind}: ${s.reason.replace(/\s+/g, ' ')}\n`).join('');
}
