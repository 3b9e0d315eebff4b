// Model and checkpoint files: safetensors with our description in the metadata.
//
// Tensors use PyTorch's names and layouts (src/io/torch-layout.ts), so `safetensors.torch.load_file`
// gives tensors that load into the equivalent torch.nn modules as they are:
//   layers.{i}.weight   F32 dense [units, fanIn] (nn.Linear), conv2d [F, C, KH, KW] (nn.Conv2d),
//                       batchnorm gamma [C]
//   layers.{i}.bias     F32 dense [units], conv2d [F] (absent without bias), batchnorm beta [C]
//   layers.{i}.running_mean / running_var  F32 [C], num_batches_tracked I64 []  (batchnorm)
// i is the layer's index in architecture.layers (layers without parameters have no tensors).
// Version 1 files (dense layers only, written by earlier versions and still written for dense-only
// models) list layers as {units, activation, alpha?}; version 2 uses the full layer vocabulary of
// src/nn/layers.ts.
// A checkpoint adds the optimizer's flat state vectors:
//   optim.{name}        F32 [length]             e.g. optim.m, optim.v for Adam
//
// Metadata (every safetensors metadata value is a string, so ours are JSON strings):
//   "webgpu_trainer"             {format, version, architecture, normalization, classNames,
//                                 training, createdAt}; format 'webgpu-trainer/model' or
//                                 'webgpu-trainer/checkpoint'
//   "webgpu_trainer_checkpoint"  (checkpoints only) {version, step, epoch, batchInEpoch, rngState,
//                                 dataPosition, optimizer, schedule, optimizerState: {t, lengths}}
//
// Loading validates everything against the architecture, so a file that loads is one the engine
// can run: every tensor present with the right dtype and shape, nothing unexpected, all finite.
// The metadata's validation is src/io/modelfile-header.ts; the API's types src/io/modelfile-types.ts.

import { ConfigError, ModelFormatError, ShapeError } from '../errors.js';
import { engineWeights, torchTensors, torchTensorShapes } from './torch-layout.js';
import { JsonSyntaxError, parseJsonStrict, setOwn } from './json.js';
import {
  OPTIM_NAME,
  isDenseOnly,
  parseCheckpointState,
  parseModelHeader,
  resolveArchitecture,
  type Fail,
} from './modelfile-header.js';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_METADATA_KEY,
  CHECKPOINT_STATE_VERSION,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  MODEL_METADATA_KEY,
  type CheckpointFile,
  type CheckpointInput,
  type ModelFile,
  type ModelInput,
} from './modelfile-types.js';
import { decodeSafetensors, encodeSafetensors, type DecodeOptions, type Tensor } from './safetensors.js';

export type { JsonObject, JsonValue } from './json.js';
export * from './modelfile-types.js';

const OPTIM_PREFIX = 'optim.';

// ---------------------------------------------------------------------------------------------
// Writing

export function saveModel(model: ModelInput): Uint8Array {
  const { tensors, metadata } = modelContents(model, MODEL_FORMAT);
  return encodeSafetensors(tensors, metadata);
}

export function saveCheckpoint(checkpoint: CheckpointInput): Uint8Array {
  const { tensors, metadata } = modelContents(checkpoint.model, CHECKPOINT_FORMAT);
  const { t, tensors: optim } = checkpoint.optimizerState;
  const lengths: Record<string, number> = {};
  for (const name of Object.keys(optim).sort()) {
    const data = optim[name];
    if (!OPTIM_NAME.test(name))
      throw new ConfigError(`optimizer state name ${JSON.stringify(name)} is not an identifier`);
    if (!(data instanceof Float32Array))
      throw new ConfigError(`optimizer state "${name}" must be a Float32Array`);
    setOwn(lengths, name, data.length);
    tensors[OPTIM_PREFIX + name] = { dtype: 'F32', shape: [data.length], data };
  }
  const stateJson = {
    version: CHECKPOINT_STATE_VERSION,
    ...checkpoint.state,
    optimizerState: { t, lengths },
  };
  // Validate what we are about to write with the reader's own rules, so a checkpoint we write
  // is always one we can load.
  const configFail: Fail = (m) => {
    throw new ConfigError(`cannot save checkpoint: ${m}`);
  };
  parseCheckpointState(JSON.parse(JSON.stringify(stateJson)) as unknown, configFail);
  for (const name of Object.keys(optim)) checkFinite(OPTIM_PREFIX + name, optim[name], configFail);
  metadata[CHECKPOINT_METADATA_KEY] = JSON.stringify(stateJson);
  return encodeSafetensors(tensors, metadata);
}

