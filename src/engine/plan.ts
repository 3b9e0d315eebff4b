// The static plan for one model and one batch size: every buffer a training step touches and
// every dispatch, prepared once. Encoding a step then only records prepared dispatches.
//
// The model is a graph (src/nn/graph.ts); a straight stack is the graph where each layer reads
// the one before. Step order (one compute pass):
//   [gather X, targets from the resident dataset]            (owned by the trainer)
//   forward   the layers in execution order: the module's forward (training mode) or forwardEval
//   loss:     bce / softmax-ce on the output layer's Z (logits), mse on its A -> dZ (or dA, then
//             act backward)
//   accumulate (loss, correct, rows) into `acc`
//   backward  the layers in reverse execution order: each module's backward writes its parameter
//             gradients (OVERWRITING their slots of the flat gradient buffer) and dIn = d loss / dZ
//             of its input's producer, that layer's act' fused; where a tensor has several readers
//             or a join reads it, their gradients are summed first (plan-graph.ts)
//   [clip: global norm -> scale]   optimizer: one dispatch over the flat parameters
//
// Frozen layers (src/engine/freeze.ts): the forward, backward and update lists are prepared per
// frozen set (plan-steps.ts) over the same buffers, so Plan.refreeze changes them between steps:
// frozen batch norms train in evaluation mode, the backward pass stops where nothing upstream
// trains, and the optimizer runs over the trainable stretches of the parameters only.
//
// Buffers: X; per layer Z (pre-activation) and A (the same buffer when the activation is the
// identity; flatten reuses its input's); gradient buffers of one size, each reused once its
// tensor's last reader has run (two for a straight stack, a few more where skips wait: see
// plan-graph.ts); one scratch shared by every conv form (each form needs it only during its own
// dispatches); per-layer extras (max-pool winners, batch-norm batch statistics).
//
// Mixed precision (precision 'f16'): every dense and conv layer reads a half copy of its weights,
// cast from the f32 master weights at the head of each forward pass; Z, A and the gradient with
// respect to Z are f16 for every layer whose output goes into one layer whose module takes f16
// views (LayerModule.halfPrecision: dense, conv2d, pooling, batch norm, dropout), and to no
// other (joins and tensors read twice stay f32), which in a stack is every layer but the last: X, the logits and the loss stay f32, as do weight gradients, optimizer
// state, master weights and batch-norm statistics and parameters.
// The loss gradient is scaled by the loss scaler (src/kernels/amp.ts), the flat gradients are
// unscaled (and checked for overflow) before clipping and the optimizer, which skips the step on
// overflow; the scaler's update closes the step.

import { ConfigError } from '../errors.js';
import type { LossScaler } from '../kernels/amp.js';
import { encodeDispatch, view, type Dispatch, type KernelEnv, type TensorView } from '../kernels/common.js';
import type { ConvAlgo } from '../kernels/conv.js';
import type { LossDispatch } from '../kernels/losses.js';
import type { MatmulForm, MatmulVariant } from '../kernels/matmul.js';
import { createStepParams } from '../kernels/step-params.js';
import type { ConvGeometry, ResolvedModel } from '../nn/layers.js';
import type { ResolvedOptimizer } from '../optim/optimizers.js';
import { lossSection, planMemory, type ModelBuffers, type PlanMemory } from './plan-sections.js';
import {
  prepareSteps,
  recyclingMemory,
  type HyperWriter,
  type PlanSteps,
  type StepParts,
} from './plan-steps.js';
import {
  gradSchedule,
  gradView,
  halfOutputs,
  placeGradients,
  readersOf,
  sourceOf,
  type GradSchedule,
} from './plan-graph.js';
import type { ConvForm, LayerIO, PlanContext } from './layers/types.js';

export type { ModelBuffers } from './plan-sections.js';

