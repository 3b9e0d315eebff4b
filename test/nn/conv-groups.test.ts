// conv2d with groups (src/nn/layer-kinds/conv2d.ts): validation with errors that name the layer
// and what to change, the weight layout [F, KH, KW, C/G], PyTorch's fans, the cost divided by G,
// the one-line description, and G = 1 resolving exactly as a conv without the field.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { describeLayer, resolveModel, type Conv2dSpec } from '../../src/nn/layers.js';

function resolveConv(C: number, conv: Omit<Conv2dSpec, 'type'>) {
  return resolveModel({
    inputShape: [8, 9, C],
    layers: [{ type: 'conv2d', ...conv }, { type: 'flatten' }, { units: 2 }],
    loss: 'mse',
  }).layers[0];
}

describe('conv2d groups', () => {
  it('depthwise: W [F, KH, KW, 1], fans of PyTorch, macs / G, "dw" in the description', () => {
    const l = resolveConv(6, { filters: 6, kernelSize: 3, padding: 'same', groups: 6, activation: 'relu' });
    expect(l.conv!.G).toBe(6);
    expect(l.param!.shape).toEqual([6, 3, 3, 1]);
    expect(l.param!.W.length).toBe(6 * 9);
    // torch.nn.init on [F, C/G, KH, KW]: fan_in = C/G * KH * KW, fan_out = F * KH * KW.
    expect([l.param!.fanIn, l.param!.fanOut]).toEqual([9, 54]);
    expect(l.macs).toBe(8 * 9 * 6 * 9);
    expect(describeLayer(l)).toBe('conv2d dw 3x3/1 same, 6 relu');
  });

  it('G = 2 with a channel multiplier: W [F, KH, KW, C/2], "g2" in the description', () => {
    const l = resolveConv(4, { filters: 6, kernelSize: [3, 1], stride: 2, groups: 2 });
    expect(l.param!.shape).toEqual([6, 3, 1, 2]);
    expect([l.param!.fanIn, l.param!.fanOut]).toEqual([6, 18]);
    expect(l.macs).toBe(l.conv!.OH * l.conv!.OW * 6 * 3 * 2);
    expect(describeLayer(l)).toBe('conv2d g2 3x1/2 valid, 6');
  });

  it('groups 1 resolves exactly as a conv without the field (no G on the geometry)', () => {
    const plain = resolveConv(4, { filters: 6, kernelSize: 3 });
    const one = resolveConv(4, { filters: 6, kernelSize: 3, groups: 1 });
    expect(one.conv).toEqual(plain.conv);
    expect('G' in one.conv!).toBe(false);
    expect(one.param).toEqual(plain.param);
    expect(one.macs).toBe(plain.macs);
  });

  it('rejects groups that do not divide C and F, or are not positive integers, naming the layer', () => {
    expect(() => resolveConv(6, { filters: 4, kernelSize: 3, groups: 4 })).toThrow(ConfigError);
    expect(() => resolveConv(6, { filters: 4, kernelSize: 3, groups: 4 })).toThrow(
      /layer 0 .*groups 4 must divide both the 6 input channels and the 4 filters/,
    );
    expect(() => resolveConv(6, { filters: 9, kernelSize: 3, groups: 3 })).not.toThrow();
    for (const groups of [0, -2, 1.5, '2' as unknown as number])
      expect(() => resolveConv(6, { filters: 6, kernelSize: 3, groups })).toThrow(ConfigError);
  });
});
