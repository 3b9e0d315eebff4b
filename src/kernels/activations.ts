// Standalone activation kernels (shaders/activations.wgsl); Z, A, dA, dZ are [rows, cols].
//   forward:   A = act(Z)            (softmax: row-wise, stable)
//   backward:  dZ = dA * act'(Z)     (softmax: dZ = S (dA - rowsum(dA S)), given S = softmax(Z))
// Both OVERWRITE their output.

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

const WG = 256;

export async function prepareActivationForward(
  env: KernelEnv,
  a: { activation: Activation; alpha?: number; rows: number; cols: number; z: TensorView; out: TensorView },
): Promise<Dispatch> {
  return prepare(env, 'forward', a.activation, a.alpha, a.rows, a.cols, a.z, null, a.out);
}

/** For softmax, `z` must hold the softmax OUTPUT S (what forward wrote), not the logits. */
export async function prepareActivationBackward(
  env: KernelEnv,
  a: {
    activation: Activation;
    alpha?: number;
    rows: number;
    cols: number;
    z: TensorView;
    dA: TensorView;
    out: TensorView;
  },
): Promise<Dispatch> {
  return prepare(env, 'backward', a.activation, a.alpha, a.rows, a.cols, a.z, a.dA, a.out);
}

async function prepare(
  env: KernelEnv,
  dir: 'forward' | 'backward',
  activation: Activation,
  alpha: number | undefined,
  rows: number,
  cols: number,
  z: TensorView,
  dA: TensorView | null,
  out: TensorView,
): Promise<Dispatch> {
  requireDims({ rows, cols }, `activation_${dir}`);
  const count = rows * cols;
  requireLength(z, count, `activation_${dir} input`);
  requireLength(out, count, `activation_${dir} output`);
  if (dA) requireLength(dA, count, `activation_${dir} dA`);
  const softmax = activation === 'softmax';
  const entry = softmax ? `softmax_${dir}` : `activation_${dir}`;
  const constants: Record<string, number> = softmax
    ? { WG }
    : { WG, ACT: ACTIVATION_IDS[activation], ALPHA: alpha ?? 0.01 };
  const pipeline = await env.pipelines.get('activations', entry, constants);
  const params = uniformBuffer(env, [{ u: rows }, { u: cols }, { u: count }, { u: 0 }], `${entry} params`);
  const group = bindGroup(env, pipeline, [params, z, dA, out], entry);
  const workgroups = grid2d(env, Math.ceil((softmax ? rows : count) / WG));
  return { label: entry, kind: softmax ? 'softmax' : 'activation', pipeline, bindGroup: group, workgroups };
}
