import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { resolveModel, type Conv2dSpec, type ConvGeometry } from '../../src/nn/layers.js';
import { conv2dBackward, conv2dForward, type ConvGeom } from '../../src/reference/conv.js';
import { matmulForward } from '../../src/reference/matmul.js';
import { Rng } from '../../src/rng.js';
import { dot, expectAllClose, expectGradMatches, randArray } from './helpers.js';

/** The geometry src/nn/layers.ts resolves for one conv layer on an [H, W, C] input. */
function geometry(H: number, W: number, C: number, conv: Omit<Conv2dSpec, 'type'>): ConvGeometry {
  const model = resolveModel({
    inputShape: [H, W, C],
    layers: [{ type: 'conv2d', ...conv }, { type: 'flatten' }, { units: 1 }],
    loss: 'mse',
  });
  return model.layers[0].conv!;
}

/**
 * A second, independent formulation: pad x explicitly with zeros, unfold every window into a
 * row (im2col, columns in (kh, kw, c) order) and multiply by W (F, KH·KW·C) with the dense
 * reference. The padding past the last row/column is whatever OH/OW need.
 */
function convByIm2col(
  x: Float64Array,
  w: Float64Array,
  bias: Float64Array | null,
  B: number,
  g: ConvGeom,
): Float64Array {
  const { H, W, C, F, KH, KW, SH, SW, padTop, padLeft, OH, OW } = g;
  const PH = Math.max(H + padTop, (OH - 1) * SH + KH);
  const PW = Math.max(W + padLeft, (OW - 1) * SW + KW);
  const padded = new Float64Array(B * PH * PW * C);
  for (let n = 0; n < B; n++)
    for (let h = 0; h < H; h++)
      for (let v = 0; v < W; v++)
        for (let c = 0; c < C; c++)
          padded[((n * PH + h + padTop) * PW + v + padLeft) * C + c] = x[((n * H + h) * W + v) * C + c];
  const K = KH * KW * C;
  const cols = new Float64Array(B * OH * OW * K);
  let k = 0;
  for (let n = 0; n < B; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let kh = 0; kh < KH; kh++)
          for (let kw = 0; kw < KW; kw++)
            for (let c = 0; c < C; c++)
              cols[k++] = padded[((n * PH + oh * SH + kh) * PW + ow * SW + kw) * C + c];
  return matmulForward(cols, w, bias, B * OH * OW, K, F);
}

interface Case {
  name: string;
  B: number;
  H: number;
  W: number;
  C: number;
  conv: Omit<Conv2dSpec, 'type'>;
}

const CASES: Case[] = [
  { name: '3x3 valid, C=3, F=5', B: 2, H: 6, W: 7, C: 3, conv: { filters: 5, kernelSize: 3 } },
  {
    name: '3x3 stride 2, padding 1',
    B: 2,
    H: 7,
    W: 6,
    C: 2,
    conv: { filters: 3, kernelSize: 3, stride: 2, padding: 1 },
  },
  // 'same' with a 4x2 kernel: total padding 3 rows (1 top, 2 bottom) and 1 column (0 left, 1 right).
  {
    name: "'same' with odd total padding, rectangular 4x2 kernel",
    B: 1,
    H: 5,
    W: 6,
    C: 3,
    conv: { filters: 4, kernelSize: [4, 2], padding: 'same' },
  },
  {
    name: "'same' stride [2, 3], no bias",
    B: 3,
    H: 7,
    W: 8,
    C: 2,
    conv: { filters: 5, kernelSize: [3, 2], stride: [2, 3], padding: 'same', bias: false },
  },
  { name: '1x1 kernel, F=1, B=1', B: 1, H: 3, W: 2, C: 4, conv: { filters: 1, kernelSize: 1 } },
];

