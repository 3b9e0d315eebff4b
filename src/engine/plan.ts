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
import type { Activation } from '../nn/activations.js';
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
  loss: LossDispatch;
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
  const owned: GPUBuffer[] = [];
  let bytes = 0;
  const alloc = (n: number, label: string): TensorView => {
    const b = env.pool.acquire(Math.max(1, n) * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST, label);
    owned.push(b);
    bytes += Math.max(1, n) * 4;
    return view(b, n);
  };
  // n f16 values (two per 4-byte slot; at least 16 bytes, a vec4<f16> pair).
  const allocHalf = (n: number, label: string): TensorView =>
    halfView(alloc(Math.max(4, Math.ceil(n / 2)), label).buffer, n);
  const m = model.model;
  const layers = m.layers;
  const L = layers.length;
  const outputs = m.outputSize;
  const last = layers[L - 1];
  const param = (buf: GPUBuffer, s: { offset: number; length: number }) => view(buf, s.length, s.offset * 4);

  const x = alloc(B * m.inputSize, 'X');
  const stepParams = createStepParams(env, 'step-params');
  owned.push(stepParams);

  // Mixed precision: which layers keep Z and A (and d loss / dZ) in f16. A layer does when it and
  // the next layer that is not a flatten both take f16 views; the last layer never does.
  const half = precision.precision === 'f16';
  const halfReady = (l: number) => {
    const type = layers[l].type;
    return type !== 'flatten' && LAYER_MODULES[type].halfPrecision === true;
  };
  const halfOut: boolean[] = layers.map((_, l) => {
    if (!half || !halfReady(l)) return false;
    let c = l + 1;
    while (c < L && layers[c].type === 'flatten') c++;
    return c < L && halfReady(c);
  });

  // Forward buffers. `producer[l]` is the layer whose Z/act a layer's input came from (through
  // any flattens), or -1 for the batch X.
  const z: TensorView[] = [];
  const a: TensorView[] = [];
  const producer: number[] = [];
  let prevOut = x;
  let prevProducer = -1;
  for (const layer of layers) {
    producer.push(prevProducer);
    if (layer.type === 'flatten') {
      z.push(prevOut);
      a.push(prevOut);
      continue;
    }
    const make = halfOut[layer.index] ? allocHalf : alloc;
    const zl = make(B * layer.outSize, `Z${layer.index}`);
    const al = layer.activation === 'identity' ? zl : make(B * layer.outSize, `A${layer.index}`);
    z.push(zl);
    a.push(al);
    prevOut = al;
    prevProducer = layer.index;
  }

  // Gradient buffers used in turn: the last layer's dOut in g[0]; each layer's dIn in the other.
  const gradMax = Math.max(...layers.map((l) => Math.max(l.inSize, l.outSize)));
  const g = [alloc(B * gradMax, 'grad-0'), alloc(B * gradMax, 'grad-1')];
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

  // Half working copies of the dense and conv weights, cast at the head of every forward pass.
  const castPairs: [TensorView, TensorView][] = [];
  const ios: LayerIO[] = layers.map((layer, l) => {
    const p = producer[l];
    const prodAct: Activation = p >= 0 ? layers[p].activation : 'identity';
    const io: LayerIO = {
      layer,
      input: l === 0 ? x : a[l - 1],
      inputZ: p >= 0 ? z[p] : undefined,
      inputAct: prodAct,
      inputAlpha: p >= 0 ? layers[p].alpha : 0.01,
      z: z[l],
      a: a[l],
      dOut: dOut[l],
      dIn: dIn[l],
    };
    if (layer.param) {
      io.W = param(model.params, layer.param.W);
      // Dense and conv weights get half copies (the matmuls read them); batch norm's scale and
      // shift stay f32, as its kernels read them.
      if (half && (layer.type === 'dense' || layer.type === 'conv2d')) {
        const master = io.W;
        io.W = allocHalf(master.length, `W${layer.index}-f16`);
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

  let scratchView: TensorView | undefined;
  const ctx: PlanContext = {
    env,
    B,
    dummies,
    stepParams,
    pickMatmul: pick.matmul,
    pickConv: pick.conv,
    denseBiasChunk: pick.denseBiasChunk ?? 0,
    scratch: () => scratchView,
    alloc,
  };
  let scratchLength = 0;
  for (const io of ios) {
    if (io.layer.type === 'flatten') continue;
    const mod = LAYER_MODULES[io.layer.type];
    if (mod.scratchLength) scratchLength = Math.max(scratchLength, await mod.scratchLength(ctx, io));
  }
  if (scratchLength > 0) scratchView = alloc(scratchLength, 'conv-scratch');

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
  const backward = backwardByLayer.reverse().flat();

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

  const targets = alloc(m.spec.loss === 'softmax-ce' ? B : B * outputs, 'targets');
  const stats = alloc(B * 3, 'stats');
  const acc = alloc(4, 'acc');
  const evalAcc = alloc(4, 'eval-acc');
  const lossOnLogits = m.spec.loss !== 'mse';
  const P = m.paramSize;
  // Only f16 plans scale the loss: an f32 plan of an f16 trainer would not (its scaler is unused).
  const scaler = half ? precision.scaler : undefined;
  if (half && !scaler) throw new Error("buildPlan: an f16 plan needs the trainer's loss scaler.");
  const mseNeedsAct = m.spec.loss === 'mse' && last.activation !== 'identity';
  const dA = mseNeedsAct ? alloc(B * outputs, 'dA-out') : dOut[L - 1];
  const loss = await prepareLoss(env, {
    loss: m.spec.loss,
    B,
    N: outputs,
    outputs: lossOnLogits ? z[L - 1] : a[L - 1],
    targets,
    grad: dA,
    stats,
    amp: scaler?.state,
  });
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
        out: dOut[L - 1],
      }),
    );
  }
  const accumulate = await prepareLossAccumulate(env, { B, stats, acc });
  const evalAccumulate = await prepareLossAccumulate(env, { B, stats, acc: evalAcc });

  const update: Dispatch[] = scaler ? [scaler.unscale] : [];
  let clip: TensorView | undefined;
  if (opt.maxNorm !== undefined) {
    const partials = alloc(CLIP_PARTIALS, 'clip-partials');
    clip = alloc(2, 'clip-scale');
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

  const mse = m.spec.loss === 'mse';
  return {
    B,
    x,
    targets,
    output: a[L - 1],
    acc,
    evalAcc,
    stepParams,
    forward: mse ? [...forward, ...outputSoftmax] : forward,
    forwardEval: mse ? [...forwardEval, ...outputSoftmax] : forwardEval,
    outputSoftmax: mse ? [] : outputSoftmax,
    loss,
    lossBackward,
    accumulate,
    evalAccumulate,
    backward,
    update,
    optimizer,
    scaler,
    buffers: owned,
    bytes,
  };
}
