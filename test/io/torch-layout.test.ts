// The model file <-> engine layout of graph models and the new layers: tensors follow each
// layer's first input (not the list order), a concat of flat features permutes block by block, a
// grouped conv stores [F, C/G, KH, KW], a layernorm weight and bias only; the file's tensors
// compute what the engine's layout computes, and everything round-trips bit exactly.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { engineWeights, featureOrders, torchTensors } from '../../src/io/torch-layout.js';
import type { Tensor } from '../../src/io/safetensors.js';
import { resolveModel, type LayerSpec, type ModelSpec, type ResolvedModel } from '../../src/nn/layers.js';
import { Rng } from '../../src/rng.js';

const model = (inputShape: number[], layers: LayerSpec[]): ResolvedModel =>
  resolveModel({ inputShape, layers, loss: 'softmax-ce' } satisfies ModelSpec);

function randomWeights(m: ResolvedModel, seed: number) {
  const rng = new Rng(seed);
  const arr = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-2, 2));
  return {
    weights: m.params.map((p) => ({ W: arr(p.W.length), b: arr(p.b.length) })),
    stats: m.states.map((s) => ({ mean: arr(s.channels), variance: arr(s.channels).map(Math.abs) })),
  };
}

/** Saves and reads back through the layout, checking each name and shape the reader asks for. */
function roundTrip(m: ResolvedModel, seed = 1) {
  const { weights, stats } = randomWeights(m, seed);
  const tensors = torchTensors(m, weights, stats, 5);
  const f32 = (name: string, shape: number[]): Float32Array => {
    const t: Tensor | undefined = tensors[name];
    if (!t) throw new Error(`missing ${name}`);
    expect(t.shape, name).toEqual(shape);
    return t.data as Float32Array;
  };
  const back = engineWeights(m, f32, () => 5);
  expect(back.names.sort()).toEqual(Object.keys(tensors).sort());
  expect(back.weights.map((w) => [Array.from(w.W), Array.from(w.b)])).toEqual(
    weights.map((w) => [Array.from(w.W), Array.from(w.b)]),
  );
  expect(back.stats.map((s) => [Array.from(s.mean), Array.from(s.variance)])).toEqual(
    stats.map((s) => [Array.from(s.mean), Array.from(s.variance)]),
  );
  return { weights, stats, tensors };
}

/** A map [H, W, C] flattened as the engine does (h, w, c) and as PyTorch does (c, h, w). */
function flattenBoth(x: Float32Array, H: number, W: number, C: number): [number[], number[]] {
  const engine = Array.from(x);
  const torch: number[] = [];
  for (let c = 0; c < C; c++)
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) torch.push(x[(h * W + w) * C + c]);
  return [engine, torch];
}

const dot = (W: Float32Array, row: number, x: readonly number[]): number =>
  x.reduce((s, v, k) => s + W[row * x.length + k] * v, 0);

