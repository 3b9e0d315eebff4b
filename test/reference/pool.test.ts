import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { resolveModel, type PoolGeometry } from '../../src/nn/layers.js';
import {
  avgPool2dBackward,
  avgPool2dForward,
  globalAvgPoolBackward,
  globalAvgPoolForward,
  maxPool2dBackward,
  maxPool2dForward,
} from '../../src/reference/pool.js';
import { Rng } from '../../src/rng.js';
import { dot, expectAllClose, expectGradMatches, randArray, VALUE_TOL } from './helpers.js';

type Size = number | [number, number];

/** The geometry src/nn/layers.ts resolves for one pooling layer on an [H, W, C] input. */
function geometry(
  type: 'maxpool2d' | 'avgpool2d',
  H: number,
  W: number,
  C: number,
  size: Size,
  stride?: Size,
  padding?: Size,
): PoolGeometry {
  const model = resolveModel({
    inputShape: [H, W, C],
    layers: [{ type, size, stride, padding }, { type: 'flatten' }, { units: 1 }],
    loss: 'mse',
  });
  return model.layers[0].pool!;
}

/**
 * n distinct values in about [-2, 2] whose pairwise gaps are >= 4/n, far above the finite-
 * difference step, so no perturbation can change a window's winner.
 */
function distinct(rng: Rng, n: number): Float64Array {
  const perm = rng.permutation(n);
  return Float64Array.from(perm, (p) => ((p + 0.5) / n) * 4 - 2 + rng.uniform(-0.2, 0.2) / n);
}

interface Case {
  name: string;
  B: number;
  H: number;
  W: number;
  C: number;
  size: Size;
  stride?: Size;
  padding?: Size;
}

const CASES: Case[] = [
  { name: '2x2 stride 2 (default), odd map drops the last row/column', B: 2, H: 5, W: 7, C: 3, size: 2 },
  { name: 'overlapping 3x3 stride 1', B: 1, H: 6, W: 5, C: 2, size: 3, stride: 1 },
  { name: 'overlapping rectangular 3x2 stride [2, 1]', B: 3, H: 7, W: 5, C: 1, size: [3, 2], stride: [2, 1] },
  { name: 'window = map (1x1 output)', B: 2, H: 3, W: 4, C: 5, size: [3, 4] },
  // PyTorch's padding: padded cells never win a max and count as zeros in a mean.
  {
    name: "3x3/2 pad 1 (ResNet's stem pool), 7 -> 4",
    B: 2,
    H: 7,
    W: 7,
    C: 2,
    size: 3,
    stride: 2,
    padding: 1,
  },
  { name: '2x2/2 pad 1 tiles a 5x6 map -> 3x4', B: 1, H: 5, W: 6, C: 3, size: 2, padding: 1 },
  {
    name: 'one-row map, 3x2 window stride [2, 1] pad [1, 1] -> 1x6',
    B: 2,
    H: 1,
    W: 5,
    C: 3,
    size: [3, 2],
    stride: [2, 1],
    padding: [1, 1],
  },
  {
    name: '3x3/2 pad [0, 1] on 11x13 (padding one axis)',
    B: 1,
    H: 11,
    W: 13,
    C: 1,
    size: 3,
    stride: 2,
    padding: [0, 1],
  },
];

/** x (1,3,3,1) = [[1,2,3],[4,5,6],[7,8,9]] times `sign`; 3x3/2 pad 1 windows see its four corners' 2x2 blocks. */
const padded3x3 = (sign: number): number[] => [1, 2, 3, 4, 5, 6, 7, 8, 9].map((v) => v * sign);

