import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { bceWithLogits, mse, softmaxCrossEntropy, type LossResult } from '../../src/reference/losses.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectGradMatches, randArray, VALUE_TOL } from './helpers.js';

// [B, N, b]: b < B exercises the ignored tail rows.
const CASES: [number, number, number][] = [
  [1, 1, 1],
  [7, 5, 7],
  [7, 5, 4],
  [15, 16, 13],
];

function bits(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.int(2));
}

function labels(rng: Rng, B: number, N: number): Int32Array {
  return Int32Array.from({ length: B }, () => rng.int(N));
}

/** Every loss as (output, B, N, b) -> result, with its targets drawn from rng. */
function makeLosses(
  rng: Rng,
  B: number,
  N: number,
): [string, (out: Float64Array, b: number) => LossResult][] {
  const yBits = bits(rng, B * N);
  const ySoft = Float64Array.from({ length: B * N }, () => rng.next());
  const lab = labels(rng, B, N);
  const yReal = randArray(rng, B * N);
  return [
    ['bce 0/1', (z, b) => bceWithLogits(z, yBits, B, N, b)],
    ['bce soft', (z, b) => bceWithLogits(z, ySoft, B, N, b)],
    ['softmax-ce', (z, b) => softmaxCrossEntropy(z, lab, B, N, b)],
    ['softmax-ce eps 0.1', (z, b) => softmaxCrossEntropy(z, lab, B, N, b, 0.1)],
    ['softmax-ce eps 0.3', (z, b) => softmaxCrossEntropy(z, lab, B, N, b, 0.3)],
    ['mse', (a, b) => mse(a, yReal, B, N, b)],
  ];
}

describe('reference losses: gradients by finite differences', () => {
  for (const [B, N, b] of CASES) {
    it(`all losses at B=${B} N=${N} b=${b}`, () => {
      const rng = new Rng(B * 31 + N * 7 + b);
      const z = randArray(rng, B * N);
      for (const [name, loss] of makeLosses(rng, B, N)) {
        const r = loss(z, b);
        expectGradMatches(() => loss(z, b).loss, z, r.grad, `${name} grad`);
        expect(r.perSample.length).toBe(b);
        expect(
          r.grad.subarray(b * N).every((v) => v === 0),
          `${name} tail grad`,
        ).toBe(true);
        expect(r.loss).toBeCloseTo(r.perSample.reduce((s, v) => s + v, 0) / b, 14);
      }
    });
  }

  it('at large logits (|z| ~ 30)', () => {
    const B = 6;
    const N = 4;
    const rng = new Rng(30);
    const z = Float64Array.from({ length: B * N }, () => (rng.int(2) ? 30 : -30) + rng.uniform(-1, 1));
    for (const [name, loss] of makeLosses(rng, B, N)) {
      const r = loss(z, B);
      expect(Number.isFinite(r.loss), name).toBe(true);
      expectGradMatches(() => loss(z, B).loss, z, r.grad, `${name} grad at ±30`);
    }
  });
});

describe('reference losses: values', () => {
  it('bce at z = 0 is log 2 with gradient (1/2 - y)/(b·N)', () => {
    const r = bceWithLogits([0, 0, 0, 0], [1, 0, 0.25, 1], 2, 2);
    expect(r.loss).toBeCloseTo(Math.LN2, 15);
    expectAllClose(r.grad, [-0.125, 0.125, 0.0625, -0.125], VALUE_TOL, 'bce grad');
  });

  it('bce at logits ±100 equals the analytic limits', () => {
    // per element: (z,y) = (100,1) -> ~e^-100, (100,0) -> 100, (-100,1) -> 100, (-100,0) -> ~e^-100.
    const r = bceWithLogits([100, 100, -100, -100], [1, 0, 1, 0], 4, 1);
    expectAllClose(r.perSample, [Math.exp(-100), 100, 100, Math.exp(-100)], VALUE_TOL, 'bce ±100');
    expect(r.perSample[0] / Math.exp(-100)).toBeCloseTo(1, 12);
    expect(r.loss).toBe(50);
    // grad = (σ(z) - y)/4: σ(100) = 1 and σ(-100) = e^-100 in float64.
    expectAllClose(r.grad, [0, 0.25, -0.25, Math.exp(-100) / 4], VALUE_TOL, 'bce grad ±100');
    expect(r.correct).toBe(2);
  });

  it('softmax-ce at logits ±100 equals the analytic limits', () => {
    const z = [100, -100, 0, 100, -100, 0, 100, -100, 0];
    const r = softmaxCrossEntropy(z, Int32Array.from([0, 1, 2]), 3, 3);
    // label 0: log(1 + e^-100 + e^-200) ≈ e^-100; label 1: 200; label 2: 100.
    expect(r.perSample[0] / Math.exp(-100)).toBeCloseTo(1, 12);
    expect(r.perSample[1]).toBe(200);
    expect(r.perSample[2]).toBe(100);
    expect(r.grad.every(Number.isFinite)).toBe(true);
    expectAllClose(r.grad.subarray(3, 6), [1 / 3, -1 / 3, Math.exp(-100) / 3], VALUE_TOL, 'row 1 grad');
    expect(r.correct).toBe(1);
  });

  it('mse at ±100 is finite and exact', () => {
    const r = mse([100, -100], [0, 1], 1, 2);
    expect(r.loss).toBe((100 * 100 + 101 * 101) / 2);
    expectAllClose(r.grad, [100, -101], VALUE_TOL, 'mse grad');
  });

  it('softmax-ce of uniform logits is log N', () => {
    const r = softmaxCrossEntropy(new Float64Array(5), [3], 1, 5);
    expect(r.loss).toBeCloseTo(Math.log(5), 15);
  });

  it('rows >= b are never read: NaN there changes nothing', () => {
    const z = [1, -2, 0.5, NaN, NaN, NaN];
    const y = [1, 0, 1, NaN, NaN, NaN];
    for (const r of [
      bceWithLogits(z, y, 2, 3, 1),
      softmaxCrossEntropy(z, Int32Array.from([0, -7]), 2, 3, 1),
      mse(z, y, 2, 3, 1),
    ]) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(Array.from(r.grad.subarray(3))).toEqual([0, 0, 0]);
    }
  });
});

