// End to end for grouped and depthwise convs (the direct kernels of src/kernels/conv-grouped.ts
// through the conv2d layer module): small networks trained on the GPU and on the float64
// reference from the same initial weights agree at every step (test/helpers/vs-reference.ts), and
// a depthwise network trains in mixed precision (f16 activations and weights) as it does in f32.

import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/engine/trainer.js';
import type { ModelSpec } from '../../src/nn/layers.js';
import { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';
import { trainAgainstReference, type VsReferenceCase } from '../helpers/vs-reference.js';

/** A MobileNet-like block: 1x1 expand, depthwise 3x3 stride 2, 1x1 project; and a G = 2 conv. */
const BLOCK: ModelSpec = {
  inputShape: [7, 6, 4],
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 1, bias: false },
    { type: 'batchnorm', activation: 'relu6' },
    { type: 'conv2d', filters: 8, kernelSize: 3, stride: 2, padding: 'same', groups: 8, activation: 'relu' },
    { type: 'conv2d', filters: 6, kernelSize: 3, padding: 1, groups: 2, activation: 'hardswish' },
    { type: 'conv2d', filters: 12, kernelSize: 3, padding: 'same', groups: 6, activation: 'tanh' },
    { type: 'globalavgpool' },
    { type: 'dense', units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

const cases: VsReferenceCase[] = [
  {
    name: 'conv 1x1, batchnorm relu6, depthwise s2 relu, G=2 hardswish, depthwise x2 tanh, gap, dense; adam',
    spec: BLOCK,
    optimizer: { name: 'adam', lr: 0.01 },
    conv: 'implicit',
  },
  {
    name: 'depthwise first layer (C = 3), valid 5x5, flatten, dense sigmoid; momentum + clip',
    spec: {
      inputShape: [6, 7, 3],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 5, groups: 3, activation: 'leaky_relu', alpha: 0.1 },
        { type: 'flatten' },
        { type: 'dense', units: 1, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9, maxNorm: 0.5 },
    conv: 'im2col',
  },
];

describe('grouped conv training on the GPU agrees with the float64 reference at every step', () => {
  for (const c of cases) {
    it(c.name, () => trainAgainstReference(c));
  }
});

describe('grouped conv in mixed precision', () => {
  it('f16 training follows f32 from the same seed', async () => {
    const { gpu } = await testGpu();
    if (!gpu.device.features.has('shader-f16')) {
      expect(gpu.report.kind, 'lavapipe (CI) must offer shader-f16').not.toBe('lavapipe');
      return;
    }
    const rng = new Rng(3);
    const count = 96;
    const x = Float32Array.from({ length: count * 7 * 6 * 4 }, () => rng.uniform(-2, 2));
    const labels = Int32Array.from(
      { length: count },
      (_, i) => (x[i * 168] > 0 ? 1 : 0) + (x[i * 168 + 5] > 0 ? 1 : 0),
    );
    const data = { kind: 'float' as const, x, labels, count };
    const losses: number[][] = [];
    for (const precision of ['f32', 'f16'] as const) {
      const t = await Trainer.create(gpu, BLOCK, {
        seed: 5,
        optimizer: { name: 'adam', lr: 3e-3 },
        precision,
      });
      const h = await t.fit(data, { epochs: 4, batchSize: 16 });
      losses.push(h.epochs.map((e) => e.loss));
      t.destroy();
    }
    const [a, b] = losses;
    expect(b.every(Number.isFinite)).toBe(true);
    expect(b[b.length - 1]).toBeLessThan(b[0]);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `epoch ${i}`).toBeLessThan(0.05 * a[0]);
  });
});
