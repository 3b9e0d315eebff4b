// End to end for convolutional networks: small CNNs (conv, batch norm, pooling, dropout,
// flatten, dense) trained on the GPU and on the float64 reference (src/reference/sequential.ts)
// from the same initial weights agree at every step, dropout masks included (both draw them
// from counterHash(seed, layer, step, element)). Batches of 8 over 20 samples give a partial
// batch of 4 every third step, so batch norm's statistics over the live rows only and the zero
// gradient of padding rows are exercised too.
// The runner and its tolerances: test/helpers/vs-reference.ts.

import { describe, it } from 'vitest';
import { trainAgainstReference, type VsReferenceCase } from '../helpers/vs-reference.js';

const cases: VsReferenceCase[] = [
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

describe('CNN training on the GPU agrees with the float64 reference at every step', () => {
  for (const c of cases) {
    it(`${c.name} (${c.conv})`, () => trainAgainstReference(c));
  }
});
