// Dropout kernels (shaders/dropout.wgsl); x, out, dOut, dX are [B, size].
//   forward   training: out = x * mask, mask[e] = keep(e) / (1 - rate); evaluation: out = x
//   backward  dX = dOut * mask * act'(aux)      (the same mask, regenerated: no mask buffer)
// keep(e) = (counterHash(seed, stream, step, e) >>> 8) >= dropoutThreshold(rate), e = row*size + j
// (src/rng.ts); seed and step are read from the plan's step-params uniform each step, `stream`
// (the layer's index in a model) and rate are fixed when the dispatch is prepared.
// Both OVERWRITE their output. act' is the PREVIOUS layer's activation applied to its
// pre-activation `aux` [B, size] (not needed for identity).

import { halfAliases } from '../gpu/shader-types.js';
import { ConfigError } from '../errors.js';
import { dropoutThreshold } from '../rng.js';
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

export interface DropoutForwardArgs {
  B: number;
  size: number;
  x: TensorView;
  out: TensorView;
  rate: number;
  stream: number;
  stepParams: GPUBuffer;
  training: boolean;
}

export interface DropoutBackwardArgs extends PrevActivation {
  B: number;
  size: number;
  dOut: TensorView;
  dX: TensorView;
  rate: number;
  stream: number;
  stepParams: GPUBuffer;
}

export async function prepareDropoutForward(env: KernelEnv, a: DropoutForwardArgs): Promise<Dispatch> {
  return prepare(env, a.training ? 'dropout_forward' : 'dropout_copy', a, a.x, a.out, {});
}

/** Training-mode backward (evaluation has no backward pass). */
export async function prepareDropoutBackward(env: KernelEnv, a: DropoutBackwardArgs): Promise<Dispatch> {
  return prepare(env, 'dropout_backward', a, a.dOut, a.dX, a);
}

async function prepare(
  env: KernelEnv,
  entry: 'dropout_forward' | 'dropout_backward' | 'dropout_copy',
  a: { B: number; size: number; rate: number; stream: number; stepParams: GPUBuffer },
  src: TensorView,
  dst: TensorView,
  prev: PrevActivation,
): Promise<Dispatch> {
  const { B, size, rate, stream } = a;
  requireDims({ B, size }, entry);
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
    throw new ConfigError(`${entry}: rate must be in [0, 1), got ${String(rate)}.`);
  }
  if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) {
    throw new ConfigError(`${entry}: stream must be a u32 (the layer's index), got ${stream}.`);
  }
  const count = B * size;
  requireLength(src, count, `${entry} input`);
  requireLength(dst, count, `${entry} output`);
  const backward = entry === 'dropout_backward';
  const fused = backward ? prevActivation(entry, prev, count, src) : null;
  const constants: Record<string, number> = { WG };
  if (entry !== 'dropout_copy') {
    constants.THRESHOLD = dropoutThreshold(rate);
    constants.SCALE = Math.fround(1 / (1 - rate));
  }
  if (fused) Object.assign(constants, fused.constants);
  // src, aux and dst may be f16 (mixed precision).
  const types = halfAliases({ src_t: src, aux_t: fused?.aux, dst_t: dst });
  const pipeline = await env.pipelines.get('dropout', entry, constants, types);
  const params = uniformBuffer(env, [{ u: count }, { u: stream }, { u: 0 }, { u: 0 }], `${entry} params`);
  const entries = [params, entry === 'dropout_copy' ? null : a.stepParams, src, fused?.aux ?? null, dst];
  return {
    label: entry,
    kind: 'dropout',
    pipeline,
    bindGroup: bindGroup(env, pipeline, entries, entry),
    workgroups: grid2d(env, Math.ceil(count / WG)),
  };
}
