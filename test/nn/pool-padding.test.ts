// PyTorch's padding on maxpool2d / avgpool2d outside the kernels: shape inference
// (OH = floor((H + 2*p - k) / s) + 1), the rule p <= k/2 and its one-line errors, the layer's
// description, a model file that keeps the padding (and refuses a bad one) and the exported
// nn.MaxPool2d / nn.AvgPool2d. The kernels and the reference: test/kernels/pool.test.ts,
// test/reference/pool.test.ts; training end to end: test/engine/pool-padding-vs-reference.test.ts.

import { describe, expect, it } from 'vitest';
import { ConfigError, ModelFormatError } from '../../src/errors.js';
import { sequentialSource, torchPlan } from '../../src/export/torch-model.js';
import { loadModel, MODEL_METADATA_KEY, saveModel, type ModelInput } from '../../src/io/modelfile.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { describeLayer, resolveModel, type LayerSpec, type ModelSpec } from '../../src/nn/layers.js';

const spec = (inputShape: number[], pool: LayerSpec): ModelSpec => ({
  inputShape,
  layers: [pool, { type: 'flatten' }, { units: 2, activation: 'softmax' }],
  loss: 'softmax-ce',
});
const pool0 = (inputShape: number[], pool: LayerSpec) => resolveModel(spec(inputShape, pool)).layers[0];

describe('padded pools: shapes, rules and descriptions', () => {
  it("infers PyTorch's output sizes (ceil_mode false)", () => {
    const stem = { type: 'maxpool2d', size: 3, stride: 2, padding: 1 } as const;
    expect(pool0([112, 112, 64], stem).outShape).toEqual([56, 56, 64]);
    expect(pool0([7, 7, 8], stem).outShape).toEqual([4, 4, 8]);
    expect(pool0([1, 1, 3], stem).outShape).toEqual([1, 1, 3]);
    expect(pool0([5, 6, 2], { type: 'avgpool2d', size: 2, padding: 1 }).outShape).toEqual([3, 4, 2]);
    const rect = pool0([9, 4, 1], { type: 'maxpool2d', size: [3, 2], stride: [2, 1], padding: [1, 0] });
    expect(rect.outShape).toEqual([5, 3, 1]);
    expect([rect.pool!.PH, rect.pool!.PW]).toEqual([1, 0]);
    // Unpadded pools keep the geometry they always had (no PH, PW).
    const plain = pool0([4, 4, 1], { type: 'maxpool2d', size: 2 });
    expect(plain.pool).toEqual({ H: 4, W: 4, C: 1, KH: 2, KW: 2, SH: 2, SW: 2, OH: 2, OW: 2 });
    expect(pool0([4, 4, 1], { type: 'maxpool2d', size: 2, padding: 0 }).pool).toEqual(plain.pool);
  });

  it('describes the padding ("maxpool2d 3x3/2 pad 1"), and nothing when there is none', () => {
    expect(describeLayer(pool0([8, 8, 1], { type: 'maxpool2d', size: 3, stride: 2, padding: 1 }))).toBe(
      'maxpool2d 3x3/2 pad 1',
    );
    expect(describeLayer(pool0([8, 8, 1], { type: 'avgpool2d', size: [3, 2], padding: [1, 0] }))).toBe(
      'avgpool2d 3x2/3x2 pad 1x0',
    );
    expect(describeLayer(pool0([8, 8, 1], { type: 'maxpool2d', size: 2 }))).toBe('maxpool2d 2x2/2');
  });

  it('refuses padding over half the window, bad values and windows past the padded map (ConfigError)', () => {
    const bad: [LayerSpec, RegExp][] = [
      [
        { type: 'maxpool2d', size: 2, padding: 2 },
        /layer 0 \(maxpool2d\): padding 2 must be at most half the 2x2 window/,
      ],
      [
        { type: 'avgpool2d', size: [3, 2], padding: [1, 2] },
        /layer 0 \(avgpool2d\): padding \[1, 2\] must be at most half/,
      ],
      [
        { type: 'maxpool2d', size: 3, padding: -1 },
        /padding must be a non-negative integer or \[ph, pw\], got -1/,
      ],
      [{ type: 'maxpool2d', size: 3, padding: 0.5 }, /got 0\.5/],
      [{ type: 'maxpool2d', size: 3, padding: [1] as unknown as number }, /got \[1\]/],
      [{ type: 'maxpool2d', size: 3, padding: 'same' as unknown as number }, /got "same"/],
      [
        { type: 'maxpool2d', size: 5, padding: 1 },
        /a 5x5 window does not fit the 2x2 input map padded by 1x1/,
      ],
    ];
    for (const [layer, message] of bad) {
      expect(() => resolveModel(spec([2, 2, 1], layer))).toThrow(ConfigError);
      expect(() => resolveModel(spec([2, 2, 1], layer))).toThrow(message);
    }
    // Exactly half the window is allowed (PyTorch's bound).
    expect(pool0([2, 2, 1], { type: 'maxpool2d', size: 2, padding: 1 }).outShape).toEqual([2, 2, 1]);
  });
});