function modelContents(
  model: ModelInput,
  format: string,
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const configFail: Fail = (m) => {
    throw new ConfigError(`cannot save model: ${m}`);
  };
  const { text, resolved } = modelHeader(model, format, configFail);
  const params = resolved.params;
  if (!Array.isArray(model.weights) || model.weights.length !== params.length) {
    throw new ShapeError(
      `cannot save model: ${params.length} layers with parameters but ${model.weights?.length} weight sets`,
    );
  }
  model.weights.forEach(({ W, b }, k) => {
    const p = params[k];
    if (!(W instanceof Float32Array) || !(b instanceof Float32Array)) {
      throw new ConfigError(`cannot save model: layer ${p.layer} weights must be Float32Arrays`);
    }
    if (W.length !== p.W.length || b.length !== p.b.length) {
      throw new ShapeError(
        `cannot save model: layer ${p.layer} needs W of ${p.shape.join('x')} and b of ${p.b.length}, ` +
          `got ${W.length} and ${b.length} elements`,
      );
    }
    checkFinite(`layers.${p.layer}.weight`, W, configFail);
    checkFinite(`layers.${p.layer}.bias`, b, configFail);
  });
  const stats = model.runningStats ?? [];
  if (stats.length !== resolved.states.length) {
    throw new ShapeError(
      `cannot save model: ${resolved.states.length} batchnorm layers but ${stats.length} running statistics`,
    );
  }
  stats.forEach((st, k) => {
    const c = resolved.states[k].channels;
    if (st.mean.length !== c || st.variance.length !== c)
      throw new ShapeError(
        `cannot save model: batchnorm layer ${resolved.states[k].layer} needs ${c} running means and variances`,
      );
    checkFinite(`layers.${resolved.states[k].layer}.running_mean`, st.mean, configFail);
    checkFinite(`layers.${resolved.states[k].layer}.running_var`, st.variance, configFail);
  });
  const tensors = torchTensors(resolved, model.weights, stats, model.batchesTracked ?? 0);
  return { tensors, metadata: { [MODEL_METADATA_KEY]: text } };
}

type ModelHeaderInput = Pick<
  ModelInput,
  'architecture' | 'normalization' | 'classNames' | 'training' | 'createdAt'
>;

/** The metadata JSON of a model file, validated with the reader's rules, and its resolved model. */
function modelHeader(model: ModelHeaderInput, format: string, configFail: Fail) {
  const header = {
    format,
    version: isDenseOnly(model.architecture) ? 1 : MODEL_FORMAT_VERSION,
    architecture: model.architecture,
    normalization: model.normalization,
    classNames: model.classNames,
    training: model.training,
    createdAt: model.createdAt ?? new Date().toISOString(),
  };
  // Round-trip through JSON so undefined fields, Infinity and friends are caught here as the
  // reader would see them.
  const text = JSON.stringify(header);
  const arch = parseModelHeader(JSON.parse(text) as unknown, configFail).architecture;
  return { text, resolved: resolveArchitecture(arch, configFail) };
}

/**
 * A model file from tensors already in the file's layout (PyTorch's names `layers.{i}.*` and
 * shapes): weights imported from PyTorch go to disk without a conversion or a second copy. Every
 * tensor the architecture needs must be there with its dtype and shape, finite, and nothing else.
 */
export function saveModelTensors(model: ModelHeaderInput, tensors: Record<string, Tensor>): Uint8Array {
  const configFail: Fail = (m) => {
    throw new ConfigError(`cannot save model: ${m}`);
  };
  const { text, resolved } = modelHeader(model, MODEL_FORMAT, configFail);
  const want = torchTensorShapes(resolved);
  for (const { name, dtype, shape } of want) {
    const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
    if (!t) return configFail(`missing tensor "${name}" (${dtype} [${shape.join(', ')}])`);
    if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k]))
      configFail(
        `tensor "${name}" is ${t.dtype} [${t.shape.join(', ')}]; expected ${dtype} [${shape.join(', ')}]`,
      );
    if (dtype === 'F32') checkFinite(name, t.data as Float32Array, configFail);
  }
  const names = new Set(want.map((w) => w.name));
  for (const name of Object.keys(tensors))
    if (!names.has(name)) configFail(`tensor "${name}" is not part of this architecture`);
  return encodeSafetensors(tensors, { [MODEL_METADATA_KEY]: text });
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Loads a model file, or the model part of a checkpoint. Throws ModelFormatError naming the file
 * and the problem. Weights are copies, independent of `bytes`.
 */
export function loadModel(
  bytes: Uint8Array | ArrayBufferLike,
  fileName: string,
  options: DecodeOptions = {},
): ModelFile {
  return readModel(bytes, fileName, options, false).model;
}

