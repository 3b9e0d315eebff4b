// Pooling kernels (shaders/pool.wgsl) over NHWC maps; x, dX are [B,H,W,C], out, dOut [B,OH,OW,C].
// Windows KHxKW, stride SHxSW, over the map padded by PH rows and PW columns on each side
// (PyTorch's padding; padded cells never win a max and count as zeros in a mean).
//   maxpool forward   out = window max, argmax (u32, the winner's flat index into x, as the
//                     reference's; ties: the first in row-major window order)
//   maxpool backward  dX = gather of dOut over the windows whose argmax is this element, * act'(aux);
//                     windows that tile the map (KH == SH, KW == SW) scatter instead: each dOut
//                     element writes its own window (same result, a quarter of the invocations)
//   avgpool           out = window mean;  dX = gather of dOut / (KH*KW), * act'(aux)
//   global avg pool   [B,H,W,C] -> [B,C]: the average pool whose one window is the whole map
// Every kernel OVERWRITES its output. act' is the PREVIOUS layer's activation applied to its
// pre-activation `aux` [B,H,W,C] (not needed for identity).

import { halfAliases } from '../gpu/shader-types.js';
import { ShapeError } from '../errors.js';
import type { PoolGeometry } from '../nn/layers.js';
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

export interface PoolForwardArgs {
  B: number;
  g: PoolGeometry;
  x: TensorView;
  out: TensorView;
}

export interface PoolBackwardArgs extends PrevActivation {
  B: number;
  g: PoolGeometry;
  dOut: TensorView;
  dX: TensorView;
}

export async function prepareMaxPoolForward(
  env: KernelEnv,
  a: PoolForwardArgs & { argmax: TensorView },
): Promise<Dispatch> {
  return prepare(env, 'maxpool_forward', a.B, a.g, a.x, a.out, { argmaxOut: a.argmax });
}

export async function prepareMaxPoolBackward(
  env: KernelEnv,
  a: PoolBackwardArgs & { argmax: TensorView },
): Promise<Dispatch> {
  return prepare(env, 'maxpool_backward', a.B, a.g, a.dOut, a.dX, { ...a, argmaxIn: a.argmax });
}

export async function prepareAvgPoolForward(env: KernelEnv, a: PoolForwardArgs): Promise<Dispatch> {
  return prepare(env, 'avgpool_forward', a.B, a.g, a.x, a.out, {});
}

export async function prepareAvgPoolBackward(env: KernelEnv, a: PoolBackwardArgs): Promise<Dispatch> {
  return prepare(env, 'avgpool_backward', a.B, a.g, a.dOut, a.dX, a);
}

/** The one-window geometry of a global average pool over an H x W map (as resolveModel builds it). */
export function globalPoolGeometry(H: number, W: number, C: number): PoolGeometry {
  return { H, W, C, KH: H, KW: W, SH: H, SW: W, OH: 1, OW: 1 };
}

export async function prepareGlobalAvgPoolForward(
  env: KernelEnv,
  a: { B: number; H: number; W: number; C: number; x: TensorView; out: TensorView },
): Promise<Dispatch> {
  return prepare(env, 'avgpool_forward', a.B, globalPoolGeometry(a.H, a.W, a.C), a.x, a.out, {});
}

export async function prepareGlobalAvgPoolBackward(
  env: KernelEnv,
  a: { B: number; H: number; W: number; C: number; dOut: TensorView; dX: TensorView } & PrevActivation,
): Promise<Dispatch> {
  return prepare(env, 'avgpool_backward', a.B, globalPoolGeometry(a.H, a.W, a.C), a.dOut, a.dX, a);
}

type Entry = 'maxpool_forward' | 'maxpool_backward' | 'avgpool_forward' | 'avgpool_backward';

/** The shader entry point: tiling max-pool windows scatter, C % 4 == 0 runs 4 channels at once. */
function entryPoint(entry: Entry, g: PoolGeometry): { name: string; vec: boolean; tiles: boolean } {
  const vec = entry.startsWith('maxpool') && g.C % 4 === 0;
  const tiles = entry === 'maxpool_backward' && g.KH === g.SH && g.KW === g.SW;
  return { name: `${entry}${tiles ? '_tiles' : ''}${vec ? '4' : ''}`, vec, tiles };
}

async function prepare(
  env: KernelEnv,
  entry: Entry,
  B: number,
  g: PoolGeometry,
  src: TensorView,
  dst: TensorView,
  extra: PrevActivation & { argmaxOut?: TensorView; argmaxIn?: TensorView },
): Promise<Dispatch> {
  const { H, W, C, KH, KW, SH, SW, PH = 0, PW = 0, OH, OW } = g;
  requireDims({ B, H, W, C, KH, KW, SH, SW, OH, OW }, entry);
  const [Hp, Wp] = [H + 2 * PH, W + 2 * PW];
  const fits = KH <= Hp && KW <= Wp && OH === Math.floor((Hp - KH) / SH) + 1;
  // Padding at most half the window keeps a map cell in every window (the shader relies on it).
  const padOk = [PH, PW].every((p) => Number.isInteger(p) && p >= 0) && 2 * PH <= KH && 2 * PW <= KW;
  if (!fits || !padOk || OW !== Math.floor((Wp - KW) / SW) + 1) {
    throw new ShapeError(
      `${entry}: geometry ${KH}x${KW}/${SH}x${SW} padded ${PH}x${PW} over ${H}x${W} does not give ${OH}x${OW}; build it with resolveModel (OH = floor((H + 2*PH - KH) / SH) + 1, padding at most half the window).`,
    );
  }
  const backward = entry.endsWith('backward');
  const inCount = B * H * W * C;
  const outCount = B * OH * OW * C;
  requireLength(src, backward ? outCount : inCount, `${entry} ${backward ? 'dOut' : 'x'}`);
  requireLength(dst, backward ? inCount : outCount, `${entry} ${backward ? 'dX' : 'out'}`);
  if (entry === 'maxpool_forward') requireLength(extra.argmaxOut!, outCount, `${entry} argmax`);
  if (entry === 'maxpool_backward') requireLength(extra.argmaxIn!, outCount, `${entry} argmax`);
  const prev = backward ? prevActivation(entry, extra, inCount, src) : null;
  const constants = { WG, ...prev?.constants };
  const { name, vec, tiles } = entryPoint(entry, g);
  // Any of src, aux and dst may be f16 (mixed precision); winners stay u32.
  const types = halfAliases({ src_t: src, aux_t: prev?.aux, dst_t: dst });
  const pipeline = await env.pipelines.get('pool', name, constants, types);
  // Invocations: one per element written, except the scatter (one per dOut element).
  const count = (backward && !tiles ? inCount : outCount) / (vec ? 4 : 1);
  const params = uniformBuffer(
    env,
    [B, H, W, C, KH, KW, SH, SW, PH, PW, OH, OW, count, 0, 0, 0].map((u) => ({ u })),
    `${entry} params`,
  );
  // Binding numbers: 0 params, 1-5 the scalar views, 6-10 the vec4 views of the same tensors.
  const entries = vec
    ? [
        params,
        null,
        null,
        null,
        null,
        null,
        src,
        prev?.aux ?? null,
        dst,
        extra.argmaxOut ?? null,
        extra.argmaxIn ?? null,
      ]
    : [params, src, prev?.aux ?? null, dst, extra.argmaxOut ?? null, extra.argmaxIn ?? null];
  return {
    label: entry,
    kind: 'pool',
    pipeline,
    bindGroup: bindGroup(env, pipeline, entries, entry),
    workgroups: grid2d(env, Math.ceil(count / WG)),
  };
}
