// The static plan for one model and one batch size: every buffer a training step touches and
// every dispatch, prepared once. Encoding a step then only records prepared dispatches.
//
// Step order (one compute pass):
//   [gather X, targets from the resident dataset]            (owned by the trainer)
//   forward   l = 0..L-1: the layer module's forward (training mode) or forwardEval
//   loss:     bce / softmax-ce on the last Z (logits), mse on the last A -> dZ_L (or dA_L, then
//             act backward)
//   accumulate (loss, correct, rows) into `acc`
//   backward  l = L-1..0: the layer module's backward: parameter gradients (OVERWRITE their slots
//             of the flat gradient buffer) and dIn = d loss / d Z of the layer below, with that
//             layer's act' fused
//   [clip: global norm -> scale]   optimizer: one dispatch over the flat parameters
//
// Buffers: X; per layer Z (pre-activation) and A (the same buffer when the activation is the
// identity; flatten reuses its input's); two gradient buffers used in turn down the backward pass
// (a layer reads dOut from one and writes dIn to the other); one scratch shared by every conv
// form (each form needs it only during its own dispatches); per-layer extras (max-pool winners,
// batch-norm batch statistics).
//
// Mixed precision (precision 'f16'): every dense and conv layer reads a half copy of its weights,
// cast from the f32 master weights at the head of each forward pass; Z, A and the gradient with
// respect to Z are f16 for every layer whose output goes into a layer whose module takes f16
// views (LayerModule.halfPrecision: dense, conv2d, pooling, batch norm, dropout), which is every
// layer but the last: X, the logits and the loss stay f32, as do weight gradients, optimizer
// state, master weights and batch-norm statistics and parameters.
// The loss gradient is scaled by the loss scaler (src/kernels/amp.ts), the flat gradients are
// unscaled (and checked for overflow) before clipping and the optimizer, which skips the step on
// overflow; the scaler's update closes the step.

