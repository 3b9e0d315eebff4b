// One network on one GPU device, and its training run, which is the library's TrainingRun
// (src/engine/run.ts) with an in-memory store: pause (the run stops after the current step and
// checkpoints), resume (the same run continues: same batches as an uninterrupted run), stop, and
// recovery after a lost device from the checkpoint the run keeps in memory every epoch.
// It runs in the training worker (worker.ts): the Trainer awaits the GPU between steps and onStep
// yields to the worker's event loop, so pause/stop messages and predictions are answered mid-run.
// Predictions asked for during a run wait for the next logged step (between(), never mid-step).

import {
  ConfigError,
  DeviceLostError,
  MemoryRunStore,
  Trainer,
  TrainingRun,
  type EpochLog,
  type GpuDevice,
  type ModelSpec,
  type RunMeta,
  type RunOptions,
  type RunningStats,
  type StepLog,
  type TrainingData,
  type Weights,
} from '../../src/index.js';
import { normalizationMulAdd, type Normalization } from '../../src/data/normalize.js';
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

/**
 * One convolution algorithm for every layer: implicit GEMM needs no im2col buffer, and skipping
 * the per-shape timing run ('tuned') starts training sooner, which counts on slow adapters.
 */
const CONV = 'implicit';

/** Where a run starts from instead of fresh weights: a loaded or earlier model's. */
export interface StartWeights {
  weights: Weights[];
  batchNorm: BatchNormState;
}

export type RunState = 'idle' | 'running' | 'paused' | 'stopped' | 'done' | 'lost' | 'failed';

export interface RunHooks {
  onStep(log: StepLog, samplesPerSecond: number): void;
  onEpoch(log: EpochLog, weights: Weights[]): void | Promise<void>;
  onState(state: RunState, error?: unknown): void;
}

export class Session {
  state: RunState = 'idle';
  private request: 'pause' | 'stop' | undefined;
  private training:
    { options: RunOptions; run: TrainingRun; hooks?: RunHooks; start?: StartWeights } | undefined;
  private pending: (() => Promise<void>)[] = [];

  private constructor(
    public gpu: GpuDevice,
    public trainer: Trainer,
    readonly meta: ModelMeta,
    readonly cfg: NetConfig,
  ) {}

  /** A network to run (a loaded model): its trainer only, no training run. */
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

  /**
   * A network to train on `set`: a TrainingRun whose store keeps the latest checkpoint in
   * memory (every epoch, and at a pause or stop), to restart from after a lost device. It starts
   * from `start`'s weights when given (training a loaded model further), else from fresh ones.
   */
  static async forTraining(
    gpu: GpuDevice,
    meta: ModelMeta,
    cfg: NetConfig,
    set: { images: Uint8Array; labels: Int32Array; count: number },
    start?: StartWeights,
  ): Promise<Session> {
    const options: RunOptions = {
      spec: meta.spec,
      data: { train: uint8Data(meta, set.images, set.labels, set.count) },
      config: {
        epochs: cfg.epochs,
        batchSize: cfg.batchSize,
        seed: cfg.seed,
        optimizer: { name: cfg.optimizer, lr: cfg.lr },
        conv: CONV,
        validationSplit: cfg.validationSplit > 0 ? cfg.validationSplit : undefined,
        logEvery: 5,
      },
      meta: {
        inputShape: meta.inputShape,
        normalization: JSON.parse(JSON.stringify(meta.normalization)) as RunMeta['normalization'],
        classNames: meta.classNames,
      },
      store: new MemoryRunStore('the checkpoint of the last epoch'),
      checkpointEvery: 1,
    };
    const run = await TrainingRun.create(gpu, options);
    if (start) setStart(run.trainer, start);
    const session = new Session(gpu, run.trainer, meta, cfg);
    session.training = { options, run, start };
    return session;
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
    return uint8Data(this.meta, images, labels, count);
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

  /** Starts training (a session made by forTraining). */
  async train(hooks: RunHooks): Promise<void> {
    if (!this.training) throw new ConfigError('This network was loaded, not set up for training.');
    this.training.hooks = hooks;
    await this.runFit();
  }

  /** Continues a paused run where it stopped. */
  async resume(): Promise<void> {
    if (!this.training?.hooks || this.state !== 'paused') return;
    await this.runFit();
  }

  /** After a lost device: a new device, and a run restored from the last checkpoint in memory. */
  async restart(gpu: GpuDevice): Promise<void> {
    const t = this.training;
    if (!t?.hooks || this.state !== 'lost') return;
    const store = t.options.store as MemoryRunStore;
    this.gpu = gpu;
    // No checkpoint yet (lost in the first epoch): the run starts again from the beginning.
    t.run = await TrainingRun.create(gpu, { ...t.options, resume: store.checkpoint });
    if (!store.checkpoint && t.start) setStart(t.run.trainer, t.start);
    this.trainer = t.run.trainer;
    this.setState('paused');
    await this.runFit();
  }

  private setState(s: RunState, error?: unknown): void {
    this.state = s;
    this.training?.hooks?.onState(s, error);
    // Requests queued for "between steps" run now that no step is in flight.
    if (s !== 'running') void this.drain();
  }

  private async runFit(): Promise<void> {
    const { run, hooks } = this.training! as { run: TrainingRun; hooks: RunHooks };
    this.request = undefined;
    this.setState('running');
    let lastTime = performance.now();
    let lastFrame = lastTime;
    try {
      const result = await run.train({
        shouldStop: () =>
          this.request !== undefined || (this.cfg.maxSteps > 0 && run.trainer.step >= this.cfg.maxSteps),
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
        onEpoch: async (log) => hooks.onEpoch(log, await run.trainer.getWeights()),
      });
      if (this.request === 'pause' && result.stopped) this.setState('paused');
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

function setStart(trainer: Trainer, start: StartWeights): void {
  trainer.setWeights(start.weights);
  if (start.batchNorm.stats.length > 0)
    trainer.setRunningStats(start.batchNorm.stats, start.batchNorm.batchesTracked);
}

/** uint8 images as a trainer's input, normalised on the GPU with the model's statistics. */
function uint8Data(meta: ModelMeta, images: Uint8Array, labels: Int32Array, count: number): TrainingData {
  const channels = meta.inputShape[2];
  return {
    kind: 'uint8',
    images,
    labels,
    count,
    channels,
    ...normalizationMulAdd(meta.normalization, channels),
  };
}
