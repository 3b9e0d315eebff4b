// Sequential dense networks: the spec, its validation, and the flat parameter layout.
// Layer l computes Z = A_{l-1} W_l^T + b_l, A_l = act(Z); W_l is [units, fanIn] (nn.Linear).
// All parameters live in ONE buffer so the optimizer is one dispatch; each tensor starts on a
// 64-float (256-byte) boundary because storage bindings must be offset-aligned to 256 bytes.

import { ConfigError } from '../errors.js';
import type { LossName } from '../nn/losses.js';
import { isActivation, type Activation } from './activations.js';

export interface LayerSpec {
  units: number;
  activation: Activation;
  /** leaky_relu slope (default 0.01). */
  alpha?: number;
}

export interface ModelSpec {
  inputSize: number;
  layers: LayerSpec[];
  /** 'bce' needs a final sigmoid, 'softmax-ce' a final softmax (both computed on the logits). */
  loss: LossName;
}

export interface TensorSlot {
  offset: number;
  length: number;
}

export interface ParamLayout {
  layers: { W: TensorSlot; b: TensorSlot; fanIn: number; units: number }[];
  /** Total floats including alignment padding. */
  size: number;
  /** Number of real parameters. */
  count: number;
}

const ALIGN = 64;

export function validateModel(spec: ModelSpec): void {
  const bad = (m: string): never => {
    throw new ConfigError(`Invalid model: ${m}`);
  };
  if (!Number.isInteger(spec.inputSize) || spec.inputSize < 1)
    bad(`inputSize must be a positive integer, got ${spec.inputSize}.`);
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) bad('it needs at least one layer.');
  spec.layers.forEach((l, i) => {
    if (!Number.isInteger(l.units) || l.units < 1)
      bad(`layer ${i}: units must be a positive integer, got ${l.units}.`);
    if (!isActivation(l.activation)) {
      bad(
        `layer ${i}: unknown activation '${String(l.activation)}' (use identity, relu, leaky_relu, sigmoid, tanh, gelu or softmax).`,
      );
    }
    if (l.activation === 'softmax' && i !== spec.layers.length - 1)
      bad(`layer ${i}: softmax is only supported on the last layer.`);
    if (l.alpha !== undefined && !Number.isFinite(l.alpha)) bad(`layer ${i}: alpha must be a finite number.`);
  });
  const last = spec.layers[spec.layers.length - 1];
  if (spec.loss === 'bce' && last.activation !== 'sigmoid') {
    bad(`loss 'bce' is computed on logits and needs a final 'sigmoid' layer (got '${last.activation}').`);
  }
  if (spec.loss === 'softmax-ce' && (last.activation !== 'softmax' || last.units < 2)) {
    bad(`loss 'softmax-ce' needs a final 'softmax' layer with at least 2 units.`);
  }
  if (!['bce', 'softmax-ce', 'mse'].includes(spec.loss))
    bad(`unknown loss '${String(spec.loss)}' (use bce, softmax-ce or mse).`);
}

export function paramLayout(spec: ModelSpec): ParamLayout {
  let off = 0;
  let count = 0;
  const take = (n: number): TensorSlot => {
    const slot = { offset: off, length: n };
    off += Math.ceil(n / ALIGN) * ALIGN;
    count += n;
    return slot;
  };
  let fanIn = spec.inputSize;
  const layers = spec.layers.map((l) => {
    const W = take(l.units * fanIn);
    const b = take(l.units);
    const out = { W, b, fanIn, units: l.units };
    fanIn = l.units;
    return out;
  });
  return { layers, size: off, count };
}

export function outputSize(spec: ModelSpec): number {
  return spec.layers[spec.layers.length - 1].units;
}
