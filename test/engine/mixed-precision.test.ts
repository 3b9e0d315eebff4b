// Mixed precision (TrainerOptions.precision 'f16') through the Trainer, against the same training
// in f32 from the same seed:
//   - a teacher-labelled synthetic problem (no dataset needed): f16 reaches the f32 accuracy
//     within 2 points on held-out data, and its loss falls the same way
//   - a CNN with batch norm, pooling and dropout (all of them on f16 tensors) trains
//   - forced overflow: an initial loss scale of 2^40 overflows the f16 activation gradients; the
//     first step is skipped with the weights untouched, the scale halves step by step until the
//     gradients fit, and training then reaches the f32 accuracy
//   - 'auto' resolves to one of the two; 'f16' without shader-f16 and bad loss-scale options
//     are clear ConfigErrors
// The full MNIST and Fashion-MNIST comparison (within 0.3 points of f32) is the e2e test
// test/e2e/mixed-precision.test.ts.

import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import type { TrainingData } from '../../src/engine/batch-source.js';
import { ConfigError } from '../../src/errors.js';
import type { ModelSpec } from '../../src/nn/layers.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';

const FEATURES = 24;
const CLASSES = 5;

/** x uniform in [-2, 2]; the label is the argmax of a fixed random linear teacher. */
function teacherData(count: number, seed: number): TrainingData & { kind: 'float' } {
  const t = new Rng(77);
  const teacher = Array.from({ length: CLASSES * FEATURES }, () => t.uniform(-1, 1));
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: count * FEATURES }, () => rng.uniform(-2, 2));
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let best = -Infinity;
    for (let c = 0; c < CLASSES; c++) {
      let s = 0;
      for (let f = 0; f < FEATURES; f++) s += teacher[c * FEATURES + f] * x[i * FEATURES + f];
      if (s > best) {
        best = s;
        labels[i] = c;
      }
    }
  }
  return { kind: 'float', x, labels, count };
}

