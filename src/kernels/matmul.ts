// Dense-layer matmuls (shaders/matmul.wgsl). W is [N, K] (out x in), activations row-major.
//   forward      Z[B,N] = X[B,K] W^T + b,  A = act(Z)          (FORM 0, EPILOGUE 1)
//   weightGrad   dW[N,K] = dZ^T[N,B] X[B,K]                     (FORM 1, EPILOGUE 0)
//   inputGrad    dX[B,K] = dZ[B,N] W[N,K], times act'(Zprev)   (FORM 2, EPILOGUE 2 or 0)
// Every form OVERWRITES its output. `variant` picks the main loop (chosen per adapter in tune.ts);
// the 'sg' loop lives in shaders/matmul_sg.wgsl and needs 8-lane subgroups (subgroupMatmulAvailable).
// prepareMatmulSteps returns one dispatch, or two with split-K (partials into `scratch`, then a
// reduce that applies the epilogue); encode them in order. prepareMatmul is the one-dispatch form.
// Mixed precision: any of lhs, rhs, aux, out and outA may be an f16 view (TensorView.dtype); the
// kernel converts on load and accumulates in f32 either way. Bias and split-K partials are f32.

import { ShapeError } from '../errors.js';
import { halfAliases } from '../gpu/shader-types.js';
import { ACTIVATION_IDS, type Activation } from '../nn/activations.js';
import type { ConvGeometry } from '../nn/layers.js';
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

export interface MatmulVariant {
  /**
   * reg: 2-D register tiles; row: 1-D workgroups, TM uniform rows (CPU drivers); wg: shared
   * memory; sg: 8-lane subgroups sharing an 8-row tile by broadcast (wgX must be 8).
   */
  kind: 'reg' | 'row' | 'wg' | 'sg';
  wgX: number;
  /** Must be 1 for 'row'. */
  wgY: number;
  /** 'row': outputs per invocation along the uniform side, 4 or 8 (default 4). 'sg': rows per subgroup, 8 or 16 (default 8). */
  tm?: number;
  /** K slices summed by separate workgroups (default 1); > 1 needs `scratch`. */
  splitK?: number;
}

export const DEFAULT_VARIANT: MatmulVariant = { kind: 'reg', wgX: 8, wgY: 8 };

/** Main-loop variants (no split-K; any of them takes a `splitK`). */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  { kind: 'reg', wgX: 8, wgY: 8 },
  { kind: 'reg', wgX: 16, wgY: 4 },
  { kind: 'row', wgX: 8, wgY: 1, tm: 4 },
  { kind: 'row', wgX: 16, wgY: 1, tm: 4 },
  { kind: 'row', wgX: 8, wgY: 1, tm: 8 },
  { kind: 'wg', wgX: 8, wgY: 8 },
  { kind: 'wg', wgX: 16, wgY: 16 },
];

/** Subgroup variants, usable where subgroupMatmulAvailable(device) holds. */
export const SUBGROUP_VARIANTS: readonly MatmulVariant[] = [
  { kind: 'sg', wgX: 8, wgY: 1 },
  { kind: 'sg', wgX: 8, wgY: 4 },
  { kind: 'sg', wgX: 8, wgY: 1, tm: 16 },
  { kind: 'sg', wgX: 8, wgY: 4, tm: 16 },
];

/**
 * Whether the 'sg' variants can run: the device has `subgroups` and its subgroups are exactly 8
 * lanes (the kernel's tile is laid out over 8 lanes; lavapipe on AVX2 reports 8).
 */
export function subgroupMatmulAvailable(device: GPUDevice): boolean {
  const info = (device as { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } })
    .adapterInfo;
  return device.features.has('subgroups') && info?.subgroupMinSize === 8 && info.subgroupMaxSize === 8;
}

export function variantName(v: MatmulVariant): string {
  const tm = v.kind === 'row' ? `-tm${v.tm ?? 4}` : v.kind === 'sg' && (v.tm ?? 8) !== 8 ? `-tm${v.tm}` : '';
  const split = (v.splitK ?? 1) > 1 ? `-split${v.splitK}` : '';
  return `${v.kind}-${v.wgX}x${v.wgY}${tm}${split}`;
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
  /** Split-K partials, matmulScratchLength(...) values; overwritten, free again after the reduce. */
  scratch?: TensorView;
  /** Read-only and writable placeholder buffers for bindings a form does not use. */
  dummies: { read: GPUBuffer; write: GPUBuffer };
  /**
   * Implicit-GEMM convolution (src/kernels/conv.ts validates the tensors): forward reads lhs = x
   * as col(x), weightGrad reads rhs = x as col(x), inputGrad is the transposed conv with lhs = dZ,
   * rhs = w [F,KH,KW,C]. See the CONV section of shaders/matmul_common.wgsl.
   */
  conv?: ConvGeometry;
}

const FORM_ID = { forward: 0, weightGrad: 1, inputGrad: 2 } as const;

