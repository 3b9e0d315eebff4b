// The contents of model and checkpoint files as the API sees them (src/io/modelfile.ts reads and
// writes them; src/io/modelfile-header.ts validates their metadata): the format names and
// versions, the vocabulary the files use, and the shapes of what saveModel / loadModel and
// saveCheckpoint / loadCheckpoint take and give.

import type { LayerSpec as NnLayerSpec } from '../nn/layers.js';
import type { LossName as Loss } from '../nn/losses.js';
import type { RngState } from '../rng.js';
import type { JsonObject, JsonValue } from './json.js';
import type { EngineRunningStats } from './torch-layout.js';

export const MODEL_FORMAT = 'webgpu-trainer/model';
export const CHECKPOINT_FORMAT = 'webgpu-trainer/checkpoint';
export const MODEL_FORMAT_VERSION = 2;
export const CHECKPOINT_STATE_VERSION = 1;
export const MODEL_METADATA_KEY = 'webgpu_trainer';
export const CHECKPOINT_METADATA_KEY = 'webgpu_trainer_checkpoint';

// The files speak the engine's one vocabulary (src/nn).
export { ACTIVATIONS, type Activation } from '../nn/activations.js';
export { LOSSES, type LossName as Loss } from '../nn/losses.js';
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
