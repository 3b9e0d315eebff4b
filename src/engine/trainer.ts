// The trainer: owns a model's GPU buffers and its plans, and runs fit / evaluate / predict.
//
// Each training step is one command encoder, one compute pass and one queue.submit. Per step the
// CPU only writes small things with queue.writeBuffer: the batch's sample indices (resident data)
// or the batch itself (upload path), the optimizer's hyper-parameters, and the active row count
// of a last partial batch. Loss and accuracy accumulate on the GPU and are copied out every
// `logEvery` steps into a staging buffer that is mapped asynchronously; at most `maxInFlight`
// submitted steps may be pending before the CPU waits (how it waits: src/engine/step-waiter.ts).

import { ConfigError, NonFiniteInputError, NonFiniteLossError, ShapeError } from '../errors.js';
import { USAGE, writeArray } from '../gpu/buffers.js';
import type { GpuDevice } from '../gpu/device.js';
import { StagingBuffer, readBuffer } from '../gpu/readback.js';
import type { KernelEnv } from '../kernels/common.js';
import { createKernelEnv } from '../kernels/env.js';
import { ACTIVE_OFFSET } from '../kernels/losses.js';
import { DEFAULT_VARIANT, type MatmulForm, type MatmulVariant } from '../kernels/matmul.js';
import { chooseMatmulVariants, variantFor, type MatmulTuning } from './tune.js';
import { writeStepParams } from '../kernels/step-params.js';
import { defaultInit, initModelWeights, type Init } from '../nn/init.js';
import { resolveModel, type ModelSpec, type ResolvedModel } from '../nn/layers.js';
import type { ParamLayout } from '../nn/model.js';
import { mix32 } from '../rng.js';
import { convAlgoPicker } from './conv-pick.js';
import { denseBiasChunk } from '../kernels/reduce.js';
import { resolveOptimizer, type OptimizerConfig, type ResolvedOptimizer } from '../optim/optimizers.js';
import { learningRate, validateSchedule, type Schedule } from '../optim/schedules.js';
import { Rng, type RngState } from '../rng.js';
import { buildPlan, encodeAll, type ModelBuffers, type Plan, type PlanPickers } from './plan.js';
import {
  prepareLossScaler,
  resolveLossScale,
  type LossScaleOptions,
  type LossScaleState,
  type LossScaler,
} from '../kernels/amp.js';
import { profileDispatches, type KernelTime } from './profile.js';
import { epochOrder, splitIndices } from '../data/pipeline-order.js';
import {
  dataFeatures,
  firstNonFinite,
  loadStreamed,
  sourceBytes,
  validateData,
  validateStreamed,
  type BatchSource,
  type TrainingData,
  type Uint8Data,
} from './batch-source.js';
import { checkFiniteRows, Feeds, type Residency } from './feed.js';
import { fitsResident, type AugmentOptions } from './gpu-data.js';
import { createStepWaiter, pacedWaitsWanted } from './step-waiter.js';

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
}

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

/**
 * One entry per layer with parameters (dense, conv2d, batchnorm), in order. W: dense [units,
 * fanIn]; conv2d [F, KH, KW, C] (the engine's layout; model files hold PyTorch's); batch-norm
 * scale gamma [C]. b: the bias [units] / [F] (empty for a conv2d without bias), batch-norm shift.
 */
export interface Weights {
  W: Float32Array;
  b: Float32Array;
}

/** Batch-norm running statistics, one entry per batchnorm layer in order. */
export interface RunningStats {
  mean: Float32Array;
  variance: Float32Array;
}

