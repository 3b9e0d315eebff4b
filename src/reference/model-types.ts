// The structural model the float64 reference runs (a graph; a straight stack is the graph where
// each layer reads the one before), and what its forward pass keeps for the backward pass.
// src/nn/layers.ts ResolvedModel fits RefModel directly; tests may also write one by hand.

import type { LayerType } from '../nn/layer-types.js';
import type { LossName } from '../nn/losses.js';
import type { ActivationName } from './activations.js';
import type { ConvGeom } from './conv.js';
import type { ParamState } from './optim.js';
import type { PoolGeom } from './pool.js';

export type RefLayerType = LayerType;

export interface RefLayer {
  type: RefLayerType;
  /** Values per sample in and out. */
  inSize: number;
  outSize: number;
  inShape: number[];
  outShape: number[];
  /** Fused activation of dense, conv2d and batchnorm ('identity' elsewhere). */
  activation: ActivationName;
  alpha: number;
  conv?: ConvGeom;
  /** maxpool2d, avgpool2d and globalavgpool (H, W, C read from it). */
  pool?: PoolGeom;
  momentum?: number;
  epsilon?: number;
  rate?: number;
  /** The layers it reads (-1: the model's input); absent: the previous layer (a straight stack). */
  inputs?: number[];
  /** add/concat: every input's shape (concat joins them along the last axis). */
  inShapes?: number[][];
  /** Present on dense, conv2d, batchnorm, layernorm: W's shape and b's length (0 for a conv without bias). */
  param?: { shape: number[]; b: { length: number } };
}

export interface RefModel {
  layers: RefLayer[];
  /** Execution order (topological); absent: list order. The last layer of the list is the output. */
  order?: number[];
  /** The loss sits in the spec, where src/nn/layers.ts ResolvedModel keeps it. */
  spec: { loss: LossName };
  inputSize: number;
  outputSize: number;
}

/** One entry per layer with `param`, in layer order: dense W (units, in), conv W (F,KH,KW,C), batch-norm γ and β. */
export type RefParams = { W: Float64Array; b: Float64Array }[];

/** One entry per batchnorm layer, in layer order: running mean and (unbiased) running variance. */
export type RefBnState = { mean: Float64Array; variance: Float64Array }[];

export type RefOptimState = { W: ParamState; b: ParamState }[];

export interface SeqMode {
  training: boolean;
  /** Dropout mask counters (read in training mode only). */
  seed: number;
  step: number;
}

/** What one layer kept from the forward pass for the backward pass. */
export interface SeqLayerCache {
  /** Input (rows, inSize); the first input of a join. */
  X: Float64Array;
  /** Pre-activation (rows, outSize); the output itself for layers without an activation. */
  Z: Float64Array;
  /** Output (rows, outSize). */
  A: Float64Array;
  argmax?: Int32Array;
  mask?: Float64Array;
  /** layernorm: the normalised input and 1/std per row. */
  ln?: { xhat: Float64Array; invStd: Float64Array; rows: number };
  /** batchnorm, training mode. */
  bn?: { xhat: Float64Array; invStd: Float64Array; mean: Float64Array; variance: Float64Array; rows: number };
}