describe('reference conv2d: forward', () => {
  it('a tiny case computed by hand (valid, 2x2 kernel, bias)', () => {
    // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,2],[3,4]], bias 10.
    const g = geometry(3, 3, 1, { filters: 1, kernelSize: 2 });
    const Z = conv2dForward([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4], [10], 1, g);
    // 1+4+12+20, 2+6+15+24, 4+10+21+32, 5+12+24+36, each + 10.
    expect(Array.from(Z)).toEqual([47, 57, 77, 87]);
  });

  it("a tiny 'same' case by hand: the odd padding pixel goes to the bottom/right", () => {
    // 2x2 kernel on 3x3 'same': total padding 1 per axis, all of it bottom/right.
    const g = geometry(3, 3, 1, { filters: 1, kernelSize: 2, padding: 'same', bias: false });
    expect([g.padTop, g.padLeft, g.padBottom, g.padRight, g.OH, g.OW]).toEqual([0, 0, 1, 1, 3, 3]);
    const Z = conv2dForward([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4], null, 1, g);
    // Last column: [3,0;6,0] -> 3+18, [6,0;9,0] -> 6+27; last row: [7,8;0,0] -> 7+16, [8,9;0,0] -> 8+18; corner 9.
    expect(Array.from(Z)).toEqual([37, 47, 21, 67, 77, 33, 23, 26, 9]);
  });

  it('multi-channel, multi-filter NHWC indexing by hand (1x1 kernel)', () => {
    // x (1,1,2,2): pixel 0 = [1, 2], pixel 1 = [3, 4]; w (2,1,1,2): f0 = [1, 10], f1 = [100, 1000].
    const g = geometry(1, 2, 2, { filters: 2, kernelSize: 1 });
    const Z = conv2dForward([1, 2, 3, 4], [1, 10, 100, 1000], [0.5, -0.5], 1, g);
    expect(Array.from(Z)).toEqual([21.5, 2099.5, 43.5, 4299.5]);
  });

  for (const c of CASES) {
    it(`equals im2col x matmul exactly on small integers: ${c.name}`, () => {
      const g = geometry(c.H, c.W, c.C, c.conv);
      const rng = new Rng(c.H * 31 + c.W);
      // Integers in [-3, 3]: every product and sum is exact in float64, so both orders agree exactly.
      const ints = (n: number): Float64Array => Float64Array.from({ length: n }, () => rng.int(7) - 3);
      const x = ints(c.B * c.H * c.W * c.C);
      const w = ints(g.F * g.KH * g.KW * g.C);
      const bias = c.conv.bias === false ? null : ints(g.F);
      const Z = conv2dForward(x, w, bias, c.B, g);
      expect(Z.length).toBe(c.B * g.OH * g.OW * g.F);
      expect(Array.from(Z)).toEqual(Array.from(convByIm2col(x, w, bias, c.B, g)));
    });
  }

  it('rejects wrong lengths and geometries with ShapeError', () => {
    const g = geometry(4, 4, 2, { filters: 3, kernelSize: 3 });
    const x = new Float64Array(2 * 4 * 4 * 2);
    const w = new Float64Array(3 * 3 * 3 * 2);
    expect(() => conv2dForward(x, w, null, 2, g)).not.toThrow();
    expect(() => conv2dForward(x.subarray(1), w, null, 2, g)).toThrow(ShapeError);
    expect(() => conv2dForward(x, w.subarray(1), null, 2, g)).toThrow(ShapeError);
    expect(() => conv2dForward(x, w, [1, 2], 2, g)).toThrow(ShapeError);
    expect(() => conv2dForward(x, w, null, 2, { ...g, OH: 5 })).toThrow(ShapeError);
    expect(() => conv2dForward(x, w, null, 2, { ...g, SH: 0 })).toThrow(ShapeError);
    expect(() => conv2dBackward(x, w, new Float64Array(5), 2, g, true)).toThrow(ShapeError);
  });
});

