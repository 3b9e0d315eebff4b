// End to end: the same small networks trained on the GPU and on the float64 CPU reference from
// the same initial weights agree at every step. Batches of 16 over 40 samples give a partial
// batch of 8 every third step, so the masking of padded rows is exercised too.
// Tolerance: the GPU runs in f32; over 21 steps the loss agrees to 1e-4 relative and weights to
// atol 2e-4 + rtol 2e-3 (Adam's sqrt(v) amplifies f32 rounding of tiny gradients the most).

import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import type { DenseModelSpec as ModelSpec } from '../../src/nn/model.js';
import type { OptimizerConfig } from '../../src/optim/optimizers.js';
import { createOptimState, evaluate, trainStep, type DenseParams } from '../../src/reference/network.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';

const COUNT = 40;
const BATCH = 16;
const EPOCHS = 7;

interface Case {
  name: string;
  spec: ModelSpec;
  optimizer: OptimizerConfig;
  /** softmax-ce label smoothing, for the trainer and the reference alike. */
  labelSmoothing?: number;
}

const cases: Case[] = [
  {
    name: 'softmax-ce, relu/tanh, adam',
    spec: {
      inputSize: 13,
      layers: [
        { units: 17, activation: 'relu' },
        { units: 9, activation: 'tanh' },
        { units: 5, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    optimizer: { name: 'adam', lr: 0.01 },
  },
  {
    name: 'softmax-ce with label smoothing 0.2, relu, momentum',
    spec: {
      inputSize: 11,
      layers: [
        { units: 7, activation: 'relu' },
        { units: 13, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    optimizer: { name: 'momentum', lr: 0.1, momentum: 0.9 },
    labelSmoothing: 0.2,
  },
  {
    name: 'bce, leaky_relu/gelu, nesterov momentum with clipping',
    spec: {
      inputSize: 7,
      layers: [
        { units: 11, activation: 'leaky_relu', alpha: 0.1 },
        { units: 6, activation: 'gelu' },
        { units: 1, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9, nesterov: true, maxNorm: 0.5 },
  },
  {
    name: 'mse, sigmoid hidden, tanh output, adamw',
    spec: {
      inputSize: 5,
      layers: [
        { units: 8, activation: 'sigmoid' },
        { units: 3, activation: 'tanh' },
      ],
      loss: 'mse',
    },
    optimizer: { name: 'adamw', lr: 0.02, weightDecay: 0.05 },
  },
  {
    name: 'mse on a softmax output, plain sgd with weight decay',
    spec: {
      inputSize: 6,
      layers: [
        { units: 4, activation: 'relu' },
        { units: 3, activation: 'softmax' },
      ],
      loss: 'mse',
    },
    optimizer: { name: 'sgd', lr: 0.5, weightDecay: 0.01 },
  },
];

describe('GPU training agrees with the float64 reference at every step', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const { gpu } = await testGpu();
      const rng = new Rng(42);
      const K = c.spec.inputSize;
      const N = c.spec.layers[c.spec.layers.length - 1].units;
      const x = Float32Array.from({ length: COUNT * K }, () => rng.uniform(-2, 2));
      const classes = c.spec.loss === 'bce' ? 2 : N;
      const labels = Int32Array.from({ length: COUNT }, () => rng.int(classes));

      const trainer = await Trainer.create(gpu, c.spec, {
        seed: 7,
        optimizer: c.optimizer,
        labelSmoothing: c.labelSmoothing,
      });
      const refSpec = { ...c.spec, labelSmoothing: c.labelSmoothing };
      const init = await trainer.getWeights();
      const params: DenseParams[] = init.map((w) => ({
        W: Float64Array.from(w.W),
        b: Float64Array.from(w.b),
      }));
      const state = createOptimState(params);

      const gpuLosses: number[] = [];
      await trainer.fit(
        { kind: 'float', x, labels, count: COUNT },
        {
          epochs: EPOCHS,
          batchSize: BATCH,
          shuffle: false,
          logEvery: 1,
          onStep: (s) => void gpuLosses.push(s.loss),
        },
      );

      const cpuLosses: number[] = [];
      let t = 0;
      for (let e = 0; e < EPOCHS; e++) {
        for (let from = 0; from < COUNT; from += BATCH) {
          const rows = Math.min(BATCH, COUNT - from);
          const xb = x.subarray(from * K, (from + rows) * K);
          const lb = labels.subarray(from, from + rows);
          const targets = c.spec.loss === 'softmax-ce' ? lb : oneHotOrValue(lb, N, c.spec.loss);
          const r = trainStep(refSpec, params, state, xb, targets, rows, c.optimizer, ++t);
          cpuLosses.push(r.loss);
        }
      }
      expect(gpuLosses.length).toBe(cpuLosses.length);
      for (let i = 0; i < cpuLosses.length; i++) {
        expect(
          Math.abs(gpuLosses[i] - cpuLosses[i]),
          `step ${i + 1}: gpu ${gpuLosses[i]} cpu ${cpuLosses[i]}`,
        ).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(cpuLosses[i])));
      }
      const final = await trainer.getWeights();
      final.forEach((w, l) => {
        for (const [name, got, want] of [
          ['W', w.W, params[l].W],
          ['b', w.b, params[l].b],
        ] as const) {
          for (let i = 0; i < want.length; i++) {
            const tol = 2e-4 + 2e-3 * Math.abs(want[i]);
            if (!(Math.abs(got[i] - want[i]) <= tol)) {
              throw new Error(`layer ${l} ${name}[${i}]: gpu ${got[i]} cpu ${want[i]} (tolerance ${tol})`);
            }
          }
        }
      });
      // The loss must actually have moved: a frozen network would agree trivially.
      expect(Math.abs(cpuLosses[cpuLosses.length - 1] - cpuLosses[0])).toBeGreaterThan(1e-3);
      if (c.labelSmoothing) {
        // Evaluation reports the plain cross-entropy, not the smoothed training loss.
        const e = await trainer.evaluate({ kind: 'float', x, labels, count: COUNT }, { batchSize: BATCH });
        const plain = evaluate(c.spec, params, x, labels, COUNT);
        const smoothed = evaluate(refSpec, params, x, labels, COUNT);
        expect(Math.abs(e.loss - plain.loss)).toBeLessThanOrEqual(1e-3 * Math.max(1, plain.loss));
        expect(Math.abs(smoothed.loss - plain.loss)).toBeGreaterThan(1e-2);
        expect(e.accuracy).toBeCloseTo(plain.correct / COUNT, 6);
      }
      trainer.destroy();
    });
  }
});

function oneHotOrValue(labels: Int32Array, N: number, loss: string): Float64Array {
  const y = new Float64Array(labels.length * N);
  labels.forEach((l, i) => {
    if (loss === 'bce' && N === 1) y[i] = l;
    else y[i * N + l] = 1;
  });
  return y;
}
