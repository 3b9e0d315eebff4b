// Shape inference and the errors an invalid CNN spec gets: each names the layer and says what
// to change.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveModel, type LayerSpec, type ModelSpec } from '../../src/nn/layers.js';

const head: LayerSpec[] = [{ type: 'flatten' }, { type: 'dense', units: 3, activation: 'softmax' }];
const spec = (inputShape: number[], layers: LayerSpec[]): ModelSpec => ({
  inputShape,
  layers: [...layers, ...head],
  loss: 'softmax-ce',
});

describe('resolveModel shapes', () => {
  it('infers conv, pool and flatten shapes, PyTorch and TensorFlow padding rules', () => {
    const m = resolveModel(
      spec(
        [32, 31, 3],
        [
          { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same' },
          { type: 'conv2d', filters: 4, kernelSize: [3, 2], stride: 2, padding: 'same' },
          { type: 'conv2d', filters: 5, kernelSize: 5, padding: 1 },
          { type: 'maxpool2d', size: 2 },
          { type: 'avgpool2d', size: 3, stride: 1 },
        ],
      ),
    );
    expect(m.layers.map((l) => l.outShape)).toEqual([
      [32, 31, 8],
      [16, 16, 4],
      [14, 14, 5],
      [7, 7, 5],
      [5, 5, 5],
      [125],
      [3],
    ]);
    // 'same' with stride 2 on an even map: the odd pixel of padding goes to the bottom/right.
    const g = m.layers[1].conv!;
    expect([g.padTop, g.padBottom, g.padLeft, g.padRight]).toEqual([0, 1, 0, 1]);
    // Parameters: conv [F, KH, KW, C] + bias, dense [units, fanIn] + bias; every slot 64-aligned.
    expect(m.params.map((p) => p.shape)).toEqual([
      [8, 3, 3, 3],
      [4, 3, 2, 8],
      [5, 5, 5, 4],
      [3, 125],
    ]);
    expect(m.params.every((p) => p.W.offset % 64 === 0 && p.b.offset % 64 === 0)).toBe(true);
    expect(m.params[0].fanIn).toBe(27);
    expect(m.params[0].fanOut).toBe(72);
    expect(m.paramCount).toBe(8 * 27 + 8 + 4 * 48 + 4 + 5 * 100 + 5 + 3 * 125 + 3);
  });

  it('batch norm per channel on maps and per feature after dense; running stats are state', () => {
    const m = resolveModel({
      inputShape: [4, 4, 2],
      layers: [
        { type: 'conv2d', filters: 6, kernelSize: 3, bias: false },
        { type: 'batchnorm', activation: 'relu' },
        { type: 'globalavgpool' },
        { type: 'dense', units: 9 },
        { type: 'batchnorm' },
        { type: 'dropout', rate: 0.5 },
        { type: 'dense', units: 2, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    });
    expect(m.params.map((p) => [p.type, p.units, p.b.length])).toEqual([
      ['conv2d', 6, 0],
      ['batchnorm', 6, 6],
      ['dense', 9, 9],
      ['batchnorm', 9, 9],
      ['dense', 2, 2],
    ]);
    expect(m.states.map((s) => s.channels)).toEqual([6, 9]);
    expect(m.hasModes).toBe(true);
    expect(m.layers[1].momentum).toBe(0.1);
    expect(m.layers[1].epsilon).toBe(1e-5);
  });

  it('dense-only specs of earlier versions stay valid', () => {
    const m = resolveModel({
      inputSize: 784,
      layers: [
        { units: 128, activation: 'relu' },
        { units: 10, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    });
    expect(m.paramCount).toBe(784 * 128 + 128 + 1290);
    expect(m.hasModes).toBe(false);
  });
});

describe('resolveModel errors name the layer and what to change', () => {
  const cases: [string, ModelSpec, RegExp][] = [
    [
      'a 2x2 pool on a 1x1 map',
      spec([1, 1, 3], [{ type: 'maxpool2d', size: 2 }]),
      /layer 0 \(maxpool2d\).*2x2 window does not fit the 1x1/,
    ],
    [
      'a kernel larger than a valid map',
      spec([2, 2, 1], [{ type: 'conv2d', filters: 2, kernelSize: 3 }]),
      /layer 0 \(conv2d\).*3x3 kernel does not fit.*padding 'same'/,
    ],
    [
      'conv on a flat input',
      {
        inputSize: 10,
        layers: [{ type: 'conv2d', filters: 2, kernelSize: 1 }, ...head.slice(1)],
        loss: 'softmax-ce',
      },
      /layer 0 \(conv2d\).*flat/,
    ],
    [
      'dense on a map',
      {
        inputShape: [3, 3, 1],
        layers: [{ type: 'dense', units: 2, activation: 'softmax' }],
        loss: 'softmax-ce',
      },
      /layer 0 \(dense\).*add a 'flatten'/,
    ],
    [
      'a map at the end',
      { inputShape: [3, 3, 1], layers: [{ type: 'conv2d', filters: 2, kernelSize: 1 }], loss: 'mse' },
      /end with 'globalavgpool' or 'flatten'/,
    ],
    [
      'zero filters',
      spec([3, 3, 1], [{ type: 'conv2d', filters: 0, kernelSize: 1 }]),
      /layer 0 \(conv2d\): filters must be a positive integer/,
    ],
    [
      'a bad padding',
      spec([3, 3, 1], [{ type: 'conv2d', filters: 1, kernelSize: 1, padding: 'full' as 'same' }]),
      /padding must be 'same', 'valid'/,
    ],
    [
      'padding as large as the kernel',
      spec([3, 3, 1], [{ type: 'conv2d', filters: 1, kernelSize: 2, padding: 2 }]),
      /smaller than the kernel/,
    ],
    [
      'dropout rate 1',
      spec([3, 3, 1], [{ type: 'dropout', rate: 1 }]),
      /layer 0 \(dropout\): rate must be in \[0, 1\)/,
    ],
    [
      'batchnorm momentum 2',
      spec([3, 3, 1], [{ type: 'batchnorm', momentum: 2 }]),
      /layer 0 \(batchnorm\): momentum must be in \[0, 1\]/,
    ],
    [
      'an unknown type',
      spec([3, 3, 1], [{ type: 'conv3d' } as unknown as LayerSpec]),
      /layer 0: unknown type 'conv3d'/,
    ],
    [
      'softmax in the middle',
      spec([3, 3, 1], [{ type: 'conv2d', filters: 1, kernelSize: 1, activation: 'softmax' }]),
      /softmax is only supported on the last layer/,
    ],
    [
      'an unknown activation',
      spec([3, 3, 1], [{ type: 'batchnorm', activation: 'swish' as 'relu' }]),
      /unknown activation 'swish'/,
    ],
    [
      'a bad input shape',
      { inputShape: [3, 3], layers: head.slice(1), loss: 'softmax-ce' },
      /inputShape must be \[H, W, C\]/,
    ],
    [
      'a rectangular kernel with a bad entry',
      spec([5, 5, 1], [{ type: 'conv2d', filters: 1, kernelSize: [3, 0] }]),
      /kernelSize must be a positive integer/,
    ],
  ];
  for (const [name, s, re] of cases) {
    it(name, () => {
      expect(() => resolveModel(s)).toThrow(ConfigError);
      expect(() => resolveModel(s)).toThrow(re);
    });
  }
});