export interface Plan {
  B: number;
  x: TensorView;
  /** labels u32 [B] for softmax-ce, else f32 [B, outputs]. */
  targets: TensorView;
  /** Final outputs after the last activation, [B, outputs]. */
  output: TensorView;
  acc: TensorView;
  evalAcc: TensorView;
  /** Uniform (active samples, step, dropout seed) that batch norm and dropout read. */
  stepParams: GPUBuffer;
  /** Training-mode forward pass up to the logits (and A for non-softmax outputs). */
  forward: Dispatch[];
  /** Evaluation-mode forward (running statistics, no dropout); the same list without such layers. */
  forwardEval: Dispatch[];
  /** Row softmax of the last layer into `output`, when the last activation is softmax. */
  outputSoftmax: Dispatch[];
  /** The training loss: softmax-ce with the trainer's label smoothing, if any. */
  loss: LossDispatch;
  /**
   * The loss evaluation reports: plain cross-entropy, without label smoothing (the same dispatch
   * as `loss` when there is none). It writes the same gradient and stats buffers.
   */
  evalLoss: LossDispatch;
  lossBackward: Dispatch[];
  accumulate: Dispatch;
  evalAccumulate: Dispatch;
  backward: Dispatch[];
  update: Dispatch[];
  /** Sets the optimizer's rate and step (t from 1) for the next update. */
  optimizer: HyperWriter;
  /** Mixed precision: the dynamic loss scaler (absent in f32). */
  scaler?: LossScaler;
  buffers: GPUBuffer[];
  /** Bytes of the plan's own buffers (activations, gradients, scratch, per-layer extras). */
  bytes: number;
  /** The frozen set the step lists were prepared for (frozenKey). */
  frozen: string;
  /**
   * Prepares the step lists again for another frozen set (src/engine/plan-steps.ts), keeping
   * every buffer: feeds bound to X and the targets stay valid. Takes effect from the next step.
   */
  refreeze(frozen: readonly boolean[] | undefined): Promise<void>;
  /** Which data feed last wrote X and the targets (the trainer skips re-gathering the same batch). */
  inputsFrom?: object;
}

export function encodeAll(pass: GPUComputePassEncoder, list: readonly Dispatch[]): void {
  for (const d of list) encodeDispatch(pass, d);
}

export interface PlanPickers {
  matmul: (form: MatmulForm, B: number, K: number, N: number) => MatmulVariant;
  conv: (g: ConvGeometry, B: number, form: ConvForm) => Promise<ConvAlgo>;
  /** Rows per partial sum of a dense layer's bias gradient, 0 for one pass (denseBiasChunk). */
  denseBiasChunk?: number;
}

/** Storage precision of a plan; 'f16' is mixed precision (see the header). */
export interface PlanPrecision {
  precision: 'f32' | 'f16';
  /** The trainer's loss scaler (one for every plan, over the model's gradients); f16 needs it. */
  scaler?: LossScaler;
  /** softmax-ce label smoothing of the training loss, in [0, 1); default 0. */
  labelSmoothing?: number;
  /**
   * A plan for evaluate and predict only: forward passes and the loss, no backward dispatches,
   * one gradient buffer (the loss writes it). Its `backward` is empty; do not fit with it.
   */
  inference?: boolean;
  /** Per layer, whether it is frozen (src/engine/freeze.ts); default nothing. */
  frozen?: readonly boolean[];
}

