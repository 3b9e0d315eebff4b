// A whole model in float64: the end-to-end reference a GPU training run of any layer mix is
// compared with step by step. A model is a graph (each layer reads the layers in its `inputs`,
// -1 being the model's input; without them, the previous layer); a straight stack is the special
// case, and there this is the CNN twin of network.ts, which it equals exactly on a dense-only model.
//
// Tensors are NHWC and batch-major, (rows, inSize) per layer with inSize = H·W·C or F.
// Models are structural (RefModel): src/nn/layers.ts resolveModel(spec) fits it directly.
//
//   forward   layers in execution order (model.order, or list order), each on its inputs'
//             outputs (layer-ops.ts gives every layer's maths); the last layer of the list is
//             the model's output.
//   loss      as network.ts: bce / softmax-ce on the last layer's Z (logits), mse on its A
//             with act' applied; mean over rows (over rows·N for bce / mse).
//   backward  the layers in reverse execution order; a layer read by several others gets the sum
//             of their gradients; batch norm through the batch statistics.
//   update    optional clip by the global norm over EVERY W and b (γ and β included), then the
//             optimizer on each array, weight decay on all of them (as network.ts does).
//             Afterwards the batch-norm running statistics move with the batch statistics of
//             this step's forward pass (PyTorch's rule, batchnorm.ts updateRunningStats).
// Frozen layers (mode.frozen, fine-tuning): their W and b get a zero gradient and no update (no
// weight decay, their optimizer state untouched), a frozen batch norm normalises with its running
// statistics in training too and leaves them as they are, and the backward pass skips them. A
// frozen layer's inputs must all be frozen layers or the model's input.
// seqForward never touches the running statistics: only seqTrainStep updates them, so a
// forward pass can be repeated (finite differences, evaluation) without side effects.
// Gradients are fresh arrays each step (overwrite, never accumulate).

import { ConfigError, ShapeError } from '../errors.js';
import { activationBackward } from './activations.js';
import { updateRunningStats } from './batchnorm.js';
import { checkLength, type NumArray } from './check.js';
import { backwardLayer, forwardLayer, need } from './layer-ops.js';
import { bceWithLogits, mse, softmaxCrossEntropy, type LossResult } from './losses.js';
import type {
  RefBnState,
  RefModel,
  RefOptimState,
  RefParams,
  SeqLayerCache,
  SeqMode,
} from './model-types.js';
import {
  clipScale,
  createParamState,
  optimizerStep,
  resolveOptimizerConfig,
  type OptimizerConfig,
} from './optim.js';
import { globalNorm } from './reduce.js';

