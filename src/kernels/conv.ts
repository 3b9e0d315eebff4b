// 2-D convolution layers (NHWC) as GEMMs on the matmul kernels. x [B,H,W,C], w [F,KH,KW,C],
// bias [F] or none, Z and A [B,OH,OW,F]; GEMM letters M = B*OH*OW, K = KH*KW*C (k = (kh,kw,c)).
//   forward     Z[M,F] = col(x)[M,K] . w^T + b, A = act(Z)           (matmul FORM 0, EPILOGUE 1)
//   weightGrad  dW[F,K] = dZ^T[F,M] . col(x)[M,K]; db = column sums of dZ as [M,F]  (FORM 1)
//   inputGrad   dX[B,H,W,C] = transposed conv of dZ with w, times act'(aux) of the previous layer
// Three algorithms (ConvAlgo.kind), picked per adapter and shape by src/engine/conv-tune.ts:
//   im2col    col(x) is materialised in `scratch` by conv_im2col (shaders/conv.wgsl), then the plain
//             matmul runs; the input grad computes dCol[M,K] = dZ . w (FORM 2) into scratch, then
//             conv_col2im gathers each dX element's terms in a fixed (kh, kw) order (deterministic,
//             no atomics) and applies act'.
//   implicit  the matmul reads col(x) (or, for the input grad, the transposed conv's operands)
//             straight from x, dZ and w (the CONV loads of shaders/matmul_common.wgsl): no
//             materialised buffer, more index arithmetic per load.
//   direct    forward only: conv_direct (shaders/conv_direct.wgsl) sums each output over k for 4
//             pixels x 4 filters per invocation, no GEMM tiles; for first layers and layers of
//             few filters, which fill few of a tile's columns (directCandidate says where).
// Mixed precision: x, w, Z, A, dZ, dX and aux may be f16 views; the column buffers stay f32.
// im2col runs its matmul without split-K (see gemmVariant). Every output is OVERWRITTEN. Scratch (convScratchLength floats) holds the col/dCol buffer and
// split-K partials of one form only; a plan can share one scratch buffer across layers and forms.

