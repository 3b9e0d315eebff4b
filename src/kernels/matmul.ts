// Dense-layer matmuls (shaders/matmul.wgsl). W is [N, K] (out x in), activations row-major.
//   forward      Z[B,N] = X[B,K] W^T + b,  A = act(Z)          (FORM 0, EPILOGUE 1)
//   weightGrad   dW[N,K] = dZ^T[N,B] X[B,K]                     (FORM 1, EPILOGUE 0)
//   inputGrad    dX[B,K] = dZ[B,N] W[N,K], times act'(Zprev)   (FORM 2, EPILOGUE 2 or 0)
// Every form OVERWRITES its output. `variant` picks the main loop (see tune.ts).

import { ShapeError } from '../errors.js';
import { ACTIVATION_IDS, type Activation } from '../nn/activations.js';
import {
  bindGroup,
  requireDims,
  requireLength,
  uniformBuffer,
  type Dispatch,
  type KernelEnv,
  type TensorView,
} from './common.js';

export interface MatmulVariant {
  kind: 'reg' | 'wg';
  wgX: number;
  wgY: number;
}

export const DEFAULT_VARIANT: MatmulVariant = { kind: 'reg', wgX: 8, wgY: 8 };

export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  { kind: 'reg', wgX: 8, wgY: 8 },
  { kind: 'reg', wgX: 16, wgY: 4 },
  { kind: 'reg', wgX: 4, wgY: 16 },
  { kind: 'wg', wgX: 8, wgY: 8 },
  { kind: 'wg', wgX: 16, wgY: 16 },
];

export function variantName(v: MatmulVariant): string {
  return `${v.kind}-${v.wgX}x${v.wgY}`;
}

export type MatmulForm = 'forward' | 'weightGrad' | 'inputGrad';

export interface MatmulArgs {
  form: MatmulForm;
  /** forward: B x K input X. weightGrad: B x N dZ. inputGrad: B x N dZ. */
  lhs: TensorView;
  /** forward/inputGrad: W [N,K]. weightGrad: X [B,K]. */
  rhs: TensorView;
  /** Product letters of the LAYER: batch B, in K, out N. */
  B: number;
  K: number;
  N: number;
  out: TensorView;
  /** forward: bias [N] and activation output A [B,N]. */
  bias?: TensorView;
  outA?: TensorView;
  /** forward: the activation; inputGrad: the PREVIOUS layer's activation (derivative applied). */
  activation?: Activation;
  alpha?: number;
  /** inputGrad: the previous layer's pre-activation Z [B,K] (needed unless activation is identity). */
  aux?: TensorView;
  variant?: MatmulVariant;
  /** Read-only and writable placeholder buffers for bindings a form does not use. */
  dummies: { read: GPUBuffer; write: GPUBuffer };
}

const FORM_ID = { forward: 0, weightGrad: 1, inputGrad: 2 } as const;

export async function prepareMatmul(env: KernelEnv, a: MatmulArgs): Promise<Dispatch> {
  const { B, K, N, form } = a;
  requireDims({ B, K, N }, `matmul ${form}`);
  const v = a.variant ?? DEFAULT_VARIANT;
  // Letters of the product C[M,Nc] = op(L)[M,Kc] op(R)[Kc,Nc] for each form.
  const [M, Nc, Kc] = form === 'forward' ? [B, N, K] : form === 'weightGrad' ? [N, K, B] : [B, K, N];
  const act = a.activation ?? 'identity';
  if (act === 'softmax') {
    throw new ShapeError('matmul epilogues cannot apply softmax (a row operation); use the softmax kernel.');
  }
  let epilogue = 0;
  if (form === 'forward') {
    requireLength(a.lhs, B * K, 'matmul forward X');
    requireLength(a.rhs, N * K, 'matmul forward W');
    if (!a.bias || !a.outA) throw new ShapeError('matmul forward needs a bias and an activation output.');
    requireLength(a.bias, N, 'matmul forward bias');
    requireLength(a.outA, B * N, 'matmul forward A');
    epilogue = 1;
  } else if (form === 'weightGrad') {
    requireLength(a.lhs, B * N, 'matmul weightGrad dZ');
    requireLength(a.rhs, B * K, 'matmul weightGrad X');
  } else {
    requireLength(a.lhs, B * N, 'matmul inputGrad dZ');
    requireLength(a.rhs, N * K, 'matmul inputGrad W');
    if (act !== 'identity') {
      if (!a.aux) throw new ShapeError(`matmul inputGrad with activation '${act}' needs the previous Z.`);
      requireLength(a.aux, B * K, 'matmul inputGrad Zprev');
      epilogue = 2;
    }
  }
  requireLength(a.out, M * Nc, `matmul ${form} output`);

  const entry = v.kind === 'reg' ? 'matmul_reg' : 'matmul_wg';
  const pipeline = await env.pipelines.get('matmul', entry, {
    FORM: FORM_ID[form],
    EPILOGUE: epilogue,
    ACT: ACTIVATION_IDS[act],
    ALPHA: a.alpha ?? 0.01,
    WG_X: v.wgX,
    WG_Y: v.wgY,
  });
  const dims = uniformBuffer(env, [{ u: M }, { u: Nc }, { u: Kc }, { u: 0 }], `matmul_${form} dims`);
  const label = `matmul_${form}`;
  const group = bindGroup(
    env,
    pipeline,
    [
      dims,
      a.lhs,
      a.rhs,
      epilogue === 1 ? a.bias! : a.dummies.read,
      epilogue === 2 ? a.aux! : a.dummies.read,
      a.out,
      epilogue === 1 ? a.outA! : a.dummies.write,
    ],
    label,
  );
  const gx = Math.ceil(Nc / (4 * v.wgX));
  const gy = Math.ceil(M / (4 * v.wgY));
  const max = env.device.limits.maxComputeWorkgroupsPerDimension;
  if (gx > max || gy > max) {
    throw new ShapeError(
      `matmul ${form} ${M}x${Nc}x${Kc} needs ${gx}x${gy} workgroups; the adapter allows ${max}.`,
    );
  }
  return { label, kind: `matmul_${form}`, pipeline, bindGroup: group, workgroups: [gx, gy, 1] };
}
