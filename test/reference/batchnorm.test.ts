import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import {
  batchNormBackward,
  batchNormForwardEval,
  batchNormForwardTrain,
  updateRunningStats,
} from '../../src/reference/batchnorm.js';
import { Rng } from '../../src/rng.js';
import { dot, expectAllClose, expectGradMatches, randArray, VALUE_TOL } from './helpers.js';

const EPS = 1e-5;

describe('reference batchnorm: forward', () => {
  it('training statistics and output by hand (one channel)', () => {
    // x = [1, 2, 3, 6]: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5.
    const r = batchNormForwardTrain([1, 2, 3, 6], 4, 1, [2], [0.5], EPS);
    expect(r.mean[0]).toBe(3);
    expect(r.variance[0]).toBe(3.5);
    const s = 1 / Math.sqrt(3.5 + EPS);
    expectAllClose(r.invStd, [s], VALUE_TOL, 'invStd');
    expectAllClose(r.xhat, [-2 * s, -s, 0, 3 * s], VALUE_TOL, 'xhat');
    expectAllClose(r.out, [-4 * s + 0.5, -2 * s + 0.5, 0.5, 6 * s + 0.5], VALUE_TOL, 'out');
  });

  it('statistics are per channel (last axis) over every row', () => {
    // rows = B·H·W = 3, C = 2: channel 0 = [1, 3, 5], channel 1 = [10, 10, 40].
    const r = batchNormForwardTrain([1, 10, 3, 10, 5, 40], 3, 2, [1, 1], [0, 0], EPS);
    expect(Array.from(r.mean)).toEqual([3, 20]);
    expectAllClose(r.variance, [8 / 3, 200], VALUE_TOL, 'variance');
  });

  it('two-pass statistics stay exact on data with a large offset (1e8 + small noise)', () => {
    const rng = new Rng(4);
    const rows = 1000;
    // Noise k/1024 with integer k in [-1024, 1024]: 1e8 + k/1024 is exact in float64 (its ulp
    // is 2^-26), so the true mean and variance are those of the noise itself.
    const noise = Float64Array.from({ length: rows }, () => (rng.int(2049) - 1024) / 1024);
    const x = noise.map((d) => 1e8 + d);
    let m = 0;
    for (const d of noise) m += d;
    m /= rows;
    let v = 0;
    for (const d of noise) v += (d - m) ** 2;
    v /= rows;
    const r = batchNormForwardTrain(x, rows, 1, [1], [0], EPS);
    expect(Math.abs(r.mean[0] - (1e8 + m))).toBeLessThan(1e-7);
    expect(Math.abs(r.variance[0] - v) / v).toBeLessThan(1e-7);
    // The one-pass form E[x²] - E[x]² is off by far more here: the test can tell them apart.
    let s2 = 0;
    for (const xi of x) s2 += xi * xi;
    const onePass = s2 / rows - r.mean[0] * r.mean[0];
    expect(Math.abs(onePass - v) / v).toBeGreaterThan(1e-3);
    // Normalised values are the noise's z-scores.
    expectAllClose(
      r.xhat,
      noise.map((d) => (d - m) / Math.sqrt(v + EPS)),
      { atol: 1e-7, rtol: 1e-7 },
      'xhat',
    );
  });

  it('evaluation uses the running statistics', () => {
    const out = batchNormForwardEval([1, -1, 5, 3], 2, 2, [2, 0.5], [1, -1], [1, 1], [4, 16], 1e-12);
    // channel 0: 2·(x - 1)/2 + 1; channel 1: 0.5·(x - 1)/4 - 1 (eps 1e-12 moves these by < 1e-12).
    expectAllClose(out, [1, -1.25, 5, -0.75], VALUE_TOL, 'eval by hand');
    const rng = new Rng(6);
    const x = randArray(rng, 7 * 3);
    const gamma = randArray(rng, 3);
    const beta = randArray(rng, 3);
    // With the running stats set to this batch's statistics, eval equals training mode.
    const t = batchNormForwardTrain(x, 7, 3, gamma, beta, EPS);
    expectAllClose(
      batchNormForwardEval(x, 7, 3, gamma, beta, t.mean, t.variance, EPS),
      t.out,
      VALUE_TOL,
      'eval = train',
    );
  });

  it('rejects wrong shapes with ShapeError and bad eps with ConfigError', () => {
    expect(() => batchNormForwardTrain(new Float64Array(5), 2, 3, [1, 1, 1], [0, 0, 0], EPS)).toThrow(
      ShapeError,
    );
    expect(() => batchNormForwardTrain(new Float64Array(6), 2, 3, [1, 1], [0, 0, 0], EPS)).toThrow(
      ShapeError,
    );
    expect(() => batchNormForwardTrain(new Float64Array(0), 0, 3, [1, 1, 1], [0, 0, 0], EPS)).toThrow(
      ShapeError,
    );
    expect(() => batchNormForwardTrain(new Float64Array(6), 2, 3, [1, 1, 1], [0, 0, 0], 0)).toThrow(
      ConfigError,
    );
    expect(() => batchNormForwardEval([1, 2], 1, 2, [1, 1], [0, 0], [0, 0], [1, -1], EPS)).toThrow(
      ShapeError,
    );
    expect(() =>
      batchNormBackward(new Float64Array(6), new Float64Array(5), [1, 1, 1], [1, 1, 1], 2, 3),
    ).toThrow(ShapeError);
  });
});

