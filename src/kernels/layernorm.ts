// Layer-norm kernels (shaders/layernorm.wgsl). x, z, a, dZ, dX are [rows, C] with rows = B*S (S
// positions per sample: H*W for a map, 1 after a dense layer); gamma, beta, dGamma, dBeta are
// [C]; mean and invStd are [rows] (per-row statistics, written by the forward for the backward).
//   forward   [normalise]: z = gamma (x - mean_r) invStd_r + beta, a = act(z) (a may be z itself
//             when act is identity: written once); training and evaluation are the same
//   backward  [dX] (skipped when no dX is given: a first layer), then [partial, final]: dGamma,
//             dBeta as column sums over the rows; dX times act'_prev(aux). Padding rows of a
//             partial batch need no mask: their dZ is 0 (the loss writes it so), which gives
//             them dX = 0 and adds nothing to the sums
// Every dispatch OVERWRITES its outputs. The row passes take one invocation per row (vec4 loads
// where C % 4 == 0), or on a GPU one workgroup per row for large C (layerNormLayout); the
// parameter gradients reduce over the rows in two dispatches through a [P, C] vec2 scratch the
// caller passes, reading x and dZ once more rather than writing a per-row product for
// prepareBiasGradSteps (equal time on lavapipe, and no [rows, C] buffer).

import { ConfigError, ShapeError } from '../errors.js';
import { ACTIVATION_IDS, type Activation } from '../nn/activations.js';
import { batchNormPartitions } from './batchnorm.js';
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
import { prevActivation, type PrevActivation } from './prev-activation.js';

/** Invocations per workgroup of the per-row and reduction kernels. */
const WG = 64;
/** Invocations per row of the per-workgroup layout (a power of two <= 256). */
const GW = 64;
/** On a GPU, rows of more than this many values take a workgroup each. */
export const ROW_LAYOUT_MAX_C = 64;

/** One invocation per row (row4: reading vec4s, for C % 4 == 0), or one workgroup per row. */
export type LayerNormLayout = 'row' | 'row4' | 'group';

/** Whether the adapter is a CPU driver (lavapipe, SwiftShader, a fallback adapter). */
function cpuAdapter(device: GPUDevice): boolean {
  const info = (device as { adapterInfo?: { architecture?: string; isFallbackAdapter?: boolean } })
    .adapterInfo;
  return info?.architecture === 'software' || info?.isFallbackAdapter === true;
}

/**
 * The row passes' layout for rows of C values. On lavapipe one invocation per row was the fastest
 * at every shape measured (R 64..131072, C 8..1000; a workgroup per row pays for its barriers and
 * idle lanes: 2-4x slower at C = 1000, 20-100x at C <= 64), and the vec4 form about halves the
 * scalar one's time where C % 4 == 0. A GPU wants a long row split over many lanes.
 */
export function layerNormLayout(C: number, device: GPUDevice): LayerNormLayout {
  if (C > ROW_LAYOUT_MAX_C && !cpuAdapter(device)) return 'group';
  return C % 4 === 0 ? 'row4' : 'row';
}

/** f32 values of the backward's partial-sum scratch for rows = B*S rows of C values. */
export function layerNormPartialLength(rows: number, C: number): number {
  return batchNormPartitions(rows).parts * C * 2;
}

export interface LayerNormForwardArgs {
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
  /** [rows], written with each row's mean and 1 / sqrt(var + eps) for the backward pass. */
  mean: TensorView;
  invStd: TensorView;
  /** Overrides layerNormLayout (tests and benchmarks). */
  layout?: LayerNormLayout;
}

