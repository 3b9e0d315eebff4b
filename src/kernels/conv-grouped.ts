// Grouped and depthwise conv2d (NHWC) as direct kernels (shaders/conv_grouped.wgsl), for layers
// with groups G > 1; the ungrouped layers keep the GEMM algorithms of src/kernels/conv.ts.
// x [B,H,W,C], w [F,KH,KW,C/G], bias [F] or none, Z, A and dZ [B,OH,OW,F], dX [B,H,W,C]; filter f
// of group f / (F/G) reads channels of that group only. M = B*OH*OW.
//   forward     Z = conv(x, w) + b, A = act(Z)              one dispatch, bias and act fused
//   inputGrad   dX = conv^T(dZ, w) * act'(aux)              one dispatch (aux: previous layer's Z)
//   weightGrad  dW[F, KH*KW*C/G] = sums over M rows         partial sums over chunks of rows into
//               scratch, then their column sums (reduce.ts bias_grad); one dispatch, straight into
//               dW, when M fits one chunk. db = column sums of dZ as [M, F] when asked for.
// Mixed precision: x, w, Z, A, dZ, dX and aux may be f16 views; dW, db, the bias and the partial
// sums stay f32. Every output is OVERWRITTEN. The kernels run for any G (G = 1 included), which
// the tests use to compare them with the plain conv.

