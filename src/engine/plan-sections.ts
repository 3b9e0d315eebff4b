// The ends of a plan (plan.ts): the memory its buffers come from, the loss with what surrounds
// it, and the update (unscale, clip, optimizer over the trainable ranges, loss-scale update).

import { USAGE } from '../gpu/buffers.js';
import { prepareActivationBackward, prepareActivationForward } from '../kernels/activations.js';
import type { LossScaler } from '../kernels/amp.js';
import { halfView, view, type Dispatch, type KernelEnv, type TensorView } from '../kernels/common.js';
import { prepareLoss } from '../kernels/losses.js';
import { prepareOptimizer, type OptimizerDispatch } from '../kernels/optim.js';
import { CLIP_PARTIALS, prepareClip, prepareLossAccumulate } from '../kernels/reduce.js';
import type { ResolvedModel } from '../nn/layers.js';
import type { ResolvedOptimizer } from '../optim/optimizers.js';

/** The model's own GPU buffers, which every plan of it shares. */
export interface ModelBuffers {
  params: GPUBuffer;
  grads: GPUBuffer;
  m?: GPUBuffer;
  v?: GPUBuffer;
  /** Batch-norm running statistics (absent without batch norm). */
  state?: GPUBuffer;
  model: ResolvedModel;
}

/** The plan's own buffers, from the pool, counted so the plan can report and release them. */
export interface PlanMemory {
  owned: GPUBuffer[];
  bytes: number;
  /** n f32 values. */
  alloc(n: number, label: string): TensorView;
  /** n f16 values (two per 4-byte slot; at least 16 bytes, a vec4<f16> pair). */
  allocHalf(n: number, label: string): TensorView;
}

export function planMemory(env: KernelEnv): PlanMemory {
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
 * The loss and what surrounds it: the output softmax, the loss kernel (d loss / d logits, or
 * d loss / dA then the last activation's backward for mse), and the GPU-side accumulation of
 * (loss, correct, rows) for training and for evaluation.
 */
export async function lossSection(
  env: KernelEnv,
  mem: PlanMemory,
  m: ResolvedModel,
  B: number,
  { z, a }: { z: TensorView[]; a: TensorView[] },
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

/**
 * The update: [unscale + overflow check], [clip: global norm -> scale], optimizer, [scaler
 * update]. The optimizer runs once per trainable range [offset, end) of the flat parameters
 * (src/engine/freeze.ts): one range over everything unless layers are frozen. The clip's norm
 * spans from the first range's start to the last one's end; the frozen gradients in between are
 * zero (the trainer clears them when it freezes, and no backward writes them).
 */
export async function updateSection(
  env: KernelEnv,
  mem: PlanMemory,
  model: ModelBuffers,
  opt: ResolvedOptimizer,
  scaler: LossScaler | undefined,
  ranges: readonly (readonly [number, number])[] = [[0, model.model.paramSize]],
): Promise<{ update: Dispatch[]; optimizers: OptimizerDispatch[] }> {
  const update: Dispatch[] = scaler ? [scaler.unscale] : [];
  const slice = (buf: GPUBuffer, [from, to]: readonly [number, number]) => view(buf, to - from, from * 4);
  let clip: TensorView | undefined;
  if (opt.maxNorm !== undefined) {
    const partials = mem.alloc(CLIP_PARTIALS, 'clip-partials');
    clip = mem.alloc(2, 'clip-scale');
    const span = [ranges[0][0], ranges[ranges.length - 1][1]] as const;
    update.push(
      ...(await prepareClip(env, {
        grads: slice(model.grads, span),
        maxNorm: opt.maxNorm,
        partials,
        scale: clip,
      })),
    );
  }
  const optimizers: OptimizerDispatch[] = [];
  for (const r of ranges) {
    optimizers.push(
      await prepareOptimizer(env, {
        opt,
        params: slice(model.params, r),
        grads: slice(model.grads, r),
        m: model.m ? slice(model.m, r) : undefined,
        v: model.v ? slice(model.v, r) : undefined,
        clip,
        amp: scaler?.state,
      }),
    );
  }
  update.push(...optimizers);
  if (scaler) update.push(scaler.update);
  return { update, optimizers };
}
