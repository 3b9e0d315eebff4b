// Weight initialisers. Shapes: W is (N,K) = (fanOut, fanIn), row-major.
// The trainer draws its initial weights with src/nn/init.ts, written separately with the same
// draw order, which is part of the contract: row-major over W, exactly one rng.normal() (normal kinds) or one
// rng.uniform(-l, l) (uniform kinds) per element; 'zeros' draws nothing and leaves the Rng
// untouched. Biases are not drawn here (they start at zero). The numpy-* kinds of src/nn/init.ts
// are not here: the GPU-vs-CPU tests copy the trainer's initial weights instead of drawing them.
//
//   he-normal       N(0, σ²), σ = √(2/fanIn)        he-uniform      U(±√(6/fanIn))
//   xavier-normal   σ = √(2/(fanIn+fanOut))          xavier-uniform  U(±√(6/(fanIn+fanOut)))
//   lecun-normal    σ = √(1/fanIn)                   zeros
//
// initWeights64 is the one implementation (float64); initWeights is the same draws rounded to
// float32 for upload. A CPU/GPU comparison must start both sides from the float32 values
// (Float64Array.from(initWeights(...))), not from initWeights64, or step 0 already differs.

import { ConfigError } from '../errors.js';
import type { Rng } from '../rng.js';
import { checkDims } from './check.js';

export type InitKind =
  'he-normal' | 'he-uniform' | 'xavier-normal' | 'xavier-uniform' | 'lecun-normal' | 'zeros';

export const INIT_KINDS: readonly InitKind[] = [
  'he-normal',
  'he-uniform',
  'xavier-normal',
  'xavier-uniform',
  'lecun-normal',
  'zeros',
];

/** The distribution's standard deviation for W (N,K) = (fanOut, fanIn); 0 for zeros. */
export function initStd(kind: InitKind, fanIn: number, fanOut: number): number {
  switch (kind) {
    case 'he-normal':
    case 'he-uniform':
      return Math.sqrt(2 / fanIn);
    case 'xavier-normal':
    case 'xavier-uniform':
      return Math.sqrt(2 / (fanIn + fanOut));
    case 'lecun-normal':
      return Math.sqrt(1 / fanIn);
    case 'zeros':
      return 0;
  }
}

/** W (N,K) in float64 with fanIn = K, fanOut = N. */
export function initWeights64(kind: InitKind, N: number, K: number, rng: Rng): Float64Array {
  if (!(INIT_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`initWeights: unknown initialiser '${kind}'; use one of ${INIT_KINDS.join(', ')}`);
  }
  checkDims('initWeights', { N, K });
  const W = new Float64Array(N * K);
  if (kind === 'zeros') return W;
  if (kind.endsWith('-normal')) {
    const std = initStd(kind, K, N);
    for (let i = 0; i < W.length; i++) W[i] = std * rng.normal();
  } else {
    // Written out rather than √3·σ so the limit is bit-for-bit the formula in the header.
    const limit = kind === 'he-uniform' ? Math.sqrt(6 / K) : Math.sqrt(6 / (K + N));
    for (let i = 0; i < W.length; i++) W[i] = rng.uniform(-limit, limit);
  }
  return W;
}

/** The same draws as initWeights64, rounded to float32 for the GPU. */
export function initWeights(kind: InitKind, N: number, K: number, rng: Rng): Float32Array {
  return Float32Array.from(initWeights64(kind, N, K, rng));
}
