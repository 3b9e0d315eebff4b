// Validation of a model file's metadata, shared by the writer (which fails with ConfigError, so
// a file we write is one we can read) and the reader (ModelFormatError naming the file): the
// header's fields, the architecture and each layer's fields, and the checkpoint state. Field
// values of layers are checked with the shapes by resolveModel.

import { LAYER_KINDS } from '../nn/layer-kinds/index.js';
import { ConfigError } from '../errors.js';
import { resolveModel, type ResolvedModel } from '../nn/layers.js';
import type { RngState } from '../rng.js';
import { isJsonObject, setOwn, type JsonObject } from './json.js';
import {
  ACTIVATIONS,
  CHECKPOINT_FORMAT,
  CHECKPOINT_METADATA_KEY,
  CHECKPOINT_STATE_VERSION,
  LOSSES,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  MODEL_METADATA_KEY,
  type Architecture,
  type CheckpointState,
  type LayerSpec,
  type Loss,
} from './modelfile-types.js';

/** Throws the caller's error (ConfigError when saving, ModelFormatError when loading). */
export type Fail = (message: string) => never;

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
/** The fields each layer type may store: its register entry's (src/nn/layer-kinds/), and its place in a graph. */
const LAYER_FIELDS: Record<string, readonly string[]> = Object.fromEntries(
  Object.values(LAYER_KINDS).map((k) => [k.type, ['type', 'name', 'inputs', ...k.fields]]),
);
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
/** Names of optimizer state vectors (optim.{name} tensors). */
export const OPTIM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Dense-only architectures are written as version 1 files. */
export function isDenseOnly(a: Architecture): boolean {
  return a.layers.every(
    (l) => l.type === undefined && 'units' in l && l.name === undefined && l.inputs === undefined,
  );
}

/** The engine's view of an architecture; a spec resolveModel rejects fails through `fail`. */
export function resolveArchitecture(a: Architecture, fail: Fail): ResolvedModel {
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

export interface ModelHeader {
  format: string;
  architecture: Architecture;
  normalization: JsonObject;
  classNames: string[];
  training: JsonObject;
  createdAt: string;
}

export function parseModelHeader(raw: unknown, fail: Fail): ModelHeader {
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

export function parseCheckpointState(
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

function onlyFields(obj: JsonObject, allowed: readonly string[], what: string, fail: Fail): void {
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