export class Trainer {
  readonly spec: ModelSpec;
  /** The spec with every layer's shapes, parameter slots and state slots. */
  readonly model: ResolvedModel;
  readonly layout: ParamLayout;
  /** Training steps that updated the batch-norm running statistics (PyTorch's num_batches_tracked). */
  batchesTracked = 0;
  /** Seed of the dropout masks (derived from the trainer's seed; masks are keyed by it and the step). */
  readonly dropoutSeed: number;
  /** Seed of the augmentation draws (derived from the trainer's seed). */
  readonly augmentSeed: number;
  readonly optimizer: ResolvedOptimizer;
  readonly schedule: Schedule | undefined;
  /** Optimizer steps taken so far (t of the next step is step + 1). */
  step = 0;
  readonly rng: Rng;
  /** The Rng state at the start of the last fit() (what a resumable checkpoint must store). */
  fitStartRngState: RngState | undefined;
  /** Where the next training step of the current fit would start: pass as FitOptions.start to resume. */
  position: { epoch: number; batch: number } = { epoch: 0, batch: 0 };
  private readonly env: KernelEnv;
  private readonly bufs: ModelBuffers;
  private readonly dummies: { read: GPUBuffer; write: GPUBuffer };
  private readonly plans = new Map<number, Promise<Plan>>();
  private readonly feeds: Feeds;
  /** Streamed sets read into memory because they fit the memory budget. */
  private readonly loaded = new WeakMap<BatchSource, Promise<Uint8Data>>();
  private variants: MatmulTuning;
  /** Conv algorithms: measured per shape on this adapter ('tuned'), or fixed (tests, benchmarks). */
  private readonly convChoice: TrainerOptions['conv'];
  private storage: 'f32' | 'f16' = 'f32';
  private scaler: LossScaler | undefined;
  private staging: StagingBuffer[] = [];
  /** Scratch for 4-byte uniform updates (no per-step allocation). */
  private readonly scalar = new Uint32Array(1);
  private destroyed = false;

  private constructor(
    readonly gpu: GpuDevice,
    spec: ModelSpec,
    opts: TrainerOptions,
  ) {
    this.model = resolveModel(spec);
    validateSchedule(opts.schedule);
    this.spec = spec;
    this.dropoutSeed = mix32(((opts.seed ?? 0) ^ 0x0d5e7d) >>> 0);
    this.augmentSeed = mix32(((opts.seed ?? 0) ^ 0xa06e7) >>> 0);
    this.optimizer = resolveOptimizer(opts.optimizer);
    this.schedule = opts.schedule;
    this.rng = new Rng(opts.seed ?? 0);
    this.convChoice = opts.conv ?? 'tuned';
    this.env = createKernelEnv(gpu);
    const m = this.model;
    this.feeds = new Feeds(
      this.env,
      { inputSize: m.inputSize, outputs: m.outputSize, loss: spec.loss },
      this.augmentSeed,
    );
    this.layout = { layers: m.params, size: m.paramSize, count: m.paramCount };
    const P = this.layout.size;
    const pool = this.env.pool;
    const storage = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
    this.bufs = {
      model: m,
      state: m.stateSize > 0 ? pool.acquire(m.stateSize * 4, storage, 'bn-running-stats') : undefined,
      params: pool.acquire(P * 4, storage, 'params'),
      grads: pool.acquire(P * 4, storage, 'grads'),
      m: this.optimizer.name !== 'sgd' ? pool.acquire(P * 4, storage, 'optim-m') : undefined,
      v:
        this.optimizer.name === 'adam' || this.optimizer.name === 'adamw'
          ? pool.acquire(P * 4, storage, 'optim-v')
          : undefined,
    };
    this.dummies = {
      read: pool.acquire(16, USAGE.STORAGE, 'unused-read'),
      write: pool.acquire(16, USAGE.STORAGE, 'unused-write'),
    };
    // Fixed variants given per form (the rest default); a full tuning is used as it is.
    const given: Partial<MatmulTuning> = opts.variants ?? {};
    this.variants = {
      forward: DEFAULT_VARIANT,
      weightGrad: DEFAULT_VARIANT,
      inputGrad: DEFAULT_VARIANT,
      source: 'forced',
      key: 'given',
      ...given,
      longK: given.longK ?? given.forward ?? DEFAULT_VARIANT,
    };
    const weighted = m.params.filter((p) => p.type !== 'batchnorm');
    const one = Array.isArray(opts.init) ? undefined : opts.init;
    const inits = Array.isArray(opts.init)
      ? opts.init
      : weighted.map((p) => one ?? defaultInit(outputActivation(m, p.layer)));
    // Forked whatever the kinds, so the trainer's Rng (split, shuffling) does not depend on them.
    const initRng = this.rng.fork();
    const W = initModelWeights(inits, weighted, opts.seed ?? 0, initRng);
    let wi = 0;
    this.setWeights(
      m.params.map((p) =>
        p.type === 'batchnorm'
          ? { W: new Float32Array(p.units).fill(1), b: new Float32Array(p.units) }
          : { W: W[wi++], b: new Float32Array(p.b.length) },
      ),
    );
    this.setRunningStats(
      m.states.map((s) => ({
        mean: new Float32Array(s.channels),
        variance: new Float32Array(s.channels).fill(1),
      })),
    );
    // Gradients and optimizer state start at zero; padding between tensors stays zero forever.
    for (const b of [this.bufs.grads, this.bufs.m, this.bufs.v])
      if (b) gpu.device.queue.writeBuffer(b, 0, new Float32Array(P));
  }