export async function buildPlan(
  env: KernelEnv,
  model: ModelBuffers,
  opt: ResolvedOptimizer,
  B: number,
  pick: PlanPickers,
  dummies: { read: GPUBuffer; write: GPUBuffer },
  precision: PlanPrecision = { precision: 'f32' },
): Promise<Plan> {
  const mem = planMemory(env);
  const m = model.model;
  const half = precision.precision === 'f16';
  // Only f16 plans scale the loss: an f32 plan of an f16 trainer would not (its scaler is unused).
  const scaler = half ? precision.scaler : undefined;
  if (half && !scaler) throw new ConfigError("buildPlan: an f16 plan needs the trainer's loss scaler.");

  const x = mem.alloc(B * m.inputSize, 'X');
  const stepParams = createStepParams(env, 'step-params');
  mem.owned.push(stepParams);
  const inference = precision.inference === true;
  const readers = readersOf(m);
  const schedule: GradSchedule = inference
    ? { events: [], tensorOf: [], temps: [] }
    : gradSchedule(m, readers);
  const acts = activationBuffers(mem, m, B, x, halfOutputs(m, readers, half));
  const grads = inference ? lossGradientOnly(mem, m, B) : gradientBuffers(mem, m, B, acts.z, schedule);
  const { ios, castPairs } = layerIOs(mem, model, x, acts, grads, schedule, half);
  const dOutLast = grads.g[m.layers.length - 1];
  const loss = await lossSection(env, mem, m, B, acts, dOutLast, scaler, precision.labelSmoothing ?? 0);
  // What the step lists allocate is recycled when they are prepared again (a new frozen set).
  const stepMem = recyclingMemory(mem);
  const ctx: PlanContext = {
    env,
    B,
    dummies,
    stepParams,
    pickMatmul: pick.matmul,
    pickConv: pick.conv,
    denseBiasChunk: pick.denseBiasChunk ?? 0,
    scratch: () => undefined,
    inference,
    alloc: stepMem.alloc,
  };
  const parts: StepParts = { env, ctx, mem: stepMem, model, opt, scaler, ios, castPairs, schedule, grads };
  const frozen = precision.frozen;
  const steps = await prepareSteps(parts, frozen);

  const L = m.layers.length;
  const mse = m.spec.loss === 'mse';
  const plan: Plan = {
    B,
    x,
    targets: loss.targets,
    output: acts.a[L - 1],
    acc: loss.acc,
    evalAcc: loss.evalAcc,
    stepParams,
    forward: [],
    forwardEval: [],
    outputSoftmax: mse ? [] : loss.outputSoftmax,
    loss: loss.loss,
    evalLoss: loss.evalLoss,
    lossBackward: loss.lossBackward,
    accumulate: loss.accumulate,
    evalAccumulate: loss.evalAccumulate,
    backward: [],
    update: [],
    optimizer: steps.optimizer,
    scaler,
    buffers: mem.owned,
    get bytes() {
      return mem.bytes;
    },
    frozen: frozenKey(frozen),
    refreeze: async (next) => {
      if (plan.frozen === frozenKey(next)) return;
      stepMem.restart();
      const old = hypers;
      apply(await prepareSteps(parts, next));
      plan.frozen = frozenKey(next);
      // Queue order: steps already submitted keep their uniforms' contents until they ran.
      for (const b of old) env.pool.release(b);
    },
  };
  let hypers: GPUBuffer[] = [];
  const apply = (s: PlanSteps) => {
    plan.forward = mse ? [...s.forward, ...loss.outputSoftmax] : s.forward;
    plan.forwardEval = mse ? [...s.forwardEval, ...loss.outputSoftmax] : s.forwardEval;
    plan.backward = s.backward;
    plan.update = s.update;
    plan.optimizer = s.optimizer;
    hypers = s.hypers;
  };
  apply(steps);
  return plan;
}

/** A frozen set as a key: the frozen layers' indices ('' for none). */
export const frozenKey = (frozen: readonly boolean[] | undefined): string =>
  (frozen ?? []).flatMap((f, i) => (f ? [i] : [])).join(',');

/** Forward buffers: per layer Z and A (a flatten's are its input's views). */
interface Activations {
  z: TensorView[];
  a: TensorView[];
}

function activationBuffers(
  mem: PlanMemory,
  m: ResolvedModel,
  B: number,
  x: TensorView,
  halfOut: readonly boolean[],
): Activations {
  const out: Activations = {
    z: new Array<TensorView>(m.layers.length),
    a: new Array<TensorView>(m.layers.length),
  };
  for (const i of m.order) {
    const layer = m.layers[i];
    if (layer.type === 'flatten') {
      const p = layer.inputs[0];
      out.z[i] = out.a[i] = p < 0 ? x : out.a[p];
      continue;
    }
    const make = halfOut[i] ? mem.allocHalf : mem.alloc;
    const zl = make(B * layer.outSize, `Z${i}`);
    out.z[i] = zl;
    out.a[i] = layer.activation === 'identity' ? zl : make(B * layer.outSize, `A${i}`);
  }
  return out;
}

