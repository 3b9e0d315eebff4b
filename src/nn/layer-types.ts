// The layer vocabulary's types: what a model spec says (LayerSpec, ModelSpec) and what shape
// inference makes of it (ResolvedLayer, ResolvedModel). The shapes and maths of each layer type are
// in the header of src/nn/layers.ts; each type's validation lives in src/nn/layer-kinds/.

import type { Activation } from './activations.js';
import type { LossName } from './losses.js';

export const LAYER_TYPES = [
  'dense',
  'conv2d',
  'maxpool2d',
  'avgpool2d',
  'globalavgpool',
  'batchnorm',
  'dropout',
  'flatten',
] as const;
export type LayerType = (typeof LAYER_TYPES)[number];

export interface DenseSpec {
  /** Optional for dense layers, so the dense-only specs of earlier versions stay valid. */
  type?: 'dense';
  units: number;
  activation?: Activation;
  /** leaky_relu slope (default 0.01). */
  alpha?: number;
}

export interface Conv2dSpec {
  type: 'conv2d';
  filters: number;
  /** Square size or [kh, kw]. */
  kernelSize: number | [number, number];
  /** Default 1. */
  stride?: number | [number, number];
  /** Default 'valid'. */
  padding?: 'same' | 'valid' | number;
  /** Default true. */
  bias?: boolean;
  activation?: Activation;
  alpha?: number;
}

export interface Pool2dSpec {
  type: 'maxpool2d' | 'avgpool2d';
  /** Square window or [kh, kw]. */
  size: number | [number, number];
  /** Default: the window size. */
  stride?: number | [number, number];
}

export interface GlobalAvgPoolSpec {
  type: 'globalavgpool';
}

export interface BatchNormSpec {
  type: 'batchnorm';
  /** PyTorch's convention: weight of the new batch statistic (default 0.1). */
  momentum?: number;
  /** Default 1e-5. */
  epsilon?: number;
  activation?: Activation;
  alpha?: number;
}

export interface DropoutSpec {
  type: 'dropout';
  /** Probability of zeroing an element, in [0, 1). */
  rate: number;
}

export interface FlattenSpec {
  type: 'flatten';
}

export type LayerSpec =
  DenseSpec | Conv2dSpec | Pool2dSpec | GlobalAvgPoolSpec | BatchNormSpec | DropoutSpec | FlattenSpec;

export interface ModelSpec {
  /** Flat input: features per sample. Give this or inputShape. */
  inputSize?: number;
  /** Image input [H, W, C] (NHWC), or [features]. */
  inputShape?: number[];
  layers: LayerSpec[];
  /** 'bce' needs a final sigmoid, 'softmax-ce' a final softmax (both computed on the logits). */
  loss: LossName;
}

export interface ConvGeometry {
  H: number;
  W: number;
  C: number;
  F: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  padTop: number;
  padLeft: number;
  /** Padding past the last row/column (differs from padTop/padLeft only for 'same' with an odd total). */
  padBottom: number;
  padRight: number;
  OH: number;
  OW: number;
}

export interface PoolGeometry {
  H: number;
  W: number;
  C: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  OH: number;
  OW: number;
}

export interface TensorSlot {
  /** Offset in floats into the flat parameter buffer (a multiple of 64). */
  offset: number;
  length: number;
}

/** A layer with learned parameters: W (dense/conv weight, batch-norm scale) and b (bias, shift). */
export interface ParamLayer {
  /** Index of the layer in spec.layers (model files name tensors `layers.{layer}.*`). */
  layer: number;
  type: 'dense' | 'conv2d' | 'batchnorm';
  W: TensorSlot;
  /** Length 0 for a conv2d without bias. */
  b: TensorSlot;
  /** Internal shape of W: [units, fanIn], [F, KH, KW, C] or [C]. */
  shape: number[];
  /** Initialiser fans: dense fanIn = in features; conv fanIn = C*KH*KW, fanOut = F*KH*KW. */
  fanIn: number;
  fanOut: number;
  /** Rows of W (dense units, conv filters, batch-norm channels). */
  units: number;
}

/** Batch-norm running statistics: state, not parameters (no gradient, no decay, but saved). */
export interface StateLayer {
  layer: number;
  channels: number;
  /** Float offsets into the state buffer (each a multiple of 64): running mean, running var. */
  mean: number;
  variance: number;
}

export interface ResolvedLayer {
  index: number;
  type: LayerType;
  spec: LayerSpec;
  inShape: number[];
  outShape: number[];
  /** Values per sample in and out. */
  inSize: number;
  outSize: number;
  /** Fused activation (identity for layers that have none). */
  activation: Activation;
  alpha: number;
  conv?: ConvGeometry;
  pool?: PoolGeometry;
  /** batchnorm */
  momentum?: number;
  epsilon?: number;
  /** dropout */
  rate?: number;
  param?: ParamLayer;
  state?: StateLayer;
  /** Multiply-adds of the forward pass per sample. */
  macs: number;
}

export interface ResolvedModel {
  spec: ModelSpec;
  inputShape: number[];
  inputSize: number;
  outputSize: number;
  layers: ResolvedLayer[];
  params: ParamLayer[];
  /** Total floats of the parameter buffer including alignment padding. */
  paramSize: number;
  /** Real parameters. */
  paramCount: number;
  states: StateLayer[];
  /** Floats of the state buffer (running statistics), padding included; 0 without batch norm. */
  stateSize: number;
  /** Whether training differs from evaluation (batch norm or dropout present). */
  hasModes: boolean;
}

/** Every tensor starts on a 64-float (256-byte) boundary: storage bindings need that offset alignment. */
export const PARAM_ALIGN = 64;
