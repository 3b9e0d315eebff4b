// End to end for graph models: residual blocks (an identity skip whose source has a ReLU, and a
// projection skip), a tensor read by three layers, a concat, an add of three inputs one of which
// is the model's input, and a list whose layers are not in execution order, trained on the GPU
// and on the float64 reference from the same weights; they agree at every step
// (test/helpers/vs-reference.ts). Shapes are odd on purpose (6x5 maps, 3 and 7 channels).

import { describe, it } from 'vitest';
import { trainAgainstReference, type VsReferenceCase } from '../helpers/vs-reference.js';

const cases: VsReferenceCase[] = [
  {
    name: 'residual block, projection skip, a source read three times, concat; adam',
    spec: {
      inputShape: [6, 5, 3],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', bias: false },
        { type: 'batchnorm', activation: 'relu', name: 'x0' },
        { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', bias: false },
        { type: 'batchnorm', name: 'r' },
        { type: 'add', inputs: ['r', 'x0'], activation: 'relu', name: 'x1' },
        {
          type: 'conv2d',
          filters: 7,
          kernelSize: 3,
          stride: 2,
          padding: 'same',
          activation: 'relu',
          name: 'b',
        },
        { type: 'conv2d', filters: 7, kernelSize: 1, stride: 2, inputs: 'x1', name: 'proj' },
        { type: 'add', inputs: ['b', 'proj'], name: 'y' },
        {
          type: 'conv2d',
          filters: 2,
          kernelSize: 1,
          stride: 2,
          activation: 'tanh',
          inputs: ['x1'],
          name: 'side',
        },
        { type: 'concat', inputs: ['y', 'side'] },
        { type: 'globalavgpool' },
        { type: 'dense', units: 4, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    optimizer: { name: 'adam', lr: 0.01 },
    conv: 'im2col',
  },
  {
    name: 'layers listed out of execution order, a flatten read twice, concat of dense branches; momentum',
    spec: {
      inputShape: [4, 4, 2],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 3, activation: 'relu', name: 'c' },
        { type: 'dense', units: 3, activation: 'tanh', inputs: ['f'], name: 'b' },
        { type: 'flatten', inputs: ['c'], name: 'f' },
        { type: 'dense', units: 5, activation: 'leaky_relu', alpha: 0.1, inputs: ['f'], name: 'a' },
        { type: 'concat', inputs: ['b', 'a'] },
        { type: 'batchnorm', activation: 'gelu' },
        { type: 'dense', units: 1, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9, maxNorm: 0.5 },
    conv: 'implicit',
  },
  {
    name: 'an add of three inputs, one the model input, then dropout; sgd',
    spec: {
      inputShape: [5, 5, 2],
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: 3, padding: 'same', activation: 'relu', name: 'u' },
        { type: 'conv2d', filters: 2, kernelSize: 1, inputs: ['input'], name: 'v' },
        { type: 'add', inputs: ['u', 'v', 'input'], activation: 'tanh' },
        { type: 'dropout', rate: 0.2 },
        { type: 'globalavgpool' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    optimizer: { name: 'sgd', lr: 0.1 },
    conv: 'implicit',
  },
];

describe('graph models train on the GPU as the float64 reference does, step by step', () => {
  for (const c of cases) {
    it(`${c.name} (${c.conv})`, () => trainAgainstReference(c));
  }
});
