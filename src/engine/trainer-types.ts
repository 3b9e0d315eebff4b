// The options and logs of the Trainer's public API (src/engine/trainer.ts re-exports them):
// what a trainer is created with, what fit() takes, and what it reports per step and epoch.

import type { LossScaleOptions } from '../kernels/amp.js';
import type { MatmulForm, MatmulVariant } from '../kernels/matmul.js';
import type { Init } from '../nn/init.js';
import type { OptimizerConfig } from '../optim/optimizers.js';
import type { Schedule } from '../optim/schedules.js';
import type { BatchSource } from './batch-source.js';
import type { Residency } from './feed.js';
import type { FreezeSpec } from './freeze.js';
import type { AugmentOptions } from './gpu-data.js';
import type { MatmulTuning } from './tune.js';

export interface TrainerOptions {
  /** Seeds the Rng (init, split, shuffling) and, for the numpy-* inits, np.random.seed(seed). */
  seed?: number;
  /**
   * One initialiser for every weighted layer (dense, conv2d), or one per weighted layer in order.
   * Default: He where the layer's output goes through a ReLU-like activation (its own, or that of
   * a batch norm right after it), else Xavier. Batch-norm scales start at 1, every bias at 0.
   */
  init?: Init | Init[];
  optimizer: OptimizerConfig;
  schedule?: Schedule;
  /**
   * Matmul variants: a tuning from chooseMatmulVariants (per form, plus long reductions), or a
   * fixed variant per form. Default: the adapter's tuned choice (measured once, then cached).
   */
  variants?: MatmulTuning | Partial<Record<MatmulForm, MatmulVariant>>;
  /**
   * Conv2d algorithm: 'tuned' (default: im2col + matmul or implicit GEMM, whichever measures
   * faster on this adapter for each layer shape and form), or one fixed kind for every conv.
   */
  conv?: 'tuned' | 'im2col' | 'implicit';
  /**
   * Storage precision. 'f32' (default) keeps everything in f32. 'f16' is mixed precision (needs
   * the adapter's 'shader-f16'): half working copies of the dense and conv weights, f16
   * activations and activation gradients of every hidden layer, f32 accumulation, f32
   * master weights, gradients and optimizer state, and dynamic loss scaling that skips a step
   * whose gradients overflow (see src/engine/plan.ts). 'auto' picks f16 where the adapter has it
   * and a forward and backward pass of this model measures faster in it, else f32.
   */
  precision?: Precision;
  /** Dynamic loss scaling of the f16 precision (initial scale, growth interval). */
  lossScale?: LossScaleOptions;
  /**
   * Label smoothing eps in [0, 1) of the softmax-ce loss (PyTorch's CrossEntropyLoss
   * label_smoothing): targets (1-eps)*onehot + eps/K. Training reports this smoothed loss;
   * evaluate() reports the plain cross-entropy. Default 0; nonzero needs softmax-ce.
   */
  labelSmoothing?: number;
  /**
   * Frozen layers (fine-tuning, src/engine/freeze.ts): their parameters are left alone by the
   * optimizer, their batch norms run on running statistics, and no gradient is computed for them.
   * 'backbone' freezes all but the last layer with parameters (the head). Default 'none';
   * Trainer.setFreeze changes it between steps.
   */
  freeze?: FreezeSpec;
}

export type { FreezeSpec } from './freeze.js';

export type Precision = 'f32' | 'f16' | 'auto';
export const PRECISIONS: readonly Precision[] = ['f32', 'f16', 'auto'];

export interface StepLog {
  step: number;
  epoch: number;
  /** Index, within its epoch, of the batch this step trained on. */
  batch: number;
  /** Mean loss and accuracy over the samples since the previous log. */
  loss: number;
  accuracy: number;
  samples: number;
  lr: number;
}

export interface EpochLog {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  seconds: number;
  samplesPerSecond: number;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  shuffle?: boolean;
  /** Fraction of the data held out (seeded split) and evaluated after each epoch. */
  validationSplit?: number;
  validationData?: BatchSource;
  /** Read the loss every k steps (and at each epoch end). Default 10. */
  logEvery?: number;
  maxInFlight?: number;
  /**
   * 'auto' keeps data on the GPU when it fits one binding (and, for streamed data, the memory
   * budget); 'upload' sends each batch (float rows assembled on the CPU, uint8 records streamed);
   * 'gpu' insists on residency.
   */
  residency?: Residency;
  /**
   * Bytes of host memory the training data may take. Streamed data (kind 'stream') whose records
   * fit it (and one GPU binding) is read into memory once and trained resident; otherwise it
   * streams, holding only readAhead + 2 batches. Default: streamed data always streams.
   */
  memoryBudget?: number;
  onStep?: (log: StepLog) => void | Promise<void>;
  onEpoch?: (log: EpochLog) => void | Promise<void>;
  /** Return true to stop after the current step (checked every step). */
  shouldStop?: () => boolean;
  /**
   * Augment the TRAINING batches of uint8 images on the GPU (random crop with padding, flip,
   * brightness/contrast), drawn per (seed, epoch, sample) so runs reproduce and resume exactly.
   * Validation and evaluation never see augmented images. Off by default.
   */
  augment?: AugmentOptions;
  /** Start position (resume): epoch index and batch within it. */
  start?: { epoch: number; batch: number };
}

export interface History {
  epochs: EpochLog[];
  steps: number;
  stopped: boolean;
}
