// Graph joins (shaders/join.wgsl): the add layer's forward and the strided copy that concat and
// the gradients of both layers are made of. All f32 (the plan keeps joins and the tensors they
// touch in f32).
//   add        Z = X0 + X1, A = act(Z) when the activation is not the identity   [count]
//   copy       dst[r, dOff + c] (+)= src[r, sOff + c] * act'(aux[r, dOff + c])     r < rows, c < cols
//              with row strides sStride, dStride; `accumulate` adds to what dst holds (a tensor
//              with several readers sums their gradients), otherwise dst is OVERWRITTEN there.

import { ShapeError } from '../errors.js';
import { ACTIVATION_IDS, type Activation } from '../nn/activations.js';
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

const WG = 256;

export interface AddForwardArgs {
  count: number;
  x0: TensorView;
  x1: TensorView;
  z: TensorView;
  /** Written only for a non-identity activation (pass z's view otherwise; it is not bound). */
  a: TensorView;
  activation: Activation;
  alpha?: number;
  /** A writable stand-in for the unused A binding. */
  standIn: GPUBuffer;
}

export interface JoinCopyArgs extends PrevActivation {
  rows: number;
  cols: number;
  src: TensorView;
  srcStride: number;
  srcOffset: number;
  dst: TensorView;
  dstStride: number;
  dstOffset: number;
  accumulate: boolean;
}

function requireF32(op: string, views: Record<string, TensorView | undefined>): void {
  for (const [name, v] of Object.entries(views)) {
    if (v?.dtype === 'f16') throw new ShapeError(`${op}: ${name} is f16; joins run in f32 only.`);
  }
}

export async function prepareAddForward(env: KernelEnv, a: AddForwardArgs): Promise<Dispatch> {
  const { count } = a;
  requireDims({ count }, 'add_forward');
  if (a.activation === 'softmax') throw new ShapeError('add_forward: softmax is only an output activation.');
  for (const [name, v] of [
    ['x0', a.x0],
    ['x1', a.x1],
    ['z', a.z],
    ['a', a.a],
  ] as const)
    requireLength(v, count, `add_forward ${name}`);
  requireF32('add_forward', { x0: a.x0, x1: a.x1, z: a.z, a: a.a });
  const writeA = a.activation !== 'identity';
  const constants = {
    WG,
    ACT: ACTIVATION_IDS[a.activation],
    ALPHA: a.alpha ?? 0.01,
    WRITE_A: writeA ? 1 : 0,
  };
  const pipeline = await env.pipelines.get('join', 'add_forward', constants);
  const params = uniformBuffer(
    env,
    [0, 0, 0, 0, 0, 0, count, 0].map((u) => ({ u })),
    'add_forward params',
  );
  const entries = [params, a.x0, a.x1, a.z, writeA ? a.a : a.standIn];
  return {
    label: 'add_forward',
    kind: 'join',
    pipeline,
    bindGroup: bindGroup(env, pipeline, entries, 'add_forward'),
    workgroups: grid2d(env, Math.ceil(count / WG)),
  };
}

export async function prepareJoinCopy(env: KernelEnv, a: JoinCopyArgs): Promise<Dispatch> {
  const { rows, cols, srcStride, dstStride } = a;
  requireDims({ rows, cols, srcStride, dstStride }, 'join_copy');
  if (a.srcOffset < 0 || a.dstOffset < 0 || a.srcOffset + cols > srcStride || a.dstOffset + cols > dstStride)
    throw new ShapeError(
      `join_copy: columns ${a.srcOffset}+${cols} / ${a.dstOffset}+${cols} exceed the row strides ${srcStride} / ${dstStride}.`,
    );
  requireLength(a.src, rows * srcStride, 'join_copy src');
  requireLength(a.dst, rows * dstStride, 'join_copy dst');
  const count = rows * cols;
  // aux is laid out like dst; prevActivation checks its length against that.
  const fused = prevActivation('join_copy', a, rows * dstStride, a.src);
  requireF32('join_copy', { src: a.src, dst: a.dst, aux: fused.aux });
  const constants = { WG, ...fused.constants, ACC: a.accumulate ? 1 : 0 };
  const pipeline = await env.pipelines.get('join', 'join_copy', constants);
  const words = [rows, cols, srcStride, a.srcOffset, dstStride, a.dstOffset, count, 0];
  const params = uniformBuffer(
    env,
    words.map((u) => ({ u })),
    'join_copy params',
  );
  return {
    label: 'join_copy',
    kind: 'join',
    pipeline,
    bindGroup: bindGroup(env, pipeline, [params, a.src, fused.aux, a.dst, null], 'join_copy'),
    workgroups: grid2d(env, Math.ceil(count / WG)),
  };
}
