// Exact resume of a CNN with batch norm and dropout: a run interrupted mid-epoch and continued in
// a NEW trainer from what a checkpoint holds (weights, running statistics, optimizer state, step,
// the Rng state at the start of fit, the position) ends bit-identical to a run that never stopped.
// Dropout masks are keyed by (seed, layer, step, element) and the batch order by the fit's Rng,
// so nothing else needs saving.

import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import type { TrainingData } from '../../src/engine/gpu-data.js';
import type { ModelSpec } from '../../src/nn/layers.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';

const spec: ModelSpec = {
  inputShape: [6, 6, 2],
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', activation: 'relu' },
    { type: 'maxpool2d', size: 2 },
    { type: 'dropout', rate: 0.3 },
    { type: 'flatten' },
    { type: 'dense', units: 8, activation: 'relu' },
    { type: 'dropout', rate: 0.2 },
    { type: 'dense', units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

function data(): TrainingData {
  const rng = new Rng(5);
  const count = 45;
  return {
    kind: 'uint8',
    images: Uint8Array.from({ length: count * 72 }, () => rng.int(256)),
    labels: Int32Array.from({ length: count }, () => rng.int(3)),
    count,
    channels: 2,
    mul: [1 / 255, 1 / 128],
    add: [-0.5, -1],
  };
}

describe('CNN exact resume', () => {
  it('an interrupted and continued run gives bit-identical weights and running statistics', async () => {
    const { gpu } = await testGpu();
    const d = data();
    const opts = {
      seed: 11,
      optimizer: { name: 'adam' as const, lr: 0.01 },
      schedule: { kind: 'cosine' as const },
    };
    const fit = { epochs: 3, batchSize: 8, validationSplit: 0.2, logEvery: 2 };

    const whole = await Trainer.create(gpu, spec, opts);
    await whole.fit(d, fit);

    const first = await Trainer.create(gpu, spec, opts);
    let steps = 0;
    const h = await first.fit(d, { ...fit, shouldStop: () => ++steps === 7 });
    expect(h.stopped).toBe(true);
    const saved = {
      weights: await first.getWeights(),
      stats: await first.getRunningStats(),
      tracked: first.batchesTracked,
      optim: await first.getOptimizerState(),
      rng: first.fitStartRngState!,
      position: first.position,
    };
    expect(saved.position).toEqual({ epoch: 1, batch: 2 });

    const second = await Trainer.create(gpu, spec, { ...opts, seed: 999 });
    second.setWeights(saved.weights);
    second.setRunningStats(saved.stats, saved.tracked);
    second.setOptimizerState(saved.optim);
    second.rng.restore(saved.rng);
    // The dropout seed comes from the trainer's seed, which a checkpoint's config carries.
    const resumed = await Trainer.create(gpu, spec, opts);
    resumed.setWeights(saved.weights);
    resumed.setRunningStats(saved.stats, saved.tracked);
    resumed.setOptimizerState(saved.optim);
    resumed.rng.restore(saved.rng);
    await resumed.fit(d, { ...fit, start: saved.position });

    const a = await whole.getWeights();
    const b = await resumed.getWeights();
    a.forEach((w, k) => {
      expect(Array.from(b[k].W), `param ${k} W`).toEqual(Array.from(w.W));
      expect(Array.from(b[k].b), `param ${k} b`).toEqual(Array.from(w.b));
    });
    const sa = await whole.getRunningStats();
    const sb = await resumed.getRunningStats();
    expect(Array.from(sb[0].mean)).toEqual(Array.from(sa[0].mean));
    expect(Array.from(sb[0].variance)).toEqual(Array.from(sa[0].variance));
    expect(resumed.batchesTracked).toBe(whole.batchesTracked);
    expect(resumed.step).toBe(whole.step);

    // A different dropout seed must change the outcome (the masks really are in play).
    await second.fit(d, { ...fit, start: saved.position });
    const c = await second.getWeights();
    expect(Array.from(c[0].W)).not.toEqual(Array.from(a[0].W));
    for (const t of [whole, first, second, resumed]) t.destroy();
  });
});