const MLP: ModelSpec = {
  inputSize: FEATURES,
  layers: [
    { units: 64, activation: 'relu' },
    { units: 32, activation: 'tanh' },
    { units: CLASSES, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

async function hasF16(): Promise<boolean> {
  const { gpu } = await testGpu();
  if (gpu.device.features.has('shader-f16')) return true;
  expect(gpu.report.kind, 'lavapipe (CI) must offer shader-f16').not.toBe('lavapipe');
  console.log(`[gpu] mixed-precision training skipped: ${gpu.report.name} has no shader-f16`);
  return false;
}

const train = teacherData(2000, 1);
const test = teacherData(500, 2);

async function run(precision: 'f32' | 'f16', initScale?: number, epochs = 6) {
  const { gpu } = await testGpu();
  const t = await Trainer.create(gpu, MLP, {
    seed: 5,
    optimizer: { name: 'adam', lr: 3e-3 },
    precision,
    lossScale: initScale ? { initScale } : undefined,
  });
  const h = await t.fit(train, { epochs, batchSize: 50 });
  const e = await t.evaluate(test);
  const state = await t.lossScaleState();
  t.destroy();
  return { h, e, state, precision: t.precision };
}

describe('mixed precision training', () => {
  it('f16 matches f32 on held-out data and its loss falls the same way', async () => {
    if (!(await hasF16())) return;
    const a = await run('f32');
    const b = await run('f16');
    expect(a.precision).toBe('f32');
    expect(b.precision).toBe('f16');
    expect(a.state).toBeUndefined();
    expect(b.state!.skipped).toBe(0);
    expect(b.state!.steps).toBe(6 * 40);
    expect(a.e.accuracy).toBeGreaterThan(0.85);
    expect(Math.abs(a.e.accuracy - b.e.accuracy), `f32 ${a.e.accuracy} f16 ${b.e.accuracy}`).toBeLessThan(
      0.02,
    );
    const la = a.h.epochs.map((e) => e.loss);
    const lb = b.h.epochs.map((e) => e.loss);
    expect(lb[lb.length - 1]).toBeLessThan(lb[0] * 0.5);
    expect(Math.abs(la[la.length - 1] - lb[lb.length - 1])).toBeLessThan(0.05 * la[0]);
  });

  it('recovers from a forced overflow: skips, halves the scale, then trains', async () => {
    if (!(await hasF16())) return;
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, MLP, {
      seed: 5,
      optimizer: { name: 'adam', lr: 3e-3 },
      precision: 'f16',
      lossScale: { initScale: 2 ** 40 },
    });
    const w0 = await t.getWeights();
    let steps = 0;
    await t.fit(train, { epochs: 1, batchSize: 50, shouldStop: () => ++steps >= 1 });
    const s1 = await t.lossScaleState();
    expect(s1).toEqual({ scale: 2 ** 39, streak: 0, skipped: 1, steps: 1 });
    expect(await t.getWeights(), 'a skipped step leaves the weights alone').toEqual(w0);
    // A checkpoint's scaler state restores exactly.
    t.setLossScaleState({ scale: 2 ** 12, streak: 7, skipped: 3, steps: 20 });
    expect(await t.lossScaleState()).toEqual({ scale: 2 ** 12, streak: 7, skipped: 3, steps: 20 });
    expect(() => t.setLossScaleState({ scale: 3, streak: 0, skipped: 0, steps: 0 })).toThrow(/power of two/);
    t.destroy();

    const f32 = await run('f32');
    const f16 = await run('f16', 2 ** 40);
    console.log(
      `[f16] forced overflow: ${f16.state!.skipped} steps skipped, scale 2^${Math.log2(f16.state!.scale)}, accuracy ${f16.e.accuracy} (f32 ${f32.e.accuracy})`,
    );
    expect(f16.state!.skipped).toBeGreaterThan(5);
    expect(f16.state!.skipped).toBeLessThan(40);
    expect(f16.state!.scale).toBeLessThanOrEqual(2 ** 30);
    expect(Math.abs(f32.e.accuracy - f16.e.accuracy)).toBeLessThan(0.03);
  });

  it('trains a CNN with batch norm, pooling and dropout in f16', async () => {
    if (!(await hasF16())) return;
    const { gpu } = await testGpu();
    const spec: ModelSpec = {
      inputShape: [6, 6, 2],
      layers: [
        { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same', bias: false },
        { type: 'batchnorm', activation: 'relu' },
        { type: 'maxpool2d', size: 2 },
        { type: 'flatten' },
        { type: 'dense', units: 16, activation: 'relu' },
        { type: 'dropout', rate: 0.1 },
        { type: 'dense', units: CLASSES, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    };
    const data = teacherData(600, 3);
    const images = { ...data, x: new Float32Array(600 * 72) };
    for (let i = 0; i < 600; i++)
      for (let j = 0; j < 72; j++) images.x[i * 72 + j] = data.x[i * FEATURES + (j % FEATURES)];
    const t = await Trainer.create(gpu, spec, {
      seed: 1,
      optimizer: { name: 'adam', lr: 3e-3 },
      precision: 'f16',
      conv: 'implicit',
    });
    const h = await t.fit(images, { epochs: 5, batchSize: 32 });
    const losses = h.epochs.map((e) => e.loss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[4]).toBeLessThan(losses[0] * 0.7);
    expect((await t.lossScaleState())!.skipped).toBeLessThanOrEqual(1);
    t.destroy();
  });

  it("'auto' resolves to f32 or f16; bad options are ConfigErrors", async () => {
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, MLP, { optimizer: { name: 'sgd', lr: 0.1 }, precision: 'auto' });
    expect(['f32', 'f16']).toContain(t.precision);
    if (!gpu.device.features.has('shader-f16')) expect(t.precision).toBe('f32');
    t.destroy();
    await expect(
      Trainer.create(gpu, MLP, { optimizer: { name: 'sgd', lr: 0.1 }, precision: 'f8' as never }),
    ).rejects.toThrow(/precision must be one of f32, f16, auto/);
    await expect(
      Trainer.create(gpu, MLP, {
        optimizer: { name: 'sgd', lr: 0.1 },
        precision: 'f16',
        lossScale: { initScale: 1000 },
      }),
    ).rejects.toThrow(ConfigError);
    await expect(
      Trainer.create(gpu, MLP, {
        optimizer: { name: 'sgd', lr: 0.1 },
        precision: 'f16',
        lossScale: { growthInterval: 0 },
      }),
    ).rejects.toThrow(/growthInterval/);
  });
});