  static async create(gpu: GpuDevice, spec: ModelSpec, opts: TrainerOptions): Promise<Trainer> {
    const want = opts.precision ?? 'f32';
    if (!PRECISIONS.includes(want)) {
      throw new ConfigError(`precision must be one of ${PRECISIONS.join(', ')}, got '${String(want)}'.`);
    }
    const hasF16 = gpu.device.features.has('shader-f16');
    if (want === 'f16' && !hasF16) {
      throw new ConfigError(
        `precision 'f16' needs an adapter with the 'shader-f16' feature, and ${gpu.report.name} has none; use 'f32', or 'auto' to take f16 only where it is offered and faster.`,
      );
    }
    resolveLossScale(opts.lossScale);
    const t = new Trainer(gpu, spec, opts);
    if (!opts.variants) t.variants = await tunedVariants(t.env, gpu);
    if (want !== 'f32' && hasF16) {
      t.scaler = await prepareLossScaler(t.env, {
        grads: { buffer: t.bufs.grads, offset: 0, length: t.layout.size },
        options: opts.lossScale,
      });
      t.storage = want === 'auto' ? await t.fasterPrecision() : 'f16';
    }
    gpu.throwIfFailed();
    return t;
  }

  /** The storage precision training runs in ('auto' resolved). */
  get precision(): 'f32' | 'f16' {
    return this.storage;
  }

  /** The loss scaler's scale and skipped-step count (mixed precision), or undefined in f32. */
  async lossScaleState(): Promise<LossScaleState | undefined> {
    if (this.storage !== 'f16' || !this.scaler) return undefined;
    this.check();
    const s = await this.scaler.read();
    this.gpu.throwIfFailed();
    return s;
  }

  /**
   * Restores the loss scaler (a checkpoint's); ignored in f32, where there is none. The scale
   * must be a positive power of two.
   */
  setLossScaleState(s: LossScaleState): void {
    if (this.storage !== 'f16' || !this.scaler) return;
    resolveLossScale({ initScale: s.scale });
    this.scaler.write(s);
  }

  /**
   * 'auto': times a forward (evaluation mode: running statistics stay untouched) and backward
   * pass of batch 64 in each precision, best of 5 after a warm-up, on whatever the buffers hold.
   * Weights and optimizer state are not touched; the measuring plans are released.
   */
  private async fasterPrecision(): Promise<'f32' | 'f16'> {
    const B = 64;
    const device = this.gpu.device;
    const pickers = this.pickers();
    const time = async (precision: 'f32' | 'f16'): Promise<number> => {
      const plan = await buildPlan(this.env, this.bufs, this.optimizer, B, pickers, this.dummies, {
        precision,
        scaler: this.scaler,
      });
      const list = [...plan.forwardEval, plan.loss, ...plan.lossBackward, ...plan.backward];
      let best = Infinity;
      for (let i = 0; i < 6; i++) {
        const t0 = performance.now();
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        encodeAll(pass, list);
        pass.end();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        if (i > 0) best = Math.min(best, performance.now() - t0);
      }
      for (const b of plan.buffers) this.env.pool.release(b);
      return best;
    };
    const f32 = await time('f32');
    const f16 = await time('f16');
    return f16 < f32 ? 'f16' : 'f32';
  }

  get parameterCount(): number {
    return this.layout.count;
  }
  get bufferCount(): number {
    return this.env.pool.liveCount;
  }
  get gpuBytes(): number {
    return this.env.pool.bytesInUse;
  }
  get matmulVariants(): MatmulTuning {
    return { ...this.variants };
  }