import { ShapeError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import { halfAliases } from '../gpu/shader-types.js';
import { ACTIVATION_IDS, type Activation } from '../nn/activations.js';
import type { ConvGeometry } from '../nn/layer-types.js';
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
import { prepareBiasGrad } from './reduce.js';

type Dummies = { read: GPUBuffer; write: GPUBuffer };
type Entry = 'conv_grouped_forward' | 'conv_grouped_input_grad' | 'conv_grouped_weight_grad';

/** Pixels per invocation of the forward and input-grad kernels (PX in the shader), each for 4 filters or channels. */
const PX = 4;

/** Groups, channels per group and filters per group. */
function groupsOf(g: ConvGeometry): { G: number; Cg: number; Fg: number } {
  const G = g.G ?? 1;
  return { G, Cg: g.C / G, Fg: g.F / G };
}

/** Floats of the weight: F * KH * KW * C/G. */
export function groupedWeightLength(g: ConvGeometry): number {
  return g.F * g.KH * g.KW * groupsOf(g).Cg;
}

/** Output pixels per partial sum of the weight grad: at most 256 partials, at least 64 rows each. */
export function groupedWeightGradChunk(B: number, g: ConvGeometry): number {
  return Math.max(64, Math.ceil((B * g.OH * g.OW) / 256));
}

/** Floats of scratch the weight grad needs for its partial sums (0 when one chunk covers M). */
export function groupedConvScratchLength(B: number, g: ConvGeometry): number {
  const chunks = Math.ceil((B * g.OH * g.OW) / groupedWeightGradChunk(B, g));
  return chunks > 1 ? chunks * groupedWeightLength(g) : 0;
}

function checkShape(op: string, B: number, g: ConvGeometry): void {
  const { H, W, C, F, KH, KW, SH, SW, OH, OW } = g;
  const { G } = groupsOf(g);
  requireDims({ B, H, W, C, F, KH, KW, SH, SW, OH, OW, G }, op);
  if (C % G !== 0 || F % G !== 0) {
    throw new ShapeError(
      `${op}: groups ${G} must divide both C = ${C} and F = ${F}; build it with resolveModel.`,
    );
  }
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
}

/** One dispatch of `entry` over `count` invocations, bindings by number (null: unused). */
async function dispatch(
  env: KernelEnv,
  entry: Entry,
  B: number,
  g: ConvGeometry,
  setup: { consts: Record<string, number | boolean>; f16: string[]; count: number; chunk?: number },
  buffers: (TensorView | GPUBuffer | null)[],
): Promise<Dispatch> {
  const pipeline = await env.pipelines.get('conv_grouped', entry, setup.consts, setup.f16);
  const workgroups = grid2d(env, Math.ceil(setup.count / 64));
  const { Cg, Fg } = groupsOf(g);
  const geo = [B, g.H, g.W, g.C, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.padTop, g.padLeft, g.F, Cg, Fg];
  const words = [...geo, setup.count, workgroups[0] * 64, setup.chunk ?? 0].map((u) => ({ u }));
  const params = uniformBuffer(env, words, `${entry} geometry`);
  const group = bindGroup(env, pipeline, [params, ...buffers], entry);
  return { label: entry, kind: 'conv', pipeline, bindGroup: group, workgroups };
}

export async function prepareGroupedConvForward(
  env: KernelEnv,
  a: {
    B: number;
    g: ConvGeometry;
    x: TensorView;
    w: TensorView;
    bias: TensorView | null;
    z: TensorView;
    /** A may be Z's own view for the identity activation: then only Z is stored. */
    a: TensorView;
    activation: Activation;
    alpha?: number;
    dummies: Dummies;
  },
): Promise<Dispatch[]> {
  const { B, g } = a;
  const op = 'conv2d_grouped_forward';
  checkShape(op, B, g);
  const M = B * g.OH * g.OW;
  requireLength(a.x, B * g.H * g.W * g.C, `${op} x`);
  requireLength(a.w, groupedWeightLength(g), `${op} w`);
  if (a.bias) requireLength(a.bias, g.F, `${op} bias`);
  requireLength(a.z, M * g.F, `${op} Z`);
  requireLength(a.a, M * g.F, `${op} A`);
  if (a.activation === 'softmax') throw new ShapeError(`${op}: softmax is not an elementwise activation.`);
  const sameA = a.a.buffer === a.z.buffer && a.a.offset === a.z.offset;
  if (sameA && a.activation !== 'identity') {
    throw new ShapeError(
      `${op}: A may share Z's buffer only for the identity activation, not '${a.activation}'.`,
    );
  }
  const consts = { WRITE_A: !sameA, ACT: ACTIVATION_IDS[a.activation], ALPHA: a.alpha ?? 0.01 };
  const f16 = halfAliases({ x_t: a.x, w_t: a.w, z_t: a.z, a_t: sameA ? null : a.a });
  const count = Math.ceil(M / PX) * Math.ceil(g.F / 4);
  const bias = a.bias ?? zeroBias(env, g.F);
  const outA = sameA ? a.dummies.write : a.a;
  return [
    await dispatch(env, 'conv_grouped_forward', B, g, { consts, f16, count }, [a.x, a.w, bias, a.z, outA]),
  ];
}

export async function prepareGroupedConvInputGrad(
  env: KernelEnv,
  a: PrevActivation & {
    B: number;
    g: ConvGeometry;
    dZ: TensorView;
    w: TensorView;
    dX: TensorView;
    dummies: Dummies;
  },
): Promise<Dispatch[]> {
  const { B, g } = a;
  const op = 'conv2d_grouped_input_grad';
  checkShape(op, B, g);
  const xLen = B * g.H * g.W * g.C;
  requireLength(a.dZ, B * g.OH * g.OW * g.F, `${op} dZ`);
  requireLength(a.w, groupedWeightLength(g), `${op} w`);
  requireLength(a.dX, xLen, `${op} dX`);
  // With the identity the shader never reads aux; dZ (read here anyway) fills its binding.
  const prev = prevActivation(op, a, xLen, a.dZ);
  const f16 = halfAliases({ dz_t: a.dZ, w_t: a.w, dx_t: a.dX, aux_t: prev.aux === a.dZ ? null : prev.aux });
  const count = Math.ceil((B * g.H * g.W) / PX) * Math.ceil(g.C / 4);
  const setup = { consts: prev.constants, f16, count };
  const buffers = [null, a.w, null, null, null, a.dZ, a.dX, prev.aux];
  return [await dispatch(env, 'conv_grouped_input_grad', B, g, setup, buffers)];
}

export async function prepareGroupedConvWeightGrad(
  env: KernelEnv,
  a: {
    B: number;
    g: ConvGeometry;
    x: TensorView;
    dZ: TensorView;
    /** f32 */
    dW: TensorView;
    /** f32 column sums of dZ; null leaves the bias gradient to the caller. */
    db: TensorView | null;
    /** groupedConvScratchLength floats (f32) for the partial sums; unused when that is 0. */
    scratch?: TensorView;
  },
): Promise<Dispatch[]> {
  const { B, g } = a;
  const op = 'conv2d_grouped_weight_grad';
  checkShape(op, B, g);
  const M = B * g.OH * g.OW;
  const nW = groupedWeightLength(g);
  requireLength(a.x, B * g.H * g.W * g.C, `${op} x`);
  requireLength(a.dZ, M * g.F, `${op} dZ`);
  requireLength(a.dW, nW, `${op} dW`);
  if (a.db) requireLength(a.db, g.F, `${op} db`);
  const chunk = groupedWeightGradChunk(B, g);
  const chunks = Math.ceil(M / chunk);
  const need = groupedConvScratchLength(B, g);
  if (need > 0 && !a.scratch) throw new ShapeError(`${op} needs a scratch buffer of ${need} floats.`);
  if (a.scratch && need > 0) requireLength(a.scratch, need, `${op} scratch`);
  const partial = need > 0 ? view(a.scratch!.buffer, need, a.scratch!.offset) : a.dW;
  const setup = { consts: {}, f16: halfAliases({ x_t: a.x, dz_t: a.dZ }), count: chunks * nW, chunk };
  const buffers = [a.x, null, null, null, null, a.dZ, null, null, partial];
  const steps = [await dispatch(env, 'conv_grouped_weight_grad', B, g, setup, buffers)];
  if (need > 0) steps.push(await prepareBiasGrad(env, { B: chunks, N: nW, dZ: partial, db: a.dW }));
  if (a.db) steps.push(await prepareBiasGrad(env, { B: M, N: g.F, dZ: a.dZ, db: a.db }));
  return steps.map((d) => ({ ...d, label: `${op} ${d.label}`, kind: 'conv' }));
}

/** A conv without bias runs the forward with zeros (made once, at prepare time). */
function zeroBias(env: KernelEnv, F: number): TensorView {
  const buf = env.pool.acquire(F * 4, USAGE.STORAGE | USAGE.COPY_DST, 'conv2d grouped zero bias');
  env.device.queue.writeBuffer(buf, 0, new Float32Array(Math.ceil(F / 4) * 4));
  return view(buf, F);
}
