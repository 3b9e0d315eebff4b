// Between the engine's parameter layout and PyTorch's, for model files. Tensor names follow the
// layer's index in architecture.layers (`layers.{i}.*`), layouts follow torch.nn:
//   dense      weight [units, fanIn] (nn.Linear), bias [units]
//   conv2d     weight [F, C/G, KH, KW] (nn.Conv2d(groups=G); the engine holds [F, KH, KW, C/G]), bias [F]
//   batchnorm  weight (gamma) [C], bias (beta) [C], running_mean [C], running_var [C],
//              num_batches_tracked I64 [] (nn.BatchNorm2d / BatchNorm1d)
//   layernorm  weight (gamma) [C], bias (beta) [C] (nn.LayerNorm(C) over the last axis)
// A flatten of an [H, W, C] map gives features in NHWC order inside the engine; PyTorch flattens
// NCHW maps channel-first. The dense layer that reads such features (through dropout, batchnorm
// and layernorm on flat features, and adds, which keep the order) is stored with its feature axis
// permuted to PyTorch's order, and so are those norms' vectors; a concat of flat features permutes
// block by block; an add of flat features in different orders has no PyTorch layout and is refused
// (ConfigError naming the layer). Graphs follow each layer's first input, so the file loads into
// the equivalent torch module (src/export/torch-model.ts) and gives the same outputs.

import { ConfigError } from '../errors.js';
import { layerLabel, type ConvGeometry, type ResolvedModel } from '../nn/layers.js';
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

/**
 * A run of consecutive flat features: the NHWC flatten of an [H, W, C] map (which PyTorch flattens
 * channel-first), or, with map null, features in the same order in both.
 */
export interface FeatureBlock {
  size: number;
  map: [number, number, number] | null;
}

/** Flat features as blocks; null when the engine's order is PyTorch's (or the tensor is a map). */
export type FeatureOrder = FeatureBlock[] | null;

/** Merges neighbouring plain blocks; a map whose two orders agree (H*W = 1 or C = 1) is plain. */
function normalise(blocks: readonly FeatureBlock[]): FeatureOrder {
  const out: FeatureBlock[] = [];
  for (const b of blocks) {
    const map = b.map && b.map[0] * b.map[1] > 1 && b.map[2] > 1 ? b.map : null;
    const last = out[out.length - 1];
    if (map === null && last?.map === null) last.size += b.size;
    else out.push({ size: b.size, map });
  }
  return out.every((b) => b.map === null) ? null : out;
}

const sameOrder = (a: FeatureOrder, b: FeatureOrder): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * For every layer (by index), the order of the flat features at its first input. A flatten of a
 * map starts a block; dropout, batchnorm and layernorm on flat features and a flatten of flat
 * features pass their input's order on; an add of inputs in one order keeps it; a concat of flat
 * features joins its inputs' blocks. Any other layer's output is in its own order. An add of flat
 * features in different orders has no PyTorch layout: ConfigError naming the layer.
 */
export function featureOrders(model: ResolvedModel): FeatureOrder[] {
  const out: FeatureOrder[] = new Array<FeatureOrder>(model.layers.length).fill(null);
  const orderOf = (p: number): FeatureOrder => (p < 0 ? null : out[p]);
  const atInput: FeatureOrder[] = new Array<FeatureOrder>(model.layers.length).fill(null);
  for (const i of model.order) {
    const l = model.layers[i];
    const first = orderOf(l.inputs[0]);
    atInput[i] = first;
    const flat = l.inShape.length === 1;
    if (l.type === 'flatten') {
      const [H, W, C] = l.inShape;
      out[i] = flat ? first : normalise([{ size: l.outSize, map: [H, W, C] }]);
    } else if (l.type === 'dropout' || (flat && (l.type === 'batchnorm' || l.type === 'layernorm'))) {
      out[i] = first;
    } else if (l.type === 'add') {
      if (!l.inputs.every((p) => sameOrder(orderOf(p), first)))
        throw new ConfigError(
          `${layerLabel(model.spec.layers, i)}: it adds flat features in different orders (a flatten of an [H, W, C] map is stored in PyTorch's channel-first order), which no PyTorch layout can hold; add the maps before the flatten, or add features of one kind.`,
        );
      out[i] = first;
    } else if (l.type === 'concat' && l.outShape.length === 1) {
      out[i] = normalise(l.inputs.flatMap((p, k) => orderOf(p) ?? [{ size: l.inShapes[k][0], map: null }]));
    }
  }
  return atInput;
}