describe('reference maxpool2d', () => {
  it('values and argmax by hand, NHWC flat indices', () => {
    // x (1,2,4,2): channel 0 = [[1,5,2,0],[3,4,8,7]], channel 1 = its negation.
    const c0 = [1, 5, 2, 0, 3, 4, 8, 7];
    const x = c0.flatMap((v) => [v, -v]);
    const g = geometry('maxpool2d', 2, 4, 2, 2);
    const { out, argmax } = maxPool2dForward(x, 1, g);
    // windows: [1,5,3,4] and [2,0,8,7]; channel 1 maxima are -1 (at pixel 0) and 0 (pixel 3).
    expect(Array.from(out)).toEqual([5, -1, 8, -0]);
    expect(Array.from(argmax)).toEqual([1 * 2, 0 * 2 + 1, 6 * 2, 3 * 2 + 1]);
  });

  it('ties go to the first element in row-major window order (kh outer, kw inner)', () => {
    const g = geometry('maxpool2d', 2, 2, 1, 2);
    expect(Array.from(maxPool2dForward([3, 3, 3, 3], 1, g).argmax)).toEqual([0]);
    // The tied maxima sit at (0,1) and (1,0): (0,1) comes first row-major.
    expect(Array.from(maxPool2dForward([0, 5, 5, 1], 1, g).argmax)).toEqual([1]);
    expect(Array.from(maxPool2dForward([0, 1, 5, 5], 1, g).argmax)).toEqual([2]);
    // Column-major order would pick (1,0) = index 3 here; row-major picks (0,1) = index 1.
    const gr = geometry('maxpool2d', 2, 3, 1, [2, 3]);
    expect(Array.from(maxPool2dForward([0, 9, 0, 9, 0, 0], 1, gr).argmax)).toEqual([1]);
    // A tie routes the whole gradient to the first element only.
    expect(Array.from(maxPool2dBackward([2], [1], 1, g))).toEqual([0, 2, 0, 0]);
  });

  it('a pixel that wins several overlapping windows receives their summed gradient', () => {
    // 1x3 map, window 1x2 stride 1: the middle 9 wins both windows.
    const g = geometry('maxpool2d', 1, 3, 1, [1, 2], 1);
    const { out, argmax } = maxPool2dForward([1, 9, 2], 1, g);
    expect(Array.from(out)).toEqual([9, 9]);
    expect(Array.from(maxPool2dBackward([0.25, 0.5], argmax, 1, g))).toEqual([0, 0.75, 0]);
  });

  it('padded cells never win, even over negative values or -Infinity (PyTorch pads with -inf)', () => {
    const g = geometry('maxpool2d', 3, 3, 1, 3, 2, 1);
    expect([g.OH, g.OW, g.PH, g.PW]).toEqual([2, 2, 1, 1]);
    // Window (oh, ow) covers rows 2oh-1..2oh+1: the 2x2 blocks at (0,0), (0,1), (1,0), (1,1).
    const r = maxPool2dForward(padded3x3(-1), 1, g);
    expect(Array.from(r.out)).toEqual([-1, -2, -4, -5]);
    expect(Array.from(r.argmax)).toEqual([0, 1, 3, 4]);
    // All -Infinity: the first map cell of each window wins, never a padded one.
    const inf = maxPool2dForward(new Float64Array(9).fill(-Infinity), 1, g);
    expect(Array.from(inf.argmax)).toEqual([0, 1, 3, 4]);
    expect(Array.from(maxPool2dBackward([1, 2, 3, 4], r.argmax, 1, g))).toEqual([1, 2, 0, 3, 4, 0, 0, 0, 0]);
  });

  for (const c of CASES) {
    it(`backward by finite differences (distinct values): ${c.name}`, () => {
      const g = geometry('maxpool2d', c.H, c.W, c.C, c.size, c.stride, c.padding);
      const rng = new Rng(c.H * 13 + c.W * 3 + c.C);
      const x = distinct(rng, c.B * c.H * c.W * c.C);
      const r = randArray(rng, c.B * g.OH * g.OW * c.C);
      const { out, argmax } = maxPool2dForward(x, c.B, g);
      for (let o = 0; o < out.length; o++) expect(out[o]).toBe(x[argmax[o]]);
      const L = (): number => dot(r, maxPool2dForward(x, c.B, g).out);
      expectGradMatches(L, x, maxPool2dBackward(r, argmax, c.B, g), 'dX');
    });
  }

  it('rejects wrong lengths, windows past the map and bad argmax with ShapeError', () => {
    const g = geometry('maxpool2d', 4, 4, 1, 2);
    expect(() => maxPool2dForward(new Float64Array(15), 1, g)).toThrow(ShapeError);
    expect(() => maxPool2dForward(new Float64Array(16), 1, { ...g, OH: 3 })).toThrow(ShapeError);
    expect(() => maxPool2dBackward(new Float64Array(4), new Int32Array(3), 1, g)).toThrow(ShapeError);
    expect(() => maxPool2dBackward(new Float64Array(4), Int32Array.from([0, 1, 2, 16]), 1, g)).toThrow(
      ShapeError,
    );
    // Padding over half the window, and output sizes the padding does not give.
    const p = geometry('maxpool2d', 4, 4, 1, 2, 2, 1);
    expect(() => maxPool2dForward(new Float64Array(16), 1, { ...p, PH: 2, OH: 4 })).toThrow(/exceeds half/);
    expect(() => maxPool2dForward(new Float64Array(16), 1, { ...p, OH: 4 })).toThrow(/padded by 1x1/);
  });
});

