import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  ACTIVATION_NAMES,
  activationBackward,
  activationForward,
  type ActivationName,
} from '../../src/reference/activations.js';
import { Rng } from '../../src/rng.js';
import { dot, expectAllClose, expectGradMatches, randArray, VALUE_TOL } from './helpers.js';

const SHAPES: [number, number][] = [
  [1, 1],
  [7, 13],
  [15, 17],
];

describe('reference activations: forward values', () => {
  const z = [-2, -0.5, 0, 0.5, 2];
  const f = (name: ActivationName, alpha?: number): number[] =>
    Array.from(activationForward(name, z, 1, z.length, { alpha }));

  it('relu, leaky_relu (default and custom alpha), identity', () => {
    expect(f('identity')).toEqual(z);
    expect(f('relu')).toEqual([0, 0, 0, 0.5, 2]);
    expect(f('leaky_relu')).toEqual([-0.02, -0.005, 0, 0.5, 2]);
    expect(f('leaky_relu', 0.2)).toEqual([-0.4, -0.1, 0, 0.5, 2]);
  });

  it('sigmoid and tanh match their closed forms', () => {
    expectAllClose(
      f('sigmoid'),
      z.map((v) => 1 / (1 + Math.exp(-v))),
      VALUE_TOL,
      'sigmoid',
    );
    expectAllClose(f('tanh'), z.map(Math.tanh), VALUE_TOL, 'tanh');
  });

  it('gelu is the tanh approximation, within 2e-4 of the erf GELU', () => {
    // 0.8411919906 is PyTorch's gelu(1, approximate='tanh'); the exact (erf) GELU values
    // 0.8413447461, 1.9544997361, -0.1586552539 differ by ~1.5e-4, the size of the approximation.
    expect(activationForward('gelu', [1], 1, 1)[0]).toBeCloseTo(0.8411919906, 9);
    const exact = [0.8413447461, 1.9544997361, -0.1586552539];
    const approx = activationForward('gelu', [1, 2, -1], 1, 3);
    for (let i = 0; i < 3; i++) expect(Math.abs(approx[i] - exact[i])).toBeLessThan(2e-4);
  });

  it('relu6 caps at 6 and hardswish is z·relu6(z+3)/6 (PyTorch values)', () => {
    const w = [-8, -3, -1.5, 0, 1.5, 3, 5, 6, 8];
    expect(Array.from(activationForward('relu6', w, 1, w.length))).toEqual([0, 0, 0, 0, 1.5, 3, 5, 6, 6]);
    // torch.nn.functional.hardswish of the same points.
    const hs = [0, 0, -0.375, 0, 1.125, 3, 5, 6, 8];
    expectAllClose(activationForward('hardswish', w, 1, w.length), hs, VALUE_TOL, 'hardswish');
  });

  it('softmax rows sum to 1 and are shift invariant', () => {
    const rng = new Rng(3);
    const Z = randArray(rng, 4 * 6);
    const S = activationForward('softmax', Z, 4, 6);
    const shifted = activationForward(
      'softmax',
      Z.map((v, i) => v + 10 * Math.floor(i / 6)),
      4,
      6,
    );
    for (let i = 0; i < 4; i++) {
      const row = S.subarray(i * 6, i * 6 + 6);
      expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 14);
    }
    expectAllClose(shifted, S, VALUE_TOL, 'softmax shift');
  });

  it('is finite and exact at |z| = 100', () => {
    const big = [100, -100];
    for (const name of ACTIVATION_NAMES) {
      const A = activationForward(name, big, 1, 2);
      expect(A.every(Number.isFinite), name).toBe(true);
    }
    const sig = activationForward('sigmoid', big, 1, 2);
    expect(sig[0]).toBe(1);
    expect(sig[1] / Math.exp(-100)).toBeCloseTo(1, 12); // e^-100 ≈ 3.7e-44, not flushed to 0
    const g = activationForward('gelu', big, 1, 2);
    expect(g[0]).toBe(100);
    expect(Math.abs(g[1])).toBe(0);
    const s = activationForward('softmax', [100, -100, 0], 1, 3);
    expect(s[0]).toBe(1);
    expect(s[2] / Math.exp(-100)).toBeCloseTo(1, 12);
    // Backward stays finite too.
    for (const name of ACTIVATION_NAMES) {
      const A = activationForward(name, big, 1, 2);
      const dZ = activationBackward(name, big, A, [1, 1], 1, 2);
      expect(dZ.every(Number.isFinite), name).toBe(true);
    }
  });

  it('rejects unknown names and bad sizes', () => {
    expect(() => activationForward('swish' as ActivationName, [1], 1, 1)).toThrow(ConfigError);
    expect(() => activationForward('relu', [1, 2], 1, 1)).toThrow(/2 elements|1 elements/);
  });
});