describe('reference conv2d: backward by finite differences', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const g = geometry(c.H, c.W, c.C, c.conv);
      const rng = new Rng(c.B * 101 + c.H * 7 + c.C);
      const hasBias = c.conv.bias !== false;
      const x = randArray(rng, c.B * c.H * c.W * c.C);
      const w = randArray(rng, g.F * g.KH * g.KW * g.C);
      const bias = randArray(rng, g.F);
      const r = randArray(rng, c.B * g.OH * g.OW * g.F);
      const L = (): number => dot(r, conv2dForward(x, w, hasBias ? bias : null, c.B, g));
      const grads = conv2dBackward(x, w, r, c.B, g, hasBias);
      expectGradMatches(L, x, grads.dX, 'dX');
      expectGradMatches(L, w, grads.dW, 'dW');
      if (hasBias) expectGradMatches(L, bias, grads.db, 'db');
      else expect(grads.db.length).toBe(0);
    });
  }

  it('dX sums the contributions of overlapping windows (all-ones case by hand)', () => {
    // 3x3 input, 2x2 kernel of ones, stride 1, dZ = 1: dX counts the windows covering each pixel.
    const g = geometry(3, 3, 1, { filters: 1, kernelSize: 2 });
    const { dX, dW, db } = conv2dBackward(
      new Float64Array(9).fill(1),
      [1, 1, 1, 1],
      [1, 1, 1, 1],
      1,
      g,
      true,
    );
    expectAllClose(dX, [1, 2, 1, 2, 4, 2, 1, 2, 1], { atol: 0, rtol: 0 }, 'dX');
    expectAllClose(dW, [4, 4, 4, 4], { atol: 0, rtol: 0 }, 'dW');
    expectAllClose(db, [4], { atol: 0, rtol: 0 }, 'db');
  });
});

// ---- groups: filter f of group g = f / (F/G) sees channels g*C/G .. (g+1)*C/G - 1 ----

/**
 * The independent formulation of a grouped conv: G ungrouped convs, group g's on the channel
 * slice g*C/G .. (g+1)*C/G - 1 of x with filters g*F/G .. (g+1)*F/G - 1, outputs interleaved back.
 */
function convBySlices(
  x: Float64Array,
  w: Float64Array,
  bias: Float64Array | null,
  B: number,
  g: ConvGeom,
): Float64Array {
  const G = g.G ?? 1;
  const [Cg, Fg] = [g.C / G, g.F / G];
  const M = B * g.OH * g.OW;
  const Z = new Float64Array(M * g.F);
  for (let q = 0; q < G; q++) {
    const xs = new Float64Array(B * g.H * g.W * Cg);
    for (let p = 0; p < B * g.H * g.W; p++)
      for (let c = 0; c < Cg; c++) xs[p * Cg + c] = x[p * g.C + q * Cg + c];
    const ws = w.subarray(q * Fg * g.KH * g.KW * Cg, (q + 1) * Fg * g.KH * g.KW * Cg);
    const bs = bias ? bias.subarray(q * Fg, (q + 1) * Fg) : null;
    const zs = conv2dForward(xs, ws, bs, B, { ...g, C: Cg, F: Fg, G: 1 });
    for (let m = 0; m < M; m++) for (let f = 0; f < Fg; f++) Z[m * g.F + q * Fg + f] = zs[m * Fg + f];
  }
  return Z;
}

const GROUPED: Case[] = [
  {
    name: 'G=2, 3x3 same, C=4 F=6',
    B: 2,
    H: 5,
    W: 7,
    C: 4,
    conv: { filters: 6, kernelSize: 3, padding: 'same', groups: 2 },
  },
  {
    name: 'G=3 stride 2 same, C=6 F=3',
    B: 1,
    H: 7,
    W: 5,
    C: 6,
    conv: { filters: 3, kernelSize: 3, stride: 2, padding: 'same', groups: 3 },
  },
  {
    name: 'depthwise 3x3 same, C=F=5',
    B: 2,
    H: 5,
    W: 5,
    C: 5,
    conv: { filters: 5, kernelSize: 3, padding: 'same', groups: 5 },
  },
  {
    name: 'depthwise 5x5 stride 2 pad 2, C=F=3, no bias',
    B: 3,
    H: 7,
    W: 6,
    C: 3,
    conv: { filters: 3, kernelSize: 5, stride: 2, padding: 2, groups: 3, bias: false },
  },
  {
    name: 'depthwise with channel multiplier 2 (F=2C), stride [2, 1]',
    B: 1,
    H: 5,
    W: 7,
    C: 3,
    conv: { filters: 6, kernelSize: [3, 2], stride: [2, 1], padding: 'same', groups: 3 },
  },
];

