import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { INIT_KINDS, initStd, initWeights, initWeights64, type InitKind } from '../../src/reference/init.js';
import { Rng } from '../../src/rng.js';

function stats(w: Float64Array): { mean: number; std: number; maxAbs: number } {
  let s = 0;
  let maxAbs = 0;
  for (const v of w) {
    s += v;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  const mean = s / w.length;
  let ss = 0;
  for (const v of w) ss += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(ss / w.length), maxAbs };
}

// W is (N,K) = (fanOut, fanIn) = (300, 700): 210k samples, so the sample std is within ~0.3% of
// the target and the mean within ~3σ/√n = 0.0066σ of 0.
const N = 300;
const K = 700;
const TARGET: Record<InitKind, number> = {
  'he-normal': Math.sqrt(2 / K),
  'he-uniform': Math.sqrt(2 / K),
  'xavier-normal': Math.sqrt(2 / (K + N)),
  'xavier-uniform': Math.sqrt(2 / (K + N)),
  'lecun-normal': Math.sqrt(1 / K),
  zeros: 0,
};

describe('reference initialisers', () => {
  for (const kind of INIT_KINDS.filter((k) => k !== 'zeros')) {
    it(`${kind}: mean ≈ 0 and std within 2% of the target`, () => {
      const w = initWeights64(kind, N, K, new Rng(42));
      const target = TARGET[kind];
      expect(initStd(kind, K, N)).toBeCloseTo(target, 15);
      const s = stats(w);
      expect(Math.abs(s.mean)).toBeLessThan(0.01 * target);
      expect(Math.abs(s.std / target - 1)).toBeLessThan(0.02);
      if (kind.endsWith('-uniform')) {
        // U(±l) with l = √3·σ: every draw inside, and the extremes close to it.
        const limit = Math.sqrt(3) * target;
        expect(s.maxAbs).toBeLessThanOrEqual(limit);
        expect(s.maxAbs).toBeGreaterThan(0.999 * limit);
      }
    });
  }

  it('draws row-major, one rng.normal() / rng.uniform() per element', () => {
    const a = new Rng(7);
    const std = Math.sqrt(2 / 5);
    const expected = Array.from({ length: 15 }, () => std * a.normal());
    expect(Array.from(initWeights64('he-normal', 3, 5, new Rng(7)))).toEqual(expected);
    const u = new Rng(7);
    const l = Math.sqrt(6 / 8);
    const expectedU = Array.from({ length: 15 }, () => u.uniform(-l, l));
    expect(Array.from(initWeights64('xavier-uniform', 3, 5, new Rng(7)))).toEqual(expectedU);
  });

  it('is reproducible from the seed and differs across seeds', () => {
    for (const kind of INIT_KINDS) {
      const a = initWeights64(kind, 7, 13, new Rng(1));
      expect(Array.from(initWeights64(kind, 7, 13, new Rng(1)))).toEqual(Array.from(a));
      if (kind !== 'zeros')
        expect(Array.from(initWeights64(kind, 7, 13, new Rng(2)))).not.toEqual(Array.from(a));
    }
  });

  it('zeros is all zero and does not advance the Rng', () => {
    const rng = new Rng(5);
    const before = rng.state();
    expect(initWeights64('zeros', 4, 4, rng).every((v) => v === 0)).toBe(true);
    expect(rng.state()).toEqual(before);
  });

  it('initWeights is the float32 rounding of the same draws', () => {
    const w32 = initWeights('lecun-normal', 7, 13, new Rng(9));
    expect(w32).toBeInstanceOf(Float32Array);
    expect(Array.from(w32)).toEqual(
      Array.from(Float32Array.from(initWeights64('lecun-normal', 7, 13, new Rng(9)))),
    );
  });

  it('rejects unknown kinds', () => {
    expect(() => initWeights64('orthogonal' as InitKind, 2, 2, new Rng(0))).toThrow(ConfigError);
  });
});
