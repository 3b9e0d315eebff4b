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
  'add',
  'concat',
  'layernorm',
] as const;
export type LayerType = (typeof LAYER_TYPES)[number];

/**
 * What every layer spec may carry to place it in a graph (src/nn/graph.ts). Without them a layer
 * reads the previous layer of the list (the first reads the model's input), so a plain list is a
 * straight stack.
 */
export interface GraphFields {
  /** A unique name other layers can read this layer's output by ('input' is the model's input). */
  name?: string;
  /** The layers whose outputs this one reads, by name; 'input' is the model's input. */
  inputs?: string | string[];
}

export interface DenseSpec extends GraphFields {
  /** Optional for dense layers, so the dense-only specs of earlier versions stay valid. */
  type?: 'dense';
  units: number;
  activation?: Activation;
  /** leaky_relu slope (default 0.01). */
  alpha?: number;
}

export interface Conv2dSpec extends GraphFields {
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
  /**
   * Default 1. Channels split into this many groups, each filter seeing C / groups input channels
   * (PyTorch's groups); groups = C = filters is a depthwise conv. Both C and filters must divide.
   */
  groups?: number;
  activation?: Activation;
  alpha?: number;
}

export interface Pool2dSpec extends GraphFields {
  type: 'maxpool2d' | 'avgpool2d';
  /** Square window or [kh, kw]. */
  size: number | [number, number];
  /** Default: the window size. */
  stride?: number | [number, number];
  /** PyTorch's padding: p or [ph, pw] on both sides, at most half the window (default 0). */
  padding?: number | [number, number];
}

export interface GlobalAvgPoolSpec extends GraphFields {
  type: 'globalavgpool';
}

export interface BatchNormSpec extends GraphFields {
  type: 'batchnorm';
  /** PyTorch's convention: weight of the new batch statistic (default 0.1). */
  momentum?: number;
  /** Default 1e-5. */
  epsilon?: number;
  activation?: Activation;
  alpha?: number;
}

export interface DropoutSpec extends GraphFields {
  type: 'dropout';
  /** Probability of zeroing an element, in [0, 1). */
  rate: number;
}

export interface FlattenSpec extends GraphFields {
  type: 'flatten';
}

/** Element-wise sum of two or more inputs of one shape (a residual join), then the activation. */
export interface AddSpec extends GraphFields {
  type: 'add';
  activation?: Activation;
  alpha?: number;
}

/** Joins two or more inputs along the channel (last) axis; the other axes must agree. */
export interface ConcatSpec extends GraphFields {
  type: 'concat';
}

/** Per position, normalises the last axis: Z = gamma * (X - mean) / sqrt(var + eps) + beta. */
export interface LayerNormSpec extends GraphFields {
  type: 'layernorm';
  /** Default 1e-5 (PyTorch's). */
  epsilon?: number;
  activation?: Activation;
  alpha?: number;
}

export type LayerSpec =
  | DenseSpec
  | Conv2dSpec
  | Pool2dSpec
  | GlobalAvgPoolSpec
  | BatchNormSpec
  | DropoutSpec
  | FlattenSpec
  | AddSpec
  | ConcatSpec
  | LayerNormSpec;

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
  /** Groups (absent = 1): each filter sees C / G channels, W is [F, KH, KW, C / G]. */
  G?: number;
}

export interface PoolGeometry {
  H: number;
  W: number;
  C: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  /** Padding on each side (rows top and bottom, columns left and right); absent is 0. */
  PH?: number;
  PW?: number;
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
  type: 'dense' | 'conv2d' | 'batchnorm' | 'layernorm';
  W: TensorSlot;
  /** Length 0 for a conv2d without bias. */
  b: TensorSlot;
  /** Internal shape of W: [units, fanIn], [F, KH, KW, C / groups] or [C]. */
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
  /** The spec's name, if it has one. */
  name?: string;
  /** The layers this one reads, by index; -1 is the model's input. One entry but for add/concat. */
  inputs: number[];
  /** The layers that read this one's output, by index, in ascending order. */
  readers: number[];
  /** The first input's shape (every input's, for add; concat's differ in the last axis). */
  inShape: number[];
  /** Each input's shape, in the order of `inputs`. */
  inShapes: number[][];
  outShape: number[];
  /** Values per sample in (all inputs together for concat; one input's for add) and out. */
  inSize: number;
  outSize: number;
  /** Fused activation (identity for layers that have none). */
  activation: Activation;
  alpha: number;
  conv?: ConvGeometry;
  pool?: PoolGeometry;
  /** batchnorm, layernorm (epsilon) */
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
  /** In spec order: layer i is spec.layers[i]; the last one is the model's output. */
  layers: ResolvedLayer[];
  /** Execution order (topological; spec order when every layer reads only earlier ones). */
  order: number[];
  /** The layers that read the model's input. */
  inputReaders: number[];
  /** Whether any layer names its inputs (a graph, not a straight stack). */
  isGraph: boolean;
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
