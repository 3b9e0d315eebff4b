// End to end for convolutional networks: small CNNs (conv, batch norm, pooling, dropout,
// flatten, dense) trained on the GPU and on the float64 reference (src/reference/sequential.ts)
// from the same initial weights agree at every step, dropout masks included (both draw them
// from counterHash(seed, layer, step, element)). Batches of 8 over 20 samples give a partial
// batch of 4 every third step, so batch norm's statistics over the live rows only and the zero
// gradient of padding rows are exercised too.
// Tolerance: f32 against float64 over 21 steps; batch norm divides by the batch's standard
// deviation, which amplifies rounding a little more than a dense net: the loss agrees to 2e-4
// relative, weights and running statistics to atol 5e-4 + rtol 5e-3.

import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import { resolveModel, type ModelSpec } from '../../src/nn/layers.js';
import type { OptimizerConfig } from '../../src/optim/optimizers.js';
import {
  seqCreateBnState,
  seqCreateOptimState,
  seqEvaluate,
  seqTrainStep,
  type RefParams,
} from '../../src/reference/sequential.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';

const COUNT = 20;
const BATCH = 8;
const EPOCHS = 7;

interface Case {
  name: string;
  spec: ModelSpec;
  optimizer: OptimizerConfig;
  /** Both conv algorithms take part: each case fixes one. */
  conv: 'im2col' | 'implicit';
}

const cases: Case[] = [
  {
    name: 'conv, batchnorm relu, maxpool, conv relu, dropout, globalavgpool, dense softmax; adam',
    spec: {
      inputShape: [7, 6, 3],
      layers: [
        { type: 'conv2d', filters: 5, kernelSize: 3, padding: 'same', bias: false },
        { type: 'batchnorm', activation: 'relu' },
        { type: 'maxpool2d', size: 2 },
        { type: 'conv2d', filters: 6, kernelSize: 2, activation: 'relu' },
        { type: 'dropout', rate: 0.25 },
        { type: 'globalavgpool' },
        { type: 'dense', units: 4, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    optimizer: { name: 'adam', lr: 0.01 },
    conv: 'im2col',
  },
  {
    name: 'strided same conv tanh, overlapping avgpool, flatten, dense, batchnorm leaky_relu, dropout, sigmoid; momentum + clip',
    spec: {
      inputShape: [5, 5, 2],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, stride: 2, padding: 'same', activation: 'tanh' },
        { type: 'avgpool2d', size: 2, stride: 1 },
        { type: 'flatten' },
        { type: 'dense', units: 7 },
        { type: 'batchnorm', activation: 'leaky_relu', alpha: 0.1, momentum: 0.2 },
        { type: 'dropout', rate: 0.3 },
        { type: 'dense', units: 1, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9, nesterov: true, maxNorm: 0.5 },
    conv: 'implicit',
  },
];

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = 5e-4 + 5e-3 * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`${what}[${i}]: gpu ${got[i]} cpu ${want[i]} (tolerance ${tol})`);
    }
  }
}

describe('CNN training on the GPU agrees with the float64 reference at every step', () => {
  for (const c of cases) {
    it(`${c.name} (${c.conv})`, async () => {
      const { gpu } = await testGpu();
      const model = resolveModel(c.spec);
      const rng = new Rng(42);
      const K = model.inputSize;
      const N = model.outputSize;
      const x = Float32Array.from({ length: COUNT * K }, () => rng.uniform(-2, 2));
      const classes = c.spec.loss === 'bce' ? 2 : N;
      const labels = Int32Array.from({ length: COUNT }, () => rng.int(classes));

      const trainer = await Trainer.create(gpu, c.spec, { seed: 7, optimizer: c.optimizer, conv: c.conv });
      const init = await trainer.getWeights();
      const params: RefParams = init.map((w) => ({ W: Float64Array.from(w.W), b: Float64Array.from(w.b) }));
      const bn = seqCreateBnState(model);
      const opt = seqCreateOptimState(params);

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
          const targets = c.spec.loss === 'softmax-ce' ? lb : Float64Array.from(lb);
          const r = seqTrainStep(model, params, bn, opt, xb, targets, rows, c.optimizer, t + 1, {
            seed: trainer.dropoutSeed,
            step: t,
          });
          t++;
          cpuLosses.push(r.loss);
        }
      }
      expect(gpuLosses.length).toBe(cpuLosses.length);
      for (let i = 0; i < cpuLosses.length; i++) {
        expect(
          Math.abs(gpuLosses[i] - cpuLosses[i]),
          `step ${i + 1}: gpu ${gpuLosses[i]} cpu ${cpuLosses[i]}`,
        ).toBeLessThanOrEqual(2e-4 * Math.max(1, Math.abs(cpuLosses[i])));
      }
      const final = await trainer.getWeights();
      final.forEach((w, k) => {
        close(w.W, params[k].W, `param layer ${k} W`);
        close(w.b, params[k].b, `param layer ${k} b`);
      });
      const stats = await trainer.getRunningStats();
      expect(stats.length).toBe(bn.length);
      stats.forEach((s, k) => {
        close(s.mean, bn[k].mean, `bn ${k} running mean`);
        close(s.variance, bn[k].variance, `bn ${k} running var`);
      });
      expect(trainer.batchesTracked).toBe(t);
      // Evaluation mode (running statistics, no dropout) on the GPU and the reference.
      const targets = c.spec.loss === 'softmax-ce' ? labels : Float64Array.from(labels);
      const ref = seqEvaluate(model, params, bn, x, targets, COUNT);
      const got = await trainer.evaluate({ kind: 'float', x, labels, count: COUNT }, { batchSize: 6 });
      expect(Math.abs(got.loss - ref.loss)).toBeLessThanOrEqual(1e-3 * Math.max(1, ref.loss));
      expect(got.accuracy).toBeCloseTo(ref.correct / COUNT, 6);
      // The loss must actually have moved: a frozen network would agree trivially.
      expect(Math.abs(cpuLosses[cpuLosses.length - 1] - cpuLosses[0])).toBeGreaterThan(1e-3);
      trainer.destroy();
    });
  }
});