  // ---- weights and state -------------------------------------------------------------------

  setWeights(weights: Weights[]): void {
    if (weights.length !== this.layout.layers.length) {
      throw new ShapeError(
        `setWeights: the model has ${this.layout.layers.length} layers with parameters, got ${weights.length} weight pairs.`,
      );
    }
    const flat = new Float32Array(this.layout.size);
    weights.forEach((w, i) => {
      const l = this.layout.layers[i];
      if (w.W.length !== l.W.length || w.b.length !== l.b.length) {
        throw new ShapeError(
          `setWeights: layer ${l.layer} needs W [${l.shape.join(', ')}] and b [${l.b.length}] (${l.type}), got ${w.W.length} and ${w.b.length} values.`,
        );
      }
      for (const [name, arr] of [
        ['weight', w.W],
        ['bias', w.b],
      ] as const) {
        const bad = firstNonFinite(Float32Array.from(arr));
        if (bad >= 0)
          throw new NonFiniteInputError(`setWeights: layer ${l.layer} ${name} ${bad} is ${arr[bad]}.`);
      }
      flat.set(w.W, l.W.offset);
      flat.set(w.b, l.b.offset);
    });
    this.gpu.device.queue.writeBuffer(this.bufs.params, 0, flat);
  }

  /** Sets the batch-norm running statistics (one entry per batchnorm layer, in order). */
  setRunningStats(stats: RunningStats[], batchesTracked?: number): void {
    const states = this.model.states;
    if (stats.length !== states.length) {
      throw new ShapeError(
        `setRunningStats: the model has ${states.length} batchnorm layers, got ${stats.length} entries.`,
      );
    }
    if (batchesTracked !== undefined) this.batchesTracked = batchesTracked;
    if (states.length === 0) return;
    const flat = new Float32Array(this.model.stateSize);
    stats.forEach((s, i) => {
      const st = states[i];
      if (s.mean.length !== st.channels || s.variance.length !== st.channels) {
        throw new ShapeError(
          `setRunningStats: layer ${st.layer} needs ${st.channels} means and variances, got ${s.mean.length} and ${s.variance.length}.`,
        );
      }
      for (let c = 0; c < st.channels; c++) {
        if (!Number.isFinite(s.mean[c]) || !(s.variance[c] >= 0))
          throw new NonFiniteInputError(
            `setRunningStats: layer ${st.layer} channel ${c} has mean ${s.mean[c]} and variance ${s.variance[c]}.`,
          );
      }
      flat.set(s.mean, st.mean);
      flat.set(s.variance, st.variance);
    });
    this.gpu.device.queue.writeBuffer(this.bufs.state!, 0, flat);
  }

  async getRunningStats(): Promise<RunningStats[]> {
    const states = this.model.states;
    if (states.length === 0) return [];
    this.check();
    const bytes = await readBuffer(
      this.gpu.device,
      this.env.pool,
      this.bufs.state!,
      this.model.stateSize * 4,
    );
    this.gpu.throwIfFailed();
    const flat = new Float32Array(bytes);
    return states.map((st) => ({
      mean: flat.slice(st.mean, st.mean + st.channels),
      variance: flat.slice(st.variance, st.variance + st.channels),
    }));
  }

  async getWeights(): Promise<Weights[]> {
    const flat = await this.readFlat(this.bufs.params);
    return this.layout.layers.map((l) => ({
      W: flat.slice(l.W.offset, l.W.offset + l.W.length),
      b: flat.slice(l.b.offset, l.b.offset + l.b.length),
    }));
  }

  /** Optimizer moments (flat, in the parameter layout) and the step, for checkpoints. */
  async getOptimizerState(): Promise<{ t: number; tensors: Record<string, Float32Array> }> {
    const tensors: Record<string, Float32Array> = {};
    if (this.bufs.m) tensors.m = await this.readFlat(this.bufs.m);
    if (this.bufs.v) tensors.v = await this.readFlat(this.bufs.v);
    return { t: this.step, tensors };
  }

