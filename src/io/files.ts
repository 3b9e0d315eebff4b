// Node-only: model and checkpoint files on disk. Saves are atomic (see atomic.ts); loads refuse
// files over a size limit before reading them, then validate like loadModel/loadCheckpoint.

import { readFileLimited, writeFileAtomic } from './atomic.js';
import {
  loadCheckpoint,
  loadModel,
  saveCheckpoint,
  saveModel,
  type CheckpointFile,
  type CheckpointInput,
  type ModelFile,
  type ModelInput,
} from './modelfile.js';
import type { DecodeOptions } from './safetensors.js';

/** Default ceiling for reading a model or checkpoint into memory. */
export const DEFAULT_MAX_FILE_BYTES = 2 ** 31 - 1;

export interface LoadFileOptions extends DecodeOptions {
  maxFileBytes?: number;
}

export async function saveModelFile(path: string, model: ModelInput): Promise<void> {
  await writeFileAtomic(path, saveModel(model));
}

export async function loadModelFile(path: string, options: LoadFileOptions = {}): Promise<ModelFile> {
  const bytes = await readFileLimited(path, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
  return loadModel(bytes, path, options);
}

export async function saveCheckpointFile(path: string, checkpoint: CheckpointInput): Promise<void> {
  await writeFileAtomic(path, saveCheckpoint(checkpoint));
}

export async function loadCheckpointFile(
  path: string,
  options: LoadFileOptions = {},
): Promise<CheckpointFile> {
  const bytes = await readFileLimited(path, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
  return loadCheckpoint(bytes, path, options);
}
