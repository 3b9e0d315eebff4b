// CNN model files: every layer type round-trips bit exactly through PyTorch's layouts and names
// (conv [F, C, KH, KW], batch norm weight/bias/running_mean/running_var/num_batches_tracked, the
// first dense layer after a flatten with its columns in NCHW flatten order), and the file's
// tensors compute what the engine's layout computes.

import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { loadModel, MODEL_METADATA_KEY, saveModel, type ModelInput } from '../../src/io/modelfile.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { resolveModel, type ModelSpec } from '../../src/nn/layers.js';
import { Rng } from '../../src/rng.js';

const spec: ModelSpec = {
  inputShape: [5, 4, 3],
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: [3, 2], padding: 'same', bias: false },
    { type: 'batchnorm', activation: 'relu', momentum: 0.05 },
    { type: 'maxpool2d', size: 2, stride: 1 },
    { type: 'dropout', rate: 0.25 },
    { type: 'conv2d', filters: 2, kernelSize: 1, activation: 'tanh' },
    { type: 'avgpool2d', size: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 5, activation: 'leaky_relu', alpha: 0.2 },
    { type: 'batchnorm' },
    { type: 'dense', units: 3, activation: 'softmax' },
  ],
  loss: 'softmax-ce',
};

function makeCnnModel(): ModelInput {
  const m = resolveModel(spec);
  const rng = new Rng(9);
  const arr = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-2, 2));
  return {
    architecture: { inputShape: m.inputShape, inputSize: m.inputSize, layers: spec.layers, loss: spec.loss },
    normalization: { kind: 'scale' },
    classNames: ['a', 'b', 'c'],
    training: { note: 'test' },
    weights: m.params.map((p) => ({ W: arr(p.W.length), b: arr(p.b.length) })),
    runningStats: m.states.map((s) => ({
      mean: arr(s.channels),
      variance: Float32Array.from(arr(s.channels), Math.abs),
    })),
    batchesTracked: 17,
    createdAt: '2026-12-02T00:00:00.000Z',
  };
}

describe('CNN model files', () => {
  it('round-trip every layer type bit exactly, as a version 2 file', () => {
    const model = makeCnnModel();
    const bytes = saveModel(model);
    const back = loadModel(bytes, 'cnn.safetensors');
    expect(back.weights.map((w) => Array.from(w.W))).toEqual(model.weights.map((w) => Array.from(w.W)));
    expect(back.weights.map((w) => Array.from(w.b))).toEqual(model.weights.map((w) => Array.from(w.b)));
    expect(back.runningStats.map((s) => Array.from(s.variance))).toEqual(
      model.runningStats!.map((s) => Array.from(s.variance)),
    );
    expect(back.batchesTracked).toBe(17);
    expect(back.architecture.layers).toEqual(spec.layers);
    const { metadata } = decodeSafetensors(bytes, 'cnn.safetensors');
    expect((JSON.parse(metadata[MODEL_METADATA_KEY]) as { version: number }).version).toBe(2);
  });

  it('stores PyTorch names and layouts', () => {
    const model = makeCnnModel();
    const { tensors } = decodeSafetensors(saveModel(model), 'cnn.safetensors');
    const shapes = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, [t.dtype, ...t.shape]]));
    expect(shapes).toEqual({
      'layers.0.weight': ['F32', 4, 3, 3, 2],
      'layers.1.weight': ['F32', 4],
      'layers.1.bias': ['F32', 4],
      'layers.1.running_mean': ['F32', 4],
      'layers.1.running_var': ['F32', 4],
      'layers.1.num_batches_tracked': ['I64'],
      'layers.4.weight': ['F32', 2, 4, 1, 1],
      'layers.4.bias': ['F32', 2],
      'layers.7.weight': ['F32', 5, 4],
      'layers.7.bias': ['F32', 5],
      'layers.8.weight': ['F32', 5],
      'layers.8.bias': ['F32', 5],
      'layers.8.running_mean': ['F32', 5],
      'layers.8.running_var': ['F32', 5],
      'layers.8.num_batches_tracked': ['I64'],
      'layers.9.weight': ['F32', 3, 5],
      'layers.9.bias': ['F32', 3],
    });
    // conv: engine W[f, kh, kw, c] is torch weight[f, c, kh, kw].
    const W0 = model.weights[0].W;
    const t0 = tensors['layers.0.weight'].data as Float32Array;
    for (const [f, kh, kw, c] of [
      [0, 0, 0, 0],
      [3, 2, 1, 2],
      [1, 1, 0, 2],
    ])
      expect(t0[((f * 3 + c) * 3 + kh) * 2 + kw]).toBe(W0[((f * 3 + kh) * 2 + kw) * 3 + c]);
    expect(Number((tensors['layers.1.num_batches_tracked'].data as BigInt64Array)[0])).toBe(17);
  });

  it('permutes the dense layer after a flatten of a map into NCHW order', () => {
    const s: ModelSpec = {
      inputShape: [2, 3, 4],
      layers: [{ type: 'flatten' }, { type: 'dense', units: 2, activation: 'softmax' }],
      loss: 'softmax-ce',
    };
    const m = resolveModel(s);
    const W = Float32Array.from({ length: 2 * 24 }, (_, i) => i);
    const bytes = saveModel({
      architecture: { inputShape: [2, 3, 4], inputSize: 24, layers: s.layers, loss: s.loss },
      normalization: {},
      classNames: [],
      training: {},
      weights: [{ W, b: new Float32Array(2) }],
    });
    const t = decodeSafetensors(bytes, 'f.safetensors').tensors['layers.1.weight'].data as Float32Array;
    // A map x[h, w, c]: the engine's feature (h*3 + w)*4 + c is PyTorch's c*6 + h*3 + w.
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 24 }, () => rng.uniform(-1, 1));
    for (let u = 0; u < 2; u++) {
      let engine = 0;
      let torch = 0;
      for (let h = 0; h < 2; h++)
        for (let w = 0; w < 3; w++)
          for (let c = 0; c < 4; c++) {
            const v = x[(h * 3 + w) * 4 + c];
            engine += W[u * 24 + (h * 3 + w) * 4 + c] * v;
            torch += t[u * 24 + c * 6 + h * 3 + w] * v;
          }
      expect(torch).toBeCloseTo(engine, 10);
    }
    expect(Array.from(loadModel(bytes, 'f.safetensors').weights[0].W)).toEqual(Array.from(W));
    expect(m.params).toHaveLength(1);
  });

  it('rejects a file whose tensors do not fit its CNN architecture, naming the tensor', () => {
    const bytes = saveModel(makeCnnModel());
    const { tensors, metadata } = decodeSafetensors(bytes, 'x', { copy: true });
    delete tensors['layers.8.running_var'];
    expect(() => loadModel(encodeSafetensors(tensors, metadata), 'x.safetensors')).toThrow(ModelFormatError);
    expect(() => loadModel(encodeSafetensors(tensors, metadata), 'x.safetensors')).toThrow(
      /missing tensor "layers.8.running_var"/,
    );
    const header = JSON.parse(metadata[MODEL_METADATA_KEY]) as { architecture: { layers: unknown[] } };
    header.architecture.layers[2] = { type: 'maxpool2d', size: 9 };
    metadata[MODEL_METADATA_KEY] = JSON.stringify(header);
    expect(() => loadModel(encodeSafetensors(tensors, metadata), 'x.safetensors')).toThrow(
      /layer 2 \(maxpool2d\): a 9x9 window does not fit/,
    );
  });
});
