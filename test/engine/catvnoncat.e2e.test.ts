// The seed's own example, end to end on the GPU: the deeplearning.ai cat-vs-non-cat network
// [12288, 20, 7, 5, 1] (ReLU, sigmoid output, binary cross-entropy) trained by full-batch
// gradient descent, lr 0.0075, 2500 iterations, pixels scaled to [0, 1]. The course reports 80%
// test accuracy for this net and 72% for the 2-layer [12288, 7, 1]; the bars here are 78% / 70%.
// The seed is the course's own, not one we picked: np.random.seed(1) with numpy's generator
// (init 'numpy-lecun-normal' = randn / sqrt(n_prev), 'numpy-normal-0.01' = randn * 0.01 for the
// 2-layer net), so the run starts from exactly the course's weights.
// Seeds matter on a 50-image test set (one image is 2 points). scripts/course-reference.py runs
// the course's recipe in float64 numpy for seeds 1-5 (bench/results/course-reference.txt):
// 4-layer 80, 76, 78, 76, 74% (median 76%), 2-layer 72, 68, 72, 74, 68% (median 72%). The same
// spread shows on this engine; the assertion below still fails on any regression of the engine.

import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import type { Uint8Data } from '../../src/engine/gpu-data.js';
import { readHdf5File } from '../../src/data/readers-node.js';
import type { ImageSet } from '../../src/data/types.js';
import type { Init } from '../../src/nn/init.js';
import type { DenseLayerSpec as LayerSpec } from '../../src/nn/model.js';
import { findData } from '../helpers/datasets.js';
import { testGpu } from '../helpers/gpu.js';

// The package ships the two .h5 files (data/catvnoncat); the lookup may also find a shared copy.
const DATA = findData('catvnoncat') ?? '';
const SEED = 1; // the course's np.random.seed(1)
const have = DATA !== '';
if (!have) throw new Error('the catvnoncat sample is missing from data/catvnoncat in this checkout');

function toData(s: ImageSet): Uint8Data {
  return {
    kind: 'uint8',
    images: s.images,
    labels: s.labels,
    count: s.count,
    channels: 3,
    mul: [1 / 255, 1 / 255, 1 / 255],
    add: [0, 0, 0],
  };
}

async function trainCat(hidden: LayerSpec[], seed: number, init: Init) {
  const { gpu } = await testGpu();
  const train = await readHdf5File(resolve(DATA, 'train_catvnoncat.h5'));
  const test = await readHdf5File(resolve(DATA, 'test_catvnoncat.h5'));
  const trainer = await Trainer.create(
    gpu,
    { inputSize: 64 * 64 * 3, layers: [...hidden, { units: 1, activation: 'sigmoid' }], loss: 'bce' },
    { seed, init, optimizer: { name: 'sgd', lr: 0.0075 } },
  );
  const t0 = performance.now();
  const losses: number[] = [];
  await trainer.fit(toData(train), {
    epochs: 2500,
    batchSize: train.count,
    shuffle: false,
    logEvery: 1,
    onEpoch: (e) => {
      if (e.epoch % 500 === 0 || e.epoch === 2499) losses.push(e.loss);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const trainAcc = (await trainer.evaluate(toData(train))).accuracy;
  const testAcc = (await trainer.evaluate(toData(test))).accuracy;
  console.log(
    `[catvnoncat] ${hidden.map((l) => l.units).join('-')} seed ${seed}: cost ${losses.map((l) => l.toFixed(3)).join(' -> ')}, ` +
      `train ${(trainAcc * 100).toFixed(1)}%, test ${(testAcc * 100).toFixed(1)}%, ${seconds.toFixed(0)} s on ${gpu.report.name}`,
  );
  trainer.destroy();
  return { trainAcc, testAcc, losses };
}

describe.skipIf(!have)('cat vs non-cat (e2e tier)', () => {
  it('4-layer [12288, 20, 7, 5, 1] reaches at least 78% test accuracy', { timeout: 1_800_000 }, async () => {
    const r = await trainCat(
      [
        { units: 20, activation: 'relu' },
        { units: 7, activation: 'relu' },
        { units: 5, activation: 'relu' },
      ],
      SEED,
      'numpy-lecun-normal',
    );
    expect(r.losses[r.losses.length - 1]).toBeLessThan(r.losses[0]);
    expect(r.trainAcc).toBeGreaterThan(0.95);
    expect(r.testAcc).toBeGreaterThanOrEqual(0.78);
  });

  it('2-layer [12288, 7, 1] reaches at least 70% test accuracy', { timeout: 1_800_000 }, async () => {
    const r = await trainCat([{ units: 7, activation: 'relu' }], SEED, 'numpy-normal-0.01');
    expect(r.losses[r.losses.length - 1]).toBeLessThan(r.losses[0]);
    expect(r.testAcc).toBeGreaterThanOrEqual(0.7);
  });
});
