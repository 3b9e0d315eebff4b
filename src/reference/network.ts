// A whole Sequential dense network in float64: the end-to-end reference a GPU training run is
// compared with step by step.
//
// Shapes: x is (b,K0) with K0 = spec.inputSize; layer l maps (b,K_l) -> (b,N_l) with
// W_l (N_l,K_l), b_l (N_l), K_{l+1} = N_l. Targets: (b,N_L) values for 'bce' / 'mse', (b)
// integer class labels for 'softmax-ce'.
//
//   forward   A_0 = x;  Z_l = A_{l-1}·W_lᵀ + b_l;  A_l = act_l(Z_l)
//   loss      'bce'        needs act_L = sigmoid, loss on the LOGITS Z_L: dZ_L = (σ(Z_L) - y)/(b·N)
//             'softmax-ce' needs act_L = softmax, loss on the LOGITS Z_L: dZ_L = (softmax - onehot)/b
//             'mse'        any act_L, loss on A_L: dZ_L = act_L'(dA_L) with dA_L = 2(A_L - y)/(b·N)
//   backward  dA_{l-1} = dZ_l·W_l;  dW_l = dZ_lᵀ·A_{l-1};  db_l = colsum dZ_l;
//             dZ_{l-1} = act_{l-1}'(dA_{l-1})
//   update    optional clip by the global norm over every W and b, then the optimizer on each
//             array (weight decay applies to biases too, as PyTorch does by default).
// Gradients are fresh arrays each step (overwrite, never accumulate).

import { ConfigError, ShapeError } from '../errors.js';
import type { Rng } from '../rng.js';
// The loss names are the engine's one vocabulary (src/nn); the maths here is written independently.
import type { LossName } from '../nn/losses.js';
import {
  activationBackward,
  activationForward,
  ACTIVATION_NAMES,
  isActivationName,
  type ActivationName,
} from './activations.js';
import { checkLength, type NumArray } from './check.js';
import { initWeights64, type InitKind } from './init.js';
import { bceWithLogits, mse, softmaxCrossEntropy, type LossResult } from './losses.js';
import { matmulBackward, matmulForward } from './matmul.js';
import {
  clipScale,
  createParamState,
  optimizerStep,
  resolveOptimizerConfig,
  type OptimizerConfig,
  type ParamState,
} from './optim.js';
import { globalNorm } from './reduce.js';

export type { LossName };

export interface LayerSpec {
  units: number;
  activation: ActivationName;
  /** leaky_relu slope; default 0.01. */
  alpha?: number;
}

export interface NetworkSpec {
  inputSize: number;
  layers: LayerSpec[];
  loss: LossName;
  /** softmax-ce label smoothing eps in [0, 1) (src/reference/losses.ts); default 0. */
  labelSmoothing?: number;
}

/** One dense layer's parameters: W (N,K), b (N). */
export interface DenseParams {
  W: Float64Array;
  b: Float64Array;
}

export interface DenseOptimState {
  W: ParamState;
  b: ParamState;
}

/** Activations kept from the forward pass for the backward pass. A[0] is the input. */
export interface ForwardCache {
  Z: Float64Array[];
  A: Float64Array[];
}

export interface GradientResult {
  loss: number;
  perSample: Float64Array;
  correct: number;
  grads: DenseParams[];
}

export interface TrainStepResult extends GradientResult {
  /** Global L2 norm of the raw gradients. */
  gradNorm: number;
  /** Factor applied to the gradients before the update (1 when not clipped). */
  clipScale: number;
}

