// Frozen layers (fine-tuning) end to end: the GPU and the float64 reference, each with its own
// notion of a frozen set, agree at every step for a frozen backbone (every layer but the head)
// and for a frozen prefix of a conv + batch-norm graph; frozen parameters and running statistics
// come back bit for bit while the head trains (test/helpers/vs-reference.ts). A frozen branch
// listed first makes the trainable parameters two separate stretches under a clip; a run that
// unfreezes after two epochs, at a lower rate, agrees too.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { Trainer } from '../../src/engine/trainer.js';
import type { ModelSpec } from '../../src/nn/layers.js';
import { testGpu } from '../helpers/gpu.js';
import { trainAgainstReference, type VsReferenceCase } from '../helpers/vs-reference.js';

/** A residual conv + batch-norm graph with a dropout in what the backbone freezes. */
const residual: ModelSpec = {
  inputShape: [6, 5, 3],
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', activation: 'relu', name: 'x0' },
    { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', name: 'r' },
    { type: 'add', inputs: ['r', 'x0'], activation: 'relu' },
    { type: 'conv2d', filters: 7, kernelSize: 3, stride: 2, padding: 'same', activation: 'relu' },
    { type: 'dropout', rate: 0.25 },
    { type: 'globalavgpool' },
    { type: 'dense', units: 4, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

/** The trainable branch 'b' is listed first, the frozen stem after it: two trainable stretches. */
const branches: ModelSpec = {
  inputShape: [5, 4, 2],
  layers: [
    { type: 'conv2d', filters: 3, kernelSize: 1, inputs: ['input'], name: 'b' },
    { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', bias: false, inputs: ['input'] },
    { type: 'batchnorm', activation: 'tanh', name: 'a' },
    { type: 'add', inputs: ['a', 'b'] },
    { type: 'batchnorm', activation: 'relu' },
    { type: 'flatten' },
    { type: 'dense', units: 1, activation: 'sigmoid' },
  ],
  loss: 'bce',
};

const allBut = (spec: ModelSpec, keep: number): number[] =>
  spec.layers.map((_, i) => i).filter((i) => i !== keep);

const cases: VsReferenceCase[] = [
  {
    name: "'backbone' of a residual graph: adam with weight decay touches only the head",
    spec: residual,
    optimizer: { name: 'adam', lr: 0.02, weightDecay: 0.05 },
    conv: 'im2col',
    freeze: { spec: 'backbone', layers: allBut(residual, residual.layers.length - 1) },
  },
  {
    name: 'a frozen prefix (conv, batch norm) of the residual graph; momentum',
    spec: residual,
    optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9 },
    conv: 'implicit',
    freeze: { spec: { layers: [0, 1] }, layers: [0, 1] },
  },
  {
    name: 'a frozen stem listed after a trainable branch: two trainable stretches under a clip; sgd',
    spec: branches,
    optimizer: { name: 'sgd', lr: 0.1, weightDecay: 0.01, maxNorm: 0.3 },
    conv: 'implicit',
    freeze: { spec: { layers: [1, 2] }, layers: [1, 2] },
  },
  {
    name: "'backbone', unfrozen after 2 epochs at a tenth of the rate; adamw",
    spec: residual,
    optimizer: { name: 'adamw', lr: 0.02, weightDecay: 0.05 },
    conv: 'im2col',
    freeze: { spec: 'backbone', layers: allBut(residual, residual.layers.length - 1) },
    unfreezeAfter: 2,
    lrFactor: 0.1,
  },
];

describe('frozen layers train on the GPU as the float64 reference does, step by step', () => {
  for (const c of cases) {
    it(`${c.name} (${c.conv})`, () => trainAgainstReference(c));
  }
});

describe('frozen sets the engine refuses', () => {
  it('a frozen layer reading a trainable one, a bad index, and nothing left to train', async () => {
    const { gpu } = await testGpu();
    const t = await Trainer.create(gpu, residual, { optimizer: { name: 'sgd', lr: 0.1 } });
    expect(() => t.setFreeze({ layers: [1] })).toThrow(ConfigError);
    expect(() => t.setFreeze({ layers: [1] })).toThrow(
      /layer 1 'x0' \(batchnorm\) is frozen but reads layer 0/,
    );
    expect(() => t.setFreeze({ layers: [0, 9] })).toThrow(/index 9/);
    expect(() => t.setFreeze({ layers: allBut(residual, -1) })).toThrow(/nothing to train/);
    expect(t.freeze).toBe('none');
    t.setFreeze('backbone');
    expect(t.freeze).toBe('backbone');
    expect(t.freezeSummary).toMatchObject({ frozenLayers: 8, layers: 9 });
    expect(t.freezeSummary.params - t.freezeSummary.frozenParams).toBe(7 * 4 + 4);
    await expect(
      Trainer.create(gpu, residual, { optimizer: { name: 'sgd', lr: 0.1 }, freeze: { layers: [3] } }),
    ).rejects.toThrow(ConfigError);
    t.destroy();
  });
});
