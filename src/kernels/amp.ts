// Mixed precision (shaders/cast.wgsl, shaders/amp.wgsl).
//   castWeights   dst[n] (f16) = src[n] (f32): the half working copy of one weight tensor
//   LossScaler    dynamic loss scaling kept on the GPU. The loss kernel multiplies its gradient
//                 by the scale (prepareLoss `amp`); `unscale` divides the flat f32 gradients by it
//                 and flags non-finite values; the optimizer (prepareOptimizer `amp`) skips the
//                 step while the flag is set; `update` halves the scale after an overflow, doubles
//                 it after `growthInterval` finite steps in a row, and counts skipped steps.
// Nothing here reads back during training: read() is for logs and checkpoints.

import { ConfigError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import { readBuffer } from '../gpu/readback.js';
import {
  bindGroup,
  grid2d,
  requireLength,
  uniformBuffer,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from './common.js';

const WG = 256;

export async function prepareCastWeights(
  env: KernelEnv,
  a: { src: TensorView; dst: TensorView },
): Promise<Dispatch> {
  const n = a.src.length;
  requireLength(a.dst, n, 'cast_weights dst');
  const workgroups = grid2d(env, Math.ceil(n / WG));
  const pipeline = await env.pipelines.get(
    'cast',
    'cast_weights',
    {},
    a.dst.dtype === 'f16' ? ['dst_t'] : [],
  );
  const params = uniformBuffer(env, [{ u: n }, { u: workgroups[0] * WG }], 'cast_weights params');
  const group = bindGroup(env, pipeline, [params, a.src, a.dst], 'cast_weights');
  return { label: 'cast_weights', kind: 'cast', pipeline, bindGroup: group, workgroups };
}

export interface LossScaleOptions {
  /** Starting scale, a power of two (default 2^16, as PyTorch's GradScaler). */
  initScale?: number;
  /** Finite steps in a row before the scale doubles (default 2000). */
  growthInterval?: number;
}

export interface LossScaleState {
  scale: number;
  /** Finite steps in a row since the scale last changed. */
  streak: number;
  /** Steps skipped because a gradient overflowed, since the scaler was made. */
  skipped: number;
  /** Steps the scaler has seen. */
  steps: number;
}

export interface LossScaler {
  /** Scaler state words (amp.wgsl); bind as the loss's and the optimizer's `amp`. */
  state: GPUBuffer;
  unscale: Dispatch;
  update: Dispatch;
  read(): Promise<LossScaleState>;
  /** Restores a state read earlier (resuming a checkpoint); clears the overflow flag. */
  write(s: LossScaleState): void;
}

export function resolveLossScale(o: LossScaleOptions = {}): Required<LossScaleOptions> {
  const initScale = o.initScale ?? 65536;
  const growthInterval = o.growthInterval ?? 2000;
  if (!(initScale > 0) || Math.log2(initScale) % 1 !== 0 || Math.abs(Math.log2(initScale)) > 100) {
    throw new ConfigError(
      `lossScale.initScale must be a power of two between 2^-100 and 2^100, got ${initScale}.`,
    );
  }
  if (!Number.isInteger(growthInterval) || growthInterval < 1) {
    throw new ConfigError(`lossScale.growthInterval must be a positive integer, got ${growthInterval}.`);
  }
  return { initScale, growthInterval };
}

export async function prepareLossScaler(
  env: KernelEnv,
  a: { grads: TensorView; options?: LossScaleOptions },
): Promise<LossScaler> {
  const o = resolveLossScale(a.options);
  const P = a.grads.length;
  if (P % 4 !== 0)
    throw new ConfigError(`The loss scaler needs a gradient length that is a multiple of 4, got ${P}.`);
  const state = env.pool.acquire(32, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST, 'loss-scaler');
  const words = new Uint32Array(8);
  new Float32Array(words.buffer, 0, 1)[0] = o.initScale;
  env.device.queue.writeBuffer(state, 0, words);
  const count = P / 4;
  const workgroups = grid2d(env, Math.ceil(count / WG));
  const params = uniformBuffer(
    env,
    [{ u: count }, { u: workgroups[0] * WG }, { u: o.growthInterval }, { u: 0 }],
    'loss-scaler params',
  );
  const p1 = await env.pipelines.get('amp', 'amp_unscale', {});
  const p2 = await env.pipelines.get('amp', 'amp_update', {});
  const stateView = { buffer: state, offset: 0, length: 8 };
  const unscale: Dispatch = {
    label: 'amp_unscale',
    kind: 'amp',
    pipeline: p1,
    bindGroup: bindGroup(env, p1, [params, stateView, a.grads], 'amp_unscale'),
    workgroups,
  };
  const update: Dispatch = {
    label: 'amp_update',
    kind: 'amp',
    pipeline: p2,
    bindGroup: bindGroup(env, p2, [params, stateView], 'amp_update'),
    workgroups: [1, 1, 1],
  };
  const read = async (): Promise<LossScaleState> => {
    const bytes = await readBuffer(env.device, env.pool, state, 32);
    const u = new Uint32Array(bytes);
    return { scale: new Float32Array(bytes, 0, 1)[0], streak: u[1], skipped: u[3], steps: u[4] };
  };
  const write = (s: LossScaleState): void => {
    const w = new Uint32Array(8);
    new Float32Array(w.buffer, 0, 1)[0] = s.scale;
    w[1] = s.streak;
    w[3] = s.skipped;
    w[4] = s.steps;
    env.device.queue.writeBuffer(state, 0, w);
  };
  return { state, unscale, update, read, write };
}
