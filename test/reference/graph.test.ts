// The float64 reference runs graphs: gradients of a residual block, a fan-out feeding two
// branches, a concat and a projection skip match central finite differences at odd shapes
// (model-helpers.ts: every parameter and dX, training mode).

import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/nn/layers.js';
import { seqCreateBnState, seqForward } from '../../src/reference/sequential.js';
import { Rng } from '../../src/rng.js';
import { randArray } from './helpers.js';
import { expectModelGradients, randomParams, ref } from './model-helpers.js';

const GRAPHS: { name: string; spec: ModelSpec; rows: number }[] = [
  {
    name: 'residual block: conv-bn-relu-conv-bn, added to its input, then relu',
    spec: {
      inputShape: [5, 3, 2],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh', name: 'x' },
        { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', bias: false },
        { type: 'batchnorm', activation: 'gelu' },
        { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same' },
        { type: 'batchnorm', name: 'r' },
        { type: 'add', inputs: ['r', 'x'], activation: 'tanh' },
        { type: 'globalavgpool' },
        { units: 3, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    },
    rows: 3,
  },
  {
    name: 'fan-out feeding two branches, joined by concat, with a layer listed before its input',
    spec: {
      inputShape: [4, 5, 3],
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: 1, activation: 'sigmoid', name: 'stem' },
        {
          type: 'conv2d',
          filters: 3,
          kernelSize: 3,
          padding: 'same',
          activation: 'tanh',
          inputs: 'mid',
          name: 'left',
        },
        { type: 'conv2d', filters: 2, kernelSize: 2, padding: 'same', inputs: 'stem', name: 'mid' },
        { type: 'avgpool2d', size: 1, inputs: 'mid', name: 'right' },
        { type: 'concat', inputs: ['left', 'right', 'stem'] },
        { type: 'flatten' },
        { units: 2, activation: 'sigmoid' },
      ],
      loss: 'bce',
    },
    rows: 2,
  },
  {
    name: 'projection skip: a strided 1x1 conv on the skip path, and an add of three inputs',
    spec: {
      inputShape: [6, 5, 2],
      layers: [
        {
          type: 'conv2d',
          filters: 4,
          kernelSize: 3,
          stride: 2,
          padding: 'same',
          activation: 'gelu',
          name: 'main',
        },
        { type: 'conv2d', filters: 4, kernelSize: 1, stride: 2, inputs: 'input', name: 'proj' },
        {
          type: 'conv2d',
          filters: 4,
          kernelSize: 3,
          stride: 2,
          padding: 'same',
          inputs: 'input',
          name: 'third',
        },
        { type: 'add', inputs: ['main', 'proj', 'third'] },
        { type: 'globalavgpool' },
        { units: 2 },
      ],
      loss: 'mse',
    },
    rows: 3,
  },
];

describe('reference graphs: gradients by finite differences (training mode)', () => {
  for (const { name, spec, rows } of GRAPHS) {
    it(name, () => expectModelGradients(name, spec, rows));
  }

  it('an add sums, a concat stacks channels in input order', () => {
    const model = ref(GRAPHS[1].spec);
    const rng = new Rng(5);
    const params = randomParams(model, rng);
    const x = randArray(rng, 2 * model.inputSize);
    const f = seqForward(model, params, seqCreateBnState(model), x, 2, { training: false, seed: 0, step: 0 });
    const [left, right, stem, cat] = [1, 3, 0, 4].map((i) => f.cache[i].A);
    // Position 7 of sample 1: channels 3 (left) + 2 (right) + 2 (stem) = 7 per position.
    const at = 1 * 20 + 7;
    expect(Array.from(cat.subarray(at * 7, at * 7 + 7))).toEqual([
      ...left.subarray(at * 3, at * 3 + 3),
      ...right.subarray(at * 2, at * 2 + 2),
      ...stem.subarray(at * 2, at * 2 + 2),
    ]);
  });
});