describe('reference losses: label smoothing', () => {
  it('matches a hand-computed value: z = (ln 3, 0, 0), label 0, eps 0.3', () => {
    // softmax = (3/5, 1/5, 1/5); q = (0.7 + 0.1, 0.1, 0.1); loss = -(0.8 ln 0.6 + 0.2 ln 0.2).
    const r = softmaxCrossEntropy([Math.log(3), 0, 0], [0], 1, 3, 1, 0.3);
    expect(r.loss).toBeCloseTo(-(0.8 * Math.log(0.6) + 0.2 * Math.log(0.2)), 14);
    expectAllClose(r.grad, [-0.2, 0.1, 0.1], VALUE_TOL, 'smoothed grad');
    expect(r.correct).toBe(1);
  });

  it('eps = 0 is the plain cross-entropy bit for bit; accuracy ignores eps', () => {
    const rng = new Rng(28);
    const z = randArray(rng, 5 * 7);
    const lab = labels(rng, 5, 7);
    const plain = softmaxCrossEntropy(z, lab, 5, 7);
    const zero = softmaxCrossEntropy(z, lab, 5, 7, 5, 0);
    expect(Array.from(zero.grad)).toEqual(Array.from(plain.grad));
    expect(zero.loss).toBe(plain.loss);
    const smooth = softmaxCrossEntropy(z, lab, 5, 7, 5, 0.2);
    expect(smooth.correct).toBe(plain.correct);
    expect(smooth.loss).not.toBe(plain.loss);
  });

  it('uniform logits: loss log N whatever eps', () => {
    expect(softmaxCrossEntropy(new Float64Array(4), [1], 1, 4, 1, 0.5).loss).toBeCloseTo(Math.log(4), 15);
  });

  it('rejects eps outside [0, 1)', () => {
    expect(() => softmaxCrossEntropy([0, 0], [0], 1, 2, 1, 1)).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy([0, 0], [0], 1, 2, 1, -0.1)).toThrow(ShapeError);
  });
});

describe('reference losses: accuracy', () => {
  it('bce: a row is correct only when every output agrees', () => {
    // row 0: both right; row 1: one wrong; row 2: z = 0 counts as "0", y = 0.5 counts as "0".
    const r = bceWithLogits([2, -1, 2, 1, 0, 0], [1, 0, 1, 0, 0.5, 0], 3, 2);
    expect(r.correct).toBe(2);
  });

  it('softmax-ce: argmax with ties going to the first index', () => {
    const r = softmaxCrossEntropy([1, 3, 3, 5, 0, 0], Int32Array.from([2, 0]), 2, 3);
    expect(r.correct).toBe(1);
  });

  it('mse: argmax for N > 1, threshold 0.5 for N = 1', () => {
    expect(mse([0.1, 0.9, 0.8, 0.2], [0, 1, 0, 1], 2, 2).correct).toBe(1);
    expect(mse([0.5, 0.49, 0.7], [1, 0, 0.4], 3, 1).correct).toBe(2);
  });
});

describe('reference losses: validation', () => {
  it('rejects bad labels, row counts and sizes with ShapeError', () => {
    expect(() => softmaxCrossEntropy([0, 0], [2], 1, 2)).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy([0, 0], [0.5], 1, 2)).toThrow(ShapeError);
    expect(() => mse([0, 0], [0, 0], 2, 1, 3)).toThrow(ShapeError);
    expect(() => mse([0, 0], [0, 0], 2, 1, 0)).toThrow(ShapeError);
    expect(() => bceWithLogits([0, 0], [0], 2, 1)).toThrow(ShapeError);
  });
});
