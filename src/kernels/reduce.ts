// Reductions (shaders/reduce.wgsl).
//   biasGrad:        db[N] = column sums of dZ[B,N] (dZ f32 or f16, sums f32)      (OVERWRITES db)
//                    prepareBiasGradSteps: for long columns (a conv's B*OH*OW rows, or a dense
//                    layer's batch on a real GPU: denseBiasChunk), partial
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
 * Rows per chunk of a dense layer's bias gradient on this adapter; 0 for one pass. A real GPU
 * wants many short column sums, not one thread per column: in one pass a 1024-wide layer of 512
 * rows is 1024 threads each reading 512 values in turn, about a quarter of MLP C's step on an
 * H100 (docs/tuning.md). A CPU driver spreads one pass over its cores well enough, and each extra
 * dispatch costs it more than the sums (lavapipe keeps one pass).
 */
export function denseBiasChunk(hardware: boolean): number {
  return hardware ? 32 : 0;
}

/** The floats of partial sums the two-pass bias gradient needs (0 for one pass). */
export function biasGradPartialsLength(B: number, N: number, chunk = BIAS_CHUNK): number {
  return chunk > 0 && B >= 2 * chunk ? Math.ceil(B / chunk) * N : 0;
}

/**
 * The bias gradient as one dispatch, or two for long columns (partial sums over `chunk` rows
 * into `partials`, biasGradPartialsLength floats, or a buffer this call takes from the pool;
 * then their sums). Same result order every run.
 */
export async function prepareBiasGradSteps(
  env: KernelEnv,
  a: { B: number; N: number; dZ: TensorView; db: TensorView; chunk?: number; partials?: TensorView },
): Promise<Dispatch[]> {
  const chunk = a.chunk ?? BIAS_CHUNK;
  const need = biasGradPartialsLength(a.B, a.N, chunk);
  if (need === 0) return [await prepareBiasGrad(env, a)];
  requireDims({ B: a.B, N: a.N }, 'bias_grad');
  requireLength(a.dZ, a.B * a.N, 'bias_grad dZ');
  requireLength(a.db, a.N, 'bias_grad db');
  if (a.partials) requireLength(a.partials, need, 'bias_grad partials');
  const P = Math.ceil(a.B / chunk);
  const partials = a.partials?.buffer ?? env.pool.acquire(need * 4, USAGE.STORAGE, 'bias_grad partials');
  const at = a.partials?.offset ?? 0;
  // Four columns per invocation where they stay in one row (a quarter of the loads).
  const vec = a.N % 4 === 0;
  const entry = vec ? 'bias_grad_partial4' : 'bias_grad_partial';
  const pipeline = await env.pipelines.get('reduce', entry, {}, halfAliases({ src_t: a.dZ }));
  const params = uniformBuffer(env, [{ u: a.B }, { u: a.N }, { u: chunk }, { f: 0 }], `${entry} params`);
  const out = { buffer: partials, offset: at, length: P * a.N };
  const group = bindGroup(env, pipeline, vec ? [params, null, out, a.dZ] : [params, a.dZ, out], entry);
  const first: Dispatch = {
    label: entry,
    kind: 'bias_grad',
    pipeline,
    bindGroup: group,
    workgroups: grid2d(env, Math.ceil((P * (vec ? a.N / 4 : a.N)) / 64)),
  };
  const second = await prepareBiasGrad(env, { B: P, N: a.N, dZ: out, db: a.db });
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