/** The gradient tensors: G per layer (a flatten's is its source's) and the temporaries' views. */
interface Gradients {
  g: TensorView[];
  temps: TensorView[];
}

function gradientBuffers(
  mem: PlanMemory,
  m: ResolvedModel,
  B: number,
  z: TensorView[],
  s: GradSchedule,
): Gradients {
  const L = m.layers.length;
  const gradMax = Math.max(...m.layers.map((l) => l.outSize));
  const placed = placeGradients(s, L - 1, (k) => mem.alloc(B * gradMax, `grad-${k}`).buffer);
  const g = m.layers.map((l, i) => {
    const src = sourceOf(m, i);
    return src < 0 ? z[i] : gradView(placed.get(s.tensorOf[src])!, B * m.layers[src].outSize, z[src]);
  });
  const temps = s.temps.map((p, t) => gradView(placed.get(L + t)!, B * m.layers[p].outSize, z[p]));
  return { g, temps };
}

/** An inference plan's gradients: the loss's output gradient only, which every layer's dOut names. */
function lossGradientOnly(mem: PlanMemory, m: ResolvedModel, B: number): Gradients {
  const g = mem.alloc(B * m.outputSize, 'grad-out');
  return { g: m.layers.map(() => g), temps: [] };
}

/**
 * Each layer's tensors (LayerIO): inputs, Z, A, gradients, its parameter and state slots. In f16,
 * dense and conv layers read half working copies of their weights (castPairs: master, copy),
 * cast at the head of every forward pass; batch norm's scale and shift stay f32.
 */
function layerIOs(
  mem: PlanMemory,
  model: ModelBuffers,
  x: TensorView,
  { z, a }: Activations,
  grads: Gradients,
  s: GradSchedule,
  half: boolean,
): { ios: LayerIO[]; castPairs: [TensorView, TensorView][] } {
  const m = model.model;
  const param = (buf: GPUBuffer, sl: { offset: number; length: number }) =>
    view(buf, sl.length, sl.offset * 4);
  const castPairs: [TensorView, TensorView][] = [];
  const dInOf = new Map<number, TensorView>();
  for (const e of s.events) {
    if (e.kind !== 'backward' || e.dIn === undefined) continue;
    const L = m.layers.length;
    dInOf.set(e.layer, e.dIn < L ? grads.g[e.dIn] : grads.temps[e.dIn - L]);
  }
  const ios = m.layers.map((layer, l): LayerIO => {
    const inputs = layer.inputs.map((p) => (p < 0 ? x : a[p]));
    const p = sourceOf(m, layer.inputs[0]);
    const io: LayerIO = {
      layer,
      input: inputs[0],
      inputs,
      inputZ: p >= 0 ? z[p] : undefined,
      inputAct: p >= 0 ? m.layers[p].activation : 'identity',
      inputAlpha: p >= 0 ? m.layers[p].alpha : 0.01,
      z: z[l],
      a: a[l],
      dOut: grads.g[l],
      dIn: dInOf.get(l),
    };
    if (layer.param) {
      io.W = param(model.params, layer.param.W);
      if (half && (layer.type === 'dense' || layer.type === 'conv2d')) {
        const master = io.W;
        io.W = mem.allocHalf(master.length, `W${layer.index}-f16`);
        castPairs.push([master, io.W]);
      }
      io.dW = param(model.grads, layer.param.W);
      if (layer.param.b.length > 0) {
        io.b = param(model.params, layer.param.b);
        io.db = param(model.grads, layer.param.b);
      }
    }
    if (layer.state) {
      io.runningMean = view(model.state!, layer.state.channels, layer.state.mean * 4);
      io.runningVar = view(model.state!, layer.state.channels, layer.state.variance * 4);
    }
    return io;
  });
  return { ios, castPairs };
}