describe('reference conv2d with groups', () => {
  it('a depthwise case by hand: each channel convolved with its own filter', () => {
    // x (1,1,2,2): pixel 0 = [1, 10], pixel 1 = [2, 20]; 1x2 kernels f0 = [1, 2], f1 = [3, 4].
    const g = geometry(1, 2, 2, { filters: 2, kernelSize: [1, 2], groups: 2 });
    expect(g.G).toBe(2);
    const Z = conv2dForward([1, 10, 2, 20], [1, 2, 3, 4], [0.5, -0.5], 1, g);
    expect(Array.from(Z)).toEqual([1 + 4 + 0.5, 30 + 80 - 0.5]);
  });

  it('G = 1 (absent) resolves as before: no G on the geometry', () => {
    expect(geometry(4, 4, 2, { filters: 3, kernelSize: 3 }).G).toBeUndefined();
    expect(geometry(4, 4, 2, { filters: 3, kernelSize: 3, groups: 1 }).G).toBeUndefined();
  });

  for (const c of GROUPED) {
    it(`equals G ungrouped convs on channel slices exactly: ${c.name}`, () => {
      const g = geometry(c.H, c.W, c.C, c.conv);
      const rng = new Rng(c.H * 37 + c.C);
      const ints = (n: number): Float64Array => Float64Array.from({ length: n }, () => rng.int(7) - 3);
      const x = ints(c.B * c.H * c.W * c.C);
      const w = ints((g.F * g.KH * g.KW * g.C) / g.G!);
      const bias = c.conv.bias === false ? null : ints(g.F);
      expect(Array.from(conv2dForward(x, w, bias, c.B, g))).toEqual(
        Array.from(convBySlices(x, w, bias, c.B, g)),
      );
    });

    it(`backward by finite differences: ${c.name}`, () => {
      const g = geometry(c.H, c.W, c.C, c.conv);
      const rng = new Rng(c.B * 211 + c.H * 13 + c.C);
      const hasBias = c.conv.bias !== false;
      const x = randArray(rng, c.B * c.H * c.W * c.C);
      const w = randArray(rng, (g.F * g.KH * g.KW * g.C) / g.G!);
      const bias = randArray(rng, g.F);
      const r = randArray(rng, c.B * g.OH * g.OW * g.F);
      const L = (): number => dot(r, conv2dForward(x, w, hasBias ? bias : null, c.B, g));
      const grads = conv2dBackward(x, w, r, c.B, g, hasBias);
      expect(grads.dW.length).toBe(w.length);
      expectGradMatches(L, x, grads.dX, 'dX');
      expectGradMatches(L, w, grads.dW, 'dW');
      if (hasBias) expectGradMatches(L, bias, grads.db, 'db');
    });
  }

  it('rejects groups that do not divide C and F, and a w of the ungrouped length', () => {
    const g = geometry(4, 4, 4, { filters: 6, kernelSize: 3, groups: 2 });
    const x = new Float64Array(4 * 4 * 4);
    const w = new Float64Array(6 * 3 * 3 * 2);
    expect(() => conv2dForward(x, w, null, 1, g)).not.toThrow();
    expect(() => conv2dForward(x, new Float64Array(6 * 3 * 3 * 4), null, 1, g)).toThrow(ShapeError);
    expect(() => conv2dForward(x, w, null, 1, { ...g, G: 3 })).toThrow(/groups 3/);
    expect(() => conv2dBackward(x, w, new Float64Array(2 * 2 * 6), 1, { ...g, G: 0 }, true)).toThrow(
      ShapeError,
    );
  });
});
