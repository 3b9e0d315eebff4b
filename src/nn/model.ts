// The model spec's public face, kept for code written against the dense-only engine: the spec
// types come from src/nn/layers.ts (where shapes are inferred and parameters laid out), and
// validateModel / paramLayout / outputSize are thin views of resolveModel.

import type { Activation } from './activations.js';
import { resolveModel, type ModelSpec, type ParamLayer } from './layers.js';
import type { LossName } from './losses.js';

export type { LayerSpec, ModelSpec, ResolvedModel, ResolvedLayer, ParamLayer, TensorSlot } from './layers.js';
export { resolveModel } from './layers.js';

export interface ParamLayout {
  /** Every layer with parameters (dense, conv2d, batchnorm), in order. */
  layers: ParamLayer[];
  /** Total floats including alignment padding. */
  size: number;
  /** Number of real parameters. */
  count: number;
}

export function validateModel(spec: ModelSpec): void {
  resolveModel(spec);
}

export function paramLayout(spec: ModelSpec): ParamLayout {
  const m = resolveModel(spec);
  return { layers: m.params, size: m.paramSize, count: m.paramCount };
}

export function outputSize(spec: ModelSpec): number {
  return resolveModel(spec).outputSize;
}

/** A dense-only spec (what the MLP paths of the CLI, demo and benchmarks build). */
export interface DenseLayerSpec {
  type?: 'dense';
  units: number;
  activation: Activation;
  alpha?: number;
}

export interface DenseModelSpec {
  inputSize: number;
  layers: DenseLayerSpec[];
  loss: LossName;
}