export interface LayerNormBackwardArgs extends PrevActivation {
  B: number;
  S: number;
  C: number;
  x: TensorView;
  /** Gradient of this layer's pre-activation z. */
  dZ: TensorView;
  gamma: TensorView;
  /** The forward pass's per-row statistics. */
  mean: TensorView;
  invStd: TensorView;
  /** Absent when nothing needs the input gradient (the model's first layer). */
  dX?: TensorView;
  dGamma: TensorView;
  dBeta: TensorView;
  /** layerNormPartialLength(B * S, C) values of scratch. */
  partial: TensorView;
  layout?: LayerNormLayout;
}

function paramsBuffer(env: KernelEnv, B: number, S: number, C: number, eps: number, label: string) {
  const rows = B * S;
  const { parts, partRows } = batchNormPartitions(rows);
  return uniformBuffer(env, [{ u: rows }, { u: C }, { f: eps }, { u: parts }, { u: partRows }], label);
}

/** A bind-group entry list from binding number to buffer (the rest unused by the entry point). */
const slots = (m: Record<number, GPUBuffer | TensorView | null>) =>
  Array.from({ length: 23 }, (_, i) => m[i] ?? null);

/** The layout asked for, or picked; row4 needs whole vec4s in a row. */
function layoutOf(op: string, env: KernelEnv, C: number, asked?: LayerNormLayout): LayerNormLayout {
  if (asked === 'row4' && C % 4 !== 0) {
    throw new ShapeError(`${op}: the row4 layout reads vec4s and needs C % 4 == 0, got C = ${C}.`);
  }
  return asked ?? layerNormLayout(C, env.device);
}

/** Workgroups of a row pass: WG rows per workgroup, or one workgroup per row. */
const rowGroups = (env: KernelEnv, rows: number, layout: LayerNormLayout) =>
  grid2d(env, layout === 'group' ? rows : Math.ceil(rows / WG));

const sameView = (p: TensorView, q: TensorView) => p.buffer === q.buffer && p.offset === q.offset;

export async function prepareLayerNormForward(env: KernelEnv, a: LayerNormForwardArgs): Promise<Dispatch> {
  const { B, S, C } = a;
  requireDims({ B, S, C }, 'layernorm_forward');
  const rows = B * S;
  for (const [t, n, what] of [
    [a.x, rows * C, 'x'],
    [a.z, rows * C, 'z'],
    [a.a, rows * C, 'a'],
    [a.gamma, C, 'gamma'],
    [a.beta, C, 'beta'],
    [a.mean, rows, 'mean'],
    [a.invStd, rows, 'invStd'],
  ] as const) {
    requireLength(t, n, `layernorm_forward ${what}`);
  }
  if (!(a.epsilon > 0 && Number.isFinite(a.epsilon))) {
    throw new ConfigError(`layernorm_forward: epsilon must be a positive number, got ${a.epsilon}.`);
  }
  if (a.activation === 'softmax') {
    throw new ShapeError(
      'layernorm_forward: softmax is only an output activation; use it on the last dense layer.',
    );
  }
  const inPlace = sameView(a.z, a.a);
  if (inPlace && a.activation !== 'identity') {
    throw new ShapeError(
      `layernorm_forward: z and a are one tensor but the activation is '${a.activation}'; z is needed for the backward pass, so give a its own buffer.`,
    );
  }
  const layout = layoutOf('layernorm_forward', env, C, a.layout);
  const entry = `layernorm_forward_${layout}${inPlace ? '_z' : ''}`;
  const act = { ACT: ACTIVATION_IDS[a.activation], ALPHA: a.alpha ?? 0.01 };
  const size: Record<string, number> = layout === 'group' ? { GW } : { WG };
  const pipeline = await env.pipelines.get('layernorm', entry, { ...size, ...act });
  const params = paramsBuffer(env, B, S, C, a.epsilon, 'layernorm_forward params');
  return {
    label: entry,
    kind: 'layernorm',
    pipeline,
    bindGroup: bindGroup(
      env,
      pipeline,
      slots(
        layout === 'row4'
          ? {
              0: params,
              15: a.x,
              16: a.gamma,
              17: a.beta,
              7: a.mean,
              8: a.invStd,
              20: a.z,
              21: inPlace ? null : a.a,
            }
          : {
              0: params,
              2: a.x,
              3: a.gamma,
              4: a.beta,
              7: a.mean,
              8: a.invStd,
              9: a.z,
              10: inPlace ? null : a.a,
            },
      ),
      entry,
    ),
    workgroups: rowGroups(env, rows, layout),
  };
}

