// The browser demo's network presets (demo/src/network.ts): the shapes they build for the data,
// and the residual preset taken from the library.
import { describe, expect, it } from 'vitest';
import { cnnBody, PRESETS, presetFor, toSpec } from '../../demo/src/network.js';
import { ConfigError, resolveModel, resnetLayers } from '../../src/index.js';

describe('demo CNN presets', () => {
  it('cnn-color flattens the last map of images up to 32 px a side (as the CLI cnn preset does)', () => {
    const body = cnnBody('cnn-color', [32, 32, 3]);
    expect(body.map((l) => l.type)).toEqual([
      ...['conv2d', 'batchnorm', 'maxpool2d'],
      ...['conv2d', 'batchnorm', 'maxpool2d'],
      ...['conv2d', 'batchnorm', 'maxpool2d'],
      'flatten',
    ]);
    // 4x4x64 map -> 1,024 inputs to the output layer.
    const spec = toSpec(PRESETS['cnn-color'], [32, 32, 3], 10);
    const out = spec.layers[spec.layers.length - 1] as { units: number };
    expect(out.units).toBe(10);
    const last = resolveModel(spec).layers.at(-1)!;
    expect([last.inSize, last.outSize]).toEqual([1024, 10]);
  });

  it('cnn-color averages the last map of larger photos', () => {
    expect(cnnBody('cnn-color', [64, 48, 3]).at(-1)).toEqual({ type: 'globalavgpool' });
    expect(cnnBody('cnn-color', [33, 40, 3]).at(-1)).toEqual({ type: 'globalavgpool' });
  });

  it('tiny images stop pooling before the map vanishes; under 4 px is a clear error', () => {
    const body = cnnBody('cnn-color', [5, 5, 3]);
    expect(body.filter((l) => l.type === 'maxpool2d')).toHaveLength(2);
    expect(() => toSpec(PRESETS['cnn-color'], [5, 5, 3], 3)).not.toThrow();
    expect(() => cnnBody('cnn-small', [3, 8, 1])).toThrow(/at least 4x4 pixels; this data is 3x8x1/);
  });
});

describe('demo resnet preset', () => {
  it("builds the library's residual graph for CIFAR-shaped images, and it resolves", () => {
    const cfg = PRESETS['resnet-color'];
    expect(cfg.arch).toBe('resnet');
    const spec = toSpec(cfg, [32, 32, 3], 10);
    // The library's layers (not a copy), then the demo's output layer.
    expect(spec.layers.slice(0, -1)).toEqual(resnetLayers([32, 32, 3]));
    expect(spec.layers.at(-1)).toEqual({ type: 'dense', units: 10, activation: 'softmax' });
    const m = resolveModel(spec);
    expect(m.isGraph).toBe(true);
    const adds = m.layers.filter((l) => l.type === 'add');
    expect(adds.map((l) => l.name)).toEqual(['s1.res.add', 's3.res.add']);
    // Each block's sum reads its last batch norm and the block's input (the skip).
    expect(adds.map((l) => l.inputs.map((j) => m.layers[j].name))).toEqual([
      ['s1.res.2.bn', 's1.pool'],
      ['s3.res.2.bn', 's3.pool'],
    ]);
    expect(m.inputShape).toEqual([32, 32, 3]);
    expect(m.outputSize).toBe(10);
  });

  it('resolves for small grey images, down to 4x4, and refuses smaller ones plainly', () => {
    for (const shape of [
      [28, 28, 1],
      [12, 12, 1],
      [8, 8, 1],
      [4, 4, 1],
    ] as [number, number, number][]) {
      const m = resolveModel(toSpec(PRESETS['resnet-color'], shape, 10));
      expect(
        m.layers.filter((l) => l.type === 'add'),
        shape.join('x'),
      ).toHaveLength(2);
      // Pooling stops at 2 px a side: the last residual block still sees a map, not a point.
      const last = m.layers.find((l) => l.name === 's3.res.add')!;
      expect(last.outShape[0], shape.join('x')).toBeGreaterThanOrEqual(2);
    }
    // Two classes with binary cross-entropy: one sigmoid output, as for the other presets.
    const bce = toSpec({ ...PRESETS['resnet-color'], loss: 'bce' }, [12, 12, 1], 2);
    expect(resolveModel(bce).outputSize).toBe(1);
    expect(() => toSpec(PRESETS['resnet-color'], [3, 8, 1], 3)).toThrow(ConfigError);
    expect(() => toSpec(PRESETS['resnet-color'], [3, 8, 1], 3)).toThrow(
      /at least 4x4 pixels; this data is 3x8x1/,
    );
  });

  it('image folders still start with the colour CNN (the residual net is a choice)', () => {
    expect(presetFor('folder', 3)).toBe('cnn-color');
  });
});