/** Loads a checkpoint written by saveCheckpoint; a plain model file is rejected. */
export function loadCheckpoint(
  bytes: Uint8Array | ArrayBufferLike,
  fileName: string,
  options: DecodeOptions = {},
): CheckpointFile {
  const { model, tensors, metadata, fail } = readModel(bytes, fileName, options, true);
  const stateText = metadata[CHECKPOINT_METADATA_KEY];
  if (stateText === undefined) fail(`checkpoint has no "${CHECKPOINT_METADATA_KEY}" metadata`);
  const { state, t, lengths } = parseCheckpointState(
    parseJson(stateText, CHECKPOINT_METADATA_KEY, fail),
    fail,
  );

  const optim: Record<string, Float32Array> = {};
  for (const [name, length] of Object.entries(lengths)) {
    const tensorName = OPTIM_PREFIX + name;
    const data = expectF32(tensors, tensorName, [length], fail);
    checkFinite(tensorName, data, fail);
    setOwn(optim, name, data);
  }
  for (const name of Object.keys(tensors)) {
    if (name.startsWith(OPTIM_PREFIX) && !Object.hasOwn(lengths, name.slice(OPTIM_PREFIX.length))) {
      fail(`tensor "${name}" is not listed in the checkpoint's optimizerState`);
    }
  }
  return { model, state, optimizerState: { t, tensors: optim } };
}

function readModel(
  bytes: Uint8Array | ArrayBufferLike,
  fileName: string,
  options: DecodeOptions,
  wantCheckpoint: boolean,
): { model: ModelFile; tensors: Record<string, Tensor>; metadata: Record<string, string>; fail: Fail } {
  const fail: Fail = (message) => {
    throw new ModelFormatError(`${fileName}: ${message}`, fileName);
  };
  const { tensors, metadata } = decodeSafetensors(bytes, fileName, { ...options, copy: true });
  const text = metadata[MODEL_METADATA_KEY];
  if (text === undefined) {
    fail(`no "${MODEL_METADATA_KEY}" metadata: not a webgpu-trainer model (a plain safetensors file?)`);
  }
  const header = parseModelHeader(parseJson(text, MODEL_METADATA_KEY, fail), fail);
  const isCheckpoint = header.format === CHECKPOINT_FORMAT;
  if (wantCheckpoint && !isCheckpoint) fail(`this is a ${header.format} file, not a checkpoint`);

  const arch = header.architecture;
  const resolved = resolveArchitecture(arch, fail);
  const f32 = (name: string, shape: number[]) => {
    const data = expectF32(tensors, name, shape, fail);
    checkFinite(name, data, fail);
    return data;
  };
  const i64 = (name: string): number => {
    if (!Object.hasOwn(tensors, name)) return fail(`missing tensor "${name}" (expected I64 [])`);
    const t = tensors[name];
    if (t.dtype !== 'I64' || t.data.length !== 1 || t.shape.length > 1)
      fail(`tensor "${name}" must be one I64 value, got ${t.dtype} [${t.shape.join(', ')}]`);
    const v = Number((t.data as BigInt64Array)[0]);
    if (!Number.isSafeInteger(v) || v < 0) fail(`tensor "${name}" holds ${v}; expected a count >= 0`);
    return v;
  };
  const { weights, stats, batchesTracked, names } = engineWeights(resolved, f32, i64);
  const expected = new Set(names);
  for (const name of Object.keys(tensors)) {
    if (expected.has(name) || (isCheckpoint && name.startsWith(OPTIM_PREFIX))) continue;
    fail(`unexpected tensor "${name}" for a ${arch.layers.length}-layer ${header.format} file`);
  }
  const model: ModelFile = {
    architecture: arch,
    normalization: header.normalization,
    classNames: header.classNames,
    training: header.training,
    weights,
    runningStats: stats,
    batchesTracked,
    createdAt: header.createdAt,
  };
  return { model, tensors, metadata, fail };
}

function parseJson(text: string, key: string, fail: Fail): unknown {
  try {
    return parseJsonStrict(text);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    return fail(`metadata "${key}" is not valid JSON: ${e.message}`);
  }
}

function expectF32(tensors: Record<string, Tensor>, name: string, shape: number[], fail: Fail): Float32Array {
  if (!Object.hasOwn(tensors, name))
    return fail(`missing tensor "${name}" (expected F32 [${shape.join(', ')}])`);
  const t = tensors[name];
  if (t.dtype !== 'F32') fail(`tensor "${name}" has dtype ${t.dtype}; expected F32`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    fail(`tensor "${name}" has shape [${t.shape.join(', ')}]; the architecture needs [${shape.join(', ')}]`);
  }
  return t.data as Float32Array;
}

function checkFinite(name: string, data: Float32Array, fail: Fail): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) fail(`tensor "${name}" holds ${data[i]} at flat index ${i}`);
  }
}
