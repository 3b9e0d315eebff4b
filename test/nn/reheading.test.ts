// Re-heading a trained network for other classes (src/nn/reheading.ts): the head found, replaced
// with the loss's output layer (name and inputs kept) or kept for the same classes; a new input
// size allowed where no parameter changes shape, refused with both shapes where one does.

import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { resolveModel } from '../../src/nn/layers.js';
import type { ModelSpec } from '../../src/nn/layer-types.js';
import { checkTransfer, findHead, fineTuneLoss, reheadModel } from '../../src/nn/reheading.js';

const GRAPH: ModelSpec = {
  inputShape: [12, 12, 3],
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', bias: false, name: 'stem' },
    { type: 'batchnorm', activation: 'relu', name: 'x' },
    { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', bias: false, name: 'c2' },
    { type: 'add', inputs: ['c2', 'x'], name: 'sum' },
    { type: 'globalavgpool', name: 'pool' },
    { type: 'dense', name: 'fc', inputs: 'pool', units: 7, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

describe('reheadModel', () => {
  it('finds the head: the last layer, the last with parameters', () => {
    expect(findHead(GRAPH)).toEqual({ layer: 5, param: 3 });
  });

  it("replaces the head with the loss's output layer, keeping its name and inputs", () => {
    const r = reheadModel(GRAPH, [20, 17, 3], { classes: 2, loss: 'softmax-ce', sameClasses: false });
    expect(r.spec.layers[5]).toEqual({
      type: 'dense',
      name: 'fc',
      inputs: 'pool',
      units: 2,
      activation: 'softmax',
    });
    expect(r.spec.layers.slice(0, 5)).toEqual(GRAPH.layers.slice(0, 5));
    expect(r.spec.inputShape).toEqual([20, 17, 3]);
    expect(r.replaced).toEqual({ layer: 5, param: 3, fromUnits: 7, toUnits: 2 });
    const bce = reheadModel(GRAPH, [12, 12, 3], { classes: 2, loss: 'bce', sameClasses: false });
    expect(bce.spec.layers[5]).toMatchObject({ units: 1, activation: 'sigmoid' });
    expect(bce.replaced?.toUnits).toBe(1);
  });

  it('keeps the head for the same classes when it fits the loss, else replaces it', () => {
    const kept = reheadModel(GRAPH, [12, 12, 3], { classes: 7, loss: 'softmax-ce', sameClasses: true });
    expect(kept.replaced).toBeUndefined();
    expect(kept.spec.layers).toEqual(GRAPH.layers);
    const mse = reheadModel(GRAPH, [12, 12, 3], { classes: 7, loss: 'mse', sameClasses: true });
    expect(mse.replaced?.param).toBe(3);
    expect(mse.spec.layers[5]).toMatchObject({ units: 7, activation: 'sigmoid' });
  });

  it('puts a flatten in front of a dense-only network, so it reads images', () => {
    const mlp: ModelSpec = {
      inputSize: 48,
      layers: [
        { units: 5, activation: 'relu' },
        { units: 3, activation: 'softmax' },
      ],
      loss: 'softmax-ce',
    };
    const r = reheadModel(mlp, [4, 4, 3], { classes: 4, loss: 'softmax-ce', sameClasses: false });
    expect(r.spec.layers[0]).toEqual({ type: 'flatten' });
    expect(r.replaced).toEqual({ layer: 2, param: 1, fromUnits: 3, toUnits: 4 });
    expect(resolveModel(r.spec).params.map((p) => p.shape)).toEqual([
      [5, 48],
      [4, 5],
    ]);
    expect(() => reheadModel(mlp, [5, 4, 3], { classes: 4, loss: 'softmax-ce', sameClasses: false })).toThrow(
      /layer 1 \(dense\) needs dense weights of 5x60 on 5x4x3 inputs, but the file's are 5x48/,
    );
  });

  it('refuses other input channels, naming the layer and both shapes', () => {
    const go = () => reheadModel(GRAPH, [12, 12, 1], { classes: 2, loss: 'softmax-ce', sameClasses: false });
    expect(go).toThrow(ShapeError);
    expect(go).toThrow(/layer 0 'stem' \(conv2d\) needs conv2d weights of 4x3x3x1 .* the file's are 4x3x3x3/);
  });

  it('checkTransfer skips only the replaced head', () => {
    const other: ModelSpec = {
      ...GRAPH,
      layers: [...GRAPH.layers.slice(0, 5), { type: 'dense', units: 2, activation: 'softmax' }],
    };
    expect(() => checkTransfer(GRAPH, other, 3)).not.toThrow();
    expect(() => checkTransfer(GRAPH, other)).toThrow(/layer 5 \(dense\) needs dense weights of 2x4/);
  });

  it('a map at the end is no network to re-head', () => {
    const bad = { ...GRAPH, layers: GRAPH.layers.slice(0, 5) };
    expect(() => findHead(bad)).toThrow(ConfigError);
  });
});

describe('fineTuneLoss', () => {
  it("keeps the file's loss where it fits the class count", () => {
    expect(fineTuneLoss('softmax-ce', 'auto', 2)).toBe('softmax-ce');
    expect(fineTuneLoss('bce', 'auto', 2)).toBe('bce');
    expect(fineTuneLoss('bce', 'auto', 5)).toBe('softmax-ce');
    expect(fineTuneLoss('softmax-ce', 'bce', 2)).toBe('bce');
    expect(fineTuneLoss('mse', 'auto', 9)).toBe('mse');
  });
});
