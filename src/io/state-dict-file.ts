// Reading a state dict (.pth or .safetensors) from disk. The file is read once into one buffer
// and the tensors are views into it where they can be (see pth.ts), so loading holds about one
// copy of the weights; nothing is written.

import { readFile } from 'node:fs/promises';
import { parseStateDict, type StateDict } from './state-dict.js';

/** Reads and parses a state dict file; errors name the file as given. */
export async function readStateDict(file: string): Promise<StateDict> {
  const bytes = await readFile(file);
  return parseStateDict(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}
