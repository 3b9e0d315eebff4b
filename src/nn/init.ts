// Weight initialisers. W is [units, fanIn]; draws go row-major, one per element, from the
// seeded Rng, so the same seed gives the same weights everywhere (CPU reference included).
//   he-normal N(0, sqrt(2/fanIn))      he-uniform U(+-sqrt(6/fanIn))
//   xavier-normal N(0, sqrt(2/(fanIn+fanOut)))   xavier-uniform U(+-sqrt(6/(fanIn+fanOut)))
//   lecun-normal N(0, sqrt(1/fanIn)) (the deeplearning.ai course's randn/sqrt(n_prev))
// Biases start at zero.

import { ConfigError } from '../errors.js';
import type { Rng } from '../rng.js';

export const INITS = [
  'he-normal',
  'he-uniform',
  'xavier-normal',
  'xavier-uniform',
  'lecun-normal',
  'zeros',
] as const;
export type Init = (typeof INITS)[number];

export function initWeights(kind: Init, units: number, fanIn: number, rng: Rng): Float32Array {
  const w = new Float32Array(units * fanIn);
  const fanOut = units;
  switch (kind) {
    case 'zeros':
      return w;
    case 'he-normal':
      return fillNormal(w, Math.sqrt(2 / fanIn), rng);
    case 'lecun-normal':
      return fillNormal(w, Math.sqrt(1 / fanIn), rng);
    case 'xavier-normal':
      return fillNormal(w, Math.sqrt(2 / (fanIn + fanOut)), rng);
    case 'he-uniform':
      return fillUniform(w, Math.sqrt(6 / fanIn), rng);
    case 'xavier-uniform':
      return fillUniform(w, Math.sqrt(6 / (fanIn + fanOut)), rng);
    default:
      throw new ConfigError(`Unknown initialiser '${String(kind)}'; use one of ${INITS.join(', ')}.`);
  }
}

function fillNormal(w: Float32Array, std: number, rng: Rng): Float32Array {
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
  return w;
}

function fillUniform(w: Float32Array, limit: number, rng: Rng): Float32Array {
  for (let i = 0; i < w.length; i++) w[i] = rng.uniform(-limit, limit);
  return w;
}

/** A sensible default: He for ReLU-family layers, Xavier for the rest. */
export function defaultInit(activation: string): Init {
  return activation === 'relu' || activation === 'leaky_relu' || activation === 'gelu'
    ? 'he-normal'
    : 'xavier-normal';
}
