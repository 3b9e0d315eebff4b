// One network on one GPU device, and its training run: pause (stop after the current step and
// remember the position), resume (same batches as an uninterrupted run: the fit's Rng state is
// restored), stop, and recovery after a lost device from the snapshot read back each epoch.
// It runs in the training worker (worker.ts): the Trainer awaits the GPU between steps and onStep
// yields to the worker's event loop, so pause/stop messages and predictions are answered mid-run.
// Predictions asked for during a run wait for the next logged step (between(), never mid-step).

import {
  DeviceLostError,
  Trainer,
  type EpochLog,
  type GpuDevice,
  type ModelSpec,
  type RngState,
  type RunningStats,
  type StepLog,
  type TrainingData,
  type Weights,
} from '../../src/index.js';
import { normalizationMulAdd, type Normalization } from '../../src/data/pipeline-normalize.js';
import type { NetConfig } from './network.js';

/** Per-channel preprocessing saved with the model (same JSON as the CLI writes). */
export type { Normalization };

export interface ModelMeta {
  spec: ModelSpec;
  /** [height, width, channels]. */
  inputShape: [number, number, number];
  normalization: Normalization;
  classNames: string[];
}

/** Batch-norm running statistics and PyTorch's num_batches_tracked (empty without batch norm). */
export interface BatchNormState {
  stats: RunningStats[];
  batchesTracked: number;
}

interface Snapshot {
  weights: Weights[];
  batchNorm: BatchNormState;
  optim: { t: number; tensors: Record<string, Float32Array> };
  position: { epoch: number; batch: number };
  rng: RngState | undefined;
}

/**
 * One convolution algorithm for every layer: implicit GEMM needs no im2col buffer, and skipping
 * the per-shape timing run ('tuned') starts training sooner, which counts on slow adapters.
 */
const CONV = 'implicit';

export type RunState = 'idle' | 'running' | 'paused' | 'stopped' | 'done' | 'lost' | 'failed';

export interface RunHooks {
  onStep(log: StepLog, samplesPerSecond: number): void;
  onEpoch(log: EpochLog, weights: Weights[]): void | Promise<void>;
  onState(state: RunState, error?: unknown): void;
}

export class Session {
  state: RunState = 'idle';
  private request: 'pause' | 'stop' | undefined;
  private snapshot: Snapshot | undefined;
  private fitData: { train: TrainingData; hooks: RunHooks } | undefined;
  private pending: (() => Promise<void>)[] = [];

  private constructor(
    public gpu: GpuDevice,
    public trainer: Trainer,
    readonly meta: ModelMeta,
    readonly cfg: NetConfig,
  ) {}

  static async create(
    gpu: GpuDevice,
    meta: ModelMeta,
    cfg: NetConfig,
    weights?: Weights[],
    batchNorm?: BatchNormState,
  ): Promise<Session> {
    const trainer = await Trainer.create(gpu, meta.spec, {
      seed: cfg.seed,
      optimizer: { name: cfg.optimizer, lr: cfg.lr },
      conv: CONV,
    });
    if (weights) trainer.setWeights(weights);
    if (batchNorm) trainer.setRunningStats(batchNorm.stats, batchNorm.batchesTracked);
    return new Session(gpu, trainer, meta, cfg);
  }