  setOptimizerState(state: { t: number; tensors: Record<string, Float32Array> }): void {
    for (const [name, buf] of [
      ['m', this.bufs.m],
      ['v', this.bufs.v],
    ] as const) {
      if (!buf) continue;
      const data = state.tensors[name];
      if (!data || data.length !== this.layout.size) {
        throw new ShapeError(
          `Optimizer state '${name}' must hold ${this.layout.size} values (this model's layout), got ${data?.length ?? 0}.`,
        );
      }
      writeArray(this.gpu.device.queue, buf, 0, data);
    }
    this.step = state.t;
  }

  private async readFlat(buf: GPUBuffer): Promise<Float32Array> {
    this.check();
    const bytes = await readBuffer(this.gpu.device, this.env.pool, buf, this.layout.size * 4);
    this.gpu.throwIfFailed();
    return new Float32Array(bytes);
  }

  // ---- plans and feeds -------------------------------------------------------------------

  private pickers(): PlanPickers {
    const tuning = this.variants;
    const matmul = (form: MatmulForm, b: number, k: number, n: number) => variantFor(tuning, form, b, k, n);
    const conv = convAlgoPicker(this.env, this.gpu, tuning, this.convChoice);
    const { report } = this.gpu;
    return { matmul, conv, denseBiasChunk: denseBiasChunk(!report.software && report.kind === 'hardware') };
  }

  private plan(B: number): Promise<Plan> {
    let p = this.plans.get(B);
    if (!p) {
      p = buildPlan(this.env, this.bufs, this.optimizer, B, this.pickers(), this.dummies, {
        precision: this.storage,
        scaler: this.scaler,
      });
      this.plans.set(B, p);
    }
    return p;
  }

  /**
   * What a fit or evaluation feeds from: streamed data that fits the memory budget (or must be
   * resident) is read into memory once; everything else as given.
   */
  private async source(
    data: BatchSource,
    residency: Residency,
    budget: number | undefined,
  ): Promise<BatchSource> {
    if (data.kind !== 'stream') return data;
    const bytes = sourceBytes(data);
    const fitsBudget = budget !== undefined && bytes <= budget;
    if (residency === 'upload' || (residency === 'auto' && !fitsBudget)) return data;
    let p = this.loaded.get(data);
    if (!p) {
      p = loadStreamed(data);
      this.loaded.set(data, p);
    }
    const d = await p;
    if (residency === 'auto' && !fitsResident(this.env, d)) return data;
    return d;
  }

  private lastActive = new Map<number, number>();
  private readonly stepWords = new Uint32Array(4);
  /** Live rows of this batch (loss masking; batch-norm statistics) and, for dropout, the step. */
  private setActive(plan: Plan, n: number): void {
    if (this.model.hasModes)
      writeStepParams(this.gpu.device.queue, plan.stepParams, this.stepWords, {
        active: n,
        step: this.step,
        seed: this.dropoutSeed,
      });
    if (this.lastActive.get(plan.B) === n) return;
    this.scalar[0] = n;
    writeArray(this.gpu.device.queue, plan.loss.params, ACTIVE_OFFSET, this.scalar);
    this.lastActive.set(plan.B, n);
  }

  private stagingFor(): StagingBuffer {
    let s = this.staging.find((b) => !b.busy);
    if (!s) {
      s = new StagingBuffer(this.env.pool, 16, 'loss-readback');
      this.staging.push(s);
    }
    return s;
  }

  // ---- training --------------------------------------------------------------------------

