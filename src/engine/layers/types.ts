// What a layer module gets from the plan and gives back: its buffers for one batch size, and its
// prepared dispatches for the forward pass (training and evaluation) and the backward pass.
//
// Gradient convention: `dOut` holds d loss / d Z of this layer (its PRE-activation output; for a
// layer without activation that is d loss / d output). A layer's backward writes `dIn` = d loss /
// d Z of the layer that produced its input: the gradient with respect to the input, times that
// layer's activation derivative act'(inputZ) (fused, as a dense layer's input gradient is).
// Backward OVERWRITES dIn and this layer's slots of the gradient buffer.

import type { Dispatch, KernelEnv, TensorView } from '../../kernels/common.js';
import type { MatmulForm, MatmulVariant } from '../../kernels/matmul.js';
import type { Activation } from '../../nn/activations.js';
import type { ConvGeometry, ResolvedLayer } from '../../nn/layers.js';
import type { ConvAlgo } from '../../kernels/conv.js';

export type ConvForm = 'forward' | 'weightGrad' | 'inputGrad';

export interface PlanContext {
  env: KernelEnv;
  B: number;
  dummies: { read: GPUBuffer; write: GPUBuffer };
  /** The plan's step-params uniform (active samples, step, dropout seed). */
  stepParams: GPUBuffer;
  /** Dropout seed of this trainer. */
  pickMatmul: (form: MatmulForm, B: number, K: number, N: number) => MatmulVariant;
  pickConv: (g: ConvGeometry, B: number, form: ConvForm) => Promise<ConvAlgo>;
  /** Rows per partial sum of a dense layer's bias gradient; 0 for one pass. */
  denseBiasChunk: number;
  /** The plan's shared scratch (split-K partials, im2col columns); sized by the plan. */
  scratch: () => TensorView | undefined;
  /**
   * An inference plan (evaluate, predict): modules prepare their forward dispatches only, so no
   * backward pipeline is compiled and no gradient scratch is sized.
   */
  inference: boolean;
  /** Allocates a plan-owned buffer of n f32/u32 values. */
  alloc: (n: number, label: string) => TensorView;
}

export interface LayerIO {
  layer: ResolvedLayer;
  /** The layer's (first) input (its producer's output after the activation, or the batch X). */
  input: TensorView;
  /** Every input, in the order of layer.inputs (joins read several). */
  inputs: TensorView[];
  /** Pre-activation of the layer that produced `input`, and its activation (for the fused act'). */
  inputZ?: TensorView;
  inputAct: Activation;
  inputAlpha: number;
  z: TensorView;
  /** After the activation; the same view as z when the activation is the identity. */
  a: TensorView;
  dOut: TensorView;
  /** Gradient for the producer of the input; absent for the first layer (nothing needs it). */
  dIn?: TensorView;
  /** Parameter, gradient and state views of this layer (absent where it has none). */
  W?: TensorView;
  b?: TensorView;
  dW?: TensorView;
  db?: TensorView;
  runningMean?: TensorView;
  runningVar?: TensorView;
}

export interface LayerDispatches {
  forward: Dispatch[];
  /** Evaluation-mode forward (batch norm on running statistics, no dropout). */
  forwardEval: Dispatch[];
  backward: Dispatch[];
}

/**
 * A join's gradient for one of its inputs, which the plan asks for once every reader of that
 * input's producer has run its backward: dX (+)= the part of dOut that input k fed, times the
 * producer's act'(aux). `accumulate` adds to what dX holds (another reader wrote it first).
 */
export interface JoinGradTarget {
  k: number;
  dX: TensorView;
  activation: Activation;
  alpha: number;
  aux?: TensorView;
  accumulate: boolean;
}

export interface LayerModule {
  /**
   * Whether its kernels take f16 views for input, Z, A, dOut and dIn (mixed precision); the plan
   * keeps the tensors between two such layers in f16 and everything touching other layers f32.
   */
  halfPrecision?: boolean;
  /** f32 values of plan scratch this layer's dispatches need at most (0 for none). */
  scratchLength?: (ctx: PlanContext, io: LayerIO) => Promise<number>;
  prepare: (ctx: PlanContext, io: LayerIO) => Promise<LayerDispatches>;
  /**
   * Joins only (add, concat): their backward is no dispatch of its own but a gradient per input,
   * prepared by the plan when it assembles that input's gradient (see plan-graph.ts).
   */
  joinGrad?: (ctx: PlanContext, io: LayerIO, target: JoinGradTarget) => Promise<Dispatch>;
}