  /** Runs `fn` now, or between two steps when training (the trainer is never used mid-step). */
  between<T>(fn: () => Promise<T>): Promise<T> {
    if (this.state !== 'running') return fn();
    return new Promise<T>((resolve, reject) => {
      this.pending.push(() => fn().then(resolve, reject));
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) await this.pending.shift()!();
  }

  async batchNorm(): Promise<BatchNormState> {
    return { stats: await this.trainer.getRunningStats(), batchesTracked: this.trainer.batchesTracked };
  }

  /** uint8 images as the trainer's input, normalised on the GPU. */
  data(images: Uint8Array, labels: Int32Array, count: number): TrainingData {
    const channels = this.meta.inputShape[2];
    return {
      kind: 'uint8',
      images,
      labels,
      count,
      channels,
      ...normalizationMulAdd(this.meta.normalization, channels),
    };
  }

  /** One sample's bytes normalised on the CPU, for predict(). */
  floatInput(bytes: Uint8Array): Float32Array {
    const c = this.meta.inputShape[2];
    const { mul, add } = normalizationMulAdd(this.meta.normalization, c);
    return Float32Array.from(bytes, (v, i) => v * mul[i % c] + add[i % c]);
  }

  pause(): void {
    if (this.state === 'running') this.request = 'pause';
  }

  stop(): void {
    if (this.state === 'running') this.request = 'stop';
    else if (this.state === 'paused' || this.state === 'lost') this.setState('stopped');
  }

  /** Starts training, or continues from where a pause (or the last snapshot) left off. */
  async train(train: TrainingData, hooks: RunHooks): Promise<void> {
    this.fitData = { train, hooks };
    await this.runFit();
  }

  async resume(): Promise<void> {
    if (!this.fitData || this.state !== 'paused') return;
    await this.runFit();
  }

  /** After a lost device: new device and trainer, weights and optimizer state from the last epoch. */
  async restart(gpu: GpuDevice): Promise<void> {
    if (!this.fitData || this.state !== 'lost') return;
    const snap = this.snapshot;
    this.gpu = gpu;
    this.trainer = await Trainer.create(this.gpu, this.meta.spec, {
      seed: this.cfg.seed,
      optimizer: { name: this.cfg.optimizer, lr: this.cfg.lr },
      conv: CONV,
    });
    if (snap) {
      this.trainer.setWeights(snap.weights);
      this.trainer.setRunningStats(snap.batchNorm.stats, snap.batchNorm.batchesTracked);
      this.trainer.setOptimizerState(snap.optim);
      this.trainer.position = { ...snap.position };
      if (snap.rng) this.trainer.fitStartRngState = snap.rng;
    } else {
      this.trainer.position = { epoch: 0, batch: 0 };
    }
    this.setState('paused');
    await this.runFit();
  }

  private setState(s: RunState, error?: unknown): void {
    this.state = s;
    this.fitData?.hooks.onState(s, error);
    // Requests queued for "between steps" run now that no step is in flight.
    if (s !== 'running') void this.drain();
  }

  private async runFit(): Promise<void> {
    const { train, hooks } = this.fitData!;
    const t = this.trainer;
    const resuming = this.state === 'paused';
    if (resuming && t.fitStartRngState) t.rng.restore(t.fitStartRngState);
    this.request = undefined;
    this.setState('running');
    let lastTime = performance.now();
    let lastFrame = lastTime;
    try {
      const history = await t.fit(train, {
        epochs: this.cfg.epochs,
        batchSize: this.cfg.batchSize,
        validationSplit: this.cfg.validationSplit > 0 ? this.cfg.validationSplit : undefined,
        logEvery: 5,
        start: resuming ? t.position : undefined,
        shouldStop: () =>
          this.request !== undefined || (this.cfg.maxSteps > 0 && t.step >= this.cfg.maxSteps),
        onStep: async (log) => {
          const now = performance.now();
          hooks.onStep(log, (log.samples * 1000) / Math.max(1e-3, now - lastTime));
          lastTime = now;
          await this.drain();
          // Let pause/stop messages in even when the GPU answers without yielding.
          if (now - lastFrame > 30) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            lastFrame = performance.now();
          }
        },
        onEpoch: async (log) => {
          const weights = await t.getWeights();
          this.snapshot = {
            weights,
            batchNorm: await this.batchNorm(),
            optim: await t.getOptimizerState(),
            position: { ...t.position },
            rng: t.fitStartRngState,
          };
          await hooks.onEpoch(log, weights);
        },
      });
      if (this.request === 'pause' && history.stopped) this.setState('paused');
      else if (this.request === 'stop') this.setState('stopped');
      else this.setState('done');
    } catch (e) {
      const lost = this.lostError(e);
      if (lost) this.setState('lost', lost);
      else this.setState('failed', e);
    }
  }

  /** The DeviceLostError behind a failure, if the device is gone (its promises reject otherwise). */
  private lostError(e: unknown): DeviceLostError | undefined {
    if (e instanceof DeviceLostError) return e;
    try {
      this.gpu.throwIfFailed();
    } catch (inner) {
      if (inner instanceof DeviceLostError) return inner;
    }
    return undefined;
  }

  async weights(): Promise<Weights[]> {
    return this.trainer.getWeights();
  }

  destroy(): void {
    this.trainer.destroy();
  }
}
