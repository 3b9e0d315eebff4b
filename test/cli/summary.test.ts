// The header's layer table (src/cli/summary.ts): one row per layer with the output shape, the
// parameter count and the forward multiply-adds per sample, totals that add up, and the
// activation memory of a batch. No GPU.

import { describe, expect, it } from 'vitest';
import { archSpec } from '../../src/cli/arch.js';
import { activationBytes, layerTable } from '../../src/cli/summary.js';
import { resolveModel } from '../../src/nn/layers.js';

const cifar = archSpec('cnn', [32, 32, 3], 10, 'softmax-ce', []);

describe('layerTable', () => {
  it('lists every layer with its output shape, parameters and MACs, as model.summary() does', () => {
    const lines = layerTable(cifar, 128);
    expect(lines[0]).toMatch(/^layer +output +params +MACs$/);
    expect(lines[1]).toMatch(/^input +32x32x3$/);
    // conv 3x3, 3 -> 32, no bias: 864 weights; 32*32 pixels * 32 filters * 27 taps MACs.
    expect(lines[2]).toMatch(/^conv2d 3x3\/1 same, 32 +32x32x32 +864 +884,736$/);
    expect(lines[3]).toMatch(/^batchnorm relu +32x32x32 +64$/);
    expect(lines[4]).toMatch(/^maxpool2d 2x2\/2 +16x16x32 +0$/);
    expect(lines).toContainEqual(expect.stringMatching(/^flatten +2048 +0$/));
    expect(lines).toContainEqual(expect.stringMatching(/^dense 10 softmax +10 +20,490 +20,480$/));
    const m = resolveModel(cifar);
    expect(lines.length).toBe(m.layers.length + 4);
    // The per-layer parameters add up to the model's count, which the total line gives.
    const sum = lines
      .slice(2, 2 + m.layers.length)
      .map((l) => Number(l.split(/ {2,}/)[2].replace(/,/g, '')))
      .reduce((a, b) => a + b, 0);
    expect(sum).toBe(m.paramCount);
    expect(lines.at(-2)).toBe(
      'total 113,962 parameters (0.4 MiB), 10,342,400 multiply-adds per sample forward',
    );
    expect(lines.at(-1)).toMatch(/^activations [\d.]+ MiB per batch of 128 /);
  });

  it('activation memory is linear in the batch: input, Z and A per layer, and two gradient buffers for a stack', () => {
    const m = resolveModel(cifar);
    const forward = m.layers
      .filter((l) => l.type !== 'flatten')
      .reduce((s, l) => s + l.outSize * (l.activation === 'identity' ? 1 : 2), m.inputSize);
    const perSample = (forward + 2 * Math.max(...m.layers.map((l) => l.outSize))) * 4;
    expect(activationBytes(cifar, 1)).toBe(perSample);
    expect(activationBytes(cifar, 64)).toBe(64 * perSample);
  });

  it('a graph shows names and inputs, and its skips hold more gradient buffers than a stack', () => {
    const lines = layerTable(archSpec('resnet', [32, 32, 3], 10, 'softmax-ce', []), 64);
    expect(lines).toContainEqual(
      expect.stringMatching(/^add 2 relu 's1\.res\.add' <- s1\.res\.2\.bn, s1\.pool +16x16x32 /),
    );
    const n = Number(/(\d+) gradient buffers/.exec(lines.at(-1)!)?.[1]);
    expect(n).toBeGreaterThan(2);
    expect(lines.at(-1)).toContain('2 gradient buffers'.replace('2', String(n)));
    expect(layerTable(cifar, 64).at(-1)).toContain(' 2 gradient buffers');
  });
});
