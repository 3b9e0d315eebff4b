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

import { ConfigError, ModelFormatError, ShapeError } from '../errors.js';
import type { RngState } from '../rng.js';
import { resolveModel, type LayerSpec as NnLayerSpec, type ResolvedModel } from '../nn/layers.js';
import { engineWeights, torchTensors, type EngineRunningStats } from './torch-layout.js';
import {
  isJsonObject,
  JsonSyntaxError,
  parseJsonStrict,
  setOwn,
  type JsonObject,
  type JsonValue,
} from './json.js';
import { decodeSafetensors, encodeSafetensors, type DecodeOptions, type Tensor } from './safetensors.js';

export type { JsonObject, JsonValue } from './json.js';

export const MODEL_FORMAT = 'webgpu-trainer/model';
export const CHECKPOINT_FORMAT = 'webgpu-trainer/checkpoint';
export const MODEL_FORMAT_VERSION = 2;
export const CHECKPOINT_STATE_VERSION = 1;
export const MODEL_METADATA_KEY = 'webgpu_trainer';
export const CHECKPOINT_METADATA_KEY = 'webgpu_trainer_checkpoint';

export const ACTIVATIONS = ['identity', 'relu', 'leaky_relu', 'sigmoid', 'tanh', 'gelu', 'softmax'] as const;
export const LOSSES = ['bce', 'softmax-ce', 'mse'] as const;
export type Activation = (typeof ACTIVATIONS)[number];
export type Loss = (typeof LOSSES)[number];

export type LayerSpec = NnLayerSpec;

export interface Architecture {
  /** [h, w, c] for images or [features]; its product is inputSize. */
  inputShape: number[];
  inputSize: number;
  layers: LayerSpec[];
  loss: Loss;
}

/**
 * One per layer with parameters, in the ENGINE's layout (what Trainer.setWeights takes): dense
 * [units, fanIn] with fanIn in the engine's NHWC order, conv2d [F, KH, KW, C], batchnorm gamma.
 * The file holds PyTorch's layouts; saving and loading convert.
 */
export interface LayerWeights {
  W: Float32Array;
  /** Bias (empty for a conv2d without one), or batchnorm beta. */
  b: Float32Array;
}

export interface ModelFile {
  architecture: Architecture;
  /** Opaque to this module, e.g. {kind: 'scale'} or {kind: 'standardize', mean, std}. */
  normalization: JsonObject;
  classNames: string[];
  /** Opaque training configuration: optimizer, lr, schedule, batch size, epochs, seed, dataset. */
  training: JsonObject;
  weights: LayerWeights[];
  /** Batch-norm running statistics, one per batchnorm layer (empty without batch norm). */
  runningStats: EngineRunningStats[];
  /** PyTorch's num_batches_tracked of the batch-norm layers (0 without batch norm). */
  batchesTracked: number;
  /** ISO 8601 time of saving. */
  createdAt: string;
}

/** What saveModel takes: createdAt defaults to now (pass it for byte-identical output). */
export type ModelInput = Omit<ModelFile, 'createdAt' | 'runningStats' | 'batchesTracked'> & {
  createdAt?: string;
  runningStats?: EngineRunningStats[];
  batchesTracked?: number;
};

export interface CheckpointState {
  step: number;
  epoch: number;
  batchInEpoch: number;
  rngState: RngState;
  /** Opaque position in the data stream (e.g. shuffle seed and cursor). */
  dataPosition: JsonValue;
  /** Optimizer configuration (kind, lr, betas, ...). */
  optimizer: JsonObject;
  /** Learning-rate schedule state. */
  schedule: JsonObject;
  /** Mixed precision: the loss scaler (scale, finite-step streak, counts); absent in f32 runs. */
  lossScale?: LossScaleCheckpoint;
}

export interface LossScaleCheckpoint {
  scale: number;
  streak: number;
  skipped: number;
  steps: number;
}

export interface OptimizerState {
  /** Optimizer step count (Adam's t for bias correction). */
  t: number;
  /** Flat state vectors by name, e.g. {m, v}; names match /^[A-Za-z_][A-Za-z0-9_]*$/. */
  tensors: Record<string, Float32Array>;
}

export interface CheckpointFile {
  model: ModelFile;
  state: CheckpointState;
  optimizerState: OptimizerState;
}

export interface CheckpointInput {
  model: ModelInput;
  state: CheckpointState;
  optimizerState: OptimizerState;
}

type Fail = (message: string) => never;

