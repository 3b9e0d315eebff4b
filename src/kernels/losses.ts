// Loss kernels fused with their gradient (shaders/losses.wgsl). Shapes: outputs [B,N]; targets
// [B,N] (bce, mse) or labels [B] u32 (softmax-ce); grad [B,N] OVERWRITTEN; stats [B,3] rows of
// (loss, correct, active). `active` rows <= B are live; the rest contribute nothing. softmax-ce
// takes a label smoothing eps in [0, 1) (0: plain cross-entropy), in the params' last word. The active
// count lives in the params uniform at byte offset 8 so a trainer can rewrite it for a last
// partial batch without rebuilding anything.

import { ConfigError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import {
  bindGroup,
  requireDims,
  requireLength,
  uniformBuffer,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from './common.js';

import { checkLabelSmoothing, LOSSES, type LossName } from '../nn/losses.js';

export { LOSSES, type LossName };

const ENTRY: Record<LossName, string> = { bce: 'loss_bce', 'softmax-ce': 'loss_softmax_ce', mse: 'loss_mse' };
const WG = 64;

export interface LossDispatch extends Dispatch {
  /**
   * Uniform holding (rows, cols, active, smoothing as f32); write a u32 at ACTIVE_OFFSET to change
   * `active`.
   */
  params: GPUBuffer;
}
export const ACTIVE_OFFSET = 8;

export async function prepareLoss(
  env: KernelEnv,
  a: {
    loss: LossName;
    B: number;
    N: number;
    active?: number;
    outputs: TensorView;
    targets: TensorView;
    grad: TensorView;
    stats: TensorView;
    /** Loss-scaler state (src/kernels/amp.ts): multiply the gradient by its scale. */
    amp?: GPUBuffer;
    /** softmax-ce only: label smoothing eps in [0, 1); default 0 (plain cross-entropy). */
    smoothing?: number;
  },
): Promise<LossDispatch> {
  const { B, N, loss } = a;
  requireDims({ B, N }, `loss ${loss}`);
  if (!ENTRY[loss]) throw new ConfigError(`Unknown loss '${loss}'; use one of ${LOSSES.join(', ')}.`);
  if (loss === 'softmax-ce' && N < 2)
    throw new ConfigError('softmax-ce needs at least 2 outputs; use bce for one.');
  const smoothing = a.smoothing ?? 0;
  checkLabelSmoothing(loss, smoothing);
  requireLength(a.outputs, B * N, `loss ${loss} outputs`);
  requireLength(a.targets, loss === 'softmax-ce' ? B : B * N, `loss ${loss} targets`);
  requireLength(a.grad, B * N, `loss ${loss} grad`);
  requireLength(a.stats, B * 3, `loss ${loss} stats`);
  const entry = ENTRY[loss];
  const pipeline = await env.pipelines.get('losses', entry, { WG, SCALED: a.amp !== undefined });
  const params = uniformBuffer(
    env,
    [{ u: B }, { u: N }, { u: a.active ?? B }, { f: smoothing }],
    `${entry} params`,
  );
  const ce = loss === 'softmax-ce';
  const group = bindGroup(
    env,
    pipeline,
    [
      params,
      a.outputs,
      ce ? null : a.targets,
      ce ? a.targets : null,
      a.grad,
      a.stats,
      // grad_scale() names the binding even when SCALED is off: a placeholder then.
      a.amp ?? env.pool.acquire(16, USAGE.STORAGE, 'amp-unused'),
    ],
    entry,
  );
  return {
    label: entry,
    kind: 'loss',
    pipeline,
    bindGroup: group,
    workgroups: [Math.ceil(B / WG), 1, 1],
    params,
  };
}
