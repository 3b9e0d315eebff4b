// A whole sequential CNN in float64: the end-to-end reference a GPU training run of any layer
// mix (dense, conv2d, pooling, batch norm, dropout, flatten) is compared with step by step.
// The CNN twin of network.ts, which it equals exactly on a dense-only model.
//
// Tensors are NHWC and batch-major, (rows, inSize) per layer with inSize = H·W·C or F.
// Models are structural (RefModel): src/nn/layers.ts resolveModel(spec) fits it directly.
//
//   forward   A_0 = x, then per layer l (Z = pre-activation, A = output):
//             dense      Z = A·Wᵀ + b                     A = act(Z)   (softmax only on the last)
//             conv2d     Z = conv(A, W) + b               A = act(Z)   (conv.ts)
//             batchnorm  Z = γ·x̂ + β                      A = act(Z)   (batchnorm.ts)
//                        training: batch statistics over rows·H·W per channel;
//                        evaluation: the running statistics
//             maxpool2d, avgpool2d, globalavgpool         (pool.ts)
//             dropout    training: A ⊙ mask(seed, stream = l, step, element); evaluation: A
//             flatten    A (NHWC order, no data moves)
//   loss      as network.ts: bce / softmax-ce on the last layer's Z (logits), mse on its A
//             with act' applied; mean over rows (over rows·N for bce / mse).
//   backward  the layers' backward functions in reverse; batch norm through the batch statistics.
//   update    optional clip by the global norm over EVERY W and b (γ and β included), then the
//             optimizer on each array, weight decay on all of them (as network.ts does).
//             Afterwards the batch-norm running statistics move with the batch statistics of
//             this step's forward pass (PyTorch's rule, batchnorm.ts updateRunningStats).
// seqForward never touches the running statistics: only seqTrainStep updates them, so a
// forward pass can be repeated (finite differences, evaluation) without side effects.
// Gradients are fresh arrays each step (overwrite, never accumulate).

import { ConfigError, ShapeError } from '../errors.js';
// Names (layer types, losses) come from the engine's one vocabulary; no engine code is imported.
import type { LayerType } from '../nn/layer-types.js';
import type { LossName } from '../nn/losses.js';
import { activationBackward, activationForward, type ActivationName } from './activations.js';
import {
  batchNormBackward,
  batchNormForwardEval,
  batchNormForwardTrain,
  updateRunningStats,
} from './batchnorm.js';
import { checkLength, type NumArray } from './check.js';
import { conv2dBackward, conv2dForward, type ConvGeom } from './conv.js';
import { dropoutBackward, dropoutForward, dropoutMask } from './dropout.js';
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
import {
  avgPool2dBackward,
  avgPool2dForward,
  globalAvgPoolBackward,
  globalAvgPoolForward,
  maxPool2dBackward,
  maxPool2dForward,
  type PoolGeom,
} from './pool.js';
import { globalNorm } from './reduce.js';

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
  /** Present on dense, conv2d and batchnorm: W's shape and b's length (0 for a conv without bias). */
  param?: { shape: number[]; b: { length: number } };
}

export interface RefModel {
  layers: RefLayer[];
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
  /** Input (rows, inSize). */
  X: Float64Array;
  /** Pre-activation (rows, outSize); the output itself for layers without an activation. */
  Z: Float64Array;
  /** Output (rows, outSize). */
  A: Float64Array;
  argmax?: Int32Array;
  mask?: Float64Array;
  /** batchnorm, training mode. */
  bn?: { xhat: Float64Array; invStd: Float64Array; mean: Float64Array; variance: Float64Array; rows: number };
}

export interface SeqForwardResult {
  /** The model's output after the final activation (rows, outputSize). */
  output: Float64Array;
  /** The last layer's pre-activation (rows, outputSize). */
  logits: Float64Array;
  cache: SeqLayerCache[];
}

export interface SeqGradientResult {
  loss: number;
  perSample: Float64Array;
  correct: number;
  /** Same layout as RefParams. */
  grads: RefParams;
  /** d loss / d x (rows, inputSize). */
  dX: Float64Array;
  cache: SeqLayerCache[];
}