/** Letters of the product C[M,Nc] = op(L)[M,Kc] op(R)[Kc,Nc] for a form of layer (B, K, N). */
export function productDims(form: MatmulForm, B: number, K: number, N: number): [number, number, number] {
  return form === 'forward' ? [B, N, K] : form === 'weightGrad' ? [N, K, B] : [B, K, N];
}

/** f32 values of scratch a variant needs for this form and layer shape (0 without split-K). */
export function matmulScratchLength(
  form: MatmulForm,
  B: number,
  K: number,
  N: number,
  v: MatmulVariant,
): number {
  const [M, Nc] = productDims(form, B, K, N);
  return (v.splitK ?? 1) > 1 ? (v.splitK ?? 1) * M * Nc : 0;
}

/** The single dispatch of a variant without split-K (throws ShapeError for split-K). */
export async function prepareMatmul(env: KernelEnv, a: MatmulArgs): Promise<Dispatch> {
  const steps = await prepareMatmulSteps(env, a);
  if (steps.length !== 1) {
    throw new ShapeError(`matmul ${a.form}: split-K makes two dispatches; use prepareMatmulSteps.`);
  }
  return steps[0];
}

/** What a validated call specialises on: the variant, the epilogue and the product's letters. */
interface MatmulShape {
  v: MatmulVariant;
  act: Activation;
  /** 0 none, 1 forward (bias + activation into A), 2 inputGrad (times act'(Zprev)). */
  epilogue: number;
  M: number;
  Nc: number;
  Kc: number;
  /** Rows per thread of a 'row' tile, and rows per subgroup of an 'sg' tile. */
  tm: number;
  sgRows: number;
}

/** Checks every tensor's length for the form and the variant against the device (ShapeError). */
function validateMatmul(env: KernelEnv, a: MatmulArgs): MatmulShape {
  const { B, K, N, form } = a;
  requireDims({ B, K, N }, `matmul ${form}`);
  const v = a.variant ?? DEFAULT_VARIANT;
  const [M, Nc, Kc] = productDims(form, B, K, N);
  const act = a.activation ?? 'identity';
  if (act === 'softmax') {
    throw new ShapeError('matmul epilogues cannot apply softmax (a row operation); use the softmax kernel.');
  }
  let epilogue = 0;
  const g = a.conv;
  if (form === 'forward') {
    if (!g) requireLength(a.lhs, B * K, 'matmul forward X');
    requireLength(a.rhs, N * K, 'matmul forward W');
    if (!a.bias || !a.outA) throw new ShapeError('matmul forward needs a bias and an activation output.');
    requireLength(a.bias, N, 'matmul forward bias');
    requireLength(a.outA, B * N, 'matmul forward A');
    epilogue = 1;
  } else {
    if (!(g && form === 'inputGrad')) requireLength(a.lhs, B * N, `matmul ${form} dZ`);
    if (!(g && form === 'weightGrad')) {
      requireLength(
        a.rhs,
        form === 'weightGrad' ? B * K : N * K,
        `matmul ${form} ${form === 'weightGrad' ? 'X' : 'W'}`,
      );
    }
    if (form === 'inputGrad' && act !== 'identity') {
      if (!a.aux) throw new ShapeError(`matmul inputGrad with activation '${act}' needs the previous Z.`);
      requireLength(a.aux, B * K, 'matmul inputGrad Zprev');
      epilogue = 2;
    }
  }
  requireLength(a.out, M * Nc, `matmul ${form} output`);
  const tm = v.tm ?? 4;
  if (v.kind === 'row' && (v.wgY !== 1 || (tm !== 4 && tm !== 8))) {
    throw new ShapeError(`matmul variant ${variantName(v)}: 'row' needs wgY = 1 and tm 4 or 8.`);
  }
  const sgRows = v.kind === 'sg' ? (v.tm ?? 8) : 8;
  if (v.kind === 'sg') {
    if (sgRows !== 8 && sgRows !== 16) {
      throw new ShapeError(`matmul variant ${variantName(v)}: 'sg' needs tm 8 or 16 (rows per subgroup).`);
    }
    if (v.wgX !== 8)
      throw new ShapeError(`matmul variant ${variantName(v)}: 'sg' needs wgX = 8 (one subgroup).`);
    if (!subgroupMatmulAvailable(env.device)) {
      throw new ShapeError(
        `matmul variant ${variantName(v)} needs a device with the 'subgroups' feature and 8-lane ` +
          'subgroups; pick a reg, row or wg variant on this adapter.',
      );
    }
  }
  return { v, act, epilogue, M, Nc, Kc, tm, sgRows };
}

