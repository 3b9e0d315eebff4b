// run.json: what train.py needs besides the weights, resolved once from the model file's
// metadata (its `training` block and, for a checkpoint, the checkpoint state) so the Python side
// stays short: the optimizer with the engine's defaults filled in, the learning-rate schedule in
// epoch units, the batch size, the data and its normalisation.
//
// Schedules are kept in epochs because train.py's epochs have their own step count (a global
// batch over the whole training set, no validation hold-out): the learning rate at train.py's
// step k of epoch e is the engine's formula (src/optim/schedules.ts) at step e*S + k of a run of
// totalEpochs*S steps, S = train.py's steps per epoch. A step schedule's stepSize becomes
// stepEpochs*S the same way; warm-up stays in steps.

import { ConfigError } from '../errors.js';
import type { JsonObject, JsonValue } from '../io/json.js';
import { OPTIMIZERS, resolveOptimizer, type OptimizerName } from '../optim/optimizers.js';

export interface RunOptimizer {
  name: OptimizerName;
  lr: number;
  weightDecay: number;
  momentum: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  eps: number;
  maxNorm: number | null;
}

export type RunSchedule =
  | { kind: 'constant' }
  | { kind: 'step'; stepEpochs: number; gamma: number }
  | { kind: 'cosine'; warmupSteps: number; minLr: number };

export interface RunData {
  /** What the run was trained on (a known dataset name or a path). */
  source: string | null;
  /** A folder train.py can read (IDX files or class folders), when one was found. */
  path: string | null;
  imageSize: [number, number] | null;
  channels: number;
  resize: 'resize' | 'center-crop';
}

export interface RunJson {
  /** The model or checkpoint file copied into the project, relative to it. */
  start: string;
  startKind: 'model' | 'checkpoint';
  inputShape: number[];
  normalization: JsonValue;
  classNames: string[];
  loss: string;
  /** softmax-ce label smoothing of the run (--label-smoothing); 0 when off. */
  labelSmoothing: number;
  optimizer: RunOptimizer;
  schedule: RunSchedule;
  /** Global batch size (summed over all processes), as in the engine's run. */
  batchSize: number;
  /** Planned length of the original run, in epochs. */
  epochs: number;
  seed: number;
  data: RunData;
  /** Things the export had to guess, printed by the CLI and listed in README.md. */
  notes: string[];
}

const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const numOr = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);

/** Optimizer: the checkpoint's, else the training block's, else the CLI configuration's. */
export function runOptimizer(training: JsonObject, state: JsonObject | null, notes: string[]): RunOptimizer {
  const cfg = isObj(training.config) ? training.config : null;
  let raw: JsonObject | null = null;
  if (state && isObj(state.optimizer)) raw = state.optimizer;
  else if (isObj(training.optimizer)) raw = training.optimizer;
  else if (cfg && typeof cfg.optimizer === 'string') {
    raw = { name: cfg.optimizer, lr: numOr(cfg.lr, 1e-3) };
    if (cfg.optimizer === 'momentum') raw.momentum = numOr(cfg.momentum, 0.9);
    if (typeof cfg.weightDecay === 'number') raw.weightDecay = cfg.weightDecay;
    if (typeof cfg.maxNorm === 'number') raw.maxNorm = cfg.maxNorm;
  }
  if (!raw) {
    notes.push('the file names no optimizer: train.py uses Adam with lr 0.001 (override with --lr)');
    raw = { name: 'adam', lr: 1e-3 };
  }
  const name = raw.name ?? raw.kind;
  if (typeof name !== 'string' || !(OPTIMIZERS as readonly string[]).includes(name))
    throw new ConfigError(
      `The file's optimizer ${JSON.stringify(name)} is not one of ${OPTIMIZERS.join(', ')}.`,
    );
  const r = resolveOptimizer({
    name: name as OptimizerName,
    lr: numOr(raw.lr, NaN),
    weightDecay: typeof raw.weightDecay === 'number' ? raw.weightDecay : undefined,
    momentum: typeof raw.momentum === 'number' ? raw.momentum : undefined,
    nesterov: typeof raw.nesterov === 'boolean' ? raw.nesterov : undefined,
    beta1: typeof raw.beta1 === 'number' ? raw.beta1 : undefined,
    beta2: typeof raw.beta2 === 'number' ? raw.beta2 : undefined,
    eps: typeof raw.eps === 'number' ? raw.eps : undefined,
    maxNorm: typeof raw.maxNorm === 'number' ? raw.maxNorm : undefined,
  });
  return { ...r, maxNorm: r.maxNorm ?? null };
}

