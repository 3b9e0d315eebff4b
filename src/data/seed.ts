// Seeds for the data library's random choices (the validation split and each epoch's order), derived
// from (seed, stream tag, ...coordinates) rather than drawn from one long-lived generator. That is
// what makes a resume exact: the order of epoch e depends only on those numbers and never on how
// many draws happened before, so a checkpoint only has to store {seed, epoch, batchIndex}.
// (Augmentation draws come from counterHash in src/rng.ts, keyed the same way; see augment.ts.)

import { Rng } from '../rng.js';

/** Stream tags: distinct constants so the split and shuffle streams never coincide. */
export const SeedTag = {
  epochOrder: 0x51ed_0001,
  split: 0x51ed_0002,
} as const;

// murmur3's 32-bit finaliser: every input bit flips about half the output bits.
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed that depends on every part, in order. Parts must be integers (uint32 range). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const p of parts) h = fmix32((h ^ Math.imul(p >>> 0, 0x9e3779b1)) + 0x7f4a7c15);
  return h;
}

/** A fresh generator for the stream named by (seed, ...parts). */
export function deriveRng(seed: number, ...parts: number[]): Rng {
  return new Rng(deriveSeed(seed, ...parts));
}