describe('reference avgpool2d', () => {
  it('window means by hand, small integers (exact)', () => {
    // 3x3 map, 2x2 windows, stride 1 (overlapping).
    const g = geometry('avgpool2d', 3, 3, 1, 2, 1);
    expect(Array.from(avgPool2dForward([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, g))).toEqual([3, 4, 6, 7]);
    // Each window spreads its dOut/4; the centre pixel is in all four windows.
    expect(Array.from(avgPool2dBackward([4, 8, 12, 16], 1, g))).toEqual([1, 3, 2, 4, 10, 6, 3, 7, 4]);
  });

  it('padding counts as zeros and in the divisor (count_include_pad), small integers (exact)', () => {
    const g = geometry('avgpool2d', 3, 3, 1, 3, 2, 1);
    // Each window holds one 2x2 block of the map and five padded zeros; all divide by 9.
    expect(Array.from(avgPool2dForward(padded3x3(9), 1, g))).toEqual([12, 16, 24, 28]);
    // dOut/9 = 1, 2, 3, 4 spread over each window's map cells; the centre is in all four.
    expect(Array.from(avgPool2dBackward([9, 18, 27, 36], 1, g))).toEqual([1, 3, 2, 4, 10, 6, 3, 7, 4]);
  });

  for (const c of CASES) {
    it(`backward by finite differences: ${c.name}`, () => {
      const g = geometry('avgpool2d', c.H, c.W, c.C, c.size, c.stride, c.padding);
      const rng = new Rng(c.H * 17 + c.W * 5 + c.C);
      const x = randArray(rng, c.B * c.H * c.W * c.C);
      const r = randArray(rng, c.B * g.OH * g.OW * c.C);
      const L = (): number => dot(r, avgPool2dForward(x, c.B, g));
      expectGradMatches(L, x, avgPool2dBackward(r, c.B, g), 'dX');
    });
  }

  it('rejects wrong lengths with ShapeError', () => {
    const g = geometry('avgpool2d', 4, 4, 2, 2);
    expect(() => avgPool2dForward(new Float64Array(31), 1, g)).toThrow(ShapeError);
    expect(() => avgPool2dBackward(new Float64Array(7), 1, g)).toThrow(ShapeError);
  });
});

describe('reference globalavgpool', () => {
  it('per-channel means by hand', () => {
    // (2,1,2,2): sample 0 pixels [1,10],[3,30]; sample 1 pixels [-2,0],[4,8].
    const out = globalAvgPoolForward([1, 10, 3, 30, -2, 0, 4, 8], 2, 1, 2, 2);
    expect(Array.from(out)).toEqual([2, 20, 1, 4]);
    expect(Array.from(globalAvgPoolBackward([2, 4, 6, 8], 2, 1, 2, 2))).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
  });

  it('equals an avgpool whose window is the whole map', () => {
    const rng = new Rng(8);
    const x = randArray(rng, 3 * 5 * 4 * 6);
    const g = geometry('avgpool2d', 5, 4, 6, [5, 4]);
    expectAllClose(globalAvgPoolForward(x, 3, 5, 4, 6), avgPool2dForward(x, 3, g), VALUE_TOL, 'forward');
  });

  it('backward by finite differences', () => {
    const rng = new Rng(21);
    const [B, H, W, C] = [2, 3, 5, 4];
    const x = randArray(rng, B * H * W * C);
    const r = randArray(rng, B * C);
    const L = (): number => dot(r, globalAvgPoolForward(x, B, H, W, C));
    expectGradMatches(L, x, globalAvgPoolBackward(r, B, H, W, C), 'dX');
  });

  it('rejects wrong lengths and empty maps with ShapeError', () => {
    expect(() => globalAvgPoolForward(new Float64Array(5), 1, 2, 2, 1)).toThrow(ShapeError);
    expect(() => globalAvgPoolForward(new Float64Array(0), 1, 0, 2, 1)).toThrow(ShapeError);
    expect(() => globalAvgPoolBackward(new Float64Array(3), 1, 2, 2, 2)).toThrow(ShapeError);
  });
});