  async fit(data: BatchSource, o: FitOptions): Promise<History> {
    this.check();
    this.validate(data, 'training data');
    if (!Number.isInteger(o.epochs) || o.epochs < 1)
      throw new ConfigError(`epochs must be a positive integer, got ${o.epochs}.`);
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
      throw new ConfigError(`batchSize must be a positive integer, got ${o.batchSize}.`);
    const split = o.validationSplit ?? 0;
    if (!(split >= 0 && split < 1)) throw new ConfigError(`validationSplit must be in [0, 1), got ${split}.`);

    // Everything random in a fit derives from the trainer's Rng as it is now; a checkpoint that
    // stores this state and the (epoch, batch) position resumes onto the same batches exactly.
    this.fitStartRngState = this.rng.state();
    if (o.memoryBudget !== undefined && !(o.memoryBudget > 0))
      throw new ConfigError(`memoryBudget must be a positive number of bytes, got ${o.memoryBudget}.`);
    // Seeded split and per-epoch order from the data library's pipeline (pipeline-order.ts).
    const splitSeed = this.rng.nextUint32();
    const nVal = Math.floor(data.count * split);
    const { train: trainIds, validation } = splitIndices(data.count, nVal, splitSeed);
    const valIds = split > 0 ? validation : undefined;
    if (trainIds.length === 0) throw new ConfigError('validationSplit leaves no training samples.');
    if (o.validationData) this.validate(o.validationData, 'validation data');

    const B = Math.min(o.batchSize, trainIds.length);
    const plan = await this.plan(B);
    const residency = o.residency ?? 'auto';
    const src = await this.source(data, residency, o.memoryBudget);
    const feed = await this.feeds.get(plan, src, residency, o.augment);
    const stepsPerEpoch = Math.ceil(trainIds.length / B);
    const totalSteps = stepsPerEpoch * o.epochs;
    const logEvery = Math.max(1, o.logEvery ?? 10);
    const maxInFlight = Math.max(1, o.maxInFlight ?? 2);
    const device = this.gpu.device;
    const history: History = { epochs: [], steps: 0, stopped: false };
    const waiter = createStepWaiter(device, maxInFlight, pacedWaitsWanted(this.gpu.report));
    const epochSeedBase = this.rng.nextUint32();
    const startEpoch = o.start?.epoch ?? 0;
    let stopped = false;

    try {
      for (let epoch = startEpoch; epoch < o.epochs && !stopped; epoch++) {
        const t0 = performance.now();
        // Per-epoch order from (seed, epoch): reproducible, and a resume lands on the same order.
        const order = epochOrder(trainIds, epochSeedBase, epoch, o.shuffle !== false);
        if (epoch === startEpoch) checkFiniteRows(src, this.model.inputSize, order, B, epoch);
        feed.setEpoch(device.queue, epoch);
        let epochLoss = 0;
        let epochCorrect = 0;
        let epochRows = 0;
        let sinceLoss = 0;
        let sinceCorrect = 0;
        let sinceRows = 0;
        const firstBatch = epoch === startEpoch ? (o.start?.batch ?? 0) : 0;
        feed.begin(order, B, firstBatch);
        for (let bi = firstBatch; bi < stepsPerEpoch; bi++) {
          const n = await feed.load(plan, bi, `batch ${bi} of epoch ${epoch + 1}`);
          this.setActive(plan, n);
          const lr = learningRate(this.optimizer.lr, this.schedule, this.step, totalSteps);
          plan.optimizer.writeHyper(device.queue, lr, this.step + 1);
          const logNow = (bi + 1) % logEvery === 0 || bi === stepsPerEpoch - 1;
          const enc = device.createCommandEncoder({ label: 'train-step' });
          const pass = enc.beginComputePass({ label: 'train-step' });
          feed.encode(pass);
          encodeAll(pass, plan.forward);
          encodeAll(pass, [plan.loss]);
          encodeAll(pass, plan.lossBackward);
          encodeAll(pass, [plan.accumulate]);
          encodeAll(pass, plan.backward);
          encodeAll(pass, plan.update);
          pass.end();
          let staging: StagingBuffer | undefined;
          if (logNow) {
            staging = this.stagingFor();
            staging.encodeCopy(enc, plan.acc.buffer, 0, 16);
            enc.clearBuffer(plan.acc.buffer, 0, 16);
          }
          device.queue.submit([enc.finish()]);
          this.step++;
          this.batchesTracked++;
          history.steps++;
          this.position = bi + 1 < stepsPerEpoch ? { epoch, batch: bi + 1 } : { epoch: epoch + 1, batch: 0 };
          if (staging) {
            const step = this.step;
            const ep = epoch;
            const batch = bi;
            const s = staging;
            s.reserve();
            const read = () =>
              s.read(16).then(async (buf) => {
                const [l, c, rows] = new Float32Array(buf);
                if (!Number.isFinite(l)) {
                  throw new NonFiniteLossError(
                    `The loss became ${l} at step ${step} (epoch ${ep + 1}). Lower the learning rate or enable gradient clipping (maxNorm).`,
                  );
                }
                sinceLoss += l;
                sinceCorrect += c;
                sinceRows += rows;
                epochLoss += l;
                epochCorrect += c;
                epochRows += rows;
                const log: StepLog = {
                  step,
                  epoch: ep,
                  batch,
                  loss: sinceLoss / Math.max(1, sinceRows),
                  accuracy: sinceCorrect / Math.max(1, sinceRows),
                  samples: sinceRows,
                  lr,
                };
                sinceLoss = sinceCorrect = sinceRows = 0;
                await o.onStep?.(log);
              });
            await waiter.submitted(read);
          } else {
            await waiter.submitted();
          }
          this.gpu.throwIfFailed();
          if (o.shouldStop?.()) {
            stopped = true;
            history.stopped = true;
            break;
          }
        }
        await waiter.flush();
        this.gpu.throwIfFailed();
        const seconds = (performance.now() - t0) / 1000;
        const log: EpochLog = {
          epoch,
          loss: epochLoss / Math.max(1, epochRows),
          accuracy: epochCorrect / Math.max(1, epochRows),
          seconds,
          samplesPerSecond: epochRows / seconds,
        };
        await feed.settle();
        if (valIds || o.validationData) {
          const v = valIds
            ? await this.evaluate(src, { batchSize: B, ids: valIds })
            : await this.evaluate(o.validationData!, { batchSize: B });
          log.valLoss = v.loss;
          log.valAccuracy = v.accuracy;
        }
        history.epochs.push(log);
        await o.onEpoch?.(log);
      }
    } catch (e) {
      // Leave no read in flight behind a failure (its buffer would stay mapped, its error unseen).
      await waiter.abandon();
      await feed.settle();
      throw e;
    }
    return history;
  }

