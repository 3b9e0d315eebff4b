// The contract of one layer type in the register (src/nn/layer-kinds/index.ts): it checks its own
// spec and infers its output shape, parameter slots and cost; and it describes itself in one line.
// Shape inference walks the layers in order (src/nn/layers.ts) and hands each kind a context with
// the input shape, the shared validators and the parameter/state allocators.

import type { Activation } from '../activations.js';
import type { LayerSpec, LayerType, ResolvedLayer, StateLayer, TensorSlot } from '../layer-types.js';

export interface ResolveContext {
  /** Index of the layer in spec.layers. */
  index: number;
  /** Whether this is the model's last layer. */
  isLast: boolean;
  /** The layer's (first) input shape ([H, W, C] or [features]) and its number of values. */
  shape: readonly number[];
  /** Every input's shape, in the order of the spec's inputs (one entry but for joins). */
  shapes: readonly (readonly number[])[];
  inSize: number;
  /** Throws a ConfigError naming the layer. */
  bad: (message: string) => never;
  posInt: (v: unknown, what: string) => number;
  /** A square size n or [h, w], each a positive integer. */
  pairOf: (v: unknown, what: string) => [number, number];
  /** The fused activation and leaky-ReLU slope of a spec (softmax only on a last dense layer). */
  activationOf: (spec: { activation?: unknown; alpha?: unknown }) => [Activation, number];
  /** The input as an image map [H, W, C]; a flat input is an error naming what to change. */
  needMap: (what: string) => [number, number, number];
  /** Reserves n floats of the parameter buffer (aligned). */
  take: (n: number) => TensorSlot;
  /** A zero-length slot at the current offset (a conv without bias). */
  empty: () => TensorSlot;
  /** Reserves running mean and variance for C channels in the state buffer. */
  takeState: (channels: number) => StateLayer;
}

export interface LayerKind {
  type: LayerType;
  /** The spec fields besides `type` that model files may store for this layer. */
  fields: readonly string[];
  /** Fills r (outShape, activation, geometry, param, state, macs) from the spec; r starts as identity. */
  resolve: (spec: LayerSpec, r: ResolvedLayer, ctx: ResolveContext) => void;
  /** Keras-style one-line description, e.g. "conv2d 3x3/1 same, 32 relu". */
  describe: (l: ResolvedLayer) => string;
  /** Whether training and evaluation differ (batch statistics, dropout masks). */
  hasModes?: boolean;
  /** Whether it joins two or more inputs (add, concat); every other layer reads exactly one. */
  joins?: boolean;
}

/** " relu" after a layer's name, or nothing for the identity. */
export const activationSuffix = (l: ResolvedLayer): string =>
  l.activation === 'identity' ? '' : ` ${l.activation}`;

/** "3x3/1" or "3x3/2x1": a window and its stride. */
export const windowText = (KH: number, KW: number, SH: number, SW: number): string =>
  `${KH}x${KW}/${SH === SW ? SH : `${SH}x${SW}`}`;