import { ShapeError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import { halfAliases } from '../gpu/shader-types.js';
import { ACTIVATION_IDS, type Activation } from '../nn/activations.js';
import type { ConvGeometry } from '../nn/layers.js';
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
import { matmulScratchLength, prepareMatmulSteps, type MatmulForm, type MatmulVariant } from './matmul.js';
import { prepareBiasGrad } from './reduce.js';

/** `variant` is the GEMM's matmul variant; the direct kernel has none and ignores it. */
export type ConvAlgo = { kind: 'im2col' | 'implicit' | 'direct'; variant: MatmulVariant };
type Dummies = { read: GPUBuffer; write: GPUBuffer };

/** Scratch sub-buffers start on 64 floats (256 bytes), the storage-binding offset alignment. */
const align64 = (n: number) => Math.ceil(n / 64) * 64;

/**
 * The layer letters (B, K, N) of the matmul an algorithm runs for a form: im2col always runs the
 * conv's own GEMM (M = B*OH*OW, K = KH*KW*C, N = F); implicit runs it too except for the input
 * grad, a GEMM over input pixels (B*H*W) x C with reduction KH*KW*F.
 */
export function convGemmShape(
  form: MatmulForm,
  B: number,
  g: ConvGeometry,
  kind: ConvAlgo['kind'],
): [number, number, number] {
  if (form === 'inputGrad' && kind === 'implicit') return [B * g.H * g.W, g.C, g.KH * g.KW * g.F];
  return [B * g.OH * g.OW, g.KH * g.KW * g.C, g.F];
}

/**
 * The matmul variant an algorithm runs. im2col drops split-K: its partials would share the scratch
 * buffer with the column buffer the same dispatch reads, and WebGPU forbids one buffer being
 * read-only and writable storage in one dispatch.
 */
export function gemmVariant(algo: ConvAlgo): MatmulVariant {
  return algo.kind === 'im2col' ? { ...algo.variant, splitK: 1 } : algo.variant;
}

/** Floats of the materialised col(x) / dCol buffer of the im2col algorithm. */
export function im2colLength(B: number, g: ConvGeometry): number {
  return B * g.OH * g.OW * g.KH * g.KW * g.C;
}

/** Whether the im2col buffer fits one storage binding on this device (else only implicit runs). */
export function im2colFits(device: GPUDevice, B: number, g: ConvGeometry): boolean {
  return im2colLength(B, g) * 4 <= device.limits.maxStorageBufferBindingSize;
}

export function convScratchLength(form: MatmulForm, B: number, g: ConvGeometry, algo: ConvAlgo): number {
  if (algo.kind === 'direct') return 0;
  const [b, k, n] = convGemmShape(form, B, g, algo.kind);
  const partials = matmulScratchLength(form, b, k, n, gemmVariant(algo));
  return algo.kind === 'im2col' ? align64(im2colLength(B, g)) + partials : partials;
}

/** Validates the geometry; im2col also needs its column buffer to fit one storage binding. */
function checkShape(env: KernelEnv, op: string, B: number, g: ConvGeometry, algo: ConvAlgo): void {
  const { H, W, C, F, KH, KW, SH, SW, OH, OW } = g;
  requireDims({ B, H, W, C, F, KH, KW, SH, SW, OH, OW }, op);
  const pads = [g.padTop, g.padLeft, g.padBottom, g.padRight];
  if (!pads.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new ShapeError(`${op}: padding must be non-negative integers, got ${pads.join('/')}.`);
  }
  const oh = Math.floor((H + g.padTop + g.padBottom - KH) / SH) + 1;
  const ow = Math.floor((W + g.padLeft + g.padRight - KW) / SW) + 1;
  if (oh !== OH || ow !== OW) {
    throw new ShapeError(
      `${op}: output ${OH}x${OW} does not match the geometry (expected ${oh}x${ow}); build it with resolveModel.`,
    );
  }
  if (algo.kind === 'im2col' && !im2colFits(env.device, B, g)) {
    throw tooBig(op, B, g, env.device.limits.maxStorageBufferBindingSize);
  }
  if (algo.kind === 'direct' && op !== 'conv2d_forward') {
    throw new ShapeError(
      `${op}: the 'direct' algorithm computes the forward pass only; use im2col or implicit.`,
    );
  }
}

/**
 * Whether the direct forward is worth timing at this shape: few input channels (a first layer)
 * or few filters, where GEMM tiles run mostly empty. Wider layers reload each input once per
 * 4 filters here, which the GEMMs' shared tiles avoid.
 */
export function directCandidate(g: ConvGeometry): boolean {
  return g.C <= 4 || g.F <= 16;
}

/** Splits the algorithm's scratch into the col buffer (im2col) and the split-K partials. */
function scratchParts(
  env: KernelEnv,
  op: string,
  form: MatmulForm,
  B: number,
  g: ConvGeometry,
  algo: ConvAlgo,
  s?: TensorView,
) {
  const need = convScratchLength(form, B, g, algo);
  if (need === 0) return { col: undefined, partials: undefined };
  if (!s) throw new ShapeError(`${op} (${algo.kind}) needs a scratch buffer of ${need} floats.`);
  requireLength(s, need, `${op} scratch`);
  if (algo.kind === 'implicit') return { col: undefined, partials: s };
  const colLen = im2colLength(B, g);
  const rest = need - align64(colLen);
  return {
    col: view(s.buffer, colLen, s.offset),
    partials: rest > 0 ? view(s.buffer, rest, s.offset + align64(colLen) * 4) : undefined,
  };
}

function tooBig(op: string, B: number, g: ConvGeometry, max: number): ShapeError {
  return new ShapeError(
    `${op}: the im2col buffer of batch ${B} (${(im2colLength(B, g) * 4) / 2 ** 20} MiB) exceeds this ` +
      `device's maxStorageBufferBindingSize (${max / 2 ** 20} MiB); use the 'implicit' algorithm or a smaller batch.`,
  );
}

/** conv_im2col or conv_col2im over `count` invocations of 64 (shaders/conv.wgsl). */
async function convHelper(
  env: KernelEnv,
  entry: 'conv_im2col' | 'conv_col2im',
  B: number,
  g: ConvGeometry,
  consts: Record<string, number | boolean>,
  count: number,
  buffers: (TensorView | GPUBuffer | null)[],
): Promise<Dispatch> {
  // Bindings 1..4: src, dst, src as vec4, aux; each may be an f16 tensor (mixed precision).
  const types = halfAliases({ src_t: buffers[0], dst_t: buffers[1], aux_t: buffers[3] });
  const pipeline = await env.pipelines.get('conv', entry, consts, types);
  const workgroups = grid2d(env, Math.ceil(count / 64));
  const geo = [B, g.H, g.W, g.C, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.padTop, g.padLeft, count];
  const params = uniformBuffer(
    env,
    [...geo, workgroups[0] * 64].map((u) => ({ u })),
    `${entry} geometry`,
  );
  const group = bindGroup(env, pipeline, [params, ...buffers], entry);
  return { label: entry, kind: 'conv', pipeline, bindGroup: group, workgroups };
}

/** A conv forward's tensors and epilogue, whichever algorithm computes it. */
interface ConvForwardArgs {
  B: number;
  g: ConvGeometry;
  x: TensorView;
  w: TensorView;
  bias: TensorView | null;
  z: TensorView;
  a: TensorView;
  activation: Activation;
  alpha?: number;
  dummies: Dummies;
}

export async function prepareConvForward(
  env: KernelEnv,
  a: ConvForwardArgs & { algo: ConvAlgo; scratch?: TensorView },
): Promise<Dispatch[]> {
  const { B, g, algo } = a;
  const op = 'conv2d_forward';
  checkShape(env, op, B, g, algo);
  requireLength(a.x, B * g.H * g.W * g.C, `${op} x`);
  requireLength(a.w, g.F * g.KH * g.KW * g.C, `${op} w`);
  if (a.bias) requireLength(a.bias, g.F, `${op} bias`);
  if (algo.kind === 'direct') return [await directForward(env, a)];
  const { col, partials } = scratchParts(env, op, 'forward', B, g, algo, a.scratch);
  const steps: Dispatch[] = [];
  if (col) steps.push(await im2col(env, B, g, a.x, col, a.dummies));
  const [b, k, n] = convGemmShape('forward', B, g, algo.kind);
  const mm = await prepareMatmulSteps(env, {
    form: 'forward',
    lhs: col ?? a.x,
    rhs: a.w,
    B: b,
    K: k,
    N: n,
    out: a.z,
    bias: a.bias ?? zeroBias(env, g.F),
    outA: a.a,
    activation: a.activation,
    alpha: a.alpha,
    variant: gemmVariant(algo),
    scratch: partials,
    dummies: a.dummies,
    conv: col ? undefined : g,
  });
  return [...steps, ...mm.map((d) => ({ ...d, label: `conv2d_forward ${d.label}`, kind: 'conv' }))];
}

export async function prepareConvWeightGrad(
  env: KernelEnv,
  a: {
    B: number;
    g: ConvGeometry;
    x: TensorView;
    dZ: TensorView;
    dW: TensorView;
    db: TensorView | null;
    algo: ConvAlgo;
    scratch?: TensorView;
    dummies: Dummies;
  },
): Promise<Dispatch[]> {
  const { B, g, algo } = a;
  const op = 'conv2d_weight_grad';
  checkShape(env, op, B, g, algo);
  requireLength(a.x, B * g.H * g.W * g.C, `${op} x`);
  requireLength(a.dZ, B * g.OH * g.OW * g.F, `${op} dZ`);
  const { col, partials } = scratchParts(env, op, 'weightGrad', B, g, algo, a.scratch);
  const steps: Dispatch[] = [];
  if (col) steps.push(await im2col(env, B, g, a.x, col, a.dummies));
  const [b, k, n] = convGemmShape('weightGrad', B, g, algo.kind);
  const mm = await prepareMatmulSteps(env, {
    form: 'weightGrad',
    lhs: a.dZ,
    rhs: col ?? a.x,
    B: b,
    K: k,
    N: n,
    out: a.dW,
    variant: gemmVariant(algo),
    scratch: partials,
    dummies: a.dummies,
    conv: col ? undefined : g,
  });
  steps.push(...mm.map((d) => ({ ...d, label: `conv2d_weight_grad ${d.label}`, kind: 'conv' })));
  if (a.db) steps.push(await prepareBiasGrad(env, { B: b, N: g.F, dZ: a.dZ, db: a.db }));
  return steps;
}

export async function prepareConvInputGrad(
  env: KernelEnv,
  a: {
    B: number;
    g: ConvGeometry;
    dZ: TensorView;
    w: TensorView;
    dX: TensorView;
    /** The PREVIOUS layer's activation: dX is multiplied by act'(aux). */
    activation?: Activation;
    alpha?: number;
    /** The previous layer's pre-activation [B,H,W,C] (needed unless activation is identity). */
    aux?: TensorView;
    algo: ConvAlgo;
    scratch?: TensorView;
    dummies: Dummies;
  },
): Promise<Dispatch[]> {
  const { B, g, algo } = a;
  const op = 'conv2d_input_grad';
  checkShape(env, op, B, g, algo);
  const act = a.activation ?? 'identity';
  const xLen = B * g.H * g.W * g.C;
  requireLength(a.dZ, B * g.OH * g.OW * g.F, `${op} dZ`);
  requireLength(a.w, g.F * g.KH * g.KW * g.C, `${op} w`);
  requireLength(a.dX, xLen, `${op} dX`);
  if (act === 'softmax') throw new ShapeError(`${op}: softmax is not an elementwise activation.`);
  if (act !== 'identity') {
    if (!a.aux) throw new ShapeError(`${op} with activation '${act}' needs the previous layer's Z (aux).`);
    requireLength(a.aux, xLen, `${op} aux`);
  }
  const { col, partials } = scratchParts(env, op, 'inputGrad', B, g, algo, a.scratch);
  const [b, k, n] = convGemmShape('inputGrad', B, g, algo.kind);
  const mm = await prepareMatmulSteps(env, {
    form: 'inputGrad',
    lhs: a.dZ,
    rhs: a.w,
    B: b,
    K: k,
    N: n,
    out: col ?? a.dX,
    activation: col ? 'identity' : act,
    alpha: a.alpha,
    aux: col ? undefined : a.aux,
    variant: gemmVariant(algo),
    scratch: partials,
    dummies: a.dummies,
    conv: col ? undefined : g,
  });
  const steps = mm.map((d) => ({ ...d, label: `conv2d_input_grad ${d.label}`, kind: 'conv' }));
  if (col) {
    const epilogue = act === 'identity' ? 0 : 2;
    const consts = { EPILOGUE: epilogue, ACT: ACTIVATION_IDS[act], ALPHA: a.alpha ?? 0.01 };
    const aux = epilogue === 2 ? a.aux! : a.dummies.read;
    steps.push(await convHelper(env, 'conv_col2im', B, g, consts, xLen, [col, a.dX, null, aux]));
  }
  return steps;
}

/** The direct forward: one dispatch of conv_direct, bias and activation fused. */
async function directForward(env: KernelEnv, a: ConvForwardArgs): Promise<Dispatch> {
  const { B, g } = a;
  const M = B * g.OH * g.OW;
  requireLength(a.z, M * g.F, 'conv2d_forward Z');
  requireLength(a.a, M * g.F, 'conv2d_forward A');
  // A may be Z itself for the identity activation (a conv followed by batch norm): store Z only.
  const sameA = a.a.buffer === a.z.buffer && a.a.offset === a.z.offset;
  if (sameA && a.activation !== 'identity') {
    throw new ShapeError(
      `conv2d_forward: A may share Z's buffer only for the identity activation, not '${a.activation}'.`,
    );
  }
  const outA = sameA ? a.dummies.write : a.a;
  const types = halfAliases({ x_t: a.x, w_t: a.w, z_t: a.z, a_t: sameA ? null : a.a });
  // 8 filters per invocation beyond 4: each pixel input loaded once per 8 filters, not per 4.
  const fpi = g.F > 4 ? 8 : 4;
  const consts = { WRITE_A: !sameA, ACT: ACTIVATION_IDS[a.activation], ALPHA: a.alpha ?? 0.01, FPI: fpi };
  const pipeline = await env.pipelines.get('conv_direct', 'conv_direct', consts, types);
  const count = Math.ceil(M / 4) * Math.ceil(g.F / fpi);
  const workgroups = grid2d(env, Math.ceil(count / 64));
  const geo = [B, g.H, g.W, g.C, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.padTop, g.padLeft, g.F, M, count];
  const params = uniformBuffer(
    env,
    [...geo, workgroups[0] * 64].map((u) => ({ u })),
    'conv_direct geometry',
  );
  const bias = a.bias ?? zeroBias(env, g.F);
  const group = bindGroup(env, pipeline, [params, a.x, a.w, bias, a.z, outA], 'conv_direct');
  return { label: 'conv2d_forward conv_direct', kind: 'conv', pipeline, bindGroup: group, workgroups };
}

function im2col(
  env: KernelEnv,
  B: number,
  g: ConvGeometry,
  x: TensorView,
  col: TensorView,
  dummies: Dummies,
): Promise<Dispatch> {
  const vec = g.C % 4 === 0;
  const count = im2colLength(B, g) / (vec ? 4 : 1);
  // The vec4 binding aliases x only when used: a scalar tensor may be under 16 bytes.
  const buffers = [x, col, vec ? x : dummies.read];
  return convHelper(env, 'conv_im2col', B, g, { VEC: vec }, count, buffers);
}

/** A conv without bias runs the forward epilogue with zeros (made once, at prepare time). */
function zeroBias(env: KernelEnv, F: number): TensorView {
  const buf = env.pool.acquire(F * 4, USAGE.STORAGE | USAGE.COPY_DST, 'conv2d zero bias');
  env.device.queue.writeBuffer(buf, 0, new Float32Array(Math.ceil(F / 4) * 4));
  return view(buf, F);
}

/**
 * Whether to run the implicit-GEMM input gradient here. On SwiftShader it did not finish within
 * 180 s on the selftest's small odd shapes (reg-8x8; the im2col path took seconds), although the
 * conv bench saw it finish at the CIFAR layer (both paths under 0.1 GFLOP/s there). Until that is
 * understood, SwiftShader's input gradient always takes im2col's path.
 */
export function implicitInputGradUsable(device: GPUDevice): boolean {
  const info = (device as { adapterInfo?: { vendor?: string; architecture?: string; description?: string } })
    .adapterInfo;
  const text = `${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.description ?? ''}`.toLowerCase();
  return !text.includes('swiftshader');
}
