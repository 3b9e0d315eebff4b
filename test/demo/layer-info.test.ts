// The demo's layer list and first-layer pictures (demo/src/layer-info.ts) for stacks and graphs.
import { describe, expect, it } from 'vitest';
import { firstLayerOf, layerLines } from '../../demo/src/layer-info.js';
import { resolveModel, type ModelSpec } from '../../src/index.js';

/** A residual add and a concat, as the browser test's model file has. */
const GRAPH: ModelSpec = {
  inputShape: [12, 12, 3],
  loss: 'softmax-ce',
  layers: [
    { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', activation: 'relu', name: 'x' },
    { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'same', bias: false },
    { type: 'batchnorm', name: 'r' },
    { type: 'add', inputs: ['r', 'x'], activation: 'relu', name: 'sum' },
    { type: 'conv2d', filters: 2, kernelSize: 1, activation: 'tanh', inputs: 'x', name: 'side' },
    { type: 'concat', inputs: ['sum', 'side'] },
    { type: 'globalavgpool' },
    { type: 'dense', units: 3, activation: 'softmax' },
  ],
};

describe('demo layer list', () => {
  it('a straight stack keeps its plain lines: type, output shape, parameters', () => {
    const m = resolveModel({
      inputShape: [28, 28, 1],
      loss: 'softmax-ce',
      layers: [
        { type: 'conv2d', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'flatten' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    });
    expect(layerLines(m)).toEqual([
      'conv2d 3x3/1 same, 8 relu -> 28x28x8, 80 parameters',
      'flatten -> 6272',
      'dense 10 softmax -> 10, 62,730 parameters',
    ]);
  });

  it('a graph shows names, and the outputs a layer reads where they are not the layer above', () => {
    const lines = layerLines(resolveModel(GRAPH));
    expect(lines[1]).toBe('x: batchnorm relu -> 12x12x6, 12 parameters');
    expect(lines[4]).toBe('sum: add 2 relu from r, x -> 12x12x6');
    expect(lines[5]).toBe('side: conv2d 1x1/1 valid, 2 tanh from x -> 12x12x2, 14 parameters');
    expect(lines[6]).toBe('concat 2 -> 8 from sum, side -> 12x12x8');
    expect(lines[7]).toBe('globalavgpool -> 8');
  });

  it('draws the weighted layer that reads the input, whichever parameter it is', () => {
    expect(firstLayerOf(resolveModel(GRAPH), [12, 12, 3])).toEqual({
      param: 0,
      kind: 'conv2d',
      units: 6,
      shape: { height: 3, width: 3, channels: 3 },
    });
    // A batch norm on the input first: the conv after it does not see the pictures.
    const normed = resolveModel({ ...GRAPH, layers: [{ type: 'batchnorm' }, ...GRAPH.layers] });
    expect(firstLayerOf(normed, [12, 12, 3])).toBeUndefined();
    // A side branch reads the input beside a depthwise conv: its grouped filters show C / groups channels.
    const dw = resolveModel({
      inputShape: [8, 8, 4],
      loss: 'softmax-ce',
      layers: [
        { type: 'batchnorm', name: 'n', inputs: 'input' },
        {
          type: 'conv2d',
          filters: 4,
          kernelSize: 3,
          groups: 4,
          padding: 'same',
          inputs: 'input',
          name: 'dw',
        },
        { type: 'add', inputs: ['n', 'dw'] },
        { type: 'flatten' },
        { type: 'dense', units: 2, activation: 'softmax' },
      ],
    });
    expect(firstLayerOf(dw, [8, 8, 4])).toEqual({
      param: 1,
      kind: 'conv2d',
      units: 4,
      shape: { height: 3, width: 3, channels: 1 },
    });
    // A dense net on flattened pixels: its rows as input-sized pictures.
    const mlp = resolveModel({
      inputSize: 12,
      loss: 'softmax-ce',
      layers: [{ units: 3, activation: 'softmax' }],
    });
    expect(firstLayerOf(mlp, [2, 2, 3])).toEqual({
      param: 0,
      kind: 'dense',
      units: 3,
      shape: { height: 2, width: 2, channels: 3 },
    });
  });
});
