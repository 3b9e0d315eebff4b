import { describe, expect, it } from 'vitest';
import { ConfigError, ModelFormatError, ShapeError } from '../../src/errors.js';
import {
  CHECKPOINT_METADATA_KEY,
  loadCheckpoint,
  loadModel,
  MODEL_METADATA_KEY,
  saveCheckpoint,
  saveModel,
  type ModelInput,
} from '../../src/io/modelfile.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../src/io/safetensors.js';
import { makeCheckpoint, makeModel } from './fixtures.js';

const FILE = 'model.safetensors';

function expectFormatError(f: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ModelFormatError);
  expect((error as ModelFormatError).message).toMatch(message);
  expect((error as ModelFormatError).file).toBe(FILE);
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

type Json = Record<string, unknown>;

/** Re-encodes `bytes` after editing its tensors and parsed metadata JSON. */
function rewrite(
  bytes: Uint8Array,
  edit: (tensors: Record<string, Tensor>, header: Json, state: Json | undefined) => void,
): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes, FILE, { copy: true });
  const header = JSON.parse(metadata[MODEL_METADATA_KEY]) as Json;
  const stateText = metadata[CHECKPOINT_METADATA_KEY];
  const state = stateText === undefined ? undefined : (JSON.parse(stateText) as Json);
  edit(tensors, header, state);
  metadata[MODEL_METADATA_KEY] = JSON.stringify(header);
  if (state !== undefined) metadata[CHECKPOINT_METADATA_KEY] = JSON.stringify(state);
  return encodeSafetensors(tensors, metadata);
}

const arch = (h: Json) => h.architecture as Json;
const layer = (h: Json, i: number) => (arch(h).layers as Json[])[i];