export interface SeqTrainStepResult extends SeqGradientResult {
  /** Global L2 norm of the raw gradients. */
  gradNorm: number;
  /** Factor applied to the gradients before the update (1 when not clipped). */
  clipScale: number;
}

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** For each layer, its index into RefParams (or -1) and into RefBnState (or -1). */
function slots(model: RefModel): { param: number[]; state: number[] } {
  const param: number[] = [];
  const state: number[] = [];
  let p = 0;
  let s = 0;
  for (const l of model.layers) {
    param.push(l.param ? p++ : -1);
    state.push(l.type === 'batchnorm' ? s++ : -1);
  }
  return { param, state };
}

/** Channels of a batchnorm layer (its last axis) and the rows its statistics run over. */
function bnShape(l: RefLayer, rows: number): { C: number; R: number } {
  const C = l.inShape[l.inShape.length - 1];
  return { C, R: (rows * l.inSize) / C };
}

function need<T>(v: T | undefined, l: number, what: string): T {
  if (v === undefined)
    throw new ConfigError(`sequential: layer ${l} has no ${what}; pass a model from resolveModel`);
  return v;
}

function checkModel(model: RefModel, params: RefParams, state: RefBnState): void {
  const L = model.layers.length;
  if (L === 0) throw new ConfigError('sequential: the model has no layers');
  const { param, state: st } = slots(model);
  const nParams = param.filter((i) => i >= 0).length;
  const nStates = st.filter((i) => i >= 0).length;
  if (params.length !== nParams) {
    throw new ConfigError(
      `sequential: got ${params.length} parameter entries, the model has ${nParams} layers with parameters`,
    );
  }
  if (state.length !== nStates) {
    throw new ConfigError(
      `sequential: got ${state.length} running-stat entries, the model has ${nStates} batchnorm layers`,
    );
  }
  let size = model.inputSize;
  model.layers.forEach((l, i) => {
    if (l.inSize !== size) {
      throw new ConfigError(
        `sequential: layer ${i} (${l.type}) takes ${l.inSize} values, the previous layer gives ${size}`,
      );
    }
    size = l.outSize;
    if (l.param) {
      const p = params[param[i]];
      checkLength('sequential', `layer ${i} W`, p.W, prod(l.param.shape), `[${l.param.shape.join(', ')}]`);
      checkLength('sequential', `layer ${i} b`, p.b, l.param.b.length, `[${l.param.b.length}]`);
    } else if (l.type === 'dense' || l.type === 'conv2d' || l.type === 'batchnorm') {
      throw new ConfigError(
        `sequential: layer ${i} (${l.type}) has no param layout; pass a model from resolveModel`,
      );
    }
    if (l.type === 'batchnorm') {
      const C = l.inShape[l.inShape.length - 1];
      const s = state[st[i]];
      checkLength('sequential', `layer ${i} running mean`, s.mean, C, `[${C}]`);
      checkLength('sequential', `layer ${i} running variance`, s.variance, C, `[${C}]`);
    }
  });
  if (size !== model.outputSize) {
    throw new ConfigError(
      `sequential: the last layer gives ${size} values, outputSize is ${model.outputSize}`,
    );
  }
  if (model.layers[L - 1].type !== 'dense') {
    throw new ConfigError(`sequential: the last layer must be dense, got '${model.layers[L - 1].type}'`);
  }
}

function checkRowsAndInput(model: RefModel, x: NumArray, rows: number): void {
  if (!Number.isInteger(rows) || rows < 1)
    throw new ShapeError(`sequential: rows must be a positive integer, got ${rows}`);
  checkLength('sequential', 'x', x, rows * model.inputSize, `(rows, inputSize)=(${rows},${model.inputSize})`);
}

