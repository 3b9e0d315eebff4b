// Between the engine's parameter layout and PyTorch's, for model files. Tensor names follow the
// layer's index in architecture.layers (`layers.{i}.*`), layouts follow torch.nn:
//   dense      weight [units, fanIn] (nn.Linear), bias [units]
//   conv2d     weight [F, C, KH, KW] (nn.Conv2d; the engine holds [F, KH, KW, C]), bias [F]
//   batchnorm  weight (gamma) [C], bias (beta) [C], running_mean [C], running_var [C],
//              num_batches_tracked I64 [] (nn.BatchNorm2d / BatchNorm1d)
// A flatten of an [H, W, C] map gives features in NHWC order inside the engine; PyTorch flattens
// NCHW maps channel-first. The first dense layer after such a flatten (and a batch norm between
// them) is stored with its feature axis permuted to PyTorch's order, so the file loads into the
// equivalent torch.nn.Sequential and gives the same outputs.

import type { ResolvedModel } from '../nn/layers.js';
import type { Tensor } from './safetensors.js';

export interface EngineWeights {
  W: Float32Array;
  b: Float32Array;
}

export interface EngineRunningStats {
  mean: Float32Array;
  variance: Float32Array;
}

/** torchIndex -> engine index of the features of an [H, W, C] map flattened in NHWC order. */
function flattenPermutation(H: number, W: number, C: number): Int32Array {
  const p = new Int32Array(H * W * C);
  for (let c = 0; c < C; c++)
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) p[(c * H + h) * W + w] = (h * W + w) * C + c;
  return p;
}

interface LayerPlan {
  /** Permutation of the layer's input features (torch index -> engine index), if any. */
  perm: Int32Array | null;
}

/** For every layer, the feature permutation pending at its input (after a flatten of a map). */
function permutations(model: ResolvedModel): LayerPlan[] {
  let perm: Int32Array | null = null;
  return model.layers.map((l) => {
    const plan = { perm };
    if (l.type === 'flatten') {
      const [H, W, C] = l.inShape.length === 3 ? l.inShape : [1, 1, l.inShape[0]];
      perm = H * W > 1 && C > 1 ? flattenPermutation(H, W, C) : null;
    } else if (l.type === 'dense') {
      perm = null;
    } else if (l.type !== 'dropout' && l.type !== 'batchnorm') {
      perm = null;
    }
    return plan;
  });
}

function permuteVector(v: Float32Array, perm: Int32Array | null, toTorch: boolean): Float32Array {
  if (!perm) return v;
  const out = new Float32Array(v.length);
  for (let t = 0; t < perm.length; t++) {
    if (toTorch) out[t] = v[perm[t]];
    else out[perm[t]] = v[t];
  }
  return out;
}

/** Dense W [units, fanIn] with the fanIn axis permuted. */
function permuteColumns(
  W: Float32Array,
  units: number,
  perm: Int32Array | null,
  toTorch: boolean,
): Float32Array {
  if (!perm) return W;
  const K = perm.length;
  const out = new Float32Array(W.length);
  for (let u = 0; u < units; u++) {
    const row = u * K;
    for (let t = 0; t < K; t++) {
      if (toTorch) out[row + t] = W[row + perm[t]];
      else out[row + perm[t]] = W[row + t];
    }
  }
  return out;
}

/** conv weight [F, KH, KW, C] (engine) <-> [F, C, KH, KW] (torch). */
function convLayout(
  W: Float32Array,
  F: number,
  KH: number,
  KW: number,
  C: number,
  toTorch: boolean,
): Float32Array {
  const out = new Float32Array(W.length);
  for (let f = 0; f < F; f++)
    for (let kh = 0; kh < KH; kh++)
      for (let kw = 0; kw < KW; kw++)
        for (let c = 0; c < C; c++) {
          const e = ((f * KH + kh) * KW + kw) * C + c;
          const t = ((f * C + c) * KH + kh) * KW + kw;
          if (toTorch) out[t] = W[e];
          else out[e] = W[t];
        }
  return out;
}

