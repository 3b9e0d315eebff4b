// Weight initialisers. W is [units, fanIn] (a conv's [F, KH, KW, C] is [F, KH*KW*C] here, with
// fanIn = C*KH*KW and fanOut = F*KH*KW as PyTorch counts them); draws go row-major, one per element, from the
// seeded Rng, so the same seed gives the same weights everywhere (CPU reference included).
//   he-normal N(0, sqrt(2/fanIn))      he-uniform U(+-sqrt(6/fanIn))
//   xavier-normal N(0, sqrt(2/(fanIn+fanOut)))   xavier-uniform U(+-sqrt(6/(fanIn+fanOut)))
//   lecun-normal N(0, sqrt(1/fanIn)) (the deeplearning.ai course's randn/sqrt(n_prev))
//   numpy-lecun-normal  np.random.randn(units, fanIn) / np.sqrt(fanIn)
//   numpy-normal-0.01   np.random.randn(units, fanIn) * 0.01
// Biases start at zero.
//
// The numpy-* kinds are the deeplearning.ai course's own initialisations, draw for draw: the
// 4-layer net's randn/sqrt(n_prev) and the 2-layer net's randn*0.01. Their draws come from numpy's
// legacy RandomState seeded once with the trainer's seed (np.random.seed(seed)), and that ONE
// stream runs across the layers in order, W1 then W2 ..., as the course's loop does; biases draw
// nothing. They never touch the engine's Rng, so mixing them with other kinds per layer leaves
// the other layers' draws unchanged.

import { ConfigError } from '../errors.js';
import type { Rng } from '../rng.js';
import { NumpyRandomState } from './numpy-rng.js';

export const INITS = [
  'he-normal',
  'he-uniform',
  'xavier-normal',
  'xavier-uniform',
  'lecun-normal',
  'numpy-lecun-normal',
  'numpy-normal-0.01',
  'zeros',
] as const;
export type Init = (typeof INITS)[number];

export type NumpyInit = Extract<Init, `numpy-${string}`>;

export function isNumpyInit(kind: Init): kind is NumpyInit {
  return kind === 'numpy-lecun-normal' || kind === 'numpy-normal-0.01';
}

/**
 * W for each layer, in order: `kinds[i]` for the layer of shape [units, fanIn] `layers[i]`.
 * Engine kinds draw from `rng`; numpy-* kinds from one numpy RandomState(seed) shared by all of
 * them (see the header).
 */
export function initModelWeights(
  kinds: readonly Init[],
  layers: readonly { units: number; fanIn: number; fanOut?: number }[],
  seed: number,
  rng: Rng,
): Float32Array[] {
  if (kinds.length !== layers.length)
    throw new ConfigError(`init lists ${kinds.length} initialisers for ${layers.length} layers.`);
  let numpy: NumpyRandomState | undefined;
  return layers.map((l, i) => {
    const kind = kinds[i];
    if (!isNumpyInit(kind)) return initWeights(kind, l.units, l.fanIn, rng, l.fanOut);
    numpy ??= numpyStream(kind, seed);
    return initNumpyWeights(kind, l.units, l.fanIn, numpy);
  });
}

/** One layer's W from the engine's Rng. numpy-* kinds go through initModelWeights instead. */
export function initWeights(
  kind: Init,
  units: number,
  fanIn: number,
  rng: Rng,
  fanOut: number = units,
): Float32Array {
  const w = new Float32Array(units * fanIn);
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
    case 'numpy-lecun-normal':
    case 'numpy-normal-0.01':
      throw new ConfigError(
        `init '${kind}' draws from numpy's RandomState, not the engine's Rng; use initModelWeights, which seeds it.`,
      );
    default:
      throw new ConfigError(`Unknown initialiser '${String(kind)}'; use one of ${INITS.join(', ')}.`);
  }
}

function numpyStream(kind: Init, seed: number): NumpyRandomState {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ConfigError(
      `init '${kind}' seeds numpy's RandomState with the trainer's seed, which must be an integer in [0, 2^32-1]; got ${seed}.`,
    );
  }
  return new NumpyRandomState(seed);
}

/** One layer's W as the course computes it, continuing the numpy stream `np`. */
export function initNumpyWeights(
  kind: NumpyInit,
  units: number,
  fanIn: number,
  np: NumpyRandomState,
): Float32Array {
  const w = new Float32Array(units * fanIn);
  // Divided by sqrt(fanIn), not multiplied by its inverse: the float64 value is then numpy's
  // expression to the last bit before the float32 rounding.
  const d = Math.sqrt(fanIn);
  for (let i = 0; i < w.length; i++)
    w[i] = kind === 'numpy-lecun-normal' ? np.normal() / d : np.normal() * 0.01;
  return w;
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
  return ['relu', 'leaky_relu', 'gelu', 'relu6', 'hardswish'].includes(activation)
    ? 'he-normal'
    : 'xavier-normal';
}
