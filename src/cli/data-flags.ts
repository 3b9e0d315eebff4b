// The command line's side of opening data: --data and the model file's normalisation block. The
// library (src/data/open.ts, classes.ts, normalize.ts) does the work and throws named errors; this
// file only turns the ones a user fixes by changing a flag or a folder into one-line usage messages.

import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { ClassMismatchError, ConfigError, DatasetLayoutError, DatasetNotFoundError } from '../errors.js';
import { matchClasses as matchClassesByName } from '../data/classes.js';
import { KNOWN_DATASETS } from '../data/known.js';
import { validateNormalization, type Normalization } from '../data/normalize.js';
import { formatSkippedList, type SkippedFile } from '../data/skipped.js';
import { checkDatasetSpec, openDataset, type ImageOptions, type OpenedDataset } from '../data/open.js';
import { closest, UsageError } from './args.js';

/** Throws a one-line UsageError unless `spec` is a known dataset name or an existing path. */
export function checkDataSpec(spec: string): void {
  try {
    checkDatasetSpec(spec);
  } catch (e) {
    if (!(e instanceof DatasetNotFoundError)) throw e;
    const guess = closest(spec, KNOWN_DATASETS);
    throw new UsageError(
      `--data: '${spec}' is neither a known dataset (${KNOWN_DATASETS.join(', ')}) nor an existing path` +
        (guess ? `; did you mean '${guess}'?` : ''),
    );
  }
}

/**
 * Opens --data (openDataset); `log` gets one line per folder saying whether it was decoded or
 * loaded from the cache (default: stderr). A folder in no layout the library reads is a UsageError.
 * Image folders skip bad files (OpenedDataset.skipped) unless `img.strict` (--strict).
 */
export async function loadData(
  spec: string,
  img: ImageOptions & { strict?: boolean },
  limit: number | null,
  log: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  streamOver?: number,
): Promise<OpenedDataset> {
  checkDataSpec(spec);
  try {
    return await openDataset(spec, {
      imageSize: img.imageSize,
      channels: img.channels,
      resize: img.resize,
      rrc: img.rrc,
      strict: img.strict,
      limit,
      log,
      streamOver,
    });
  } catch (e) {
    if (e instanceof DatasetLayoutError) throw new UsageError(`--data: ${e.message}`);
    throw e;
  }
}

/** matchClasses (src/data/classes.ts), a data class the model does not know being a UsageError. */
export function matchClasses(
  labels: Int32Array,
  dataNames: string[],
  modelNames: string[],
  named: boolean,
  what: string,
): Int32Array {
  try {
    return matchClassesByName(labels, dataNames, modelNames, named, what);
  } catch (e) {
    if (e instanceof ClassMismatchError) throw new UsageError(e.message);
    throw e;
  }
}

/** Reads a normalisation block back from a model file, checking it fits `channels`. */
export function parseNormalization(raw: unknown, channels: number, file: string): Normalization {
  try {
    return validateNormalization(raw, channels);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new UsageError(`${file}: the model's normalization block is not valid: ${e.message}`);
  }
}

/** The file in a run's folder that lists the image files the run skipped. */
export const SKIPPED_FILE = 'skipped.txt';

/**
 * Writes <outDir>/skipped.txt, one "<file>\t<kind>: <reason>" line per skipped file, or removes a
 * list an earlier run left there when nothing was skipped.
 */
export async function writeSkippedList(outDir: string, skipped: readonly SkippedFile[]): Promise<void> {
  const file = path.join(outDir, SKIPPED_FILE);
  if (skipped.length === 0) {
    await rm(file, { force: true });
    return;
  }
  await mkdir(outDir, { recursive: true });
  await writeFileAtomic(file, new TextEncoder().encode(formatSkippedList(skipped)));
}
