// The browser demo's network presets (demo/src/network.ts): the shapes they build for the data.
import { describe, expect, it } from 'vitest';
import { cnnBody, PRESETS, toSpec } from '../../demo/src/network.js';
import { resolveModel } from '../../src/index.js';

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
