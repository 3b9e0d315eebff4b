// Training on records stored larger than the network's input (random-resized crop): the resident
// path (GPU gather, box modes 1 and 2) and the streamed path (the CPU twin in the stream feed) must
// train bit-identical weights, since both draw the same boxes and resample with the same integer
// arithmetic; evaluation takes the centre crop on both paths, and predict on the same records
// equals predict on their centre crops cut on the CPU.

import { describe, expect, it } from 'vitest';
import { centreCropImages, DEFAULT_RRC } from '../../src/data/augment-rrc.js';
import type { Uint8Data } from '../../src/engine/batch-source.js';
import { Trainer, type FitOptions, type Weights } from '../../src/engine/trainer.js';
import type { ModelSpec } from '../../src/nn/layers.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';

// 9x10 RGB records feeding a 7x8 input; 101 samples, 3 classes.
const REC = { height: 9, width: 10 };
const IN = { height: 7, width: 8 };
const C = 3;
const N = 101;
const spec: ModelSpec = {
  inputSize: IN.height * IN.width * C,
  layers: [
    { units: 11, activation: 'relu' },
    { units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};
const opts = {
  seed: 5,
  optimizer: { name: 'adam' as const, lr: 0.01 },
  schedule: { kind: 'cosine' as const },
};
const fit: FitOptions = { epochs: 2, batchSize: 16, validationSplit: 0.2, logEvery: 4 };

function records(): Uint8Data {
  const rng = new Rng(17);
  return {
    kind: 'uint8',
    images: Uint8Array.from({ length: N * REC.height * REC.width * C }, () => rng.int(256)),
    labels: Int32Array.from({ length: N }, () => rng.int(3)),
    count: N,
    channels: C,
    ...REC,
    crop: IN,
    mul: [1 / 255, 1 / 128, 1 / 64],
    add: [-0.5, -1, -2],
  };
}

function expectSameWeights(a: Weights[], b: Weights[]): void {
  a.forEach((l, i) => expect(Buffer.compare(Buffer.from(l.W.buffer), Buffer.from(b[i].W.buffer))).toBe(0));
}

describe('fit on records larger than the input', () => {
  const d = records();

  it('resident (GPU boxes) and streamed (CPU twin) train the same weights, and evaluate alike', async () => {
    const { gpu } = await testGpu();
    const augment = { rrc: DEFAULT_RRC, flip: true, contrast: 0.2 };
    const resident = await Trainer.create(gpu, spec, opts);
    await resident.fit(d, { ...fit, augment, residency: 'gpu' });
    const streamed = await Trainer.create(gpu, spec, opts);
    await streamed.fit(d, { ...fit, augment, residency: 'upload' });
    expectSameWeights(await resident.getWeights(), await streamed.getWeights());
    const a = await resident.evaluate(d);
    const b = await streamed.evaluate({ ...d, images: d.images.slice() });
    expect(b.loss).toBe(a.loss);
    // Without rrc the same records train on their centre: different weights.
    const centre = await Trainer.create(gpu, spec, opts);
    await centre.fit(d, { ...fit, augment: { flip: true, contrast: 0.2 } });
    const w = (await centre.getWeights())[0].W;
    expect(
      Buffer.compare(Buffer.from(w.buffer), Buffer.from((await resident.getWeights())[0].W.buffer)),
    ).not.toBe(0);
    for (const t of [resident, streamed, centre]) t.destroy();
  });

  it('predict on larger records equals predict on their centre crops', async () => {
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, spec, opts);
    const p = await t.predict(d);
    const cut = centreCropImages(d.images, N, REC, IN, C);
    const q = await t.predict({ ...d, images: cut, height: IN.height, width: IN.width, crop: undefined });
    expect(Buffer.compare(Buffer.from(p.buffer), Buffer.from(q.buffer))).toBe(0);
    t.destroy();
  });

  it('a crop that does not match the model is a one-line error naming both', async () => {
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, spec, opts);
    await expect(t.fit({ ...d, crop: { height: 6, width: 8 } }, fit)).rejects.toThrow(
      /6x8x3 crop .* inputSize 168/,
    );
    await expect(t.fit({ ...d, crop: { height: 10, width: 8 } }, fit)).rejects.toThrow(/at least that large/);
    t.destroy();
  });
});
