// Graph wiring and its one-line errors (src/nn/graph.ts through resolveModel): every bad graph is
// refused before any GPU work, naming the layers involved and what to change.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveModel, type LayerSpec, type ModelSpec } from '../../src/nn/layers.js';

const model = (layers: LayerSpec[], inputShape = [6, 6, 3]): ModelSpec => ({
  inputShape,
  layers,
  loss: 'softmax-ce',
});
const head: LayerSpec[] = [{ type: 'globalavgpool' }, { type: 'dense', units: 3, activation: 'softmax' }];
const conv = (filters: number, extra: Partial<LayerSpec> = {}): LayerSpec =>
  ({ type: 'conv2d', filters, kernelSize: 3, padding: 'same', ...extra }) as LayerSpec;

function refused(spec: ModelSpec): string {
  try {
    resolveModel(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const message = (e as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  }
  throw new Error('the spec was accepted');
}

describe('graph wiring', () => {
  it('a list without names is a straight stack in list order', () => {
    const m = resolveModel(model([conv(4), conv(5), ...head]));
    expect(m.isGraph).toBe(false);
    expect(m.order).toEqual([0, 1, 2, 3]);
    expect(m.layers.map((l) => l.inputs)).toEqual([[-1], [0], [1], [2]]);
    expect(m.layers.map((l) => l.readers)).toEqual([[1], [2], [3], []]);
    expect(m.inputReaders).toEqual([0]);
  });

  it('a residual block: fan-out, add, shapes, readers, and list-order parameters', () => {
    const m = resolveModel(
      model([
        conv(4, { name: 'x0', activation: 'relu' }),
        conv(4, { activation: 'relu' }),
        conv(4, { name: 'r' }),
        { type: 'add', inputs: ['r', 'x0'], activation: 'relu' },
        ...head,
      ]),
    );
    expect(m.isGraph).toBe(true);
    expect(m.layers[3].inputs).toEqual([2, 0]);
    expect(m.layers[0].readers).toEqual([1, 3]);
    expect(m.layers[3].outShape).toEqual([6, 6, 4]);
    const offsets = m.params.map((p) => p.W.offset);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
  });

  it('runs a layer that reads a later-listed one after it, and keeps parameters in list order', () => {
    const m = resolveModel(
      model([
        conv(4, { name: 'a' }),
        conv(2, { inputs: ['b'], name: 'c' }),
        conv(3, { inputs: ['a'], name: 'b' }),
        { type: 'globalavgpool', inputs: 'c' },
        head[1],
      ]),
    );
    expect(m.order).toEqual([0, 2, 1, 3, 4]);
    expect(m.params.map((p) => p.layer)).toEqual([0, 1, 2, 4]);
    const offsets = m.params.map((p) => p.W.offset);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    expect(m.layers[1].inShape).toEqual([6, 6, 3]);
  });

  it('concat joins along the channels', () => {
    const m = resolveModel(
      model([
        conv(4, { name: 'a' }),
        conv(5, { inputs: 'input', name: 'b' }),
        { type: 'concat', inputs: ['a', 'b'] },
        ...head,
      ]),
    );
    expect(m.layers[2].outShape).toEqual([6, 6, 9]);
    expect(m.layers[2].inSize).toBe(6 * 6 * 9);
  });
});

describe('bad graphs get one-line errors naming the layers', () => {
  it('an unknown input name', () => {
    const msg = refused(model([conv(4, { name: 'a' }), { type: 'add', inputs: ['a', 'skip'] }, ...head]));
    expect(msg).toMatch(/layer 1 \(add\): input 'skip' names no layer \(named layers: a/);
  });

  it('a cycle, with its path', () => {
    const msg = refused(
      model([conv(4, { name: 'a', inputs: ['c'] }), conv(4, { name: 'b' }), conv(4, { name: 'c' }), ...head]),
    );
    expect(msg).toContain(
      "layer 0 'a' (conv2d) -> layer 1 'b' (conv2d) -> layer 2 'c' (conv2d) -> layer 0 'a' (conv2d) form a cycle",
    );
  });

  it('a layer reading itself', () => {
    expect(refused(model([conv(4, { name: 'a', inputs: 'a' }), ...head]))).toMatch(
      /layer 0 'a' \(conv2d\) -> layer 0 'a'.*cycle/,
    );
  });

  it('shapes add cannot join', () => {
    const msg = refused(
      model([conv(4, { name: 'a' }), conv(5, { name: 'b' }), { type: 'add', inputs: ['a', 'b'] }, ...head]),
    );
    expect(msg).toMatch(/layer 2 \(add\): cannot add input 1 \[6, 6, 5\] to input 0 \[6, 6, 4\].*1x1 conv/);
  });

  it('maps concat cannot join', () => {
    const msg = refused(
      model([
        conv(4, { name: 'a' }),
        conv(4, { name: 'b', stride: 2 }),
        { type: 'concat', inputs: ['a', 'b'] },
        ...head,
      ]),
    );
    expect(msg).toMatch(/layer 2 \(concat\): cannot concat input 1 \[3, 3, 4\] with input 0 \[6, 6, 4\]/);
  });

  it('a branch that reaches no output', () => {
    const msg = refused(
      model([
        conv(4, { name: 'a' }),
        conv(4, { name: 'dead', inputs: 'a' }),
        conv(4, { inputs: 'a' }),
        ...head,
      ]),
    );
    expect(msg).toMatch(/layer 1 'dead' \(conv2d\): nothing reads its output and it is not the last layer/);
  });

  it('duplicate and reserved names, and bad inputs lists', () => {
    expect(refused(model([conv(4, { name: 'a' }), conv(4, { name: 'a' }), ...head]))).toMatch(
      /layer 1 'a' \(conv2d\): the name 'a' is taken by layer 0/,
    );
    expect(refused(model([conv(4, { name: 'input' }), ...head]))).toMatch(/'input' is the model's input/);
    expect(refused(model([conv(4, { inputs: [] as string[] }), ...head]))).toMatch(
      /inputs must be a layer name or a non-empty list/,
    );
  });

  it('joins need two inputs, other layers one', () => {
    expect(refused(model([conv(4), { type: 'add' }, ...head]))).toMatch(
      /layer 1 \(add\): it joins two or more inputs/,
    );
    expect(refused(model([conv(4, { name: 'a' }), conv(4, { inputs: ['a', 'input'] }), ...head]))).toMatch(
      /layer 1 \(conv2d\): it reads one input, got 2; join several with an 'add' or 'concat'/,
    );
  });
});
