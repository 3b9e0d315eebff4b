// End to end for layernorm (src/engine/layers/layernorm.ts on src/kernels/layernorm.ts): small
// networks trained on the GPU and on the float64 reference from the same initial weights agree at
// every step, the last batch of each epoch a partial one (test/helpers/vs-reference.ts). Rows of
// C = 3, 5 and 7 take the scalar kernels, C = 8 and 12 the vec4 ones; a first-layer layernorm has
// no input gradient to write; the previous layer's relu, tanh and leaky_relu are fused into
// layernorm's input gradient.

import { describe, it } from 'vitest';
import { trainAgainstReference, type VsReferenceCase } from '../helpers/vs-reference.js';

const cases: VsReferenceCase[] = [
  {
    name: 'layernorm first (C = 3), conv relu, layernorm gelu (C = 8), conv s2 tanh, layernorm (C = 5); adam',
    spec: {
      inputShape: [5, 6, 3],
      layers: [
        { type: 'layernorm' },
        { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'layernorm', activation: 'gelu' },
        { type: 'conv2d', filters: 5, kernelSize: 3, stride: 2, padding: 'same', activation: 'tanh' },
        { type: 'layernorm', epsilon: 1e-3, name: 'n' },
        { type: 'conv2d', filters: 5, kernelSize: 1, name: 'c' },
        { type: 'add', inputs: ['n', 'c'] },
        { type: 'globalavgpool' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    optimizer: { name: 'adam', lr: 0.01 },
    conv: 'im2col',
  },
  {
    name: 'dense leaky_relu, layernorm relu (C = 12), dense, layernorm tanh (C = 7); momentum + clip',
    spec: {
      inputShape: [9],
      layers: [
        { units: 12, activation: 'leaky_relu', alpha: 0.1 },
        { type: 'layernorm', activation: 'relu' },
        { units: 7 },
        { type: 'layernorm', activation: 'tanh' },
        { units: 1, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9, maxNorm: 0.5 },
    conv: 'implicit',
  },
];

describe('layernorm training on the GPU agrees with the float64 reference at every step', () => {
  for (const c of cases) {
    it(c.name, () => trainAgainstReference(c));
  }
});