/** Throws ConfigError unless the spec describes a buildable network. */
export function validateSpec(spec: NetworkSpec): void {
  const posInt = (v: number): boolean => Number.isInteger(v) && v > 0;
  if (!posInt(spec.inputSize)) {
    throw new ConfigError(`network: inputSize must be a positive integer, got ${spec.inputSize}`);
  }
  if (spec.layers.length === 0) throw new ConfigError('network: needs at least one layer');
  spec.layers.forEach((layer, l) => {
    if (!posInt(layer.units)) {
      throw new ConfigError(`network: layer ${l} units must be a positive integer, got ${layer.units}`);
    }
    if (!isActivationName(layer.activation)) {
      throw new ConfigError(
        `network: layer ${l} activation '${layer.activation}' unknown; use one of ${ACTIVATION_NAMES.join(', ')}`,
      );
    }
    if (layer.alpha !== undefined && !Number.isFinite(layer.alpha)) {
      throw new ConfigError(`network: layer ${l} alpha must be finite, got ${layer.alpha}`);
    }
  });
  const last = spec.layers[spec.layers.length - 1].activation;
  if (spec.loss === 'bce' && last !== 'sigmoid') {
    throw new ConfigError(
      `network: loss 'bce' needs a final 'sigmoid' layer (it is computed on the logits), got '${last}'`,
    );
  }
  if (spec.loss === 'softmax-ce' && last !== 'softmax') {
    throw new ConfigError(
      `network: loss 'softmax-ce' needs a final 'softmax' layer (it is computed on the logits), got '${last}'`,
    );
  }
  if (spec.loss !== 'bce' && spec.loss !== 'softmax-ce' && spec.loss !== 'mse') {
    throw new ConfigError(`network: unknown loss '${String(spec.loss)}'; use bce, softmax-ce or mse`);
  }
}

function fanIn(spec: NetworkSpec, l: number): number {
  return l === 0 ? spec.inputSize : spec.layers[l - 1].units;
}

function outputSize(spec: NetworkSpec): number {
  return spec.layers[spec.layers.length - 1].units;
}

/**
 * Fresh parameters: W by initWeights64 layer by layer in order (one kind for all layers, or
 * one per layer), biases zero.
 */
export function initParams(spec: NetworkSpec, rng: Rng, kind: InitKind | readonly InitKind[]): DenseParams[] {
  validateSpec(spec);
  if (typeof kind !== 'string' && kind.length !== spec.layers.length) {
    throw new ConfigError(`initParams: got ${kind.length} initialisers for ${spec.layers.length} layers`);
  }
  return spec.layers.map((layer, l) => ({
    W: initWeights64(typeof kind === 'string' ? kind : kind[l], layer.units, fanIn(spec, l), rng),
    b: new Float64Array(layer.units),
  }));
}

/** Zeroed optimizer state matching params. */
export function createOptimState(params: readonly DenseParams[]): DenseOptimState[] {
  return params.map((p) => ({ W: createParamState(p.W.length), b: createParamState(p.b.length) }));
}

function checkParams(spec: NetworkSpec, params: readonly DenseParams[]): void {
  validateSpec(spec);
  if (params.length !== spec.layers.length) {
    throw new ConfigError(
      `network: got parameters for ${params.length} layers, the spec has ${spec.layers.length}`,
    );
  }
  spec.layers.forEach((layer, l) => {
    const K = fanIn(spec, l);
    checkLength('network', `layer ${l} W`, params[l].W, layer.units * K, `(N,K)=(${layer.units},${K})`);
    checkLength('network', `layer ${l} b`, params[l].b, layer.units, `(N)=(${layer.units})`);
  });
}

function forwardUnchecked(
  spec: NetworkSpec,
  params: readonly DenseParams[],
  x: NumArray,
  rows: number,
): ForwardCache {
  const A: Float64Array[] = [Float64Array.from(x)];
  const Z: Float64Array[] = [];
  spec.layers.forEach((layer, l) => {
    const z = matmulForward(A[l], params[l].W, params[l].b, rows, fanIn(spec, l), layer.units);
    Z.push(z);
    A.push(activationForward(layer.activation, z, rows, layer.units, { alpha: layer.alpha }));
  });
  return { Z, A };
}

function checkInput(spec: NetworkSpec, params: readonly DenseParams[], x: NumArray, rows: number): void {
  checkParams(spec, params);
  if (!Number.isInteger(rows) || rows < 1) {
    throw new ShapeError(`network: rows must be a positive integer, got ${rows}`);
  }
  checkLength('network', 'x', x, rows * spec.inputSize, `(b,K)=(${rows},${spec.inputSize})`);
}

/** Every layer's Z and A for x (rows,K0). */
export function forwardCache(
  spec: NetworkSpec,
  params: readonly DenseParams[],
  x: NumArray,
  rows: number,
): ForwardCache {
  checkInput(spec, params, x, rows);
  return forwardUnchecked(spec, params, x, rows);
}

