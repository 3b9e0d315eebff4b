// The optimizer step (shaders/optim_rules.wgsl, as f32 in optim.wgsl or vec4 in optim_vec4.wgsl):
// ONE dispatch over the model's flat parameter buffer.
// params [P] updated in place; grads [P] read; m, v [P] state updated in place; clip [2] read
// when clipping; amp [8] u32 (the loss scaler's state, mixed precision) read: the step leaves
// everything unchanged while its overflow flag is set. The Hyper uniform (lr, bias corrections, ...) is rewritten each step with
// writeHyper, which allocates nothing.

import { USAGE } from '../gpu/buffers.js';
import type { ResolvedOptimizer } from '../optim/optimizers.js';
import {
  bindGroup,
  grid2d,
  packWords,
  requireLength,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from './common.js';

const WG = 256;

export interface OptimizerDispatch extends Dispatch {
  hyper: GPUBuffer;
  /** Writes the step's hyper-parameters; t is the 1-based step number, lr the scheduled rate. */
  writeHyper(queue: GPUQueue, lr: number, t: number): void;
}

export async function prepareOptimizer(
  env: KernelEnv,
  a: {
    opt: ResolvedOptimizer;
    params: TensorView;
    grads: TensorView;
    m?: TensorView;
    v?: TensorView;
    clip?: TensorView;
    /** Loss-scaler state (src/kernels/amp.ts): skip the step on overflow. */
    amp?: GPUBuffer;
  },
): Promise<OptimizerDispatch> {
  const { opt } = a;
  const P = a.params.length;
  requireLength(a.grads, P, 'optimizer grads');
  const entry =
    opt.name === 'sgd' ? 'sgd_update' : opt.name === 'momentum' ? 'momentum_update' : 'adam_update';
  if (opt.name !== 'sgd') requireLength(a.m!, P, 'optimizer m');
  if (entry === 'adam_update') requireLength(a.v!, P, 'optimizer v');
  const clip = opt.maxNorm !== undefined;
  // Whole vec4s when the length allows (the model's buffer always does: tensors are 64-aligned).
  const vec4 = P % 4 === 0;
  const count = vec4 ? P / 4 : P;
  const pipeline = await env.pipelines.get(vec4 ? 'optim_vec4' : 'optim', entry, {
    WG,
    CLIP: clip,
    NESTEROV: opt.nesterov,
    DECOUPLED: opt.name === 'adamw',
    SKIP_ON_OVERFLOW: a.amp !== undefined,
  });
  const workgroups = grid2d(env, Math.ceil(count / WG));
  const rowStride = workgroups[0] * WG;
  const hyper = env.pool.acquire(48, USAGE.UNIFORM | USAGE.COPY_DST, `${entry} hyper`);
  const group = bindGroup(
    env,
    pipeline,
    [
      hyper,
      a.params,
      a.grads,
      clip ? a.clip! : unusedClip(env),
      opt.name === 'sgd' ? null : a.m!,
      entry === 'adam_update' ? a.v! : null,
      a.amp ?? unusedClip(env),
    ],
    entry,
  );
  const writeHyper = (queue: GPUQueue, lr: number, t: number) => {
    // Bias corrections in float64 on the CPU: f32 powers of 0.999 drift over long runs.
    const bc1 = 1 - Math.pow(opt.beta1, t);
    const bc2 = 1 - Math.pow(opt.beta2, t);
    queue.writeBuffer(
      hyper,
      0,
      packWords([
        { f: lr },
        { f: opt.weightDecay },
        { f: opt.beta1 },
        { f: opt.beta2 },
        { f: opt.eps },
        { f: opt.momentum },
        { f: bc1 },
        { f: bc2 },
        { u: count },
        { u: rowStride },
        // Not 1 - beta in the shader: f32 loses 1.3e-5 of 1 - 0.999 to cancellation.
        { f: 1 - opt.beta1 },
        { f: 1 - opt.beta2 },
      ]),
    );
  };
  writeHyper(env.device.queue, opt.lr, 1);
  return { label: entry, kind: 'optim', pipeline, bindGroup: group, workgroups, hyper, writeHyper };
}

/**
 * grad_at() and idle() name the clip and amp bindings even when CLIP and SKIP_ON_OVERFLOW are
 * off, so auto layouts always include them: this placeholder fills either.
 */
function unusedClip(env: KernelEnv): GPUBuffer {
  return env.pool.acquire(16, USAGE.STORAGE, 'clip-unused');
}