describe('model files', () => {
  it('round-trips bit exactly and deterministically', () => {
    const model = makeModel();
    const bytes = saveModel(model);
    expect(saveModel(makeModel())).toEqual(bytes);
    const back = loadModel(bytes, FILE);
    expect(back).toEqual(model);
    back.weights.forEach((w, i) => {
      expect(bits(w.W)).toEqual(bits(model.weights[i].W));
      expect(bits(w.b)).toEqual(bits(model.weights[i].b));
      // Copies, so the caller may reuse or mutate the file buffer.
      expect(w.W.buffer).not.toBe(bytes.buffer);
    });
  });

  it('uses PyTorch nn.Linear names and [out, in] layout', () => {
    const { tensors, metadata } = decodeSafetensors(saveModel(makeModel()), FILE);
    const shapes = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, [t.dtype, ...t.shape]]));
    expect(shapes).toEqual({
      'layers.0.weight': ['F32', 7, 15],
      'layers.0.bias': ['F32', 7],
      'layers.1.weight': ['F32', 4, 7],
      'layers.1.bias': ['F32', 4],
      'layers.2.weight': ['F32', 3, 4],
      'layers.2.bias': ['F32', 3],
    });
    expect(JSON.parse(metadata[MODEL_METADATA_KEY])).toMatchObject({
      format: 'webgpu-trainer/model',
      version: 1,
    });
  });

  it('fills createdAt when absent', () => {
    const { createdAt: _createdAt, ...rest } = makeModel();
    const back = loadModel(saveModel(rest), FILE);
    expect(Date.parse(back.createdAt)).toBeGreaterThan(Date.parse('2024-01-01'));
  });

  it('reads relu6 and hardswish layers (the shared activation vocabulary)', () => {
    for (const activation of ['relu6', 'hardswish']) {
      const bytes = rewrite(saveModel(makeModel()), (_t, h) => (layer(h, 1).activation = activation));
      expect(loadModel(bytes, FILE).architecture.layers[1]).toMatchObject({ activation });
    }
  });

  const good = saveModel(makeModel());
  const header = (h: Json) => rewrite(good, (_t, hh) => Object.assign(hh, h));
  it.each<[string, () => Uint8Array, RegExp]>([
    [
      'a plain safetensors file',
      () => encodeSafetensors({}),
      /no "webgpu_trainer" metadata.*plain safetensors/,
    ],
    [
      'metadata that is not JSON',
      () => encodeSafetensors({}, { [MODEL_METADATA_KEY]: '{"format":' }),
      /"webgpu_trainer" is not valid JSON/,
    ],
    [
      'metadata that is not an object',
      () => encodeSafetensors({}, { [MODEL_METADATA_KEY]: '[1]' }),
      /must be a JSON object/,
    ],
    ['an unknown format', () => header({ format: 'keras' }), /unknown format "keras"/],
    [
      'a future version',
      () => header({ version: 3 }),
      /version 3 is newer than this build supports \(2\); upgrade/,
    ],
    ['a version of 0', () => header({ version: 0 }), /version must be a positive integer, got 0/],
    ['a string version', () => header({ version: '1' }), /got "1"/],
    ['an unexpected field', () => header({ extra: 1 }), /unexpected field "extra"/],
    [
      'non-string class names',
      () => header({ classNames: ['a', 2] }),
      /classNames must be an array of strings/,
    ],
    [
      'a non-object normalization',
      () => header({ normalization: 'scale' }),
      /normalization must be a JSON object/,
    ],
    ['a missing training config', () => header({ training: undefined }), /training must be a JSON object/],
    ['a numeric createdAt', () => header({ createdAt: 5 }), /createdAt must be a string/],
    [
      'a zero inputSize',
      () => rewrite(good, (_t, h) => (arch(h).inputSize = 0)),
      /inputSize must be a positive integer/,
    ],
    ['a fractional inputSize', () => rewrite(good, (_t, h) => (arch(h).inputSize = 1.5)), /got 1.5/],
    [
      'a 2-d inputShape',
      () => rewrite(good, (_t, h) => (arch(h).inputShape = [3, 5])),
      /\[features\] or \[height/,
    ],
    [
      'a mismatched inputShape',
      () => rewrite(good, (_t, h) => (arch(h).inputShape = [3, 5, 3])),
      /holds 45 values but inputSize is 15/,
    ],
    ['no layers', () => rewrite(good, (_t, h) => (arch(h).layers = [])), /layers must be a non-empty array/],
    [
      'an unknown activation',
      () => rewrite(good, (_t, h) => (layer(h, 1).activation = 'swish')),
      /layers\[1\]: unknown activation "swish"/,
    ],
    ['an unknown loss', () => rewrite(good, (_t, h) => (arch(h).loss = 'hinge')), /unknown loss "hinge"/],
    [
      'alpha on tanh',
      () => rewrite(good, (_t, h) => (layer(h, 1).alpha = 0.1)),
      /alpha applies only to leaky_relu/,
    ],
    [
      'a string alpha',
      () => rewrite(good, (_t, h) => (layer(h, 0).alpha = '0.1')),
      /alpha must be a finite number/,
    ],
    [
      'negative units',
      () => rewrite(good, (_t, h) => (layer(h, 2).units = -3)),
      /layers\[2\].units must be a positive integer/,
    ],
    [
      'a layer field we do not know',
      () => rewrite(good, (_t, h) => (layer(h, 0).dropout = 0.5)),
      /unexpected field "dropout"/,
    ],
    [
      'units that disagree with the tensors',
      () => rewrite(good, (_t, h) => (layer(h, 1).units = 5)),
      /"layers.1.weight" has shape \[4, 7\]; the architecture needs \[5, 7\]/,
    ],
    [
      'a missing bias',
      () => rewrite(good, (t) => delete t['layers.2.bias']),
      /missing tensor "layers.2.bias" \(expected F32 \[3\]\)/,
    ],
    [
      'a transposed weight',
      () => rewrite(good, (t) => (t['layers.1.weight'].shape = [7, 4])),
      /"layers.1.weight" has shape \[7, 4\]; the architecture needs \[4, 7\]/,
    ],
    [
      'an F64 weight',
      () =>
        rewrite(good, (t) => {
          const w = t['layers.0.bias'];
          t['layers.0.bias'] = {
            dtype: 'F64',
            shape: w.shape,
            data: Float64Array.from(w.data as Float32Array),
          };
        }),
      /"layers.0.bias" has dtype F64; expected F32/,
    ],
    [
      'an extra tensor',
      () =>
        rewrite(
          good,
          (t) => (t['layers.3.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) }),
        ),
      /unexpected tensor "layers.3.weight" for a 3-layer webgpu-trainer\/model file/,
    ],
    [
      'optimizer state in a model file',
      () => rewrite(good, (t) => (t['optim.m'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) })),
      /unexpected tensor "optim.m"/,
    ],
    [
      'a NaN weight',
      () => rewrite(good, (t) => ((t['layers.1.weight'].data as Float32Array)[13] = NaN)),
      /"layers.1.weight" holds NaN at flat index 13/,
    ],
    [
      'an infinite bias',
      () => rewrite(good, (t) => ((t['layers.0.bias'].data as Float32Array)[6] = -Infinity)),
      /"layers.0.bias" holds -Infinity at flat index 6/,
    ],
  ])('rejects %s', (_what, make, message) => {
    const bytes = make();
    expectFormatError(() => loadModel(bytes, FILE), message);
  });

  it('refuses to save what it could not load', () => {
    const bad = (edit: (m: ModelInput) => void) => {
      const m = makeModel();
      edit(m);
      return () => saveModel(m);
    };
    expect(bad((m) => m.weights.pop())).toThrow(ShapeError);
    expect(bad((m) => (m.weights[1].W = new Float32Array(27)))).toThrow(/layer 1 needs W of 4x7 and b of 4/);
    expect(bad((m) => (m.weights[0].b = [1] as unknown as Float32Array))).toThrow(ConfigError);
    expect(bad((m) => (m.weights[0].W[3] = NaN))).toThrow(/"layers.0.weight" holds NaN at flat index 3/);
    expect(bad((m) => (m.architecture.loss = 'l1' as 'mse'))).toThrow(ConfigError);
    expect(bad((m) => (m.architecture.inputSize = 16))).toThrow(/holds 15 values but inputSize is 16/);
  });
});