function forwardUnchecked(
  model: RefModel,
  params: RefParams,
  state: RefBnState,
  x: NumArray,
  rows: number,
  mode: SeqMode,
): SeqForwardResult {
  const { param, state: st } = slots(model);
  const cache: SeqLayerCache[] = [];
  let X: Float64Array = Float64Array.from(x);
  model.layers.forEach((l, i) => {
    const p = params[param[i]];
    const act = (Z: Float64Array): Float64Array =>
      activationForward(l.activation, Z, rows, l.outSize, { alpha: l.alpha });
    let c: SeqLayerCache;
    switch (l.type) {
      case 'dense': {
        const Z = matmulForward(X, p.W, p.b, rows, l.inSize, l.outSize);
        c = { X, Z, A: act(Z) };
        break;
      }
      case 'conv2d': {
        const Z = conv2dForward(X, p.W, p.b.length > 0 ? p.b : null, rows, need(l.conv, i, 'conv geometry'));
        c = { X, Z, A: act(Z) };
        break;
      }
      case 'batchnorm': {
        const { C, R } = bnShape(l, rows);
        const eps = need(l.epsilon, i, 'epsilon');
        if (mode.training) {
          const r = batchNormForwardTrain(X, R, C, p.W, p.b, eps);
          c = { X, Z: r.out, A: act(r.out), bn: { ...r, rows: R } };
        } else {
          const s = state[st[i]];
          const Z = batchNormForwardEval(X, R, C, p.W, p.b, s.mean, s.variance, eps);
          c = { X, Z, A: act(Z) };
        }
        break;
      }
      case 'maxpool2d': {
        const r = maxPool2dForward(X, rows, need(l.pool, i, 'pool geometry'));
        c = { X, Z: r.out, A: r.out, argmax: r.argmax };
        break;
      }
      case 'avgpool2d': {
        const A = avgPool2dForward(X, rows, need(l.pool, i, 'pool geometry'));
        c = { X, Z: A, A };
        break;
      }
      case 'globalavgpool': {
        const g = need(l.pool, i, 'pool geometry');
        const A = globalAvgPoolForward(X, rows, g.H, g.W, g.C);
        c = { X, Z: A, A };
        break;
      }
      case 'dropout': {
        if (mode.training) {
          const mask = dropoutMask(mode.seed, i, mode.step, rows, l.inSize, need(l.rate, i, 'rate'));
          const A = dropoutForward(X, mask);
          c = { X, Z: A, A, mask };
        } else {
          c = { X, Z: X, A: X };
        }
        break;
      }
      case 'flatten':
        c = { X, Z: X, A: X };
        break;
    }
    cache.push(c);
    X = c.A;
  });
  const last = cache[cache.length - 1];
  return { output: last.A, logits: last.Z, cache };
}

/** Forward pass of x (rows, inputSize). Never updates the running statistics (see the header). */
export function seqForward(
  model: RefModel,
  params: RefParams,
  state: RefBnState,
  x: NumArray,
  rows: number,
  mode: SeqMode,
): SeqForwardResult {
  checkModel(model, params, state);
  checkRowsAndInput(model, x, rows);
  return forwardUnchecked(model, params, state, x, rows, mode);
}

/** The head loss; grad is d loss / d logits for bce and softmax-ce, d loss / d output for mse. */
function headLoss(model: RefModel, f: SeqForwardResult, targets: NumArray, rows: number): LossResult {
  const N = model.outputSize;
  switch (model.spec.loss) {
    case 'bce':
      return bceWithLogits(f.logits, targets, rows, N, rows);
    case 'softmax-ce':
      return softmaxCrossEntropy(f.logits, targets, rows, N, rows);
    case 'mse':
      return mse(f.output, targets, rows, N, rows);
    default:
      throw new ConfigError(
        `sequential: unknown loss '${String(model.spec.loss)}'; use bce, softmax-ce or mse`,
      );
  }
}

const EVAL: SeqMode = { training: false, seed: 0, step: 0 };

/**
 * Loss, per-sample losses and correct count of x against targets; evaluation mode (running
 * statistics, no dropout) unless a training mode is passed.
 */
export function seqEvaluate(
  model: RefModel,
  params: RefParams,
  state: RefBnState,
  x: NumArray,
  targets: NumArray,
  rows: number,
  mode: SeqMode = EVAL,
): { loss: number; perSample: Float64Array; correct: number } {
  const f = seqForward(model, params, state, x, rows, mode);
  const { loss, perSample, correct } = headLoss(model, f, targets, rows);
  return { loss, perSample, correct };
}