describe('reference activations: backward', () => {
  it('relu derivative is 0 at z = 0, leaky_relu is alpha there', () => {
    const Z = [0, 0];
    const dA = [3, 5];
    const relu = activationBackward('relu', Z, activationForward('relu', Z, 1, 2), dA, 1, 2);
    expect(Array.from(relu)).toEqual([0, 0]);
    const leaky = activationBackward('leaky_relu', Z, activationForward('leaky_relu', Z, 1, 2), dA, 1, 2, {
      alpha: 0.1,
    });
    expectAllClose(leaky, [0.3, 0.5], VALUE_TOL, 'leaky at 0');
  });

  it('relu6 and hardswish derivatives at the kinks follow PyTorch', () => {
    // relu6' is 0 at both kinks (0 and 6); hardswish' takes the middle piece (2z+3)/6 on the
    // closed interval [-3, 3], so -1/2 at -3 and 3/2 at 3. The GPU uses the same convention.
    const Z = [0, 6, -3, 3];
    const dA = [1, 1, 1, 1];
    const back = (name: ActivationName) =>
      Array.from(activationBackward(name, Z, activationForward(name, Z, 1, 4), dA, 1, 4));
    expect(back('relu6')).toEqual([0, 0, 0, 1]);
    expectAllClose(back('hardswish'), [0.5, 1, -0.5, 1.5], VALUE_TOL, 'hardswish at kinks');
  });

  for (const name of ['relu6', 'hardswish'] as const) {
    it(`${name} matches finite differences on [-8, 8], every piece`, () => {
      const rng = new Rng(name.length * 31);
      // Kinks at -3, 0, 3 and 6: samples stay >= 1e-2 from each, far beyond the FD step.
      const kinks = [-3, 0, 3, 6];
      const Z = randArray(rng, 15 * 17, -8, 8).map((v) =>
        kinks.reduce((x, k) => (Math.abs(x - k) < 1e-2 ? k + 2e-2 : x), v),
      );
      const R = randArray(rng, Z.length);
      for (const [lo, hi] of [
        [-8, -3],
        [-3, 0],
        [0, 3],
        [3, 6],
        [6, 8],
      ]) {
        expect(
          Z.some((v) => v > lo && v < hi),
          `a sample in (${lo}, ${hi})`,
        ).toBe(true);
      }
      const L = (): number => dot(R, activationForward(name, Z, 15, 17));
      const dZ = activationBackward(name, Z, activationForward(name, Z, 15, 17), R, 15, 17);
      expectGradMatches(L, Z, dZ, `${name} dZ on [-8, 8]`);
    });
  }

  for (const name of ACTIVATION_NAMES) {
    for (const [B, N] of SHAPES) {
      it(`${name} matches finite differences at ${B}x${N}`, () => {
        const rng = new Rng(B * 100 + N + name.length);
        // minAbs keeps relu / leaky_relu inputs >= 1e-2 from the kink, far beyond the FD step.
        const Z = randArray(rng, B * N, -2, 2, 1e-2);
        const R = randArray(rng, B * N);
        const opts = { alpha: 0.07 };
        const L = (): number => dot(R, activationForward(name, Z, B, N, opts));
        const A = activationForward(name, Z, B, N, opts);
        const dZ = activationBackward(name, Z, A, R, B, N, opts);
        expectGradMatches(L, Z, dZ, `${name} dZ`);
      });
    }
  }

  it('softmax backward is S ⊙ (dA - rowsum(dA ⊙ S)) and sums to 0 per row', () => {
    const rng = new Rng(11);
    const Z = randArray(rng, 3 * 4);
    const dA = randArray(rng, 3 * 4);
    const S = activationForward('softmax', Z, 3, 4);
    const dZ = activationBackward('softmax', Z, S, dA, 3, 4);
    for (let i = 0; i < 3; i++) {
      let s = 0;
      for (let j = 0; j < 4; j++) s += dZ[i * 4 + j];
      expect(Math.abs(s)).toBeLessThan(1e-15);
    }
  });
});
