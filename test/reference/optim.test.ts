import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  adamStep,
  adamwStep,
  clipGradients,
  clipScale,
  createParamState,
  momentumStep,
  optimizerStep,
  sgdStep,
  type OptimizerConfig,
} from '../../src/reference/optim.js';
import { expectAllClose } from './helpers.js';

// Hand-computed expectations; tolerance only covers float64 rounding of the arithmetic.
const TOL = { atol: 1e-15, rtol: 1e-13 };

describe('reference optimizers: hand-computed steps', () => {
  it('sgd with coupled weight decay', () => {
    const p = Float64Array.from([1, -2]);
    const g = [0.5, 0.5];
    // step 1: g' = 0.5 + 0.01·1 = 0.51 -> 0.949;   g' = 0.5 - 0.02 = 0.48 -> -2.048
    sgdStep(p, g, { lr: 0.1, weightDecay: 0.01 });
    expectAllClose(p, [0.949, -2.048], TOL, 'sgd step 1');
    // step 2: g' = 0.5 + 0.00949 -> 0.949 - 0.050949 = 0.898051
    sgdStep(p, g, { lr: 0.1, weightDecay: 0.01 });
    expectAllClose(p, [0.898051, -2.048 - 0.1 * (0.5 - 0.02048)], TOL, 'sgd step 2');
  });

  it('momentum (PyTorch semantics) for 3 steps', () => {
    const p = Float64Array.from([1]);
    const v = new Float64Array(1);
    // constant g = 1, μ = 0.9, lr = 0.1: v = 1, 1.9, 2.71; p = 0.9, 0.71, 0.439
    for (const expected of [0.9, 0.71, 0.439]) {
      momentumStep(p, [1], v, { lr: 0.1, momentum: 0.9 });
      expectAllClose(p, [expected], TOL, 'momentum');
    }
    expectAllClose(v, [2.71], TOL, 'velocity');
  });

  it('nesterov momentum for 2 steps', () => {
    const p = Float64Array.from([1]);
    const v = new Float64Array(1);
    // step 1: v = 1, p -= 0.1·(1 + 0.9·1) -> 0.81; step 2: v = 1.9, p -= 0.1·(1 + 1.71) -> 0.539
    momentumStep(p, [1], v, { lr: 0.1, momentum: 0.9, nesterov: true });
    expectAllClose(p, [0.81], TOL, 'nesterov 1');
    momentumStep(p, [1], v, { lr: 0.1, momentum: 0.9, nesterov: true });
    expectAllClose(p, [0.539], TOL, 'nesterov 2');
  });

  it("adam's first step moves each parameter by ≈ lr·sign(g), whatever |g|", () => {
    const p = Float64Array.from([1, 1, 1, 1]);
    const g = [3, -0.001, 250, -7];
    const s = createParamState(4);
    adamStep(p, g, s.m, s.v, 1, { lr: 0.01 });
    // m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε).
    expectAllClose(
      p,
      g.map((gi) => 1 - (0.01 * gi) / (Math.abs(gi) + 1e-8)),
      TOL,
      'adam step 1',
    );
    expectAllClose(p, [0.99, 1.01, 0.99, 1.01], { atol: 1e-7, rtol: 0 }, 'adam ≈ lr·sign');
  });

  it('adam second step with a sign flip', () => {
    const p = Float64Array.from([0]);
    const s = createParamState(1);
    adamStep(p, [1], s.m, s.v, 1, { lr: 0.1 });
    adamStep(p, [-1], s.m, s.v, 2, { lr: 0.1 });
    // m = 0.1 then 0.09 - 0.1 = -0.01; v = 0.001 then 0.000999 + 0.001 = 0.001999.
    // m̂ = -0.01/0.19, v̂ = 0.001999/(1 - 0.999²) = 1 -> p = -0.1/(1+1e-8) + 0.1·(0.01/0.19)/(1+1e-8)
    expectAllClose(s.m, [-0.01], TOL, 'm');
    expectAllClose(s.v, [0.001999], TOL, 'v');
    const step1 = -0.1 / (1 + 1e-8);
    expectAllClose(p, [step1 + (0.1 * (0.01 / 0.19)) / (1 + 1e-8)], TOL, 'adam step 2');
  });

  it('adam couples weight decay into g; adamw decays p first', () => {
    // g = 0, p = 1, wd = 0.1: adam sees g' = 0.1 and moves p by ≈ -lr.
    const pa = Float64Array.from([1]);
    const sa = createParamState(1);
    adamStep(pa, [0], sa.m, sa.v, 1, { lr: 0.1, weightDecay: 0.1 });
    expectAllClose(pa, [1 - (0.1 * 0.1) / (0.1 + 1e-8)], TOL, 'adam coupled');
    expectAllClose(sa.m, [0.1 * 0.1], TOL, 'adam m sees decay');
    // adamw: p = 1·(1 - 0.1·0.1) = 0.99, then adam on g = 0.5 alone: -0.1·0.5/(0.5 + ε).
    const pw = Float64Array.from([1]);
    const sw = createParamState(1);
    adamwStep(pw, [0.5], sw.m, sw.v, 1, { lr: 0.1, weightDecay: 0.1 });
    expectAllClose(pw, [0.99 - (0.1 * 0.5) / (0.5 + 1e-8)], TOL, 'adamw');
    expectAllClose(sw.m, [0.05], TOL, 'adamw m ignores decay');
  });

  it('optimizerStep dispatches with the documented defaults', () => {
    const run = (config: OptimizerConfig): number => {
      const p = Float64Array.from([1]);
      const s = createParamState(1);
      optimizerStep(config, p, [1], s, 1);
      optimizerStep(config, p, [1], s, 2);
      return p[0];
    };
    expect(run({ name: 'sgd', lr: 0.1 })).toBeCloseTo(0.8, 15);
    expect(run({ name: 'momentum', lr: 0.1 })).toBeCloseTo(0.71, 15); // μ defaults to 0.9
    expect(run({ name: 'adam', lr: 0.1 })).toBeCloseTo(0.8, 7);
    expect(run({ name: 'adamw', lr: 0.1 })).toBeCloseTo(0.8, 7);
  });

  it('rejects invalid hyper-parameters and steps', () => {
    const p = Float64Array.from([1]);
    const s = createParamState(1);
    expect(() => optimizerStep({ name: 'adam', lr: -1 }, p, [1], s, 1)).toThrow(ConfigError);
    expect(() => optimizerStep({ name: 'adam', lr: 0.1, beta2: 1 }, p, [1], s, 1)).toThrow(ConfigError);
    expect(() => optimizerStep({ name: 'adam', lr: 0.1 }, p, [1], s, 0)).toThrow(ConfigError);
    expect(() => optimizerStep({ name: 'lion' as 'adam', lr: 0.1 }, p, [1], s, 1)).toThrow(ConfigError);
  });
});