import { ConfigError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import { prepareActivationBackward, prepareActivationForward } from '../kernels/activations.js';
import { prepareCastWeights, type LossScaler } from '../kernels/amp.js';
import {
  encodeDispatch,
  halfView,
  view,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from '../kernels/common.js';
import type { ConvAlgo } from '../kernels/conv.js';
import { prepareLoss, type LossDispatch } from '../kernels/losses.js';
import type { MatmulForm, MatmulVariant } from '../kernels/matmul.js';
import { prepareOptimizer, type OptimizerDispatch } from '../kernels/optim.js';
import { CLIP_PARTIALS, prepareClip, prepareLossAccumulate } from '../kernels/reduce.js';
import { createStepParams } from '../kernels/step-params.js';
import type { ConvGeometry, ResolvedModel } from '../nn/layers.js';
import type { ResolvedOptimizer } from '../optim/optimizers.js';
import { LAYER_MODULES } from './layers/index.js';
import type { ConvForm, LayerIO, PlanContext } from './layers/types.js';

export interface ModelBuffers {
  params: GPUBuffer;
  grads: GPUBuffer;
  m?: GPUBuffer;
  v?: GPUBuffer;
  /** Batch-norm running statistics (absent without batch norm). */
  state?: GPUBuffer;
  model: ResolvedModel;
}

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
  optimizer: OptimizerDispatch;
  /** Mixed precision: the dynamic loss scaler (absent in f32). */
  scaler?: LossScaler;
  buffers: GPUBuffer[];
  /** Bytes of the plan's own buffers (activations, gradients, scratch, per-layer extras). */
  bytes: number;
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
  const acts = activationBuffers(mem, m, B, x, halfOutputs(m, half));
  const grads = gradientBuffers(mem, m, B, acts);
  const { ios, castPairs } = layerIOs(mem, model, x, acts, grads, half);
  const ctx: PlanContext = {
    env,
    B,
    dummies,
    stepParams,
    pickMatmul: pick.matmul,
    pickConv: pick.conv,
    denseBiasChunk: pick.denseBiasChunk ?? 0,
    scratch: () => undefined,
    alloc: mem.alloc,
  };
  const layerSteps = await layerDispatches(env, ctx, mem, ios, castPairs);
  const dOutLast = grads.dOut[m.layers.length - 1];
  const loss = await lossSection(env, mem, m, B, acts, dOutLast, scaler, precision.labelSmoothing ?? 0);
  const { update, optimizer } = await updateSection(env, mem, model, opt, scaler);

  const L = m.layers.length;
  const mse = m.spec.loss === 'mse';
  return {
    B,
    x,
    targets: loss.targets,
    output: acts.a[L - 1],
    acc: loss.acc,
    evalAcc: loss.evalAcc,
    stepParams,
    forward: mse ? [...layerSteps.forward, ...loss.outputSoftmax] : layerSteps.forward,
    forwardEval: mse ? [...layerSteps.forwardEval, ...loss.outputSoftmax] : layerSteps.forwardEval,
    outputSoftmax: mse ? [] : loss.outputSoftmax,
    loss: loss.loss,
    evalLoss: loss.evalLoss,
    lossBackward: loss.lossBackward,
    accumulate: loss.accumulate,
    evalAccumulate: loss.evalAccumulate,
    backward: layerSteps.backward,
    update,
    optimizer,
    scaler,
    buffers: mem.owned,
    bytes: mem.bytes,
  };
}

/** The plan's own buffers, from the pool, counted so the plan can report and release them. */
interface PlanMemory {
  owned: GPUBuffer[];
  bytes: number;
  /** n f32 values. */
  alloc(n: number, label: string): TensorView;
  /** n f16 values (two per 4-byte slot; at least 16 bytes, a vec4<f16> pair). */
  allocHalf(n: number, label: string): TensorView;
}

function planMemory(env: KernelEnv): PlanMemory {
  const mem: PlanMemory = {
    owned: [],
    bytes: 0,
    alloc: (n, label) => {
      const b = env.pool.acquire(Math.max(1, n) * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST, label);
      mem.owned.push(b);
      mem.bytes += Math.max(1, n) * 4;
      return view(b, n);
    },
    allocHalf: (n, label) => halfView(mem.alloc(Math.max(4, Math.ceil(n / 2)), label).buffer, n),
  };
  return mem;
}

/**
 * Mixed precision: which layers keep Z and A (and d loss / dZ) in f16. A layer does when it and
 * the next layer that is not a flatten both take f16 views; the last layer never does.
 */
function halfOutputs(m: ResolvedModel, half: boolean): boolean[] {
  const layers = m.layers;
  const halfReady = (l: number) => {
    const type = layers[l].type;
    return type !== 'flatten' && LAYER_MODULES[type].halfPrecision === true;
  };
  return layers.map((_, l) => {
    if (!half || !halfReady(l)) return false;
    let c = l + 1;
    while (c < layers.length && layers[c].type === 'flatten') c++;
    return c < layers.length && halfReady(c);
  });
}

/** Forward buffers: per layer Z and A; `producer[l]` made a layer's input (through flattens), -1 for X. */
interface Activations {
  z: TensorView[];
  a: TensorView[];
  producer: number[];
}

function activationBuffers(
  mem: PlanMemory,
  m: ResolvedModel,
  B: number,
  x: TensorView,
  halfOut: readonly boolean[],
): Activations {
  const out: Activations = { z: [], a: [], producer: [] };
  let prevOut = x;
  let prevProducer = -1;
  for (const layer of m.layers) {
    out.producer.push(prevProducer);
    if (layer.type === 'flatten') {
      out.z.push(prevOut);
      out.a.push(prevOut);
      continue;
    }
    const make = halfOut[layer.index] ? mem.allocHalf : mem.alloc;
    const zl = make(B * layer.outSize, `Z${layer.index}`);
    const al = layer.activation === 'identity' ? zl : make(B * layer.outSize, `A${layer.index}`);
    out.z.push(zl);
    out.a.push(al);
    prevOut = al;
    prevProducer = layer.index;
  }
  return out;
}

/** Gradient buffers used in turn: the last layer's dOut in g[0]; each layer's dIn in the other. */
function gradientBuffers(
  mem: PlanMemory,
  m: ResolvedModel,
  B: number,
  { z, producer }: Activations,
): { dOut: TensorView[]; dIn: (TensorView | undefined)[] } {
  const layers = m.layers;
  const L = layers.length;
  const gradMax = Math.max(...layers.map((l) => Math.max(l.inSize, l.outSize)));
  const g = [mem.alloc(B * gradMax, 'grad-0'), mem.alloc(B * gradMax, 'grad-1')];
  const dOut: TensorView[] = new Array<TensorView>(L);
  const dIn: (TensorView | undefined)[] = new Array<TensorView | undefined>(L);
  let parity = 0;
  // A gradient has the precision of the tensor it is the gradient of (the Z it flows into).
  const gview = (buf: GPUBuffer, n: number, like: TensorView) =>
    like.dtype === 'f16' ? halfView(buf, n) : view(buf, n);
  for (let l = L - 1; l >= 0; l--) {
    const layer = layers[l];
    dOut[l] = gview(g[parity].buffer, B * layer.outSize, z[l]);
    if (producer[l] < 0) break;
    if (layer.type !== 'flatten') parity = 1 - parity;
    dIn[l] = gview(g[parity].buffer, B * layer.inSize, z[producer[l]]);
  }
  return { dOut, dIn };
}

/**
 * Each layer's tensors (LayerIO): input, Z, A, gradients, its parameter and state slots. In f16,
 * dense and conv layers read half working copies of their weights (castPairs: master, copy),
 * cast at the head of every forward pass; batch norm's scale and shift stay f32.
 */
function layerIOs(
  mem: PlanMemory,
  model: ModelBuffers,
  x: TensorView,
  { z, a, producer }: Activations,
  { dOut, dIn }: { dOut: TensorView[]; dIn: (TensorView | undefined)[] },
  half: boolean,
): { ios: LayerIO[]; castPairs: [TensorView, TensorView][] } {
  const layers = model.model.layers;
  const param = (buf: GPUBuffer, s: { offset: number; length: number }) => view(buf, s.length, s.offset * 4);
  const castPairs: [TensorView, TensorView][] = [];
  const ios = layers.map((layer, l): LayerIO => {
    const p = producer[l];
    const io: LayerIO = {
      layer,
      input: l === 0 ? x : a[l - 1],
      inputZ: p >= 0 ? z[p] : undefined,
      inputAct: p >= 0 ? layers[p].activation : 'identity',
      inputAlpha: p >= 0 ? layers[p].alpha : 0.01,
      z: z[l],
      a: a[l],
      dOut: dOut[l],
      dIn: dIn[l],
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

/**
 * The layer modules' dispatches: the weight casts, then each layer's forward (training and
 * evaluation mode) in order, and the backward in reverse order. One scratch buffer, as long as
 * the longest any layer asks for, is shared (each conv form needs it only during its dispatches).
 */
async function layerDispatches(
  env: KernelEnv,
  ctx: PlanContext,
  mem: PlanMemory,
  ios: readonly LayerIO[],
  castPairs: readonly [TensorView, TensorView][],
): Promise<{ forward: Dispatch[]; forwardEval: Dispatch[]; backward: Dispatch[] }> {
  let scratchLength = 0;
  for (const io of ios) {
    if (io.layer.type === 'flatten') continue;
    const mod = LAYER_MODULES[io.layer.type];
    if (mod.scratchLength) scratchLength = Math.max(scratchLength, await mod.scratchLength(ctx, io));
  }
  const scratchView = scratchLength > 0 ? mem.alloc(scratchLength, 'conv-scratch') : undefined;
  ctx.scratch = () => scratchView;

  const casts: Dispatch[] = [];
  for (const [src, dst] of castPairs) casts.push(await prepareCastWeights(env, { src, dst }));
  const forward: Dispatch[] = [...casts];
  const forwardEval: Dispatch[] = [...casts];
  const backwardByLayer: Dispatch[][] = [];
  for (const io of ios) {
    if (io.layer.type === 'flatten') {
      backwardByLayer.push([]);
      continue;
    }
    const d = await LAYER_MODULES[io.layer.type].prepare(ctx, io);
    forward.push(...d.forward);
    forwardEval.push(...d.forwardEval);
    backwardByLayer.push(d.backward);
  }
  return { forward, forwardEval, backward: backwardByLayer.reverse().flat() };
}

/**
 * The loss and what surrounds it: the output softmax, the loss kernel (d loss / d logits, or
 * d loss / dA then the last activation's backward for mse), and the GPU-side accumulation of
 * (loss, correct, rows) for training and for evaluation.
 */
async function lossSection(
  env: KernelEnv,
  mem: PlanMemory,
  m: ResolvedModel,
  B: number,
  { z, a }: Activations,
  dOutLast: TensorView,
  scaler: LossScaler | undefined,
  smoothing: number,
) {
  const L = m.layers.length;
  const last = m.layers[L - 1];
  const outputs = m.outputSize;
  // The final softmax (probabilities) is only needed by predict and by an MSE loss: softmax
  // cross-entropy works on the logits, so training and evaluation skip it.
  const outputSoftmax: Dispatch[] = [];
  if (last.activation === 'softmax') {
    outputSoftmax.push(
      await prepareActivationForward(env, {
        activation: 'softmax',
        rows: B,
        cols: outputs,
        z: z[L - 1],
        out: a[L - 1],
      }),
    );
  }
  const targets = mem.alloc(m.spec.loss === 'softmax-ce' ? B : B * outputs, 'targets');
  const stats = mem.alloc(B * 3, 'stats');
  const acc = mem.alloc(4, 'acc');
  const evalAcc = mem.alloc(4, 'eval-acc');
  const mseNeedsAct = m.spec.loss === 'mse' && last.activation !== 'identity';
  const dA = mseNeedsAct ? mem.alloc(B * outputs, 'dA-out') : dOutLast;
  const lossArgs = {
    loss: m.spec.loss,
    B,
    N: outputs,
    outputs: m.spec.loss !== 'mse' ? z[L - 1] : a[L - 1],
    targets,
    grad: dA,
    stats,
    amp: scaler?.state,
  };
  const loss = await prepareLoss(env, { ...lossArgs, smoothing });
  const evalLoss = smoothing > 0 ? await prepareLoss(env, lossArgs) : loss;
  const lossBackward: Dispatch[] = [];
  if (mseNeedsAct) {
    lossBackward.push(
      await prepareActivationBackward(env, {
        activation: last.activation,
        alpha: last.alpha,
        rows: B,
        cols: outputs,
        // softmax backward wants S = softmax(Z); the others want Z.
        z: last.activation === 'softmax' ? a[L - 1] : z[L - 1],
        dA,
        out: dOutLast,
      }),
    );
  }
  const accumulate = await prepareLossAccumulate(env, { B, stats, acc });
  const evalAccumulate = await prepareLossAccumulate(env, { B, stats, acc: evalAcc });
  return { outputSoftmax, targets, acc, evalAcc, loss, evalLoss, lossBackward, accumulate, evalAccumulate };
}

/** The update: [unscale + overflow check], [clip: global norm -> scale], optimizer, [scaler update]. */
async function updateSection(
  env: KernelEnv,
  mem: PlanMemory,
  model: ModelBuffers,
  opt: ResolvedOptimizer,
  scaler: LossScaler | undefined,
): Promise<{ update: Dispatch[]; optimizer: OptimizerDispatch }> {
  const P = model.model.paramSize;
  const update: Dispatch[] = scaler ? [scaler.unscale] : [];
  let clip: TensorView | undefined;
  if (opt.maxNorm !== undefined) {
    const partials = mem.alloc(CLIP_PARTIALS, 'clip-partials');
    clip = mem.alloc(2, 'clip-scale');
    update.push(
      ...(await prepareClip(env, {
        grads: view(model.grads, P),
        maxNorm: opt.maxNorm,
        partials,
        scale: clip,
      })),
    );
  }
  const optimizer = await prepareOptimizer(env, {
    opt,
    params: view(model.params, P),
    grads: view(model.grads, P),
    m: model.m ? view(model.m, P) : undefined,
    v: model.v ? view(model.v, P) : undefined,
    clip,
    amp: scaler?.state,
  });
  update.push(optimizer);
  if (scaler) update.push(scaler.update);
  return { update, optimizer };
}
