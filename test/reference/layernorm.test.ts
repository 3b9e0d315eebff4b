import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { layerNormBackward, layerNormForward } from '../../src/reference/layernorm.js';
import { Rng } from '../../src/rng.js';
import { dot, expectAllClose, expectGradMatches, randArray, VALUE_TOL } from './helpers.js';

const EPS = 1e-5;

describe('reference layernorm: forward', () => {
  it('per-row statistics and output by hand', () => {
    // Row 0 = [1, 2, 3, 6]: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5.
    // Row 1 = [-1, -1, 1, 1]: mean 0, var 1. gamma and beta are per column.
    const gamma = [2, 1, 0.5, -1];
    const beta = [0.5, 0, -1, 2];
    const r = layerNormForward([1, 2, 3, 6, -1, -1, 1, 1], 2, 4, gamma, beta, EPS);
    const s0 = 1 / Math.sqrt(3.5 + EPS);
    const s1 = 1 / Math.sqrt(1 + EPS);
    expectAllClose(r.invStd, [s0, s1], VALUE_TOL, 'invStd');
    const xhat = [-2 * s0, -s0, 0, 3 * s0, -s1, -s1, s1, s1];
    expectAllClose(r.xhat, xhat, VALUE_TOL, 'xhat');
    expectAllClose(
      r.out,
      xhat.map((v, i) => gamma[i % 4] * v + beta[i % 4]),
      VALUE_TOL,
      'out',
    );
  });

  it('statistics are per row: each row of xhat has mean 0 and variance var/(var + eps)', () => {
    const rng = new Rng(3);
    const [R, C] = [5, 33];
    const x = randArray(rng, R * C);
    const ones = new Float64Array(C).fill(1);
    const r = layerNormForward(x, R, C, ones, new Float64Array(C), EPS);
    for (let i = 0; i < R; i++) {
      const row = r.xhat.subarray(i * C, (i + 1) * C);
      let m = 0;
      for (const v of row) m += v;
      m /= C;
      let q = 0;
      for (const v of row) q += v * v;
      const v = 1 / r.invStd[i] ** 2 - EPS;
      expect(Math.abs(m)).toBeLessThan(1e-14);
      expect(q / C).toBeCloseTo(v / (v + EPS), 12);
    }
  });

  it('a large row offset keeps its variance (two passes, not E[x^2] - E[x]^2)', () => {
    const rng = new Rng(4);
    const C = 1000;
    // 1e8 + k/1024 is exact in float64, so the noise's own statistics are the true ones.
    const noise = Float64Array.from({ length: C }, () => (rng.int(2049) - 1024) / 1024);
    let m = 0;
    for (const d of noise) m += d;
    m /= C;
    let v = 0;
    for (const d of noise) v += (d - m) ** 2;
    v /= C;
    const ones = new Float64Array(C).fill(1);
    const r = layerNormForward(
      noise.map((d) => 1e8 + d),
      1,
      C,
      ones,
      new Float64Array(C),
      EPS,
    );
    expect(Math.abs(r.invStd[0] - 1 / Math.sqrt(v + EPS)) * Math.sqrt(v)).toBeLessThan(1e-7);
  });

  it('C = 1: every row is its own mean, so out = beta', () => {
    const r = layerNormForward([3, -7, 0.25], 3, 1, [5], [0.75], EPS);
    expect(Array.from(r.xhat)).toEqual([0, 0, 0]);
    expect(Array.from(r.out)).toEqual([0.75, 0.75, 0.75]);
    expectAllClose(r.invStd, new Float64Array(3).fill(1 / Math.sqrt(EPS)), VALUE_TOL, 'invStd');
  });

  it('rejects wrong shapes with ShapeError and bad eps with ConfigError', () => {
    expect(() => layerNormForward(new Float64Array(5), 2, 3, [1, 1, 1], [0, 0, 0], EPS)).toThrow(ShapeError);
    expect(() => layerNormForward(new Float64Array(6), 2, 3, [1, 1], [0, 0, 0], EPS)).toThrow(ShapeError);
    expect(() => layerNormForward(new Float64Array(0), 2, 0, [], [], EPS)).toThrow(ShapeError);
    expect(() => layerNormForward(new Float64Array(6), 2, 3, [1, 1, 1], [0, 0, 0], 0)).toThrow(ConfigError);
    expect(() =>
      layerNormBackward(new Float64Array(6), new Float64Array(6), [1, 1, 1], [1, 1, 1], 2, 3),
    ).toThrow(ShapeError);
  });
});

describe('reference layernorm: backward by finite differences', () => {
  const CASES = [
    { name: 'C = 1 (x̂ = 0: dX = 0, dGamma = 0)', R: 4, C: 1 },
    { name: 'C = 2', R: 3, C: 2 },
    { name: 'C = 7, one row', R: 1, C: 7 },
    { name: 'map rows B·H·W = 2·3·2, C = 7', R: 12, C: 7 },
    { name: 'C = 33', R: 5, C: 33 },
  ];
  for (const { name, R, C } of CASES) {
    it(name, () => {
      const rng = new Rng(R * 100 + C);
      const x = randArray(rng, R * C);
      const gamma = randArray(rng, C);
      const beta = randArray(rng, C);
      const w = randArray(rng, R * C);
      // L = Σ w ⊙ out, so dOut = w; perturbing one x moves every output of its row.
      const L = (): number => dot(w, layerNormForward(x, R, C, gamma, beta, EPS).out);
      const f = layerNormForward(x, R, C, gamma, beta, EPS);
      const g = layerNormBackward(w, f.xhat, f.invStd, gamma, R, C);
      expectGradMatches(L, x, g.dX, 'dX');
      expectGradMatches(L, gamma, g.dGamma, 'dGamma');
      expectGradMatches(L, beta, g.dBeta, 'dBeta');
      // The row mean is subtracted and the row scale divided out: Σ_c dX = 0 and Σ_c dX·x̂ ≈ 0
      // (exactly 0 as eps -> 0) in every row.
      for (let r = 0; r < R; r++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += g.dX[r * C + c];
        expect(Math.abs(s)).toBeLessThan(1e-12);
      }
      if (C === 1) {
        expect(Array.from(g.dX)).toEqual(new Array<number>(R).fill(0));
        expect(Array.from(g.dGamma)).toEqual([0]);
      }
    });
  }
});