export type {
  RefBnState,
  RefLayer,
  RefLayerType,
  RefModel,
  RefOptimState,
  RefParams,
  SeqLayerCache,
  SeqMode,
} from './model-types.js';

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
  const { inputs } = wiring(model);
  const sizeOf = (p: number): number => (p < 0 ? model.inputSize : model.layers[p].outSize);
  model.layers.forEach((l, i) => {
    const given = l.type === 'concat' ? inputs[i].reduce((n, p) => n + sizeOf(p), 0) : sizeOf(inputs[i][0]);
    const bad = inputs[i].some((p) => p >= i && model.order === undefined) || inputs[i].some((p) => p >= L);
    if (bad)
      throw new ConfigError(
        `sequential: layer ${i} reads a layer that does not run before it; give the model an order`,
      );
    if (l.inSize !== given || (l.type === 'add' && inputs[i].some((p) => sizeOf(p) !== l.inSize))) {
      throw new ConfigError(
        `sequential: layer ${i} (${l.type}) takes ${l.inSize} values, its input${inputs[i].length > 1 ? 's give' : ' gives'} ${given}`,
      );
    }
    if (l.param) {
      const p = params[param[i]];
      checkLength('sequential', `layer ${i} W`, p.W, prod(l.param.shape), `[${l.param.shape.join(', ')}]`);
      checkLength('sequential', `layer ${i} b`, p.b, l.param.b.length, `[${l.param.b.length}]`);
    } else if (['dense', 'conv2d', 'batchnorm', 'layernorm'].includes(l.type)) {
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
  const size = model.layers[L - 1].outSize;
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

/** The layers each layer reads (-1: the model's input) and the execution order. */
function wiring(model: RefModel): { inputs: number[][]; order: number[] } {
  const inputs = model.layers.map((l, i) => l.inputs ?? [i - 1]);
  return { inputs, order: model.order ?? model.layers.map((_, i) => i) };
}

function forwardUnchecked(
  model: RefModel,
  params: RefParams,
  state: RefBnState,
  x: NumArray,
  rows: number,
  mode: SeqMode,
  frozen: ReadonlySet<number> = new Set(),
): SeqForwardResult {
  const { param, state: st } = slots(model);
  const { inputs, order } = wiring(model);
  const cache: SeqLayerCache[] = new Array<SeqLayerCache>(model.layers.length);
  const X0: Float64Array = Float64Array.from(x);
  for (const i of order) {
    const Xs = inputs[i].map((p) => (p < 0 ? X0 : cache[p].A));
    const l = model.layers[i];
    const m = frozen.has(i) && l.type === 'batchnorm' ? { ...mode, training: false } : mode;
    cache[i] = forwardLayer(l, i, Xs, params[param[i]], state[st[i]], rows, m);
  }
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

/** A training step's dropout stream and, for fine-tuning, the frozen layers (indices). */
export interface SeqTrainMode {
  seed: number;
  step: number;
  frozen?: readonly number[];
}

function frozenSet(model: RefModel, frozen: readonly number[] | undefined): Set<number> {
  const set = new Set(frozen ?? []);
  const { inputs } = wiring(model);
  for (const i of set) {
    if (!(Number.isInteger(i) && i >= 0 && i < model.layers.length))
      throw new ConfigError(`sequential: frozen layer ${i} is not a layer of the model`);
    const open = inputs[i].find((p) => p >= 0 && !set.has(p));
    if (open !== undefined)
      throw new ConfigError(`sequential: layer ${i} is frozen but reads layer ${open}, which is not`);
  }
  return set;
}

/**
 * Forward in training mode, loss and backward: the gradient of every W and b (zero for frozen
 * layers), and of x (zero where the layers reading it are frozen).
 */
export function seqGradients(
  model: RefModel,
  params: RefParams,
  state: RefBnState,
  x: NumArray,
  targets: NumArray,
  rows: number,
  mode: SeqTrainMode,
): SeqGradientResult {
  checkModel(model, params, state);
  checkRowsAndInput(model, x, rows);
  const frozen = frozenSet(model, mode.frozen);
  const training: SeqMode = { training: true, seed: mode.seed, step: mode.step };
  const f = forwardUnchecked(model, params, state, x, rows, training, frozen);
  const head = headLoss(model, f, targets, rows);
  const { param } = slots(model);
  const grads: RefParams = params.map((p) => ({
    W: new Float64Array(p.W.length),
    b: new Float64Array(p.b.length),
  }));
  const L = model.layers.length;
  const { inputs, order } = wiring(model);
  // dA[l]: d loss / d (layer l's output), summed over its readers; dA[L] is the model input's.
  // bce / softmax-ce give the gradient at the last layer's logits (the sigmoid/softmax Jacobian
  // folded in), so that layer starts from dZ instead.
  const dA: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(L + 1);
  dA[L - 1] = head.grad;
  const addTo = (p: number, g: Float64Array) => {
    const k = p < 0 ? L : p;
    const have = dA[k];
    if (have === undefined) dA[k] = Float64Array.from(g);
    else for (let j = 0; j < g.length; j++) have[j] += g[j];
  };
  for (const i of [...order].reverse()) {
    if (frozen.has(i)) continue;
    const l = model.layers[i];
    const c = f.cache[i];
    const dAi = need(dA[i], i, 'reader (nothing reads its output)');
    const headAtLogits = i === L - 1 && model.spec.loss !== 'mse';
    const dZ = headAtLogits
      ? dAi
      : activationBackward(l.activation, c.Z, c.A, dAi, rows, l.outSize, { alpha: l.alpha });
    const r = backwardLayer(l, c, dZ, params[param[i]], inputs[i].length, rows);
    if (r.grads) grads[param[i]] = r.grads;
    inputs[i].forEach((p, k) => addTo(p, r.dXs[k]));
  }
  const dX = dA[L] ?? new Float64Array(rows * model.inputSize);
  return { loss: head.loss, perSample: head.perSample, correct: head.correct, grads, dX, cache: f.cache };
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
  mode: SeqTrainMode,
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
  const { param, state: st } = slots(model);
  const frozen = new Set(mode.frozen ?? []);
  model.layers.forEach((l, i) => {
    const k = param[i];
    if (k < 0 || frozen.has(i)) return;
    optimizerStep(config, params[k].W, scaled(result.grads[k].W), optState[k].W, t);
    optimizerStep(config, params[k].b, scaled(result.grads[k].b), optState[k].b, t);
  });
  model.layers.forEach((l, i) => {
    if (l.type !== 'batchnorm' || frozen.has(i)) return;
    const bn = result.cache[i].bn!;
    const s = state[st[i]];
    updateRunningStats(s.mean, s.variance, bn.mean, bn.variance, bn.rows, need(l.momentum, i, 'momentum'));
  });
  return { ...result, gradNorm, clipScale: scale };
}
