// End to end for padded pools (PyTorch's padding, as in torchvision's ResNet stem: conv 7x7/2,
// batch norm relu, maxpool 3x3/2 pad 1): small networks trained on the GPU and on the float64
// reference (src/reference/sequential.ts) from the same initial weights agree at every step.
// The cases reach the padded kernels' gather backward (overlapping windows, scalar and vec4) and
// the max-pool scatter of tiling windows with padding, and average pools over padding
// (count_include_pad). The runner and its tolerances: test/helpers/vs-reference.ts.

import { describe, expect, it } from 'vitest';
import { resolveModel } from '../../src/nn/layers.js';
import { trainAgainstReference, type VsReferenceCase } from '../helpers/vs-reference.js';

const cases: VsReferenceCase[] = [
  {
    name: 'ResNet-like stem: conv/2 pad 1, batchnorm relu, maxpool 3x3/2 pad 1; padded avgpool and rectangular maxpool; adam',
    spec: {
      inputShape: [11, 11, 3],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, stride: 2, padding: 1, bias: false },
        { type: 'batchnorm', activation: 'relu' },
        { type: 'maxpool2d', size: 3, stride: 2, padding: 1 },
        { type: 'conv2d', filters: 5, kernelSize: 3, padding: 1, activation: 'tanh' },
        { type: 'avgpool2d', size: 2, padding: 1 },
        { type: 'maxpool2d', size: [2, 3], stride: 1, padding: 1 },
        { type: 'flatten' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    optimizer: { name: 'adam', lr: 0.01 },
    conv: 'implicit',
  },
  {
    name: 'conv relu, maxpool 2x2/2 pad 1 (tiles, vec4), avgpool 3x3/1 pad 1, globalavgpool, sigmoid; momentum',
    spec: {
      inputShape: [5, 6, 2],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'maxpool2d', size: 2, padding: 1 },
        { type: 'avgpool2d', size: 3, stride: 1, padding: 1 },
        { type: 'globalavgpool' },
        { type: 'dense', units: 1, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    optimizer: { name: 'momentum', lr: 0.1, momentum: 0.9 },
    conv: 'im2col',
  },
];

describe('padded pools train on the GPU as on the float64 reference', () => {
  it('the cases resolve to the padded shapes they mean to test', () => {
    const shapes = cases.map((c) => resolveModel(c.spec).layers.map((l) => l.outShape.join('x')));
    expect(shapes[0].slice(0, 6)).toEqual(['6x6x4', '6x6x4', '3x3x4', '3x3x5', '2x2x5', '3x2x5']);
    expect(shapes[1].slice(0, 3)).toEqual(['5x6x4', '3x4x4', '3x4x4']);
  });

  for (const c of cases) {
    it(`${c.name} (${c.conv})`, () => trainAgainstReference(c));
  }
});