  /** Mean loss and accuracy over `data` (or the subset `ids`), forward only. */
  async evaluate(
    data: BatchSource,
    o: { batchSize?: number; ids?: Uint32Array; memoryBudget?: number } = {},
  ): Promise<{ loss: number; accuracy: number; count: number }> {
    this.check();
    this.validate(data, 'evaluation data');
    const ids = o.ids ?? Uint32Array.from({ length: data.count }, (_, i) => i);
    const B = Math.min(o.batchSize ?? 256, ids.length);
    const plan = await this.plan(B);
    const src = await this.source(data, 'auto', o.memoryBudget);
    const feed = await this.feeds.get(plan, src, 'auto');
    feed.begin(ids, B, 0);
    const device = this.gpu.device;
    const clear = device.createCommandEncoder();
    clear.clearBuffer(plan.evalAcc.buffer, 0, 16);
    device.queue.submit([clear.finish()]);
    for (let bi = 0; bi * B < ids.length; bi++) {
      const n = await feed.load(plan, bi, `evaluation batch ${bi}`);
      this.setActive(plan, n);
      const enc = device.createCommandEncoder({ label: 'eval-step' });
      const pass = enc.beginComputePass();
      feed.encode(pass);
      encodeAll(pass, plan.forwardEval);
      encodeAll(pass, [plan.loss, plan.evalAccumulate]);
      pass.end();
      device.queue.submit([enc.finish()]);
    }
    const acc = new Float32Array(await readBuffer(device, this.env.pool, plan.evalAcc.buffer, 16));
    this.gpu.throwIfFailed();
    return { loss: acc[0] / acc[2], accuracy: acc[1] / acc[2], count: acc[2] };
  }