/** The network output A_L (rows,N_L): probabilities for sigmoid / softmax heads. */
export function forward(
  spec: NetworkSpec,
  params: readonly DenseParams[],
  x: NumArray,
  rows: number,
): Float64Array {
  const { A } = forwardCache(spec, params, x, rows);
  return A[A.length - 1];
}

/** The loss of the final layer; grad is d loss / d Z_L for bce and softmax-ce, d loss / d A_L for mse. */
function headLoss(spec: NetworkSpec, cache: ForwardCache, targets: NumArray, rows: number): LossResult {
  const N = outputSize(spec);
  const L = spec.layers.length;
  switch (spec.loss) {
    case 'bce':
      return bceWithLogits(cache.Z[L - 1], targets, rows, N, rows);
    case 'softmax-ce':
      return softmaxCrossEntropy(cache.Z[L - 1], targets, rows, N, rows, spec.labelSmoothing ?? 0);
    case 'mse':
      return mse(cache.A[L], targets, rows, N, rows);
  }
}

/** Loss, accuracy and per-sample losses of x (rows,K0) against targets, without gradients. */
export function evaluate(
  spec: NetworkSpec,
  params: readonly DenseParams[],
  x: NumArray,
  targets: NumArray,
  rows: number,
): { loss: number; perSample: Float64Array; correct: number } {
  const cache = forwardCache(spec, params, x, rows);
  const { loss, perSample, correct } = headLoss(spec, cache, targets, rows);
  return { loss, perSample, correct };
}

/** Forward, loss and backward: d loss / d W_l and d loss / d b_l for every layer. */
export function computeGradients(
  spec: NetworkSpec,
  params: readonly DenseParams[],
  x: NumArray,
  targets: NumArray,
  rows: number,
): GradientResult {
  const cache = forwardCache(spec, params, x, rows);
  const head = headLoss(spec, cache, targets, rows);
  const L = spec.layers.length;
  const last = spec.layers[L - 1];
  // bce / softmax-ce already return the gradient at the logits (the sigmoid/softmax Jacobian
  // is folded into σ - y and softmax - onehot); mse returns it at A_L, so apply act' here.
  let dZ =
    spec.loss === 'mse'
      ? activationBackward(last.activation, cache.Z[L - 1], cache.A[L], head.grad, rows, last.units, {
          alpha: last.alpha,
        })
      : head.grad;
  const grads: DenseParams[] = new Array<DenseParams>(L);
  for (let l = L - 1; l >= 0; l--) {
    const K = fanIn(spec, l);
    const g = matmulBackward(dZ, cache.A[l], params[l].W, rows, K, spec.layers[l].units);
    grads[l] = { W: g.dW, b: g.db };
    if (l > 0) {
      const prev = spec.layers[l - 1];
      dZ = activationBackward(prev.activation, cache.Z[l - 1], cache.A[l], g.dX, rows, K, {
        alpha: prev.alpha,
      });
    }
  }
  return { loss: head.loss, perSample: head.perSample, correct: head.correct, grads };
}

/**
 * One training step on x (rows,K0): gradients, optional clip by global norm (optimizer.maxNorm),
 * then the optimizer on every W and b; params and optimState are mutated. t counts from 1.
 * The returned grads are the RAW gradients (before clipping).
 */
export function trainStep(
  spec: NetworkSpec,
  params: DenseParams[],
  optimState: DenseOptimState[],
  x: NumArray,
  targets: NumArray,
  rows: number,
  optimizer: OptimizerConfig,
  t: number,
): TrainStepResult {
  const config = resolveOptimizerConfig(optimizer);
  if (optimState.length !== params.length) {
    throw new ConfigError(
      `trainStep: optimizer state has ${optimState.length} layers, params ${params.length}`,
    );
  }
  const result = computeGradients(spec, params, x, targets, rows);
  const all = result.grads.flatMap((g) => [g.W, g.b]);
  const gradNorm = globalNorm(all);
  const scale = config.maxNorm === undefined ? 1 : clipScale(gradNorm, config.maxNorm);
  const scaled = (g: Float64Array): Float64Array => (scale === 1 ? g : g.map((v) => v * scale));
  params.forEach((p, l) => {
    optimizerStep(config, p.W, scaled(result.grads[l].W), optimState[l].W, t);
    optimizerStep(config, p.b, scaled(result.grads[l].b), optimState[l].b, t);
  });
  return { ...result, gradNorm, clipScale: scale };
}
