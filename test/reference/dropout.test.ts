import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { dropoutBackward, dropoutForward, dropoutMask } from '../../src/reference/dropout.js';
import { counterHash, Rng } from '../../src/rng.js';
import { dot, expectGradMatches, randArray } from './helpers.js';

const kept = (m: Float64Array): number => m.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0);

function disagreement(a: Float64Array, b: Float64Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d / a.length;
}

describe('reference dropout: mask', () => {
  it('holds only 0 and 1/(1 - rate), keeping about 1 - rate of the elements', () => {
    const n = 200_000;
    for (const rate of [0.1, 0.5, 0.8]) {
      const m = dropoutMask(7, 2, 11, 400, n / 400, rate);
      const scale = 1 / (1 - rate);
      expect(m.every((v) => v === 0 || v === scale)).toBe(true);
      // Binomial standard deviation of the kept fraction: √(p(1-p)/n) <= 1.2e-3; allow 5 of them.
      expect(Math.abs(kept(m) / n - (1 - rate))).toBeLessThan(6e-3);
    }
  });

  it('rate 0 keeps every element with scale exactly 1', () => {
    const m = dropoutMask(1, 0, 0, 50, 40, 0);
    expect(m.every((v) => v === 1)).toBe(true);
  });

  it('keeps element e iff the top 24 bits of its hash are >= rate·2^24', () => {
    const rate = 0.3;
    const m = dropoutMask(123, 4, 9, 3, 1000, rate);
    for (let e = 0; e < m.length; e++) {
      const u = (counterHash(123, 4, 9, e) >>> 8) / 16777216;
      expect(m[e] !== 0, `element ${e}`).toBe(u >= rate);
    }
  });

  it('is a pure function of (seed, stream, step, element): the same call gives the same mask, whatever the row split', () => {
    const a = dropoutMask(5, 3, 17, 6, 50, 0.4);
    expect(Array.from(dropoutMask(5, 3, 17, 6, 50, 0.4))).toEqual(Array.from(a));
    // Element e = row·size + j: the same 300 elements split as 1 x 300 or 20 x 15 give one mask,
    // and a longer mask starts with the shorter one.
    expect(Array.from(dropoutMask(5, 3, 17, 1, 300, 0.4))).toEqual(Array.from(a));
    expect(Array.from(dropoutMask(5, 3, 17, 20, 15, 0.4))).toEqual(Array.from(a));
    expect(Array.from(dropoutMask(5, 3, 17, 9, 50, 0.4).subarray(0, 300))).toEqual(Array.from(a));
  });

  it('differs between steps, streams and seeds (independent draws disagree on ~2p(1-p))', () => {
    const rate = 0.5;
    const base = dropoutMask(1, 2, 3, 100, 100, rate);
    for (const [label, other] of [
      ['step', dropoutMask(1, 2, 4, 100, 100, rate)],
      ['stream', dropoutMask(1, 3, 3, 100, 100, rate)],
      ['seed', dropoutMask(2, 2, 3, 100, 100, rate)],
    ] as const) {
      // Expected 0.5, binomial sd 0.005 over 10,000 elements.
      const d = disagreement(base, other);
      expect(d, label).toBeGreaterThan(0.45);
      expect(d, label).toBeLessThan(0.55);
    }
  });

  it('rejects a rate outside [0, 1) and non-integer counters', () => {
    expect(() => dropoutMask(1, 0, 0, 2, 2, 1)).toThrow(ConfigError);
    expect(() => dropoutMask(1, 0, 0, 2, 2, -0.1)).toThrow(ConfigError);
    expect(() => dropoutMask(1, 0, 0.5, 2, 2, 0.5)).toThrow(ConfigError);
    expect(() => dropoutMask(1, 0, 0, 2.5, 2, 0.5)).toThrow(ShapeError);
  });
});

describe('reference dropout: forward and backward', () => {
  it('forward is x ⊙ mask, by hand', () => {
    expect(Array.from(dropoutForward([1, -2, 3, 4], [0, 2, 2, 0]))).toEqual([0, -4, 6, 0]);
  });

  it('backward by finite differences through a fixed mask', () => {
    const rng = new Rng(12);
    const mask = dropoutMask(9, 1, 5, 4, 9, 0.35);
    const x = randArray(rng, 36);
    const r = randArray(rng, 36);
    const L = (): number => dot(r, dropoutForward(x, mask));
    expectGradMatches(L, x, dropoutBackward(r, mask), 'dX');
  });

  it('rejects a mask of another length', () => {
    expect(() => dropoutForward([1, 2, 3], [1, 1])).toThrow(ShapeError);
    expect(() => dropoutBackward([1, 2], [1, 1, 1])).toThrow(ShapeError);
  });
});