/** Forward in training mode, loss and backward: the gradient of every W and b, and of x. */
export function seqGradients(
  model: RefModel,
  params: RefParams,
  state: RefBnState,
  x: NumArray,
  targets: NumArray,
  rows: number,
  mode: { seed: number; step: number },
): SeqGradientResult {
  const f = seqForward(model, params, state, x, rows, { training: true, seed: mode.seed, step: mode.step });
  const head = headLoss(model, f, targets, rows);
  const { param } = slots(model);
  const grads: RefParams = params.map(() => ({ W: new Float64Array(0), b: new Float64Array(0) }));
  const L = model.layers.length;
  // dA: gradient at layer l's output. bce / softmax-ce give it at the last layer's logits (the
  // sigmoid/softmax Jacobian folded in), so that layer starts from dZ instead.
  let dA = head.grad;
  for (let i = L - 1; i >= 0; i--) {
    const l = model.layers[i];
    const c = f.cache[i];
    const headAtLogits = i === L - 1 && model.spec.loss !== 'mse';
    const dZ = (): Float64Array =>
      headAtLogits ? dA : activationBackward(l.activation, c.Z, c.A, dA, rows, l.outSize, { alpha: l.alpha });
    const p = params[param[i]];
    switch (l.type) {
      case 'dense': {
        const g = matmulBackward(dZ(), c.X, p.W, rows, l.inSize, l.outSize);
        grads[param[i]] = { W: g.dW, b: g.db };
        dA = g.dX;
        break;
      }
      case 'conv2d': {
        const g = conv2dBackward(c.X, p.W, dZ(), rows, l.conv!, p.b.length > 0);
        grads[param[i]] = { W: g.dW, b: g.db };
        dA = g.dX;
        break;
      }
      case 'batchnorm': {
        const bn = c.bn!;
        const C = bn.invStd.length;
        const g = batchNormBackward(dZ(), bn.xhat, bn.invStd, p.W, bn.rows, C);
        grads[param[i]] = { W: g.dGamma, b: g.dBeta };
        dA = g.dX;
        break;
      }
      case 'maxpool2d':
        dA = maxPool2dBackward(dA, c.argmax!, rows, l.pool!);
        break;
      case 'avgpool2d':
        dA = avgPool2dBackward(dA, rows, l.pool!);
        break;
      case 'globalavgpool': {
        const g = l.pool!;
        dA = globalAvgPoolBackward(dA, rows, g.H, g.W, g.C);
        break;
      }
      case 'dropout':
        dA = dropoutBackward(dA, c.mask!);
        break;
      case 'flatten':
        break;
    }
  }
  return { loss: head.loss, perSample: head.perSample, correct: head.correct, grads, dX: dA, cache: f.cache };
}

/** Zeroed optimizer state matching params. */
export function seqCreateOptimState(params: RefParams): RefOptimState {
  return params.map((p) => ({ W: createParamState(p.W.length), b: createParamState(p.b.length) }));
}

/** Fresh running statistics (mean 0, variance 1, as PyTorch initialises them), one per batchnorm layer. */
export function seqCreateBnState(model: RefModel): RefBnState {
  return model.layers
    .filter((l) => l.type === 'batchnorm')
    .map((l) => {
      const C = l.inShape[l.inShape.length - 1];
      return { mean: new Float64Array(C), variance: new Float64Array(C).fill(1) };
    });
}

/**
 * One training step on x (rows, inputSize): training-mode forward with dropout masks keyed by
 * (mode.seed, layer index, mode.step), gradients, optional clip by the global norm, the
 * optimizer on every W and b, then the running statistics. params, optState and state are
 * mutated. t counts from 1. The returned grads are the RAW gradients (before clipping).
 */
export function seqTrainStep(
  model: RefModel,
  params: RefParams,
  state: RefBnState,
  optState: RefOptimState,
  x: NumArray,
  targets: NumArray,
  rows: number,
  optimizer: OptimizerConfig,
  t: number,
  mode: { seed: number; step: number },
): SeqTrainStepResult {
  const config = resolveOptimizerConfig(optimizer);
  if (optState.length !== params.length) {
    throw new ConfigError(
      `seqTrainStep: optimizer state has ${optState.length} entries, params ${params.length}`,
    );
  }
  const result = seqGradients(model, params, state, x, targets, rows, mode);
  const gradNorm = globalNorm(result.grads.flatMap((g) => [g.W, g.b]));
  const scale = config.maxNorm === undefined ? 1 : clipScale(gradNorm, config.maxNorm);
  const scaled = (g: Float64Array): Float64Array => (scale === 1 ? g : g.map((v) => v * scale));
  params.forEach((p, k) => {
    optimizerStep(config, p.W, scaled(result.grads[k].W), optState[k].W, t);
    optimizerStep(config, p.b, scaled(result.grads[k].b), optState[k].b, t);
  });
  const { state: st } = slots(model);
  model.layers.forEach((l, i) => {
    if (l.type !== 'batchnorm') return;
    const bn = result.cache[i].bn!;
    const s = state[st[i]];
    updateRunningStats(s.mean, s.variance, bn.mean, bn.variance, bn.rows, need(l.momentum, i, 'momentum'));
  });
  return { ...result, gradNorm, clipScale: scale };
}
