// Trainer behaviour beyond numerics: reproducibility, data paths, validation and error reporting.

import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import type { TrainingData } from '../../src/engine/gpu-data.js';
import { ConfigError, NonFiniteInputError, NonFiniteLossError, ShapeError } from '../../src/errors.js';
import type { ModelSpec } from '../../src/nn/model.js';
import { learningRate } from '../../src/optim/schedules.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';

const spec: ModelSpec = {
  inputSize: 12,
  layers: [
    { units: 9, activation: 'relu' },
    { units: 4, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

function floatData(count: number, seed = 1, features = 12): TrainingData & { kind: 'float' } {
  const rng = new Rng(seed);
  return {
    kind: 'float',
    x: Float32Array.from({ length: count * features }, () => rng.uniform(-2, 2)),
    labels: Int32Array.from({ length: count }, () => rng.int(4)),
    count,
  };
}

describe('Trainer', () => {
  it('gives the same initial weights for the same seed, different ones for another', async () => {
    const { gpu } = await testGpu();
    const a = await (
      await Trainer.create(gpu, spec, { seed: 3, optimizer: { name: 'sgd', lr: 0.1 } })
    ).getWeights();
    const b = await (
      await Trainer.create(gpu, spec, { seed: 3, optimizer: { name: 'adam', lr: 0.1 } })
    ).getWeights();
    const c = await (
      await Trainer.create(gpu, spec, { seed: 4, optimizer: { name: 'sgd', lr: 0.1 } })
    ).getWeights();
    expect(Array.from(a[0].W)).toEqual(Array.from(b[0].W));
    expect(Array.from(a[0].W)).not.toEqual(Array.from(c[0].W));
    expect(Array.from(a[1].b)).toEqual([0, 0, 0, 0]);
  });

  it('round-trips weights and rejects wrong shapes and non-finite values', async () => {
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'sgd', lr: 0.1 } });
    const w = await t.getWeights();
    w[0].W[5] = 1.25;
    w[1].b[2] = -3.5;
    t.setWeights(w);
    const back = await t.getWeights();
    expect(back[0].W[5]).toBe(1.25);
    expect(back[1].b[2]).toBe(-3.5);
    expect(() => t.setWeights([w[0]])).toThrow(ShapeError);
    expect(() => t.setWeights([{ W: new Float32Array(3), b: w[0].b }, w[1]])).toThrow(
      /layer 0 needs W \[9, 12\]/,
    );
    w[1].W[0] = NaN;
    expect(() => t.setWeights(w)).toThrow(NonFiniteInputError);
  });

  it('round-trips optimizer moments; a bad checkpoint state writes nothing', async () => {
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'adam', lr: 0.1 } });
    const P = (await t.getOptimizerState()).tensors.m.length;
    const m = Float32Array.from({ length: P }, (_, i) => i / 7);
    const v = Float32Array.from({ length: P }, (_, i) => i / 11);
    t.setOptimizerState({ t: 5, tensors: { m, v } });
    const back = await t.getOptimizerState();
    expect(back.t).toBe(5);
    expect(Array.from(back.tensors.m)).toEqual(Array.from(m));
    expect(Array.from(back.tensors.v)).toEqual(Array.from(v));
    // A valid m with a short v: rejected before m is written or the step moves.
    expect(() =>
      t.setOptimizerState({ t: 9, tensors: { m: new Float32Array(P), v: v.subarray(1) } }),
    ).toThrow(/'v' must hold \d+ values/);
    const after = await t.getOptimizerState();
    expect(after.t).toBe(5);
    expect(Array.from(after.tensors.m)).toEqual(Array.from(m));
  });

  it('rejects invalid models and options with clear errors', async () => {
    const { gpu } = await testGpu();
    const opt = { optimizer: { name: 'sgd' as const, lr: 0.1 } };
    await expect(Trainer.create(gpu, { ...spec, loss: 'bce' }, opt)).rejects.toThrow(
      /needs a final 'sigmoid'/,
    );
    await expect(
      Trainer.create(
        gpu,
        {
          inputSize: 3,
          layers: [
            { units: 3, activation: 'softmax' },
            { units: 2, activation: 'sigmoid' },
          ],
          loss: 'bce',
        },
        opt,
      ),
    ).rejects.toThrow(/softmax is only supported on the last layer/);
    await expect(Trainer.create(gpu, spec, { optimizer: { name: 'sgd', lr: -1 } })).rejects.toThrow(
      ConfigError,
    );
    const t = await Trainer.create(gpu, spec, opt);
    await expect(t.fit(floatData(10), { epochs: 1, batchSize: 0 })).rejects.toThrow(
      /batchSize must be a positive integer/,
    );
    const bad = floatData(10);
    bad.labels![3] = 7;
    await expect(t.fit(bad, { epochs: 1, batchSize: 4 })).rejects.toThrow(/label 7 of sample 3/);
    await expect(t.fit({ ...floatData(10), count: 11 }, { epochs: 1, batchSize: 4 })).rejects.toThrow(
      ShapeError,
    );
  });

  it('reports a NaN in the input naming the batch and sample, on both data paths', async () => {
    const { gpu } = await testGpu();
    for (const residency of ['gpu', 'upload'] as const) {
      const t = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'sgd', lr: 0.1 } });
      const d = floatData(20);
      d.x[13 * 12 + 5] = NaN;
      const err = await t
        .fit(d, { epochs: 1, batchSize: 8, shuffle: false, residency })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NonFiniteInputError);
      expect((err as Error).message).toContain('batch 1 of epoch 1');
      expect((err as Error).message).toContain('sample 13, feature 5');
    }
  });

  // 12 features gather as whole words / vec4s, 15 take the unaligned path.
  it.each([12, 15])(
    'trains identically from GPU-resident data and per-step uploads (%i features)',
    async (features) => {
      const { gpu } = await testGpu();
      const data = floatData(37, 1, features);
      const weights: Float32Array[] = [];
      for (const residency of ['gpu', 'upload'] as const) {
        const t = await Trainer.create(
          gpu,
          { ...spec, inputSize: features },
          {
            seed: 9,
            optimizer: { name: 'adam', lr: 0.01 },
          },
        );
        await t.fit(data, { epochs: 3, batchSize: 8, residency });
        weights.push((await t.getWeights())[0].W);
      }
      expect(Array.from(weights[0])).toEqual(Array.from(weights[1]));
    },
  );

  it.each([12, 15])(
    'normalises uint8 images on the GPU exactly like the float path (%i features)',
    async (features) => {
      const { gpu } = await testGpu();
      const rng = new Rng(5);
      const count = 30;
      const images = Uint8Array.from({ length: count * features }, () => rng.int(256));
      const labels = Int32Array.from({ length: count }, () => rng.int(4));
      // 3 channels: x = byte * mul[c] + add[c]
      const mul = [1 / 255, 2 / 255, 0.5 / 255];
      const add = [-0.5, 0.25, 0];
      const x = Float32Array.from(images, (v, i) =>
        Math.fround(Math.fround(v * Math.fround(mul[i % 3])) + Math.fround(add[i % 3])),
      );
      const s = { ...spec, inputSize: features };
      const a = await Trainer.create(gpu, s, { seed: 2, optimizer: { name: 'sgd', lr: 0.1 } });
      const b = await Trainer.create(gpu, s, { seed: 2, optimizer: { name: 'sgd', lr: 0.1 } });
      await a.fit(
        { kind: 'uint8', images, labels, count, channels: 3, mul, add },
        { epochs: 2, batchSize: 7 },
      );
      await b.fit({ kind: 'float', x, labels, count }, { epochs: 2, batchSize: 7, residency: 'upload' });
      const wa = (await a.getWeights())[0].W;
      const wb = (await b.getWeights())[0].W;
      for (let i = 0; i < wa.length; i++) expect(Math.abs(wa[i] - wb[i])).toBeLessThan(1e-6);
    },
  );

  it('keeps GPU buffers flat across repeated fits and evaluations', async () => {
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'momentum', lr: 0.05 } });
    const data = floatData(50);
    await t.fit(data, { epochs: 1, batchSize: 16 });
    await t.evaluate(data, { batchSize: 16 });
    const before = t.bufferCount;
    for (let i = 0; i < 3; i++) {
      await t.fit(data, { epochs: 2, batchSize: 16 });
      await t.evaluate(data, { batchSize: 16 });
    }
    expect(t.bufferCount).toBe(before);
  });

  it('evaluates and predicts on a forward-only plan, the same numbers a training plan gives', async () => {
    const { gpu } = await testGpu();
    const cnn: ModelSpec = {
      inputShape: [4, 3, 1],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 2, padding: 'same', name: 'c' },
        { type: 'conv2d', filters: 3, kernelSize: 2, padding: 'same', activation: 'relu', name: 'x' },
        { type: 'conv2d', filters: 3, kernelSize: 2, padding: 'same', name: 'y' },
        { type: 'add', inputs: ['y', 'c'] },
        { type: 'flatten' },
        { units: 4, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    };
    const opts = { seed: 3, optimizer: { name: 'sgd' as const, lr: 0.01 } };
    const data = floatData(21);
    // a: only inference plans; b: a fit first makes a training plan, which then serves predict
    // and evaluate too, on a's weights set back (no running statistics to differ).
    const a = await Trainer.create(gpu, cnn, opts);
    const b = await Trainer.create(gpu, cnn, opts);
    const pa = await a.predict(data.x, { batchSize: 8 });
    const ea = await a.evaluate(data, { batchSize: 8 });
    const inferenceBytes = a.gpuBytes;
    await b.fit(data, { epochs: 1, batchSize: 8 });
    const trainingBytes = b.gpuBytes;
    b.setWeights(await a.getWeights());
    expect(Array.from(await b.predict(data.x, { batchSize: 8 }))).toEqual(Array.from(pa));
    expect(await b.evaluate(data, { batchSize: 8 })).toEqual(ea);
    // No gradient buffers, no backward scratch.
    expect(inferenceBytes).toBeLessThan(trainingBytes);
    a.destroy();
    b.destroy();
  });

  it('predicts probabilities and evaluates every sample once, including a partial batch', async () => {
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'sgd', lr: 0.1 } });
    const data = floatData(23);
    const p = await t.predict(data.x, { batchSize: 10 });
    expect(p.length).toBe(23 * 4);
    for (let i = 0; i < 23; i++) {
      const s = p[i * 4] + p[i * 4 + 1] + p[i * 4 + 2] + p[i * 4 + 3];
      expect(Math.abs(s - 1)).toBeLessThan(1e-5);
    }
    const e = await t.evaluate(data, { batchSize: 10 });
    expect(e.count).toBe(23);
    let correct = 0;
    for (let i = 0; i < 23; i++) {
      const row = Array.from(p.subarray(i * 4, i * 4 + 4));
      if (row.indexOf(Math.max(...row)) === data.labels![i]) correct++;
    }
    expect(e.accuracy).toBeCloseTo(correct / 23, 6);
  });

  it('stays finite at logits of +-100 and reports a diverging loss by name', async () => {
    const { gpu } = await testGpu();
    const bce: ModelSpec = { inputSize: 2, layers: [{ units: 1, activation: 'sigmoid' }], loss: 'bce' };
    const t = await Trainer.create(gpu, bce, { seed: 1, optimizer: { name: 'sgd', lr: 1e-9 } });
    t.setWeights([{ W: Float32Array.from([100, 0]), b: new Float32Array(1) }]);
    const x = Float32Array.from([1, 0, -1, 0, 1, 0, -1, 0]);
    const labels = Int32Array.from([1, 0, 0, 1]);
    const e = await t.evaluate({ kind: 'float', x, labels, count: 4 });
    // Two rows right with margin 100 (loss ~ e^-100), two wrong (loss 100 each): mean 50.
    expect(e.loss).toBeCloseTo(50, 3);
    expect(e.accuracy).toBe(0.5);
    const wild = await Trainer.create(gpu, spec, { seed: 1, optimizer: { name: 'sgd', lr: 1e30 } });
    await expect(wild.fit(floatData(32), { epochs: 5, batchSize: 8, logEvery: 1 })).rejects.toBeInstanceOf(
      NonFiniteLossError,
    );
  });

  it('evaluates learning-rate schedules', () => {
    expect(learningRate(0.1, { kind: 'constant' }, 50, 100)).toBe(0.1);
    expect(learningRate(0.1, { kind: 'step', stepSize: 10, gamma: 0.5 }, 25, 100)).toBeCloseTo(0.025, 12);
    expect(learningRate(0.1, { kind: 'cosine' }, 0, 100)).toBeCloseTo(0.1, 12);
    expect(learningRate(0.1, { kind: 'cosine' }, 50, 100)).toBeCloseTo(0.05, 12);
    expect(learningRate(0.1, { kind: 'cosine', minLr: 0.01 }, 100, 100)).toBeCloseTo(0.01, 12);
    expect(learningRate(0.1, { kind: 'cosine', warmupSteps: 10 }, 4, 100)).toBeCloseTo(0.05, 12);
  });
});