describe('model file layout of graph models', () => {
  it('follows the first input: a dense reading a flatten listed earlier, not the layer before it', () => {
    const m = model(
      [3, 2, 4],
      [
        { type: 'conv2d', name: 'c', filters: 3, kernelSize: 1 },
        { type: 'flatten', name: 'f' },
        { type: 'globalavgpool', name: 'g', inputs: 'c' },
        { name: 'dg', units: 5, inputs: 'g' },
        { name: 'df', units: 5, inputs: 'f' },
        { type: 'add', inputs: ['dg', 'df'] },
        { units: 2, activation: 'softmax' },
      ],
    );
    const orders = featureOrders(m);
    expect(orders[3]).toBeNull();
    expect(orders[4]).toEqual([{ size: 18, map: [3, 2, 3] }]);
    const { weights, tensors } = roundTrip(m);
    const rng = new Rng(4);
    const x = Float32Array.from({ length: 18 }, () => rng.uniform(-1, 1));
    const [xe, xt] = flattenBoth(x, 3, 2, 3);
    const file = tensors['layers.4.weight'].data as Float32Array;
    for (let u = 0; u < 5; u++) expect(dot(file, u, xt)).toBeCloseTo(dot(weights[2].W, u, xe), 10);
  });

  it('a concat of flat features permutes block by block (flatten of a map, pooled features, another flatten)', () => {
    const m = model(
      [2, 3, 2],
      [
        { type: 'conv2d', name: 'a', filters: 3, kernelSize: 1 },
        { type: 'flatten', name: 'fa' },
        { type: 'globalavgpool', name: 'g', inputs: 'a' },
        { type: 'maxpool2d', name: 'p', inputs: 'a', size: [1, 3] },
        { type: 'flatten', name: 'fp' },
        { type: 'concat', inputs: ['fa', 'g', 'fp'] },
        { type: 'layernorm' },
        { type: 'dropout', rate: 0.5 },
        { type: 'batchnorm' },
        { units: 3, activation: 'softmax' },
      ],
    );
    const blocks = [
      { size: 18, map: [2, 3, 3] },
      { size: 3, map: null },
      { size: 6, map: [2, 1, 3] },
    ];
    expect(featureOrders(m)[6]).toEqual(blocks);
    expect(featureOrders(m)[9]).toEqual(blocks);
    const { weights, stats, tensors } = roundTrip(m, 7);
    const rng = new Rng(8);
    const a = Float32Array.from({ length: 18 }, () => rng.uniform(-1, 1));
    const g = [0.5, -1.25, 2];
    const p = Float32Array.from({ length: 6 }, () => rng.uniform(-1, 1));
    const [ae, at] = flattenBoth(a, 2, 3, 3);
    const [pe, pt] = flattenBoth(p, 2, 1, 3);
    const xe = [...ae, ...g, ...pe];
    const xt = [...at, ...g, ...pt];
    const file = tensors['layers.9.weight'].data as Float32Array;
    for (let u = 0; u < 3; u++) expect(dot(file, u, xt)).toBeCloseTo(dot(weights[3].W, u, xe), 10);
    // Per-feature vectors (layernorm gamma, batchnorm running mean) move with their feature.
    const gamma = tensors['layers.6.weight'].data as Float32Array;
    const mean = tensors['layers.8.running_mean'].data as Float32Array;
    const ids = Float32Array.from({ length: 27 }, (_, k) => k);
    const [, idT] = flattenBoth(ids.subarray(0, 18), 2, 3, 3);
    expect(Array.from(gamma.subarray(0, 18))).toEqual(idT.map((k) => weights[1].W[k]));
    expect(Array.from(mean.subarray(18, 21))).toEqual(Array.from(stats[0].mean.subarray(18, 21)));
    expect(Array.from(mean.subarray(0, 18))).toEqual(idT.map((k) => stats[0].mean[k]));
  });

  it('an add of flat features keeps their common order, and refuses orders that differ', () => {
    const same = model(
      [2, 2, 3],
      [
        { type: 'flatten', name: 'f1' },
        { type: 'conv2d', name: 'c', inputs: 'input', filters: 3, kernelSize: 1 },
        { type: 'flatten', name: 'f2' },
        { type: 'add', inputs: ['f1', 'f2'] },
        { units: 2, activation: 'softmax' },
      ],
    );
    expect(featureOrders(same)[4]).toEqual([{ size: 12, map: [2, 2, 3] }]);
    roundTrip(same);
    const mixed = model(
      [2, 2, 3],
      [
        { type: 'flatten', name: 'f' },
        { type: 'conv2d', inputs: 'input', filters: 12, kernelSize: 1 },
        { type: 'globalavgpool', name: 'g' },
        { type: 'add', name: 'sum', inputs: ['f', 'g'] },
        { units: 2, activation: 'softmax' },
      ],
    );
    const w = randomWeights(mixed, 2);
    expect(() => torchTensors(mixed, w.weights, w.stats, 0)).toThrow(ConfigError);
    expect(() => featureOrders(mixed)).toThrow(
      /^layer 3 'sum' \(add\): it adds flat features in different orders/,
    );
  });
});

describe('model file layout of the new layers', () => {
  it('a grouped conv stores [F, C/G, KH, KW]; a depthwise one [C, 1, KH, KW]', () => {
    const m = model(
      [5, 4, 6],
      [
        { type: 'conv2d', filters: 9, kernelSize: [3, 2], groups: 3, padding: 'same' },
        { type: 'conv2d', filters: 9, kernelSize: 3, groups: 9, bias: false },
        { type: 'globalavgpool' },
        { units: 2, activation: 'softmax' },
      ],
    );
    const { weights, tensors } = roundTrip(m, 3);
    expect(tensors['layers.0.weight'].shape).toEqual([9, 2, 3, 2]);
    expect(tensors['layers.1.weight'].shape).toEqual([9, 1, 3, 3]);
    expect(tensors['layers.1.bias']).toBeUndefined();
    const t0 = tensors['layers.0.weight'].data as Float32Array;
    for (const [f, kh, kw, c] of [
      [0, 0, 0, 0],
      [8, 2, 1, 1],
      [4, 1, 0, 1],
    ])
      expect(t0[((f * 2 + c) * 3 + kh) * 2 + kw]).toBe(weights[0].W[((f * 3 + kh) * 2 + kw) * 2 + c]);
  });

  it('a layernorm stores weight and bias [C] and no running statistics', () => {
    const m = model(
      [3, 3, 4],
      [
        { type: 'layernorm', activation: 'relu' },
        { type: 'batchnorm' },
        { type: 'flatten' },
        { type: 'layernorm' },
        { units: 2, activation: 'softmax' },
      ],
    );
    const { tensors } = roundTrip(m, 5);
    expect(Object.keys(tensors).filter((k) => k.startsWith('layers.0.'))).toEqual([
      'layers.0.weight',
      'layers.0.bias',
    ]);
    expect(tensors['layers.3.weight'].shape).toEqual([36]);
    expect(tensors['layers.1.running_var'].shape).toEqual([4]);
  });
});