describe('reference batchnorm: training-mode backward by finite differences', () => {
  const CASES = [
    { name: 'map: B=2, H=3, W=2, C=3 (rows = 12)', rows: 12, C: 3 },
    { name: 'flat: B=5, C=4', rows: 5, C: 4 },
    { name: 'two rows', rows: 2, C: 3 },
  ];
  for (const { name, rows, C } of CASES) {
    it(name, () => {
      const rng = new Rng(rows * 10 + C);
      const x = randArray(rng, rows * C);
      const gamma = randArray(rng, C);
      const beta = randArray(rng, C);
      const r = randArray(rng, rows * C);
      // The loss goes through the batch statistics: perturbing one x moves every row's output.
      const L = (): number => dot(r, batchNormForwardTrain(x, rows, C, gamma, beta, EPS).out);
      const f = batchNormForwardTrain(x, rows, C, gamma, beta, EPS);
      const g = batchNormBackward(r, f.xhat, f.invStd, gamma, rows, C);
      expectGradMatches(L, x, g.dX, 'dX');
      expectGradMatches(L, gamma, g.dGamma, 'dGamma');
      expectGradMatches(L, beta, g.dBeta, 'dBeta');
      // The batch mean is subtracted, so shifting a channel of x changes nothing: Σ_r dX = 0.
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = 0; i < rows; i++) s += g.dX[i * C + c];
        expect(Math.abs(s)).toBeLessThan(1e-12);
      }
    });
  }
});

describe('reference batchnorm: running statistics', () => {
  it("follow PyTorch's rule with the unbiased batch variance", () => {
    // torch.nn.BatchNorm1d(1, momentum=0.1) on [1, 2, 3, 4] from (mean 0, var 1):
    // running_mean = 0.1·2.5 = 0.25, running_var = 0.9·1 + 0.1·(1.25·4/3) = 1.0666...
    const mean = new Float64Array([0]);
    const variance = new Float64Array([1]);
    const t = batchNormForwardTrain([1, 2, 3, 4], 4, 1, [1], [0], EPS);
    updateRunningStats(mean, variance, t.mean, t.variance, 4, 0.1);
    expect(mean[0]).toBeCloseTo(0.25, 15);
    expect(variance[0]).toBeCloseTo(0.9 + 0.1 * (5 / 3), 15);
    // A second step compounds from the updated values.
    updateRunningStats(mean, variance, [1], [2], 3, 0.5);
    expect(mean[0]).toBeCloseTo(0.5 * 0.25 + 0.5 * 1, 15);
    expect(variance[0]).toBeCloseTo(0.5 * (0.9 + 0.1 * (5 / 3)) + 0.5 * 3, 15);
  });

  it('momentum 0 keeps, momentum 1 replaces; rows = 1 takes the biased variance', () => {
    const mean = Float64Array.from([1, 2]);
    const variance = Float64Array.from([3, 4]);
    updateRunningStats(mean, variance, [9, 9], [9, 9], 10, 0);
    expect([...mean, ...variance]).toEqual([1, 2, 3, 4]);
    updateRunningStats(mean, variance, [5, 6], [2, 4], 5, 1);
    expect([...mean, ...variance]).toEqual([5, 6, 2.5, 5]);
    updateRunningStats(mean, variance, [0, 0], [0, 0], 1, 1);
    expect([...mean, ...variance]).toEqual([0, 0, 0, 0]);
  });

  it('rejects mismatched lengths and momentum outside [0, 1]', () => {
    const m = new Float64Array(2);
    const v = new Float64Array(2);
    expect(() => updateRunningStats(m, v, [0], [0, 0], 4, 0.1)).toThrow(ShapeError);
    expect(() => updateRunningStats(m, new Float64Array(3), [0, 0], [0, 0], 4, 0.1)).toThrow(ShapeError);
    expect(() => updateRunningStats(m, v, [0, 0], [0, 0], 4, 1.5)).toThrow(ConfigError);
  });
});