const MODEL_FIELDS = [
  'format',
  'version',
  'architecture',
  'normalization',
  'classNames',
  'training',
  'createdAt',
];
const ARCH_FIELDS = ['inputShape', 'inputSize', 'layers', 'loss'];
const LAYER_FIELDS: Record<string, string[]> = {
  dense: ['type', 'units', 'activation', 'alpha'],
  conv2d: ['type', 'filters', 'kernelSize', 'stride', 'padding', 'bias', 'activation', 'alpha'],
  maxpool2d: ['type', 'size', 'stride'],
  avgpool2d: ['type', 'size', 'stride'],
  globalavgpool: ['type'],
  batchnorm: ['type', 'momentum', 'epsilon', 'activation', 'alpha'],
  dropout: ['type', 'rate'],
  flatten: ['type'],
};
const STATE_FIELDS = [
  'version',
  'step',
  'epoch',
  'batchInEpoch',
  'rngState',
  'dataPosition',
  'optimizer',
  'schedule',
  'optimizerState',
  'lossScale',
];
const OPTIM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
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
  const resolved = resolveArchitecture(arch, configFail);
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

function isDenseOnly(a: Architecture): boolean {
  return a.layers.every((l) => l.type === undefined && 'units' in l);
}

function resolveArchitecture(a: Architecture, fail: Fail): ResolvedModel {
  try {
    // Dense-only networks take the flat input (their recorded inputShape is the images' shape).
    const dense = a.layers.every((l) => l.type === undefined || l.type === 'dense');
    return resolveModel(
      dense
        ? { inputSize: a.inputSize, layers: a.layers, loss: a.loss }
        : { inputShape: a.inputShape, layers: a.layers, loss: a.loss },
    );
  } catch (e) {
    if (e instanceof ConfigError) return fail(`architecture: ${e.message}`);
    throw e;
  }
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

// ---------------------------------------------------------------------------------------------
// Header validation, shared by the writer (ConfigError) and the reader (ModelFormatError)

interface ModelHeader {
  format: string;
  architecture: Architecture;
  normalization: JsonObject;
  classNames: string[];
  training: JsonObject;
  createdAt: string;
}

function parseModelHeader(raw: unknown, fail: Fail): ModelHeader {
  const h = asObject(raw, `"${MODEL_METADATA_KEY}"`, fail);
  if (h.format !== MODEL_FORMAT && h.format !== CHECKPOINT_FORMAT) {
    fail(`unknown format ${JSON.stringify(h.format)}; expected "${MODEL_FORMAT}" or "${CHECKPOINT_FORMAT}"`);
  }
  checkVersion(h.version, MODEL_FORMAT_VERSION, 'model format', fail);
  onlyFields(h, MODEL_FIELDS, `"${MODEL_METADATA_KEY}"`, fail);
  const classNames = h.classNames;
  if (!Array.isArray(classNames) || !classNames.every((c) => typeof c === 'string')) {
    fail('classNames must be an array of strings');
  }
  if (typeof h.createdAt !== 'string') fail('createdAt must be a string');
  return {
    format: h.format as string,
    architecture: parseArchitecture(h.architecture, fail),
    normalization: asObject(h.normalization, 'normalization', fail),
    classNames: classNames as string[],
    training: asObject(h.training, 'training', fail),
    createdAt: h.createdAt as string,
  };
}

function parseArchitecture(raw: unknown, fail: Fail): Architecture {
  const a = asObject(raw, 'architecture', fail);
  onlyFields(a, ARCH_FIELDS, 'architecture', fail);
  const inputSize = positiveInt(a.inputSize, 'architecture.inputSize', fail);
  const shape = a.inputShape;
  if (!Array.isArray(shape) || (shape.length !== 1 && shape.length !== 3)) {
    fail('architecture.inputShape must be [features] or [height, width, channels]');
  }
  const inputShape = (shape as unknown[]).map((d, i) =>
    positiveInt(d, `architecture.inputShape[${i}]`, fail),
  );
  const product = inputShape.reduce((x, y) => x * y, 1);
  if (product !== inputSize) {
    fail(
      `architecture.inputShape [${inputShape.join(', ')}] holds ${product} values but inputSize is ${inputSize}`,
    );
  }
  if (!Array.isArray(a.layers) || a.layers.length === 0)
    fail('architecture.layers must be a non-empty array');
  const layers = (a.layers as unknown[]).map((raw, i) => parseLayer(raw, i, fail));
  if (!(LOSSES as readonly unknown[]).includes(a.loss)) {
    fail(`unknown loss ${JSON.stringify(a.loss)}; expected one of ${LOSSES.join(', ')}`);
  }
  const arch: Architecture = { inputShape, inputSize, layers, loss: a.loss as Loss };
  resolveArchitecture(arch, fail);
  return arch;
}

function parseLayer(raw: unknown, i: number, fail: Fail): LayerSpec {
  const where = `architecture.layers[${i}]`;
  const l = asObject(raw, where, fail);
  const type = l.type ?? 'dense';
  if (typeof type !== 'string' || !Object.hasOwn(LAYER_FIELDS, type))
    fail(
      `${where}: unknown layer type ${JSON.stringify(type)}; expected one of ${Object.keys(LAYER_FIELDS).join(', ')}`,
    );
  onlyFields(l, LAYER_FIELDS[type as string], where, fail);
  if (type === 'dense' && l.type === undefined) {
    // Version 1 form: units and activation are required.
    positiveInt(l.units, `${where}.units`, fail);
    if (l.activation === undefined) fail(`${where}: activation is required`);
  }
  if (l.activation !== undefined && !(ACTIVATIONS as readonly unknown[]).includes(l.activation)) {
    fail(
      `${where}: unknown activation ${JSON.stringify(l.activation)}; expected one of ${ACTIVATIONS.join(', ')}`,
    );
  }
  if (l.alpha !== undefined) {
    if (l.activation !== 'leaky_relu') fail(`${where}: alpha applies only to leaky_relu`);
    if (typeof l.alpha !== 'number' || !Number.isFinite(l.alpha))
      fail(`${where}.alpha must be a finite number`);
  }
  // Field values are checked with the shapes by resolveModel (parseArchitecture).
  return JSON.parse(JSON.stringify(l)) as LayerSpec;
}

function parseCheckpointState(
  raw: unknown,
  fail: Fail,
): { state: CheckpointState; t: number; lengths: Record<string, number> } {
  const s = asObject(raw, `"${CHECKPOINT_METADATA_KEY}"`, fail);
  checkVersion(s.version, CHECKPOINT_STATE_VERSION, 'checkpoint state', fail);
  onlyFields(s, STATE_FIELDS, `"${CHECKPOINT_METADATA_KEY}"`, fail);
  if (!Object.hasOwn(s, 'dataPosition')) fail('checkpoint state needs dataPosition (null if unused)');
  const o = asObject(s.optimizerState, 'optimizerState', fail);
  onlyFields(o, ['t', 'lengths'], 'optimizerState', fail);
  const lengths: Record<string, number> = {};
  for (const [name, len] of Object.entries(asObject(o.lengths, 'optimizerState.lengths', fail))) {
    if (!OPTIM_NAME.test(name)) fail(`optimizer state name ${JSON.stringify(name)} is not an identifier`);
    setOwn(lengths, name, nonNegativeInt(len, `optimizerState.lengths.${name}`, fail));
  }
  const state: CheckpointState = {
    step: nonNegativeInt(s.step, 'step', fail),
    epoch: nonNegativeInt(s.epoch, 'epoch', fail),
    batchInEpoch: nonNegativeInt(s.batchInEpoch, 'batchInEpoch', fail),
    rngState: parseRngState(s.rngState, fail),
    dataPosition: s.dataPosition,
    optimizer: asObject(s.optimizer, 'optimizer', fail),
    schedule: asObject(s.schedule, 'schedule', fail),
  };
  if (s.lossScale !== undefined) {
    const l = asObject(s.lossScale, 'lossScale', fail);
    onlyFields(l, ['scale', 'streak', 'skipped', 'steps'], 'lossScale', fail);
    const scale = l.scale;
    if (typeof scale !== 'number' || !(scale > 0) || !Number.isFinite(scale) || Math.log2(scale) % 1 !== 0)
      fail(`lossScale.scale must be a finite power of two, got ${JSON.stringify(scale)}`);
    state.lossScale = {
      scale: scale as number,
      streak: nonNegativeInt(l.streak, 'lossScale.streak', fail),
      skipped: nonNegativeInt(l.skipped, 'lossScale.skipped', fail),
      steps: nonNegativeInt(l.steps, 'lossScale.steps', fail),
    };
  }
  return { state, t: nonNegativeInt(o.t, 'optimizerState.t', fail), lengths };
}

function parseRngState(raw: unknown, fail: Fail): RngState {
  const r = asObject(raw, 'rngState', fail);
  onlyFields(r, ['s', 'spare'], 'rngState', fail);
  const s = r.s;
  if (
    !Array.isArray(s) ||
    s.length !== 4 ||
    !s.every((w) => typeof w === 'number' && Number.isInteger(w) && w >= 0 && w <= 0xffffffff) ||
    s.every((w) => w === 0)
  ) {
    fail('rngState.s must be four uint32 words, not all zero');
  }
  const spare = r.spare ?? null;
  if (spare !== null && (typeof spare !== 'number' || !Number.isFinite(spare))) {
    fail('rngState.spare must be a finite number or null');
  }
  const [a, b, c, d] = s as number[];
  return { s: [a, b, c, d], spare: spare as number | null };
}

function checkVersion(v: unknown, supported: number, what: string, fail: Fail): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    fail(`${what} version must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if ((v as number) > supported) {
    fail(
      `${what} version ${v as number} is newer than this build supports (${supported}); ` +
        'upgrade webgpu-trainer to read it',
    );
  }
}

function asObject(v: unknown, what: string, fail: Fail): JsonObject {
  if (!isJsonObject(v)) return fail(`${what} must be a JSON object`);
  return v;
}

function onlyFields(obj: JsonObject, allowed: string[], what: string, fail: Fail): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) fail(`${what} has unexpected field ${JSON.stringify(k)}`);
  }
}

function positiveInt(v: unknown, what: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    return fail(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function nonNegativeInt(v: unknown, what: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    return fail(`${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v;
}