describe('checkpoints', () => {
  it('round-trips model, state and optimizer tensors bit exactly', () => {
    const ckpt = makeCheckpoint();
    const bytes = saveCheckpoint(ckpt);
    expect(saveCheckpoint(makeCheckpoint())).toEqual(bytes);
    const back = loadCheckpoint(bytes, FILE);
    expect(back).toEqual(ckpt);
    expect(bits(back.optimizerState.tensors.v)).toEqual(bits(ckpt.optimizerState.tensors.v));
    const names = Object.keys(decodeSafetensors(bytes, FILE).tensors);
    expect(names).toContain('optim.m');
    expect(names).toContain('optim.v');
  });

  it('loads as a model file too, and a model file is not a checkpoint', () => {
    const ckpt = makeCheckpoint();
    expect(loadModel(saveCheckpoint(ckpt), FILE)).toEqual(ckpt.model);
    expectFormatError(
      () => loadCheckpoint(saveModel(ckpt.model), FILE),
      /webgpu-trainer\/model file, not a checkpoint/,
    );
  });

  it('accepts an optimizer without state (plain SGD)', () => {
    const ckpt = makeCheckpoint();
    ckpt.optimizerState = { t: 0, tensors: {} };
    expect(loadCheckpoint(saveCheckpoint(ckpt), FILE).optimizerState).toEqual({ t: 0, tensors: {} });
  });

  const good = saveCheckpoint(makeCheckpoint());
  const optimState = (s: Json | undefined) => s!.optimizerState as Json;
  it.each<[string, () => Uint8Array, RegExp]>([
    [
      'a missing state key',
      () =>
        (() => {
          const { tensors, metadata } = decodeSafetensors(good, FILE);
          delete metadata[CHECKPOINT_METADATA_KEY];
          return encodeSafetensors(tensors, metadata);
        })(),
      /checkpoint has no "webgpu_trainer_checkpoint" metadata/,
    ],
    [
      'a future state version',
      () => rewrite(good, (_t, _h, s) => (s!.version = 7)),
      /checkpoint state version 7 is newer/,
    ],
    [
      'a negative step',
      () => rewrite(good, (_t, _h, s) => (s!.step = -1)),
      /step must be a non-negative integer, got -1/,
    ],
    [
      'a fractional epoch',
      () => rewrite(good, (_t, _h, s) => (s!.epoch = 0.5)),
      /epoch must be a non-negative integer/,
    ],
    [
      'a missing dataPosition',
      () => rewrite(good, (_t, _h, s) => delete s!.dataPosition),
      /needs dataPosition/,
    ],
    [
      'an all-zero rng state',
      () => rewrite(good, (_t, _h, s) => (s!.rngState = { s: [0, 0, 0, 0], spare: null })),
      /four uint32 words, not all zero/,
    ],
    [
      'a 33-bit rng word',
      () => rewrite(good, (_t, _h, s) => (s!.rngState = { s: [2 ** 32, 1, 1, 1], spare: null })),
      /rngState.s/,
    ],
    [
      'a string spare',
      () => rewrite(good, (_t, _h, s) => (s!.rngState = { s: [1, 1, 1, 1], spare: 'x' })),
      /rngState.spare/,
    ],
    [
      'a non-object optimizer',
      () => rewrite(good, (_t, _h, s) => (s!.optimizer = 'adam')),
      /optimizer must be a JSON object/,
    ],
    ['a negative t', () => rewrite(good, (_t, _h, s) => (optimState(s).t = -5)), /optimizerState.t must be/],
    [
      'an unlisted optimizer tensor',
      () => rewrite(good, (t) => (t['optim.w'] = { dtype: 'F32', shape: [0], data: new Float32Array(0) })),
      /"optim.w" is not listed/,
    ],
    [
      'a missing optimizer tensor',
      () => rewrite(good, (t) => delete t['optim.v']),
      /missing tensor "optim.v"/,
    ],
    [
      'a wrong optimizer length',
      () => rewrite(good, (_t, _h, s) => ((optimState(s).lengths as Json).m = 3)),
      /"optim.m" has shape \[\d+\]; the architecture needs \[3\]/,
    ],
    [
      'a bad optimizer name',
      () => rewrite(good, (_t, _h, s) => ((optimState(s).lengths as Json)['m.x'] = 3)),
      /"m.x" is not an identifier/,
    ],
    [
      'a NaN in optimizer state',
      () => rewrite(good, (t) => ((t['optim.m'].data as Float32Array)[40] = NaN)),
      /"optim.m" holds NaN at flat index 40/,
    ],
  ])('rejects %s', (_what, make, message) => {
    const bytes = make();
    expectFormatError(() => loadCheckpoint(bytes, FILE), message);
  });

  it('refuses to save an invalid checkpoint', () => {
    const c1 = makeCheckpoint();
    c1.state.step = -1;
    expect(() => saveCheckpoint(c1)).toThrow(ConfigError);
    const c2 = makeCheckpoint();
    c2.optimizerState.tensors['bad name'] = new Float32Array(1);
    expect(() => saveCheckpoint(c2)).toThrow(/not an identifier/);
    const c3 = makeCheckpoint();
    c3.optimizerState.tensors.v[2] = Infinity;
    expect(() => saveCheckpoint(c3)).toThrow(/"optim.v" holds Infinity at flat index 2/);
  });
});