export async function prepareLayerNormBackward(
  env: KernelEnv,
  a: LayerNormBackwardArgs,
): Promise<Dispatch[]> {
  const { B, S, C } = a;
  requireDims({ B, S, C }, 'layernorm_backward');
  const rows = B * S;
  for (const [t, n, what] of [
    [a.x, rows * C, 'x'],
    [a.dZ, rows * C, 'dZ'],
    [a.gamma, C, 'gamma'],
    [a.mean, rows, 'mean'],
    [a.invStd, rows, 'invStd'],
    [a.dGamma, C, 'dGamma'],
    [a.dBeta, C, 'dBeta'],
    [a.partial, layerNormPartialLength(rows, C), 'partial'],
  ] as const) {
    requireLength(t, n, `layernorm_backward ${what}`);
  }
  const params = paramsBuffer(env, B, S, C, 1, 'layernorm_backward params');
  const { parts } = batchNormPartitions(rows);
  // Four columns per invocation where they stay in one row (a quarter of the loads).
  const vec = C % 4 === 0;
  const partialEntry = vec ? 'layernorm_params_partial4' : 'layernorm_params_partial';
  const pp = await env.pipelines.get('layernorm', partialEntry, { WG });
  const fp = await env.pipelines.get('layernorm', 'layernorm_params_final', { WG });
  const reduce: Dispatch[] = [
    {
      label: partialEntry,
      kind: 'layernorm',
      pipeline: pp,
      bindGroup: bindGroup(
        env,
        pp,
        slots({
          0: params,
          [vec ? 15 : 2]: a.x,
          [vec ? 18 : 5]: a.dZ,
          7: a.mean,
          8: a.invStd,
          12: a.partial,
        }),
        partialEntry,
      ),
      workgroups: grid2d(env, Math.ceil((parts * (vec ? C / 4 : C)) / WG)),
    },
    {
      label: 'layernorm_params_final',
      kind: 'layernorm',
      pipeline: fp,
      bindGroup: bindGroup(
        env,
        fp,
        slots({ 0: params, 12: a.partial, 13: a.dGamma, 14: a.dBeta }),
        'layernorm_params_final',
      ),
      workgroups: grid2d(env, Math.ceil(C / WG)),
    },
  ];
  if (!a.dX) return reduce;
  requireLength(a.dX, rows * C, 'layernorm_backward dX');
  const prev = prevActivation('layernorm_backward', a, rows * C, a.x);
  const layout = layoutOf('layernorm_backward', env, C, a.layout);
  const entry = `layernorm_backward_${layout}`;
  const size: Record<string, number> = layout === 'group' ? { GW } : { WG };
  const ep = await env.pipelines.get('layernorm', entry, { ...size, ...prev.constants });
  const dx: Dispatch = {
    label: entry,
    kind: 'layernorm',
    pipeline: ep,
    bindGroup: bindGroup(
      env,
      ep,
      slots(
        layout === 'row4'
          ? {
              0: params,
              15: a.x,
              16: a.gamma,
              18: a.dZ,
              19: prev.aux,
              7: a.mean,
              8: a.invStd,
              22: a.dX,
            }
          : {
              0: params,
              2: a.x,
              3: a.gamma,
              5: a.dZ,
              6: prev.aux,
              7: a.mean,
              8: a.invStd,
              11: a.dX,
            },
      ),
      entry,
    ),
    workgroups: rowGroups(env, rows, layout),
  };
  return [dx, ...reduce];
}
