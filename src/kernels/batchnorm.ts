// Batch-norm kernels (shaders/batchnorm.wgsl). x, z, a, dZ, dX are [rows, C] with rows = B*S (S
// spatial positions per sample: H*W for a map, 1 after a dense layer); gamma, beta, mean, invStd,
// runningMean, runningVar, dGamma, dBeta are [C]. Statistics use the active rows only:
// n = active * S, active read from the plan's step-params uniform each step.
//   forward, training  [stats, normalise]: mean, invStd (biased variance, shifted two-pass),
//                      running stats moved PyTorch's way; z = gamma (x - mean) invStd + beta,
//                      a = act(z) (a may be z itself when act is identity: written once)
//   forward, eval      [normalise]: the running statistics; nothing is updated
//   backward           [reduce, dX]: dGamma, dBeta over active rows; dX through the batch
//                      statistics times act'_prev(aux), and 0 on padding rows
// Every dispatch OVERWRITES its outputs (the stats pass updates the running stats in place).
// The reductions run in two dispatches (per-partition partials, then a per-channel fold over a
// [P, C] vec2 scratch); the elementwise passes take ER rows of one channel per invocation.

import { halfAliases } from '../gpu/shader-types.js';
import { ConfigError, ShapeError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import { ACTIVATION_IDS, type Activation } from '../nn/activations.js';
import {
  bindGroup,
  grid2d,
  requireDims,
  requireLength,
  uniformBuffer,
  view,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from './common.js';
import { prevActivation, type PrevActivation } from './prev-activation.js';

const WG = 256;
/** Rows per invocation of the elementwise passes. */
const ER = 8;
/** Partitions of the reductions: at most this many, of at least MIN_PART_ROWS rows each. */
const MAX_PARTS = 256;
const MIN_PART_ROWS = 16;

/** P and R of the reductions for `rows` rows: P * R >= rows, R >= MIN_PART_ROWS unless rows is smaller. */
export function batchNormPartitions(rows: number): { parts: number; partRows: number } {
  const partRows = Math.max(Math.min(MIN_PART_ROWS, rows), Math.ceil(rows / MAX_PARTS));
  return { parts: Math.ceil(rows / partRows), partRows };
}

export interface BatchNormForwardArgs {
  B: number;
  S: number;
  C: number;
  x: TensorView;
  gamma: TensorView;
  beta: TensorView;
  /** Pre-activation (kept for the next layer's fused act'). */
  z: TensorView;
  /** act(z); may be the same view as z when activation is identity. */
  a: TensorView;
  activation: Activation;
  alpha?: number;
  epsilon: number;
  /** PyTorch's convention: weight of the new batch statistic. */
  momentum: number;
  training: boolean;
  /** Training: written with the batch mean and 1 / sqrt(var + eps) for the backward pass. */
  mean: TensorView;
  invStd: TensorView;
  runningMean: TensorView;
  runningVar: TensorView;
  stepParams: GPUBuffer;
}

export interface BatchNormBackwardArgs extends PrevActivation {
  B: number;
  S: number;
  C: number;
  x: TensorView;
  /** Gradient of this layer's pre-activation z. */
  dZ: TensorView;
  gamma: TensorView;
  /** The forward pass's batch statistics. */
  mean: TensorView;
  invStd: TensorView;
  dX: TensorView;
  dGamma: TensorView;
  dBeta: TensorView;
  stepParams: GPUBuffer;
}

function paramsBuffer(
  env: KernelEnv,
  B: number,
  S: number,
  C: number,
  eps: number,
  m: number,
  label: string,
) {
  const rows = B * S;
  const { parts, partRows } = batchNormPartitions(rows);
  return uniformBuffer(
    env,
    [{ u: rows }, { u: S }, { u: C }, { u: rows * C }, { f: eps }, { f: m }, { u: parts }, { u: partRows }],
    label,
  );
}

/** The [P, C] vec2 scratch of one reduction pair. */
function partialScratch(env: KernelEnv, B: number, S: number, C: number, label: string): TensorView {
  const { parts } = batchNormPartitions(B * S);
  return view(env.pool.acquire(parts * C * 8, USAGE.STORAGE, label), parts * C * 2);
}

/** A bind-group entry list from binding number to buffer (the rest unused by the entry point). */
const slots = (m: Record<number, GPUBuffer | TensorView | null>) =>
  Array.from({ length: 18 }, (_, i) => m[i] ?? null);

/** Workgroups of an elementwise pass: one invocation per ER rows of one channel. */
const elementGroups = (env: KernelEnv, B: number, S: number, C: number) =>
  grid2d(env, Math.ceil((Math.ceil((B * S) / ER) * C) / WG));

const sameView = (p: TensorView, q: TensorView) => p.buffer === q.buffer && p.offset === q.offset;

export async function prepareBatchNormForward(env: KernelEnv, a: BatchNormForwardArgs): Promise<Dispatch[]> {
  const { B, S, C } = a;
  requireDims({ B, S, C }, 'batchnorm_forward');
  const count = B * S * C;
  for (const [t, n, what] of [
    [a.x, count, 'x'],
    [a.z, count, 'z'],
    [a.a, count, 'a'],
    [a.gamma, C, 'gamma'],
    [a.beta, C, 'beta'],
    [a.mean, C, 'mean'],
    [a.invStd, C, 'invStd'],
    [a.runningMean, C, 'runningMean'],
    [a.runningVar, C, 'runningVar'],
  ] as const) {
    requireLength(t, n, `batchnorm_forward ${what}`);
  }
  if (!(a.epsilon > 0 && Number.isFinite(a.epsilon))) {
    throw new ConfigError(`batchnorm_forward: epsilon must be a positive number, got ${a.epsilon}.`);
  }
  if (!(a.momentum >= 0 && a.momentum <= 1)) {
    throw new ConfigError(
      `batchnorm_forward: momentum must be in [0, 1] (PyTorch's convention), got ${a.momentum}.`,
    );
  }
  if (a.activation === 'softmax') {
    throw new ShapeError(
      'batchnorm_forward: softmax is only an output activation; use it on the last dense layer.',
    );
  }
  const inPlace = sameView(a.z, a.a);
  if (inPlace && a.activation !== 'identity') {
    throw new ShapeError(
      `batchnorm_forward: z and a are one tensor but the activation is '${a.activation}'; z is needed for the backward pass, so give a its own buffer.`,
    );
  }
  const params = paramsBuffer(env, B, S, C, a.epsilon, a.momentum, 'batchnorm params');
  const entry = `batchnorm_forward${a.training ? '' : '_eval'}${inPlace ? '_z' : ''}`;
  // x, z and a may be f16 views (mixed precision); statistics and parameters are f32.
  const norm = await env.pipelines.get(
    'batchnorm',
    entry,
    { WG, ER, ACT: ACTIVATION_IDS[a.activation], ALPHA: a.alpha ?? 0.01 },
    halfAliases({ x_t: a.x, z_t: a.z, a_t: inPlace ? null : a.a }),
  );
  const stats = a.training ? [a.mean, a.invStd, null, null] : [null, null, a.runningMean, a.runningVar];
  const normalise: Dispatch = {
    label: entry,
    kind: 'batchnorm',
    pipeline: norm,
    // 0 params, 1 step params, 2 x, 3 gamma, 4 beta, 5 dz, 6 aux, 7 mean, 8 invStd, 9 running mean,
    // 10 running var, 11 z, 12 a (absent in place)
    bindGroup: bindGroup(
      env,
      norm,
      [params, null, a.x, a.gamma, a.beta, null, null, ...stats, a.z, inPlace ? null : a.a],
      entry,
    ),
    workgroups: elementGroups(env, B, S, C),
  };
  if (!a.training) return [normalise];
  const partial = partialScratch(env, B, S, C, 'batchnorm_stats partial');
  const { parts } = batchNormPartitions(B * S);
  const pp = await env.pipelines.get(
    'batchnorm',
    'batchnorm_stats_partial',
    { WG },
    halfAliases({ x_t: a.x }),
  );
  const fp = await env.pipelines.get('batchnorm', 'batchnorm_stats_final', { WG });
  return [
    {
      label: 'batchnorm_stats_partial',
      kind: 'batchnorm',
      pipeline: pp,
      bindGroup: bindGroup(
        env,
        pp,
        slots({ 0: params, 1: a.stepParams, 2: a.x, 17: partial }),
        'batchnorm_stats_partial',
      ),
      workgroups: grid2d(env, Math.ceil((parts * C) / WG)),
    },
    {
      label: 'batchnorm_stats_final',
      kind: 'batchnorm',
      pipeline: fp,
      bindGroup: bindGroup(
        env,
        fp,
        slots({
          0: params,
          1: a.stepParams,
          7: a.mean,
          8: a.invStd,
          9: a.runningMean,
          10: a.runningVar,
          17: partial,
        }),
        'batchnorm_stats_final',
      ),
      workgroups: grid2d(env, Math.ceil(C / WG)),
    },
    normalise,
  ];
}

export async function prepareBatchNormBackward(
  env: KernelEnv,
  a: BatchNormBackwardArgs,
): Promise<Dispatch[]> {
  const { B, S, C } = a;
  requireDims({ B, S, C }, 'batchnorm_backward');
  const count = B * S * C;
  for (const [t, n, what] of [
    [a.x, count, 'x'],
    [a.dZ, count, 'dZ'],
    [a.dX, count, 'dX'],
    [a.gamma, C, 'gamma'],
    [a.mean, C, 'mean'],
    [a.invStd, C, 'invStd'],
    [a.dGamma, C, 'dGamma'],
    [a.dBeta, C, 'dBeta'],
  ] as const) {
    requireLength(t, n, `batchnorm_backward ${what}`);
  }
  const prev = prevActivation('batchnorm_backward', a, count, a.x);
  const params = paramsBuffer(env, B, S, C, 1, 0, 'batchnorm_backward params');
  // Per-channel coefficients handed from the reduce to the elementwise pass; made once, here.
  const coef = view(env.pool.acquire(C * 16, USAGE.STORAGE, 'batchnorm_backward coef'), C * 4);
  const partial = partialScratch(env, B, S, C, 'batchnorm_backward partial');
  const { parts } = batchNormPartitions(B * S);
  // x, dZ, aux and dX may be f16 views (mixed precision).
  const pp = await env.pipelines.get(
    'batchnorm',
    'batchnorm_backward_partial',
    { WG },
    halfAliases({ x_t: a.x, dz_t: a.dZ }),
  );
  const fp = await env.pipelines.get('batchnorm', 'batchnorm_backward_final', { WG });
  const ep = await env.pipelines.get(
    'batchnorm',
    'batchnorm_backward',
    { WG, ER, ...prev.constants },
    halfAliases({ x_t: a.x, dz_t: a.dZ, aux_t: prev.aux, dx_t: a.dX }),
  );
  return [
    {
      label: 'batchnorm_backward_partial',
      kind: 'batchnorm',
      pipeline: pp,
      bindGroup: bindGroup(
        env,
        pp,
        slots({ 0: params, 1: a.stepParams, 2: a.x, 5: a.dZ, 7: a.mean, 8: a.invStd, 17: partial }),
        'batchnorm_backward_partial',
      ),
      workgroups: grid2d(env, Math.ceil((parts * C) / WG)),
    },
    {
      label: 'batchnorm_backward_final',
      kind: 'batchnorm',
      pipeline: fp,
      bindGroup: bindGroup(
        env,
        fp,
        slots({
          0: params,
          1: a.stepParams,
          3: a.gamma,
          7: a.mean,
          8: a.invStd,
          13: a.dGamma,
          14: a.dBeta,
          15: coef,
          17: partial,
        }),
        'batchnorm_backward_final',
      ),
      workgroups: grid2d(env, Math.ceil(C / WG)),
    },
    {
      label: 'batchnorm_backward',
      kind: 'batchnorm',
      pipeline: ep,
      bindGroup: bindGroup(
        env,
        ep,
        slots({ 0: params, 1: a.stepParams, 2: a.x, 5: a.dZ, 6: prev.aux, 15: coef, 16: a.dX }),
        'batchnorm_backward',
      ),
      workgroups: elementGroups(env, B, S, C),
    },
  ];
}
