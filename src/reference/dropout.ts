// Dropout, CPU reference in float64 (inverted dropout, as PyTorch and Keras compute it).
//
// Shapes: x, mask, out are (rows,size) row-major; element e = row·size + j.
//   mask[e] = keep(e) ? 1/(1 - rate) : 0,
//             keep(e) iff (counterHash(seed, stream, step, e) >>> 8) >= dropoutThreshold(rate)
//   forward   out = x ⊙ mask         backward   dX = dOut ⊙ mask
// The mask is a pure function of (seed, stream, step, element) — src/rng.ts — so the GPU draws
// the same one; in a model, stream is the layer's index and step the training step.
// rate 0 keeps everything (threshold 0, and every hash >>> 8 is >= 0) with scale exactly 1.

import { ConfigError } from '../errors.js';
import { counterHash, dropoutThreshold } from '../rng.js';
import { checkDims, checkLength, type NumArray } from './check.js';

/** The scaled keep mask (rows·size): 0 for a dropped element, 1/(1 - rate) for a kept one. */
export function dropoutMask(
  seed: number,
  stream: number,
  step: number,
  rows: number,
  size: number,
  rate: number,
): Float64Array {
  const fn = 'dropoutMask';
  checkDims(fn, { rows, size });
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
    throw new ConfigError(`${fn}: rate must be in [0, 1), got ${String(rate)}`);
  }
  for (const [name, v] of [
    ['seed', seed],
    ['stream', stream],
    ['step', step],
  ] as const) {
    if (!Number.isInteger(v))
      throw new ConfigError(`${fn}: ${name} must be an integer (taken as a u32), got ${v}`);
  }
  const threshold = dropoutThreshold(rate);
  const scale = 1 / (1 - rate);
  const n = rows * size;
  const mask = new Float64Array(n);
  for (let e = 0; e < n; e++) mask[e] = counterHash(seed, stream, step, e) >>> 8 >= threshold ? scale : 0;
  return mask;
}

/** out = x ⊙ mask. */
export function dropoutForward(x: NumArray, mask: NumArray): Float64Array {
  checkLength('dropoutForward', 'x', x, mask.length, `the mask's ${mask.length} elements`);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * mask[i];
  return out;
}

/** dX = dOut ⊙ mask (the same mask as the forward pass). */
export function dropoutBackward(dOut: NumArray, mask: NumArray): Float64Array {
  checkLength('dropoutBackward', 'dOut', dOut, mask.length, `the mask's ${mask.length} elements`);
  const dX = new Float64Array(dOut.length);
  for (let i = 0; i < dOut.length; i++) dX[i] = dOut[i] * mask[i];
  return dX;
}
