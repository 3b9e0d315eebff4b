import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import type { DenseSpec, ModelSpec } from '../../src/nn/layers.js';
import { batchNormForwardTrain } from '../../src/reference/batchnorm.js';
import {
  createOptimState,
  initParams,
  trainStep,
  type DenseParams,
  type NetworkSpec,
} from '../../src/reference/network.js';
import type { OptimizerConfig } from '../../src/reference/optim.js';
import { globalNorm } from '../../src/reference/reduce.js';
import {
  seqCreateBnState,
  seqCreateOptimState,
  seqEvaluate,
  seqForward,
  seqTrainStep,
  type RefParams,
} from '../../src/reference/sequential.js';
import { Rng } from '../../src/rng.js';
import { expectAllClose, randArray } from './helpers.js';
import { expectModelGradients, randomParams, ref, targetsFor } from './model-helpers.js';

describe('reference sequential: a dense-only model is network.ts', () => {
  const specs: {
    name: string;
    inputSize: number;
    layers: Required<Omit<DenseSpec, 'type' | 'name' | 'inputs'>>[];
    loss: ModelSpec['loss'];
  }[] = [
    {
      name: 'softmax-ce, tanh -> relu -> softmax, adam + weight decay + clipping',
      inputSize: 7,
      layers: [
        { units: 9, activation: 'tanh', alpha: 0.01 },
        { units: 6, activation: 'relu', alpha: 0.01 },
        { units: 4, activation: 'softmax', alpha: 0.01 },
      ],
      loss: 'softmax-ce',
    },
    {
      name: 'bce, leaky_relu(0.1) -> sigmoid',
      inputSize: 5,
      layers: [
        { units: 8, activation: 'leaky_relu', alpha: 0.1 },
        { units: 2, activation: 'sigmoid', alpha: 0.01 },
      ],
      loss: 'bce',
    },
    {
      name: 'mse, gelu -> identity',
      inputSize: 4,
      layers: [
        { units: 5, activation: 'gelu', alpha: 0.01 },
        { units: 3, activation: 'identity', alpha: 0.01 },
      ],
      loss: 'mse',
    },
  ];
  const optimizers: OptimizerConfig[] = [
    { name: 'adam', lr: 0.01, weightDecay: 0.01, maxNorm: 0.5 },
    { name: 'momentum', lr: 0.05, nesterov: true },
    { name: 'sgd', lr: 0.1, weightDecay: 0.001 },
  ];
  specs.forEach((s, k) => {
    it(s.name, () => {
      const netSpec: NetworkSpec = { inputSize: s.inputSize, layers: s.layers, loss: s.loss };
      const model = ref({ inputSize: s.inputSize, layers: s.layers, loss: s.loss });
      const rng = new Rng(40 + k);
      const netParams: DenseParams[] = initParams(netSpec, rng, 'xavier-normal');
      for (const p of netParams) p.b.set(randArray(rng, p.b.length, -0.5, 0.5));
      const seqParams: RefParams = netParams.map((p) => ({ W: p.W.slice(), b: p.b.slice() }));
      const netOpt = createOptimState(netParams);
      const seqOpt = seqCreateOptimState(seqParams);
      const state = seqCreateBnState(model);
      expect(state.length).toBe(0);
      const rows = 6;
      const tol = { atol: 1e-12, rtol: 1e-12 };
      for (let t = 1; t <= 3; t++) {
        const x = randArray(rng, rows * s.inputSize);
        const y = targetsFor(model, rows, rng);
        const a = trainStep(netSpec, netParams, netOpt, x, y, rows, optimizers[k], t);
        const b = seqTrainStep(model, seqParams, state, seqOpt, x, y, rows, optimizers[k], t, {
          seed: 1,
          step: t,
        });
        expect(Math.abs(b.loss - a.loss), `loss at step ${t}`).toBeLessThanOrEqual(1e-12);
        expect(b.correct).toBe(a.correct);
        expect(Math.abs(b.gradNorm - a.gradNorm)).toBeLessThanOrEqual(1e-12);
        netParams.forEach((p, l) => {
          expectAllClose(seqParams[l].W, p.W, tol, `step ${t} W${l}`);
          expectAllClose(seqParams[l].b, p.b, tol, `step ${t} b${l}`);
        });
      }
    });
  });
});

interface CnnCase {
  name: string;
  spec: ModelSpec;
  rows: number;
}