describe('reference gradient clipping', () => {
  it('scales every array by maxNorm/(global norm + 1e-6)', () => {
    // Global norm over both arrays: √(3² + 4² + 0²) = 5.
    const g1 = Float64Array.from([3, 0]);
    const g2 = Float64Array.from([4]);
    const { norm, scale } = clipGradients([g1, g2], 1);
    expect(norm).toBe(5);
    expect(scale).toBe(1 / (5 + 1e-6));
    expectAllClose(g1, [3 * scale, 0], TOL, 'g1');
    expectAllClose(g2, [4 * scale], TOL, 'g2');
    // The clipped SGD update (lr 1) has length ≈ maxNorm.
    const p = new Float64Array(2);
    sgdStep(p, g1, { lr: 1 });
    const q = new Float64Array(1);
    sgdStep(q, g2, { lr: 1 });
    expect(Math.hypot(p[0], p[1], q[0])).toBeCloseTo(1, 6);
  });

  it('leaves gradients below the threshold untouched', () => {
    const g = Float64Array.from([0.3, 0.4]);
    expect(clipGradients([g], 10).scale).toBe(1);
    expect(Array.from(g)).toEqual([0.3, 0.4]);
    expect(clipScale(0, 1)).toBe(1);
  });

  it('rejects a non-positive maxNorm', () => {
    expect(() => clipGradients([new Float64Array(1)], 0)).toThrow(ConfigError);
  });
});

describe('reference optimizer config', () => {
  it('fields given as undefined take their defaults', () => {
    const p = Float64Array.from([1]);
    const s = createParamState(1);
    optimizerStep({ name: 'adam', lr: 0.1, beta1: undefined, eps: undefined }, p, [1], s, 1);
    expect(p[0]).toBeCloseTo(0.9, 7);
  });
});