/** Schedule in epoch units (see the header). */
export function runSchedule(training: JsonObject, state: JsonObject | null, notes: string[]): RunSchedule {
  const cfg = isObj(training.config) ? training.config : null;
  if (cfg && typeof cfg.schedule === 'string') {
    if (cfg.schedule === 'constant') return { kind: 'constant' };
    if (cfg.schedule === 'step')
      return { kind: 'step', stepEpochs: numOr(cfg.stepEpochs, 5), gamma: numOr(cfg.gamma, 0.1) };
    if (cfg.schedule === 'cosine') return { kind: 'cosine', warmupSteps: numOr(cfg.warmup, 0), minLr: 0 };
  }
  const s =
    state && isObj(state.schedule) ? state.schedule : isObj(training.schedule) ? training.schedule : null;
  if (!s || s.kind === 'constant' || s.kind === undefined) {
    if (!s) notes.push('the file names no learning-rate schedule: train.py keeps the rate constant');
    return { kind: 'constant' };
  }
  if (s.kind === 'cosine') {
    if (s.totalSteps !== undefined)
      notes.push(
        "the cosine schedule had an explicit totalSteps; train.py spans it over the run's epochs instead",
      );
    return { kind: 'cosine', warmupSteps: numOr(s.warmupSteps, 0), minLr: numOr(s.minLr, 0) };
  }
  if (s.kind === 'step') {
    const dp = state && isObj(state.dataPosition) ? state.dataPosition : null;
    const perEpoch = numOr(dp?.stepsPerEpoch, NaN);
    const stepSize = numOr(s.stepSize, NaN);
    if (!(perEpoch > 0) || !(stepSize > 0)) {
      notes.push("the step schedule's length in epochs is unknown: train.py decays every epoch");
      return { kind: 'step', stepEpochs: 1, gamma: numOr(s.gamma, 0.1) };
    }
    return { kind: 'step', stepEpochs: stepSize / perEpoch, gamma: numOr(s.gamma, 0.1) };
  }
  throw new ConfigError(
    `The file's schedule ${JSON.stringify(s.kind)} is not one of constant, step, cosine.`,
  );
}

export interface RunSource {
  /** Parsed "webgpu_trainer" metadata. */
  header: JsonObject;
  /** Parsed "webgpu_trainer_checkpoint" metadata, for a checkpoint. */
  state: JsonObject | null;
  /** File name inside the project. */
  start: string;
  /** Folder of the dataset, if the export found one. */
  dataPath: string | null;
}

export function runJson(src: RunSource): RunJson {
  const notes: string[] = [];
  const h = src.header;
  const training = isObj(h.training) ? h.training : {};
  const cfg = isObj(training.config) ? training.config : {};
  const arch = isObj(h.architecture) ? h.architecture : {};
  const shape = Array.isArray(arch.inputShape) ? (arch.inputShape as number[]) : [];
  const batchSize = numOr(cfg.batchSize, numOr(training.batchSize, NaN));
  if (!(batchSize > 0))
    notes.push('the file names no batch size: train.py uses 128 (override with --batch-size)');
  const epochs = numOr(cfg.epochs, numOr(training.epochs, 0));
  if (!src.dataPath) notes.push('no local copy of the training data was found: give train.py --data PATH');
  return {
    start: src.start,
    startKind: src.state ? 'checkpoint' : 'model',
    inputShape: shape,
    normalization: h.normalization ?? { kind: 'scale' },
    classNames: Array.isArray(h.classNames) ? (h.classNames as string[]) : [],
    loss: String(arch.loss),
    labelSmoothing: arch.loss === 'softmax-ce' ? numOr(cfg.labelSmoothing, 0) : 0,
    optimizer: runOptimizer(training, src.state, notes),
    schedule: runSchedule(training, src.state, notes),
    batchSize: batchSize > 0 ? batchSize : 128,
    epochs,
    seed: numOr(cfg.seed, 1),
    data: {
      source: typeof cfg.data === 'string' ? cfg.data : null,
      path: src.dataPath,
      // The network's input fixes what image folders are resized and converted to.
      imageSize: shape.length === 3 ? [shape[0], shape[1]] : null,
      channels: shape.length === 3 ? shape[2] : 1,
      resize: cfg.resize === 'center-crop' ? 'center-crop' : 'resize',
    },
    notes,
  };
}