/** The file's tensors for these engine-layout weights and running statistics. */
export function torchTensors(
  model: ResolvedModel,
  weights: readonly EngineWeights[],
  stats: readonly EngineRunningStats[],
  batchesTracked: number,
): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  const perms = permutations(model);
  let pi = 0;
  let si = 0;
  model.layers.forEach((l, i) => {
    if (!l.param) return;
    const { W, b } = weights[pi++];
    const perm = perms[i].perm;
    const name = `layers.${i}`;
    if (l.type === 'dense') {
      tensors[`${name}.weight`] = {
        dtype: 'F32',
        shape: [l.outSize, l.inSize],
        data: permuteColumns(W, l.outSize, perm, true),
      };
      tensors[`${name}.bias`] = { dtype: 'F32', shape: [l.outSize], data: b };
    } else if (l.type === 'conv2d') {
      const g = l.conv!;
      tensors[`${name}.weight`] = {
        dtype: 'F32',
        shape: [g.F, g.C, g.KH, g.KW],
        data: convLayout(W, g.F, g.KH, g.KW, g.C, true),
      };
      if (b.length > 0) tensors[`${name}.bias`] = { dtype: 'F32', shape: [g.F], data: b };
    } else {
      const C = l.param.units;
      const s = stats[si++];
      tensors[`${name}.weight`] = { dtype: 'F32', shape: [C], data: permuteVector(W, perm, true) };
      tensors[`${name}.bias`] = { dtype: 'F32', shape: [C], data: permuteVector(b, perm, true) };
      tensors[`${name}.running_mean`] = { dtype: 'F32', shape: [C], data: permuteVector(s.mean, perm, true) };
      tensors[`${name}.running_var`] = {
        dtype: 'F32',
        shape: [C],
        data: permuteVector(s.variance, perm, true),
      };
      tensors[`${name}.num_batches_tracked`] = {
        dtype: 'I64',
        shape: [],
        data: BigInt64Array.of(BigInt(batchesTracked)),
      };
    }
  });
  return tensors;
}

export interface ExpectTensor {
  (name: string, shape: number[]): Float32Array;
}

/**
 * Engine-layout weights and statistics from a file's tensors. `f32(name, shape)` returns a
 * checked F32 tensor (or fails); `i64(name)` the scalar count. Returns the names it consumed.
 */
export function engineWeights(
  model: ResolvedModel,
  f32: ExpectTensor,
  i64: (name: string) => number,
): { weights: EngineWeights[]; stats: EngineRunningStats[]; batchesTracked: number; names: string[] } {
  const perms = permutations(model);
  const weights: EngineWeights[] = [];
  const stats: EngineRunningStats[] = [];
  const names: string[] = [];
  let batchesTracked = 0;
  const take = (n: string, shape: number[]) => {
    names.push(n);
    return f32(n, shape);
  };
  model.layers.forEach((l, i) => {
    if (!l.param) return;
    const perm = perms[i].perm;
    const name = `layers.${i}`;
    if (l.type === 'dense') {
      const W = take(`${name}.weight`, [l.outSize, l.inSize]);
      weights.push({ W: permuteColumns(W, l.outSize, perm, false), b: take(`${name}.bias`, [l.outSize]) });
    } else if (l.type === 'conv2d') {
      const g = l.conv!;
      const W = convLayout(take(`${name}.weight`, [g.F, g.C, g.KH, g.KW]), g.F, g.KH, g.KW, g.C, false);
      weights.push({ W, b: l.param.b.length > 0 ? take(`${name}.bias`, [g.F]) : new Float32Array(0) });
    } else {
      const C = l.param.units;
      weights.push({
        W: permuteVector(take(`${name}.weight`, [C]), perm, false),
        b: permuteVector(take(`${name}.bias`, [C]), perm, false),
      });
      stats.push({
        mean: permuteVector(take(`${name}.running_mean`, [C]), perm, false),
        variance: permuteVector(take(`${name}.running_var`, [C]), perm, false),
      });
      names.push(`${name}.num_batches_tracked`);
      batchesTracked = i64(`${name}.num_batches_tracked`);
    }
  });
  return { weights, stats, batchesTracked, names };
}