export async function prepareMatmulSteps(env: KernelEnv, a: MatmulArgs): Promise<Dispatch[]> {
  const { form } = a;
  const g = a.conv;
  const { v, act, epilogue, M, Nc, Kc, tm, sgRows } = validateMatmul(env, a);
  // Slices are multiples of 4 long so only the last one has a scalar tail; empty slices are
  // dropped by recomputing the count from the rounded length.
  const chunk = Math.ceil(Kc / Math.max(1, v.splitK ?? 1) / 4) * 4;
  const slices = Math.ceil(Kc / chunk);
  if (slices > 1) {
    if (!a.scratch) throw new ShapeError(`matmul ${form} with split-K needs a scratch buffer.`);
    requireLength(a.scratch, slices * M * Nc, `matmul ${form} split-K scratch`);
  }

  const label = `matmul_${form}`;
  const laneM = v.kind === 'row' && M > Nc;
  const entry = `matmul_${v.kind}`;
  const shader = v.kind === 'sg' ? 'matmul_sg' : 'matmul';
  const common = {
    FORM: FORM_ID[form],
    EPILOGUE: epilogue,
    ACT: ACTIVATION_IDS[act],
    ALPHA: a.alpha ?? 0.01,
  };
  // vec4 reads need every row of the operand to start on a 16-byte boundary: its contiguous
  // dimension (k for X and W in forward; m or n for the [K, *] operands) a multiple of 4.
  // Virtual conv operands: 4 consecutive k (or n) must stay in one run of C (or F) channels.
  const vecL =
    v.kind !== 'wg' &&
    (g && form !== 'weightGrad' ? (form === 'forward' ? g.C : g.F) : form === 'weightGrad' ? M : Kc) % 4 ===
      0;
  const vecR = v.kind !== 'wg' && (g && form !== 'forward' ? g.C : form === 'forward' ? Kc : Nc) % 4 === 0;
  // A may be Z itself when the activation is the identity: then only Z is stored.
  const sameA = epilogue === 1 && a.outA!.buffer === a.out.buffer && a.outA!.offset === a.out.offset;
  const outA = epilogue === 1 && !sameA ? a.outA! : a.dummies.write;
  if (sameA && act !== 'identity') {
    throw new ShapeError(
      `matmul forward: A may share Z's buffer only for the identity activation, not '${act}'.`,
    );
  }
  const main = slices > 1 ? [a.scratch!, a.dummies.write] : [a.out, outA];
  const half = (lhs: TensorView, out: readonly unknown[]) =>
    halfAliases({
      lhs_t: lhs,
      rhs_t: a.rhs,
      aux_t: epilogue === 2 ? a.aux : null,
      out_t: out[0],
      outa_t: epilogue === 1 && !sameA ? out[1] : null,
    });
  const pipeline = await env.pipelines.get(
    shader,
    entry,
    {
      ...common,
      WG_X: v.wgX,
      WG_Y: v.wgY,
      ...(v.kind === 'wg' ? {} : { VEC_L: vecL, VEC_R: vecR }),
      ...(v.kind === 'row' ? { TM: tm, LANE_M: laneM } : {}),
      ...(v.kind === 'sg' && sgRows !== 8 ? { SG_ROWS: sgRows } : {}),
      SPLIT_K: slices,
      ...(g ? { CONV: true } : {}),
      ...(sameA ? { WRITE_A: false } : {}),
    },
    half(a.lhs, main),
  );
  const geo = g ? [g.H, g.W, g.C, g.F, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.padTop, g.padLeft] : [];
  const dims = uniformBuffer(
    env,
    [M, Nc, Kc, chunk, ...geo, ...Array<number>(12 - geo.length).fill(0)].map((u) => ({ u })),
    `${label} dims`,
  );
  const bias = epilogue === 1 ? a.bias! : a.dummies.read;
  const aux = epilogue === 2 ? a.aux! : a.dummies.read;
  const vec4s = v.kind === 'wg' ? [] : [vecL ? a.lhs : a.dummies.read, vecR ? a.rhs : a.dummies.read];
  const group = bindGroup(env, pipeline, [dims, a.lhs, a.rhs, bias, aux, ...main, ...vec4s], label);
  const [cols, rows] = v.kind === 'row' ? (laneM ? [M, Nc] : [Nc, M]) : [Nc, M];
  // sg: a subgroup covers 8 rows x 32 columns (8 lanes x 4).
  const gx = Math.ceil(cols / (4 * v.wgX));
  const gy =
    v.kind === 'row' ? Math.ceil(rows / tm) : Math.ceil(rows / ((v.kind === 'sg' ? sgRows : 4) * v.wgY));
  const max = env.device.limits.maxComputeWorkgroupsPerDimension;
  if (gx > max || gy > max) {
    throw new ShapeError(
      `matmul ${form} ${M}x${Nc}x${Kc} needs ${gx}x${gy} workgroups; the adapter allows ${max}.`,
    );
  }
  const first: Dispatch = { label, kind: label, pipeline, bindGroup: group, workgroups: [gx, gy, slices] };
  if (slices === 1) return [first];

  const reduceEntry = 'matmul_splitk_reduce';
  const reduce = await env.pipelines.get(
    'matmul',
    reduceEntry,
    { ...common, SLICES: slices, ...(sameA ? { WRITE_A: false } : {}) },
    half(a.scratch!, [a.out, outA]),
  );
  const rgroup = bindGroup(env, reduce, [dims, a.scratch!, null, bias, aux, a.out, outA], `${label} reduce`);
  const workgroups = grid2d(env, Math.ceil((M * Nc) / 64));
  return [first, { label: `${label} reduce`, kind: label, pipeline: reduce, bindGroup: rgroup, workgroups }];
}