  /** Outputs after the final activation (probabilities for sigmoid/softmax), [count, outputs]. */
  async predict(data: TrainingData | Float32Array, o: { batchSize?: number } = {}): Promise<Float32Array> {
    this.check();
    const K = this.model.inputSize;
    const outputs = this.model.outputSize;
    const d: TrainingData =
      data instanceof Float32Array
        ? { kind: 'float', x: data, count: data.length / K, labels: new Int32Array(data.length / K) }
        : data;
    if (!Number.isInteger(d.count) || dataFeatures(d) !== K)
      throw new ShapeError(`predict: input length must be a multiple of inputSize ${K}.`);
    if (d.kind === 'float') {
      const bad = firstNonFinite(d.x);
      if (bad >= 0)
        throw new NonFiniteInputError(
          `predict: sample ${Math.floor(bad / K)}, feature ${bad % K} is ${d.x[bad]}.`,
        );
    }
    const B = Math.min(o.batchSize ?? 256, d.count);
    const plan = await this.plan(B);
    const feed = await this.feeds.get(plan, d, 'auto');
    const out = new Float32Array(d.count * outputs);
    feed.begin(
      Uint32Array.from({ length: d.count }, (_, i) => i),
      B,
      0,
    );
    const device = this.gpu.device;
    for (let from = 0; from < d.count; from += B) {
      const n = await feed.load(plan, from / B, `prediction batch ${from / B}`);
      this.setActive(plan, n);
      const enc = device.createCommandEncoder({ label: 'predict' });
      const pass = enc.beginComputePass();
      feed.encode(pass);
      encodeAll(pass, plan.forwardEval);
      encodeAll(pass, plan.outputSoftmax);
      pass.end();
      device.queue.submit([enc.finish()]);
      const bytes = await readBuffer(device, this.env.pool, plan.output.buffer, n * outputs * 4);
      out.set(new Float32Array(bytes), from * outputs);
    }
    this.gpu.throwIfFailed();
    if (data instanceof Float32Array) this.forget(d);
    return out;
  }

  /**
   * Times every kernel of one training step (timestamp queries). Successive calls walk through
   * `data` a batch at a time, so the step is a steady-state one: with a GPU-resident dataset the
   * gather is timed when the rows change, and left out, as in fit, when a full batch repeats.
   * The step really runs: weights change as in a normal step.
   */
  async profileStep(data: TrainingData, batchSize: number): Promise<KernelTime[]> {
    this.check();
    validateData(data, this.model.inputSize, this.model.outputSize, this.spec.loss, 'profile data');
    const B = Math.min(batchSize, data.count);
    const plan = await this.plan(B);
    const feed = await this.feeds.get(plan, data, 'auto');
    const start = (this.step * B) % data.count;
    feed.begin(
      Uint32Array.from({ length: B }, (_, i) => (start + i) % data.count),
      B,
      0,
    );
    const n = await feed.load(plan, 0, 'profile batch');
    await feed.settle();
    this.setActive(plan, n);
    plan.optimizer.writeHyper(this.gpu.device.queue, this.optimizer.lr, this.step + 1);
    const list = [
      ...feed.dispatches(),
      ...plan.forward,
      plan.loss,
      ...plan.lossBackward,
      plan.accumulate,
      ...plan.backward,
      ...plan.update,
    ];
    const times = await profileDispatches(this.gpu.device, this.env.pool, list);
    this.step++;
    this.batchesTracked++;
    this.gpu.throwIfFailed();
    return times;
  }

  /** Releases the GPU copy of a dataset this trainer uploaded, and its feeds. */
  forget(data: BatchSource): void {
    this.feeds.forget(data);
  }

  /** Checks a source before anything reaches the GPU. */
  private validate(data: BatchSource, what: string): void {
    if (data.kind === 'stream') validateStreamed(data, this.model.inputSize, what);
    else validateData(data, this.model.inputSize, this.model.outputSize, this.spec.loss, what);
  }

  rngState(): RngState {
    return this.rng.state();
  }

  private check(): void {
    if (this.destroyed) throw new ConfigError('This trainer was destroyed; create a new one.');
    this.gpu.throwIfFailed();
  }

  destroy(): void {
    this.destroyed = true;
    this.env.pool.trim();
  }
}

/** The activation a weighted layer's output goes through: its own, or a batch norm's right after it. */
function outputActivation(m: ResolvedModel, index: number): string {
  const own = m.layers[index].activation;
  const next = m.layers[index + 1];
  return own === 'identity' && next?.type === 'batchnorm' ? next.activation : own;
}

// One tuning per device per process: measured (or read from the cache file) on first use.
const tunings = new WeakMap<GPUDevice, Promise<MatmulTuning>>();
function tunedVariants(env: KernelEnv, gpu: GpuDevice): Promise<MatmulTuning> {
  let t = tunings.get(gpu.device);
  if (!t) {
    t = chooseMatmulVariants(env, gpu.report);
    tunings.set(gpu.device, t);
  }
  return t;
}
