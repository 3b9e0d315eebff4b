// Reductions (shaders/reduce.wgsl).
//   biasGrad:        db[N] = column sums of dZ[B,N] (dZ f32 or f16, sums f32)      (OVERWRITES db)
//                    prepareBiasGradSteps: for long columns (a conv's B*OH*OW rows), partial
//                    sums over row chunks first (4 columns per invocation when N % 4 == 0),
//                    then the sums of the partials in chunk order
//   lossAccumulate:  acc[0..4] += (sum loss, sum correct, active rows, 1)        (ACCUMULATES)
//   clip:            scale[0] = min(1, maxNorm / (||g|| + 1e-6)), scale[1] = ||g||, two dispatches

import { USAGE } from '../gpu/buffers.js';
import { halfAliases } from '../gpu/shader-types.js';
import {
  bindGroup,
  grid2d,
  requireDims,
  requireLength,
  uniformBuffer,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from './common.js';

const WG = 256;
export const CLIP_PARTIALS = 64;

export async function prepareBiasGrad(
  env: KernelEnv,
  a: { B: number; N: number; dZ: TensorView; db: TensorView },
): Promise<Dispatch> {
  requireDims({ B: a.B, N: a.N }, 'bias_grad');
  requireLength(a.dZ, a.B * a.N, 'bias_grad dZ');
  requireLength(a.db, a.N, 'bias_grad db');
  const pipeline = await env.pipelines.get('reduce', 'bias_grad', { WG }, halfAliases({ src_t: a.dZ }));
  const params = uniformBuffer(env, [{ u: a.B }, { u: a.N }, { u: 0 }, { f: 0 }], 'bias_grad params');
  const group = bindGroup(env, pipeline, [params, a.dZ, a.db], 'bias_grad');
  return {
    label: 'bias_grad',
    kind: 'bias_grad',
    pipeline,
    bindGroup: group,
    workgroups: [Math.ceil(a.N / WG), 1, 1],
  };
}

/** Rows per chunk of the two-pass bias gradient; below twice this one pass is used. */
export const BIAS_CHUNK = 256;

/**
 * The bias gradient as one dispatch, or two for long columns (partial sums into a buffer this
 * call allocates once, then their sums). Same result order every run.
 */
export async function prepareBiasGradSteps(
  env: KernelEnv,
  a: { B: number; N: number; dZ: TensorView; db: TensorView },
): Promise<Dispatch[]> {
  if (a.B < 2 * BIAS_CHUNK) return [await prepareBiasGrad(env, a)];
  requireDims({ B: a.B, N: a.N }, 'bias_grad');
  requireLength(a.dZ, a.B * a.N, 'bias_grad dZ');
  requireLength(a.db, a.N, 'bias_grad db');
  const P = Math.ceil(a.B / BIAS_CHUNK);
  const partials = env.pool.acquire(P * a.N * 4, USAGE.STORAGE, 'bias_grad partials');
  // Four columns per invocation where they stay in one row (a quarter of the loads).
  const vec = a.N % 4 === 0;
  const entry = vec ? 'bias_grad_partial4' : 'bias_grad_partial';
  const pipeline = await env.pipelines.get('reduce', entry, {}, halfAliases({ src_t: a.dZ }));
  const params = uniformBuffer(env, [{ u: a.B }, { u: a.N }, { u: BIAS_CHUNK }, { f: 0 }], `${entry} params`);
  const out = { buffer: partials, offset: 0, length: P * a.N };
  const group = bindGroup(env, pipeline, vec ? [params, null, out, a.dZ] : [params, a.dZ, out], entry);
  const first: Dispatch = {
    label: entry,
    kind: 'bias_grad',
    pipeline,
    bindGroup: group,
    workgroups: grid2d(env, Math.ceil((P * (vec ? a.N / 4 : a.N)) / 64)),
  };
  const second = await prepareBiasGrad(env, {
    B: P,
    N: a.N,
    dZ: { buffer: partials, offset: 0, length: P * a.N },
    db: a.db,
  });
  return [first, second];
}

export async function prepareLossAccumulate(
  env: KernelEnv,
  a: { B: number; stats: TensorView; acc: TensorView },
): Promise<Dispatch> {
  requireLength(a.stats, a.B * 3, 'loss_accumulate stats');
  requireLength(a.acc, 4, 'loss_accumulate acc');
  const pipeline = await env.pipelines.get('reduce', 'loss_accumulate', {});
  const params = uniformBuffer(env, [{ u: a.B }, { u: 3 }, { u: 0 }, { f: 0 }], 'loss_accumulate params');
  const group = bindGroup(env, pipeline, [params, a.stats, a.acc], 'loss_accumulate');
  return { label: 'loss_accumulate', kind: 'loss', pipeline, bindGroup: group, workgroups: [1, 1, 1] };
}

/** Two dispatches: partial sums of squares, then the clip scale into `scale` (2 values). */
export async function prepareClip(
  env: KernelEnv,
  a: { grads: TensorView; maxNorm: number; partials: TensorView; scale: TensorView },
): Promise<Dispatch[]> {
  requireLength(a.partials, CLIP_PARTIALS, 'clip partials');
  requireLength(a.scale, 2, 'clip scale');
  const p1 = await env.pipelines.get('reduce', 'sumsq_partial', {});
  const p2 = await env.pipelines.get('reduce', 'clip_scale', {});
  const u1 = uniformBuffer(
    env,
    [{ u: 0 }, { u: 0 }, { u: a.grads.length }, { f: a.maxNorm }],
    'sumsq params',
  );
  const u2 = uniformBuffer(env, [{ u: CLIP_PARTIALS }, { u: 0 }, { u: 0 }, { f: a.maxNorm }], 'clip params');
  return [
    {
      label: 'sumsq_partial',
      kind: 'clip',
      pipeline: p1,
      bindGroup: bindGroup(env, p1, [u1, a.grads, a.partials], 'sumsq_partial'),
      workgroups: [CLIP_PARTIALS, 1, 1],
    },
    {
      label: 'clip_scale',
      kind: 'clip',
      pipeline: p2,
      bindGroup: bindGroup(env, p2, [u2, a.partials, a.scale], 'clip_scale'),
      workgroups: [1, 1, 1],
    },
  ];
}
