import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import {
  computeGradients,
  createOptimState,
  evaluate,
  forward,
  forwardCache,
  initParams,
  trainStep,
  type DenseParams,
  type NetworkSpec,
} from '../../src/reference/network.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, expectGradMatches, randArray } from './helpers.js';

interface Case {
  name: string;
  spec: NetworkSpec;
  rows: number;
}

const CASES: Case[] = [
  {
    name: 'bce, tanh -> leaky_relu -> sigmoid',
    spec: {
      inputSize: 7,
      layers: [
        { units: 13, activation: 'tanh' },
        { units: 5, activation: 'leaky_relu', alpha: 0.05 },
        { units: 1, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    rows: 6,
  },
  {
    name: 'bce multi-label, gelu -> sigmoid(3)',
    spec: {
      inputSize: 4,
      layers: [
        { units: 9, activation: 'gelu' },
        { units: 3, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    rows: 5,
  },
  {
    name: 'softmax-ce, relu -> gelu -> softmax',
    spec: {
      inputSize: 13,
      layers: [
        { units: 17, activation: 'relu' },
        { units: 9, activation: 'gelu' },
        { units: 5, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    rows: 7,
  },
  {
    name: 'mse, sigmoid -> identity',
    spec: {
      inputSize: 5,
      layers: [
        { units: 11, activation: 'sigmoid' },
        { units: 3, activation: 'identity' },
      ],
      loss: 'mse',
    },
    rows: 1,
  },
  {
    name: "mse, leaky_relu -> tanh -> softmax (act' applied on the mse head)",
    spec: {
      inputSize: 6,
      layers: [
        { units: 8, activation: 'leaky_relu' },
        { units: 7, activation: 'tanh' },
        { units: 4, activation: 'softmax' },
      ],
      loss: 'mse',
    },
    rows: 4,
  },
];

function targetsFor(spec: NetworkSpec, rows: number, rng: Rng): Float64Array | Int32Array {
  const n = spec.layers[spec.layers.length - 1].units;
  if (spec.loss === 'softmax-ce') return Int32Array.from({ length: rows }, () => rng.int(n));
  if (spec.loss === 'bce') return Float64Array.from({ length: rows * n }, () => rng.int(2));
  return randArray(rng, rows * n, -1, 1);
}

/** Parameters with random (non-zero) biases so the bias paths are exercised too. */
function randomParams(spec: NetworkSpec, rng: Rng): DenseParams[] {
  const params = initParams(spec, rng, 'xavier-normal');
  for (const p of params) p.b.set(randArray(rng, p.b.length, -0.5, 0.5));
  return params;
}

describe('reference network: gradients by finite differences', () => {
  for (const { name, spec, rows } of CASES) {
    it(name, () => {
      const rng = new Rng(name.length * 17 + rows);
      const params = randomParams(spec, rng);
      const x = randArray(rng, rows * spec.inputSize);
      const y = targetsFor(spec, rows, rng);
      // The FD step (1e-6) must not push a relu/leaky pre-activation across its kink.
      const { Z } = forwardCache(spec, params, x, rows);
      Z.forEach((z, l) => {
        if (spec.layers[l].activation.endsWith('relu')) {
          expect(Math.min(...Array.from(z, Math.abs)), `layer ${l} near a kink`).toBeGreaterThan(1e-4);
        }
      });
      const r = computeGradients(spec, params, x, y, rows);
      expect(r.loss).toBe(evaluate(spec, params, x, y, rows).loss);
      const L = (): number => evaluate(spec, params, x, y, rows).loss;
      params.forEach((p, l) => {
        expectGradMatches(L, p.W, r.grads[l].W, `layer ${l} dW`);
        expectGradMatches(L, p.b, r.grads[l].b, `layer ${l} db`);
      });
    });
  }
});

describe('reference network: forward and training', () => {
  it('forward of one layer is act(x·Wᵀ + b); softmax rows sum to 1', () => {
    const spec: NetworkSpec = {
      inputSize: 2,
      layers: [{ units: 3, activation: 'softmax' }],
      loss: 'softmax-ce',
    };
    const params: DenseParams[] = [
      { W: Float64Array.from([1, 0, 0, 1, 1, 1]), b: Float64Array.from([0, 0, -3]) },
    ];
    const out = forward(spec, params, [1, 2], 1);
    // logits [1, 2, 0]
    const e = [Math.E, Math.E ** 2, 1];
    const s = e[0] + e[1] + e[2];
    expectAllClose(out, [e[0] / s, e[1] / s, e[2] / s], { atol: 1e-15, rtol: 1e-14 }, 'softmax out');
  });

  it('an sgd trainStep is p - lr·grad, and clipping scales that update', () => {
    const spec = CASES[2].spec;
    const rows = 7;
    const rng = new Rng(99);
    const x = randArray(rng, rows * spec.inputSize);
    const y = targetsFor(spec, rows, rng);
    for (const maxNorm of [undefined, 0.1]) {
      const params = randomParams(spec, new Rng(5));
      const before = params.map((p) => ({ W: p.W.slice(), b: p.b.slice() }));
      const r = trainStep(
        spec,
        params,
        createOptimState(params),
        x,
        y,
        rows,
        { name: 'sgd', lr: 0.5, maxNorm },
        1,
      );
      const scale = maxNorm === undefined ? 1 : maxNorm / (r.gradNorm + 1e-6);
      expect(r.clipScale).toBeCloseTo(scale, 15);
      if (maxNorm !== undefined) expect(r.clipScale).toBeLessThan(1);
      params.forEach((p, l) => {
        const tol = { atol: 1e-15, rtol: 1e-12 };
        expectAllClose(
          p.W,
          before[l].W.map((v, i) => v - 0.5 * scale * r.grads[l].W[i]),
          tol,
          `W${l}`,
        );
        expectAllClose(
          p.b,
          before[l].b.map((v, i) => v - 0.5 * scale * r.grads[l].b[i]),
          tol,
          `b${l}`,
        );
      });
    }
  });

  it('learns XOR with adam (loss falls, all 4 points right)', () => {
    const spec: NetworkSpec = {
      inputSize: 2,
      layers: [
        { units: 8, activation: 'tanh' },
        { units: 1, activation: 'sigmoid' },
      ],
      loss: 'bce',
    };
    const params = initParams(spec, new Rng(1), 'xavier-uniform');
    const state = createOptimState(params);
    const x = [0, 0, 0, 1, 1, 0, 1, 1];
    const y = [0, 1, 1, 0];
    const first = evaluate(spec, params, x, y, 4).loss;
    for (let t = 1; t <= 300; t++) trainStep(spec, params, state, x, y, 4, { name: 'adam', lr: 0.05 }, t);
    const last = evaluate(spec, params, x, y, 4);
    expect(last.loss).toBeLessThan(0.1 * first);
    expect(last.correct).toBe(4);
  });

  it('initParams draws layer by layer with zero biases', () => {
    const spec = CASES[0].spec;
    const a = initParams(spec, new Rng(3), 'he-normal');
    const b = initParams(spec, new Rng(3), ['he-normal', 'he-normal', 'he-normal']);
    expect(a.map((p) => Array.from(p.W))).toEqual(b.map((p) => Array.from(p.W)));
    expect(a.every((p) => p.b.every((v) => v === 0))).toBe(true);
    expect(a.map((p) => p.W.length)).toEqual([13 * 7, 5 * 13, 1 * 5]);
  });

  it('rejects invalid specs and mismatched inputs', () => {
    const bad: NetworkSpec = { inputSize: 2, layers: [{ units: 1, activation: 'tanh' }], loss: 'bce' };
    expect(() => initParams(bad, new Rng(0), 'zeros')).toThrow(ConfigError);
    const badCe: NetworkSpec = {
      inputSize: 2,
      layers: [{ units: 3, activation: 'sigmoid' }],
      loss: 'softmax-ce',
    };
    expect(() => initParams(badCe, new Rng(0), 'zeros')).toThrow(ConfigError);
    const spec = CASES[0].spec;
    const params = initParams(spec, new Rng(0), 'he-normal');
    expect(() => forward(spec, params.slice(1), new Float64Array(7), 1)).toThrow(ConfigError);
    expect(() => forward(spec, params, new Float64Array(8), 1)).toThrow(ShapeError);
  });
});
