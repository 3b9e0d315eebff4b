// Which samples a run trains on and in what order: the seeded split and the per-epoch order that
// the engine's fit (src/engine/trainer.ts) walks, for resident and streamed data alike (a batch
// source only answers "give me records ids[0..n)"). Both derive from (seed, stream tag, epoch) only
// (seed.ts), so a checkpoint that stores the seed and the (epoch, batch) position resumes onto the
// same batches.

import { ConfigError } from '../errors.js';
import { deriveRng, SeedTag } from './seed.js';

/**
 * A seeded split of `count` samples: `validation` holds `nValidation` of them, drawn as the first
 * entries of permutation(count); both parts list their sample indices in ascending order.
 */
export function splitIndices(
  count: number,
  nValidation: number,
  seed: number,
): { train: Uint32Array; validation: Uint32Array } {
  if (!(Number.isInteger(nValidation) && nValidation >= 0 && nValidation <= count)) {
    throw new ConfigError(`a split of ${count} samples cannot hold out ${nValidation}.`);
  }
  const isVal = new Uint8Array(count);
  if (nValidation > 0) {
    const perm = deriveRng(seed, SeedTag.split).permutation(count);
    for (let j = 0; j < nValidation; j++) isVal[perm[j]] = 1;
  }
  const train = new Uint32Array(count - nValidation);
  const validation = new Uint32Array(nValidation);
  let t = 0;
  let v = 0;
  for (let i = 0; i < count; i++) {
    if (isVal[i]) validation[v++] = i;
    else train[t++] = i;
  }
  return { train, validation };
}

/** Positions 0..n-1 in the order epoch `epoch` visits them: a seeded permutation, or in order. */
export function epochPositions(n: number, seed: number, epoch: number, shuffle = true): Uint32Array {
  if (!(Number.isInteger(epoch) && epoch >= 0)) {
    throw new ConfigError(`epoch must be an integer >= 0, got ${epoch}.`);
  }
  return shuffle
    ? deriveRng(seed, SeedTag.epochOrder, epoch).permutation(n)
    : Uint32Array.from({ length: n }, (_, i) => i);
}

/** The sample indices `ids` in the order epoch `epoch` visits them. */
export function epochOrder(ids: Uint32Array, seed: number, epoch: number, shuffle = true): Uint32Array {
  if (!shuffle) return ids;
  const pos = epochPositions(ids.length, seed, epoch);
  const out = new Uint32Array(ids.length);
  for (let i = 0; i < pos.length; i++) out[i] = ids[pos[i]];
  return out;
}