/** torch index -> engine index for features in this order, or null for the same order. */
function permutationOf(order: FeatureOrder): Int32Array | null {
  if (order === null) return null;
  const perm = new Int32Array(order.reduce((n, b) => n + b.size, 0));
  let at = 0;
  for (const b of order) {
    if (b.map === null) for (let t = 0; t < b.size; t++) perm[at + t] = at + t;
    else flattenPermutation(...b.map).forEach((e, t) => (perm[at + t] = at + e));
    at += b.size;
  }
  return perm;
}

/** For every layer, the feature permutation at its input (torch index -> engine index), or null. */
function permutations(model: ResolvedModel): (Int32Array | null)[] {
  return featureOrders(model).map(permutationOf);
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

/** conv weight [F, KH, KW, C] (engine) <-> [F, C, KH, KW] (torch); C is C / groups for a grouped conv. */
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

/** The PyTorch shape of a conv weight: [F, C / groups, KH, KW]. */
const convShape = (g: ConvGeometry): [number, number, number, number] => [g.F, g.C / (g.G ?? 1), g.KH, g.KW];

/** The file's tensors for these engine-layout weights and running statistics. */
export function torchTensors(
  model: ResolvedModel,
  weights: readonly EngineWeights[],
  stats: readonly EngineRunningStats[],
  batchesTracked: number,
): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  const f32 = (name: string, shape: number[], data: Float32Array) =>
    (tensors[name] = { dtype: 'F32', shape, data });
  const perms = permutations(model);
  let pi = 0;
  let si = 0;
  model.layers.forEach((l, i) => {
    if (!l.param) return;
    const { W, b } = weights[pi++];
    const perm = perms[i];
    const name = `layers.${i}`;
    if (l.type === 'dense') {
      f32(`${name}.weight`, [l.outSize, l.inSize], permuteColumns(W, l.outSize, perm, true));
      f32(`${name}.bias`, [l.outSize], b);
    } else if (l.type === 'conv2d') {
      const [F, Cg, KH, KW] = convShape(l.conv!);
      f32(`${name}.weight`, [F, Cg, KH, KW], convLayout(W, F, KH, KW, Cg, true));
      if (b.length > 0) f32(`${name}.bias`, [F], b);
    } else {
      const C = l.param.units;
      f32(`${name}.weight`, [C], permuteVector(W, perm, true));
      f32(`${name}.bias`, [C], permuteVector(b, perm, true));
      if (l.type !== 'batchnorm') return;
      const s = stats[si++];
      f32(`${name}.running_mean`, [C], permuteVector(s.mean, perm, true));
      f32(`${name}.running_var`, [C], permuteVector(s.variance, perm, true));
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
    const perm = perms[i];
    const name = `layers.${i}`;
    if (l.type === 'dense') {
      const W = take(`${name}.weight`, [l.outSize, l.inSize]);
      weights.push({ W: permuteColumns(W, l.outSize, perm, false), b: take(`${name}.bias`, [l.outSize]) });
    } else if (l.type === 'conv2d') {
      const [F, Cg, KH, KW] = convShape(l.conv!);
      const W = convLayout(take(`${name}.weight`, [F, Cg, KH, KW]), F, KH, KW, Cg, false);
      weights.push({ W, b: l.param.b.length > 0 ? take(`${name}.bias`, [F]) : new Float32Array(0) });
    } else {
      const C = l.param.units;
      weights.push({
        W: permuteVector(take(`${name}.weight`, [C]), perm, false),
        b: permuteVector(take(`${name}.bias`, [C]), perm, false),
      });
      if (l.type !== 'batchnorm') return;
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

export interface TorchTensorShape {
  name: string;
  dtype: 'F32' | 'I64';
  shape: number[];
}

/** The tensors a model file holds for this model (names, dtypes, PyTorch shapes), in layer order. */
export function torchTensorShapes(model: ResolvedModel): TorchTensorShape[] {
  const out: TorchTensorShape[] = [];
  const f32 = (name: string, shape: number[]) => out.push({ name, dtype: 'F32', shape });
  model.layers.forEach((l, i) => {
    if (!l.param) return;
    const name = `layers.${i}`;
    if (l.type === 'dense') {
      f32(`${name}.weight`, [l.outSize, l.inSize]);
      f32(`${name}.bias`, [l.outSize]);
    } else if (l.type === 'conv2d') {
      f32(`${name}.weight`, convShape(l.conv!));
      if (l.param.b.length > 0) f32(`${name}.bias`, [l.conv!.F]);
    } else {
      const C = l.param.units;
      f32(`${name}.weight`, [C]);
      f32(`${name}.bias`, [C]);
      if (l.type !== 'batchnorm') return;
      f32(`${name}.running_mean`, [C]);
      f32(`${name}.running_var`, [C]);
      out.push({ name: `${name}.num_batches_tracked`, dtype: 'I64', shape: [] });
    }
  });
  return out;
}