const CNNS: CnnCase[] = [
  {
    name: 'conv same -> batchnorm relu -> maxpool -> dropout -> conv -> globalavgpool -> dense softmax',
    spec: {
      inputShape: [6, 6, 2],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same' },
        { type: 'batchnorm', activation: 'relu' },
        { type: 'maxpool2d', size: 2 },
        { type: 'dropout', rate: 0.3 },
        { type: 'conv2d', filters: 5, kernelSize: 2, activation: 'tanh' },
        { type: 'globalavgpool' },
        { units: 3, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    rows: 3,
  },
  {
    name: 'conv leaky -> overlapping avgpool -> flatten -> dense -> flat batchnorm tanh -> dropout -> dense sigmoid (bce)',
    spec: {
      inputShape: [5, 4, 3],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: [2, 3], activation: 'leaky_relu', alpha: 0.1 },
        { type: 'avgpool2d', size: 2, stride: 1 },
        { type: 'flatten' },
        { units: 6 },
        { type: 'batchnorm', activation: 'tanh', momentum: 0.2, epsilon: 1e-3 },
        { type: 'dropout', rate: 0.25 },
        { units: 2, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    rows: 5,
  },
  {
    name: "conv 'same' stride 2 no bias gelu -> globalavgpool -> dense identity (mse)",
    spec: {
      inputShape: [5, 7, 2],
      layers: [
        {
          type: 'conv2d',
          filters: 3,
          kernelSize: [3, 2],
          stride: 2,
          padding: 'same',
          bias: false,
          activation: 'gelu',
        },
        { type: 'globalavgpool' },
        { units: 2 },
      ],
      loss: 'mse',
    },
    rows: 2,
  },
];

describe('reference sequential: CNN gradients by finite differences (training mode)', () => {
  for (const { name, spec, rows } of CNNS) {
    it(name, () => expectModelGradients(name, spec, rows));
  }
});

describe('reference sequential: modes, running statistics and the update', () => {
  it('evaluation differs from training with batchnorm or dropout, and equals it without', () => {
    const rng = new Rng(3);
    for (const { spec, rows } of CNNS) {
      const model = ref(spec);
      const params = randomParams(model, rng);
      const state = seqCreateBnState(model);
      const x = randArray(rng, rows * model.inputSize);
      const train = seqForward(model, params, state, x, rows, { training: true, seed: 1, step: 1 }).output;
      const evalOut = seqForward(model, params, state, x, rows, { training: false, seed: 1, step: 1 }).output;
      const hasModes = model.layers.some((l) => l.type === 'batchnorm' || l.type === 'dropout');
      const maxDiff = Math.max(...Array.from(train, (v, i) => Math.abs(v - evalOut[i])));
      if (hasModes) expect(maxDiff).toBeGreaterThan(1e-3);
      else expect(maxDiff).toBe(0);
    }
  });

  it('training mode redraws the dropout mask per step; evaluation ignores seed and step', () => {
    const model = ref(CNNS[1].spec);
    const rng = new Rng(9);
    const params = randomParams(model, rng);
    const state = seqCreateBnState(model);
    const x = randArray(rng, 5 * model.inputSize);
    const out = (training: boolean, step: number): number[] =>
      Array.from(seqForward(model, params, state, x, 5, { training, seed: 2, step }).output);
    expect(out(true, 1)).toEqual(out(true, 1));
    expect(out(true, 1)).not.toEqual(out(true, 2));
    expect(out(false, 1)).toEqual(out(false, 2));
  });

  it('seqTrainStep updates the running statistics by PyTorch rule from this batch; seqForward never does', () => {
    const model = ref(CNNS[0].spec);
    const rng = new Rng(11);
    const params = randomParams(model, rng);
    const state = seqCreateBnState(model);
    const rows = 3;
    const x = randArray(rng, rows * model.inputSize);
    const y = targetsFor(model, rows, rng);
    seqForward(model, params, state, x, rows, { training: true, seed: 0, step: 0 });
    expect(Array.from(state[0].mean)).toEqual([0, 0, 0, 0]);
    expect(Array.from(state[0].variance)).toEqual([1, 1, 1, 1]);
    // The batch norm's input this step: the first conv's output before the update moves its weights.
    const convOut = seqForward(model, params, state, x, rows, { training: true, seed: 0, step: 0 }).cache[0]
      .A;
    const R = rows * 6 * 6;
    const stats = batchNormForwardTrain(convOut, R, 4, params[1].W, params[1].b, 1e-5);
    seqTrainStep(model, params, state, seqCreateOptimState(params), x, y, rows, { name: 'sgd', lr: 0.1 }, 1, {
      seed: 0,
      step: 0,
    });
    const tol = { atol: 1e-14, rtol: 1e-13 };
    expectAllClose(
      state[0].mean,
      Array.from(stats.mean, (m) => 0.1 * m),
      tol,
      'running mean',
    );
    expectAllClose(
      state[0].variance,
      Array.from(stats.variance, (v) => 0.9 + 0.1 * ((v * R) / (R - 1))),
      tol,
      'running variance',
    );
  });

  it('an sgd step is p - lr·grad on every array (γ and β included), clipped by the norm over all of them', () => {
    const model = ref(CNNS[1].spec);
    const rows = 5;
    const rng = new Rng(13);
    const x = randArray(rng, rows * model.inputSize);
    const y = targetsFor(model, rows, rng);
    for (const maxNorm of [undefined, 0.05]) {
      const params = randomParams(model, new Rng(14));
      const before = params.map((p) => ({ W: p.W.slice(), b: p.b.slice() }));
      const r = seqTrainStep(
        model,
        params,
        seqCreateBnState(model),
        seqCreateOptimState(params),
        x,
        y,
        rows,
        { name: 'sgd', lr: 0.5, maxNorm },
        1,
        { seed: 4, step: 9 },
      );
      expect(r.gradNorm).toBe(globalNorm(r.grads.flatMap((g) => [g.W, g.b])));
      const scale = maxNorm === undefined ? 1 : maxNorm / (r.gradNorm + 1e-6);
      expect(r.clipScale).toBeCloseTo(scale, 15);
      if (maxNorm !== undefined) expect(r.clipScale).toBeLessThan(1);
      const tol = { atol: 1e-15, rtol: 1e-12 };
      params.forEach((p, k) => {
        expectAllClose(
          p.W,
          before[k].W.map((v, i) => v - 0.5 * scale * r.grads[k].W[i]),
          tol,
          `W${k}`,
        );
        expectAllClose(
          p.b,
          before[k].b.map((v, i) => v - 0.5 * scale * r.grads[k].b[i]),
          tol,
          `b${k}`,
        );
      });
    }
  });

  it('learns: a small CNN with batchnorm and dropout fits a batch with adam', () => {
    const model = ref(CNNS[0].spec);
    const rng = new Rng(17);
    const params = randomParams(model, rng);
    const state = seqCreateBnState(model);
    const opt = seqCreateOptimState(params);
    const rows = 6;
    const x = randArray(rng, rows * model.inputSize);
    const y = Int32Array.from([0, 1, 2, 0, 1, 2]);
    const first = seqEvaluate(model, params, state, x, y, rows, { training: true, seed: 1, step: 0 }).loss;
    let last = first;
    for (let t = 1; t <= 60; t++) {
      last = seqTrainStep(model, params, state, opt, x, y, rows, { name: 'adam', lr: 0.02 }, t, {
        seed: 1,
        step: t,
      }).loss;
    }
    expect(last).toBeLessThan(0.5 * first);
  });

  it('rejects mismatched params, state and inputs', () => {
    const model = ref(CNNS[0].spec);
    const params = randomParams(model, new Rng(1));
    const state = seqCreateBnState(model);
    const mode = { training: false, seed: 0, step: 0 };
    const x = new Float64Array(2 * model.inputSize);
    expect(() => seqForward(model, params, state, x, 2, mode)).not.toThrow();
    expect(() => seqForward(model, params.slice(1), state, x, 2, mode)).toThrow(ConfigError);
    expect(() => seqForward(model, params, [], x, 2, mode)).toThrow(ConfigError);
    const short = params.map((p, k) => (k === 2 ? { W: p.W.subarray(1), b: p.b } : p));
    expect(() => seqForward(model, short, state, x, 2, mode)).toThrow(ShapeError);
    expect(() => seqForward(model, params, state, x.subarray(1), 2, mode)).toThrow(ShapeError);
    expect(() =>
      seqTrainStep(model, params, state, [], x, [0, 1], 2, { name: 'sgd', lr: 0.1 }, 1, { seed: 0, step: 0 }),
    ).toThrow(ConfigError);
  });
});
