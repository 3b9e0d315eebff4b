// Exact resume: N steps, checkpoint to disk, reload into a fresh trainer, M more steps, gives the
// same weights and optimizer moments BIT FOR BIT as N+M steps in one run on the same adapter.
// This is the contract TrainingRun (src/engine/run.ts), `train --resume` and the Ctrl-C checkpoint rely on:
// checkpoint = weights + optimizer state + fitStartRngState + position + configuration.

import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Trainer, type FitOptions, type TrainerOptions, type Weights } from '../../src/engine/trainer.js';
import type { TrainingData } from '../../src/engine/gpu-data.js';
import { loadCheckpointFile, saveCheckpointFile } from '../../src/io/files.js';
import type { DenseModelSpec as ModelSpec } from '../../src/nn/model.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';

// 7x5x1 "images", 3 classes, 83 samples: with a 0.2 split 67 train -> batches of 16 give 5 steps
// per epoch, the last one partial (3 rows).
const COUNT = 83;
const H = 7;
const W = 5;

function dataset(seed: number): TrainingData {
  const rng = new Rng(seed);
  const images = new Uint8Array(COUNT * H * W);
  const labels = new Int32Array(COUNT);
  for (let i = 0; i < COUNT; i++) {
    labels[i] = rng.int(3);
    for (let p = 0; p < H * W; p++)
      images[i * H * W + p] = Math.min(255, rng.int(200) + (p % 3 === labels[i] ? 55 : 0));
  }
  return {
    kind: 'uint8',
    images,
    count: COUNT,
    labels,
    channels: 1,
    mul: [1 / (255 * 0.3)],
    add: [-0.4 / 0.3],
  };
}

const spec: ModelSpec = {
  inputSize: H * W,
  layers: [
    { units: 13, activation: 'relu' },
    { units: 9, activation: 'tanh' },
    { units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

function firstMismatch(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function expectBitwise(label: string, a: Float32Array, b: Float32Array): void {
  const i = firstMismatch(a, b);
  expect(i, i >= 0 ? `${label}[${i}]: ${a[i]} vs ${b[i]} (first mismatch)` : label).toBe(-1);
}

function expectSameWeights(a: Weights[], b: Weights[]): void {
  expect(b).toHaveLength(a.length);
  a.forEach((w, l) => {
    expectBitwise(`layer ${l} W`, w.W, b[l].W);
    expectBitwise(`layer ${l} b`, w.b, b[l].b);
  });
}

interface Case {
  name: string;
  options: TrainerOptions;
  fit: Omit<FitOptions, 'shouldStop' | 'start'>;
  /** Steps before the checkpoint; the uninterrupted run takes all of its epochs. */
  stopAfter: number;
}

const cases: Case[] = [
  {
    name: 'adam + cosine, validation split, stop mid-epoch (step 8 of 5/epoch)',
    options: {
      seed: 11,
      optimizer: { name: 'adam', lr: 0.01 },
      schedule: { kind: 'cosine', warmupSteps: 3 },
    },
    fit: { epochs: 4, batchSize: 16, validationSplit: 0.2, logEvery: 3 },
    stopAfter: 8,
  },
  {
    name: 'nesterov momentum + step schedule, stop at an epoch boundary',
    options: {
      seed: 5,
      optimizer: { name: 'momentum', lr: 0.05, nesterov: true, maxNorm: 1 },
      schedule: { kind: 'step', stepSize: 4, gamma: 0.5 },
    },
    fit: { epochs: 3, batchSize: 16, validationSplit: 0.2 },
    stopAfter: 5,
  },
  {
    name: 'adamw, no split, stop after the first step',
    options: { seed: 2, optimizer: { name: 'adamw', lr: 0.003 } },
    fit: { epochs: 2, batchSize: 32 },
    stopAfter: 1,
  },
];

describe('exact resume through a checkpoint file', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const { gpu } = await testGpu();
      const data = dataset(3);

      const full = await Trainer.create(gpu, spec, c.options);
      const fullHistory = await full.fit(data, c.fit);
      const expectedWeights = await full.getWeights();
      const expectedState = await full.getOptimizerState();

      const first = await Trainer.create(gpu, spec, c.options);
      let steps = 0;
      const h1 = await first.fit(data, { ...c.fit, shouldStop: () => ++steps >= c.stopAfter });
      expect(h1.stopped).toBe(true);
      expect(h1.steps).toBe(c.stopAfter);
      const dir = await mkdtemp(path.join(os.tmpdir(), 'wgt-resume-'));
      const file = path.join(dir, 'checkpoint.safetensors');
      const pos = first.position;
      await saveCheckpointFile(file, {
        model: {
          architecture: {
            inputShape: [H, W, 1],
            inputSize: spec.inputSize,
            layers: spec.layers,
            loss: spec.loss,
          },
          normalization: { kind: 'scale' },
          classNames: ['a', 'b', 'c'],
          training: {},
          weights: await first.getWeights(),
        },
        state: {
          step: first.step,
          epoch: pos.epoch,
          batchInEpoch: pos.batch,
          rngState: first.fitStartRngState!,
          dataPosition: null,
          optimizer: {},
          schedule: {},
        },
        optimizerState: await first.getOptimizerState(),
      });
      first.destroy();

      const ck = await loadCheckpointFile(file);
      const second = await Trainer.create(gpu, spec, c.options);
      second.setWeights(ck.model.weights);
      second.setOptimizerState(ck.optimizerState);
      second.rng.restore(ck.state.rngState);
      const h2 = await second.fit(data, {
        ...c.fit,
        start: { epoch: ck.state.epoch, batch: ck.state.batchInEpoch },
      });
      expect(h2.stopped).toBe(false);
      expect(h1.steps + h2.steps).toBe(fullHistory.steps);
      expect(second.step).toBe(full.step);

      expectSameWeights(expectedWeights, await second.getWeights());
      const state = await second.getOptimizerState();
      expect(state.t).toBe(expectedState.t);
      for (const k of Object.keys(expectedState.tensors))
        expectBitwise(`optimizer ${k}`, expectedState.tensors[k], state.tensors[k]);
      // The validation numbers of the last epoch agree too (same held-out samples, same weights).
      const lastA = fullHistory.epochs[fullHistory.epochs.length - 1];
      const lastB = h2.epochs[h2.epochs.length - 1];
      expect(lastB.valLoss).toBe(lastA.valLoss);
      full.destroy();
      second.destroy();
    });
  }

  it('a different seed does NOT reproduce the weights (the comparison can fail)', async () => {
    const { gpu } = await testGpu();
    const data = dataset(3);
    const a = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'adam', lr: 0.01 } });
    const b = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'adam', lr: 0.01 } });
    await a.fit(data, { epochs: 1, batchSize: 16 });
    b.rng.restore(new Rng(99).state());
    await b.fit(data, { epochs: 1, batchSize: 16 });
    const wa = await a.getWeights();
    const wb = await b.getWeights();
    expect(firstMismatch(wa[0].W, wb[0].W)).toBeGreaterThanOrEqual(0);
  });
});