function padded(): ModelInput {
  const layers: LayerSpec[] = [
    { type: 'maxpool2d', size: 3, stride: 2, padding: 1 },
    { type: 'avgpool2d', size: [2, 3], stride: 1, padding: [1, 1] },
    { type: 'flatten' },
    { units: 2, activation: 'softmax' },
  ];
  const m = resolveModel({ inputShape: [7, 7, 2], layers, loss: 'softmax-ce' });
  return {
    architecture: { inputShape: m.inputShape, inputSize: m.inputSize, layers, loss: 'softmax-ce' },
    normalization: { kind: 'scale' },
    classNames: ['a', 'b'],
    training: { note: 'test' },
    weights: m.params.map((p) => ({
      W: new Float32Array(p.W.length).fill(0.5),
      b: new Float32Array(p.b.length),
    })),
    createdAt: '2026-12-02T00:00:00.000Z',
  };
}

describe('padded pools in model files and the PyTorch export', () => {
  it('a model file keeps the padding, and refuses a file with a bad one', () => {
    const model = padded();
    const bytes = saveModel(model);
    expect(loadModel(bytes, 'p.safetensors').architecture.layers).toEqual(model.architecture.layers);
    const { tensors, metadata } = decodeSafetensors(bytes, 'p', { copy: true });
    const header = JSON.parse(metadata[MODEL_METADATA_KEY]) as { architecture: { layers: unknown[] } };
    header.architecture.layers[0] = { type: 'maxpool2d', size: 3, stride: 2, padding: 2 };
    metadata[MODEL_METADATA_KEY] = JSON.stringify(header);
    const load = () => loadModel(encodeSafetensors(tensors, metadata), 'p.safetensors');
    expect(load).toThrow(ModelFormatError);
    expect(load).toThrow(/layer 0 \(maxpool2d\): padding 2 must be at most half the 3x3 window/);
  });

  it('saving refuses a bad padding too (ConfigError)', () => {
    const model = padded();
    model.architecture.layers[0] = { type: 'maxpool2d', size: 3, padding: [1, 1, 1] as unknown as number };
    expect(() => saveModel(model)).toThrow(ConfigError);
    expect(() => saveModel(model)).toThrow(/layer 0 \(maxpool2d\): padding must be a non-negative integer/);
  });

  it('exports nn.MaxPool2d / nn.AvgPool2d with padding= (count_include_pad is their default)', () => {
    const src = sequentialSource(torchPlan(padded().architecture));
    expect(src).toContain('# layers.0: maxpool2d 3x3/2 pad 1  [2, 7, 7] -> [2, 4, 4]');
    expect(src).toContain('nn.MaxPool2d(kernel_size=3, stride=2, padding=1),');
    expect(src).toContain('# layers.1: avgpool2d 2x3/1 pad 1  [2, 4, 4] -> [2, 5, 4]');
    expect(src).toContain('nn.AvgPool2d(kernel_size=(2, 3), stride=1, padding=1),');
  });
});
