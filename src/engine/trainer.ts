// The trainer: owns a model's GPU buffers and its plans, and runs fit / evaluate / predict.
//
// Each training step is one command encoder, one compute pass and one queue.submit. Per step the
// CPU only writes small things with queue.writeBuffer: the batch's sample indices (resident data)
// or the batch itself (upload path), the optimizer's hyper-parameters, and the active row count
// of a last partial batch. Loss and accuracy accumulate on the GPU and are copied out every
// `logEvery` steps into a staging buffer that is mapped asynchronously; at most `maxInFlight`
// submitted steps may be pending before the CPU waits.

import { ConfigError, NonFiniteInputError, NonFiniteLossError, ShapeError } from '../errors.js';
import { USAGE, writeArray } from '../gpu/buffers.js';
import type { GpuDevice } from '../gpu/device.js';
import { StagingBuffer, readBuffer } from '../gpu/readback.js';
import { view, type KernelEnv, type TensorView } from '../kernels/common.js';
import { createKernelEnv } from '../kernels/env.js';
import { ACTIVE_OFFSET } from '../kernels/losses.js';
import { GATHER_ACTIVE_OFFSET, type GatherDispatch } from '../kernels/data.js';
import { DEFAULT_VARIANT, type MatmulForm, type MatmulVariant } from '../kernels/matmul.js';
import { chooseMatmulVariants, variantFor, type MatmulTuning } from './tune.js';
import { writeStepParams } from '../kernels/step-params.js';
import { defaultInit, initModelWeights, type Init } from '../nn/init.js';
import { resolveModel, type ModelSpec, type ResolvedModel } from '../nn/layers.js';
import type { ParamLayout } from '../nn/model.js';
import { mix32 } from '../rng.js';
import { convAlgoPicker } from './conv-pick.js';
import { resolveOptimizer, type OptimizerConfig, type ResolvedOptimizer } from '../optim/optimizers.js';
import { learningRate, validateSchedule, type Schedule } from '../optim/schedules.js';
import { Rng, type RngState } from '../rng.js';
import { buildPlan, encodeAll, type ModelBuffers, type Plan } from './plan.js';
import { profileDispatches, type KernelTime } from './profile.js';
import {
  dataFeatures,
  firstNonFinite,
  fitsResident,
  prepareGathers,
  uploadResident,
  validateData,
  writeGatherEpoch,
  type AugmentOptions,
  type ResidentData,
  type TrainingData,
} from './gpu-data.js';

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
}

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
  validationData?: TrainingData;
  /** Read the loss every k steps (and at each epoch end). Default 10. */
  logEvery?: number;
  maxInFlight?: number;
  /** 'auto' keeps data on the GPU when it fits one binding; 'upload' sends each batch. */
  residency?: 'auto' | 'gpu' | 'upload';
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

interface Feed {
  /** Training batches gathered with augmentation (never skipped, epoch written per epoch). */
  augmented?: boolean;
  /** Rows of the batch last gathered by this feed, and whether this step may skip the gather. */
  active?: number;
  skip?: boolean;
  res?: ResidentData;
  gathers?: GatherDispatch[];
  idx: TensorView;
  idxHost: Uint32Array;
  hostX?: Float32Array;
  hostY?: Uint32Array | Float32Array;
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
  private readonly feeds = new Map<string, Feed>();
  private readonly residents = new WeakMap<TrainingData, ResidentData>();
  private variants: MatmulTuning;
  /** Conv algorithms: measured per shape on this adapter ('tuned'), or fixed (tests, benchmarks). */
  private readonly convChoice: TrainerOptions['conv'];
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
    const t = new Trainer(gpu, spec, opts);
    if (!opts.variants) t.variants = await tunedVariants(t.env, gpu);
    gpu.throwIfFailed();
    return t;
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

  private plan(B: number): Promise<Plan> {
    let p = this.plans.get(B);
    if (!p) {
      const tuning = this.variants;
      const matmul = (form: MatmulForm, b: number, k: number, n: number) => variantFor(tuning, form, b, k, n);
      const conv = convAlgoPicker(this.env, this.gpu, tuning, this.convChoice);
      p = buildPlan(this.env, this.bufs, this.optimizer, B, { matmul, conv }, this.dummies);
      this.plans.set(B, p);
    }
    return p;
  }

  private resident(data: TrainingData): ResidentData {
    let r = this.residents.get(data);
    if (!r) {
      r = uploadResident(this.env, data, this.model.inputSize);
      this.residents.set(data, r);
    }
    return r;
  }

  private feedKey = new WeakMap<TrainingData, string>();
  private feedSeq = 0;

  private async feed(
    plan: Plan,
    data: TrainingData,
    residency: 'auto' | 'gpu' | 'upload',
    augment?: AugmentOptions,
  ): Promise<Feed> {
    let id = this.feedKey.get(data);
    if (!id) this.feedKey.set(data, (id = `d${this.feedSeq++}`));
    const gpuOk = fitsResident(this.env, data);
    if (residency === 'gpu' && !gpuOk) {
      throw new ShapeError(
        `The dataset does not fit one GPU storage binding (${this.gpu.device.limits.maxStorageBufferBindingSize} bytes); use residency 'upload'.`,
      );
    }
    const useGpu = residency !== 'upload' && gpuOk;
    if (augment && (!useGpu || data.kind !== 'uint8')) {
      throw new ConfigError(
        'augment works on uint8 images kept on the GPU; give fit uint8 data (kind: "uint8") and residency "auto" or "gpu".',
      );
    }
    const key = `${id}:${plan.B}:${useGpu}${augment ? `:aug${JSON.stringify(augment)}` : ''}`;
    let f = this.feeds.get(key);
    if (f) return f;
    const idxBuf = this.env.pool.acquire(plan.B * 4, USAGE.STORAGE | USAGE.COPY_DST, 'batch-indices');
    const idx = view(idxBuf, plan.B);
    const outputs = this.model.outputSize;
    if (useGpu) {
      const res = this.resident(data);
      const gathers = await prepareGathers(
        this.env,
        res,
        plan.B,
        idx,
        plan.x,
        plan.targets,
        this.spec.loss,
        outputs,
        augment ? { ...augment, seed: this.augmentSeed } : undefined,
      );
      f = { res, gathers, idx, idxHost: new Uint32Array(plan.B), augmented: augment !== undefined };
    } else {
      if (data.kind !== 'float')
        throw new ConfigError("uint8 datasets train GPU-resident; use residency 'auto' or 'gpu'.");
      const ce = this.spec.loss === 'softmax-ce';
      f = {
        idx,
        idxHost: new Uint32Array(plan.B),
        hostX: new Float32Array(plan.B * this.model.inputSize),
        hostY: ce ? new Uint32Array(plan.B) : new Float32Array(plan.B * outputs),
      };
    }
    this.feeds.set(key, f);
    return f;
  }

  /** Writes one batch (sample ids `ids[0..n)`) into the plan's inputs. */
  private writeBatch(
    plan: Plan,
    f: Feed,
    data: TrainingData,
    ids: ArrayLike<number>,
    n: number,
    where: string,
  ): void {
    const q = this.gpu.device.queue;
    if (f.gathers) {
      // Full-batch training (same rows every step) leaves X and the targets in place: skip the
      // gather when this plan's inputs already hold exactly this batch of this dataset.
      // An augmented batch differs every epoch even for the same rows: always gather it.
      let same = plan.inputsFrom === f && f.active === n && !f.augmented;
      for (let i = 0; same && i < n; i++) same = f.idxHost[i] === ids[i];
      f.skip = same;
      if (same) return;
      f.idxHost.fill(0);
      for (let i = 0; i < n; i++) f.idxHost[i] = ids[i];
      writeArray(q, f.idx.buffer, 0, f.idxHost);
      if (f.active !== n) {
        this.scalar[0] = n;
        for (const g of f.gathers) writeArray(q, g.params, GATHER_ACTIVE_OFFSET, this.scalar);
      }
      f.active = n;
      plan.inputsFrom = f;
      return;
    }
    plan.inputsFrom = undefined;
    const d = data as Extract<TrainingData, { kind: 'float' }>;
    const K = this.model.inputSize;
    const outputs = this.model.outputSize;
    const X = f.hostX!;
    X.fill(0);
    for (let i = 0; i < n; i++) {
      const s = ids[i];
      X.set(d.x.subarray(s * K, (s + 1) * K), i * K);
    }
    const bad = firstNonFinite(X, 0, n * K);
    if (bad >= 0) {
      const sample = ids[Math.floor(bad / K)];
      throw new NonFiniteInputError(
        `Input ${where}: sample ${sample}, feature ${bad % K} is ${X[bad]}. Clean the data (no NaN/Infinity) before training.`,
      );
    }
    const Y = f.hostY!;
    Y.fill(0);
    for (let i = 0; i < n; i++) {
      const s = ids[i];
      if (d.targets) (Y as Float32Array).set(d.targets.subarray(s * outputs, (s + 1) * outputs), i * outputs);
      else if (Y instanceof Uint32Array) Y[i] = d.labels![s];
      else if (outputs === 1) Y[i] = d.labels![s];
      else Y[i * outputs + d.labels![s]] = 1;
    }
    writeArray(q, plan.x.buffer, 0, X);
    writeArray(q, plan.targets.buffer, 0, Y);
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

  /** Checks float data for NaN/Infinity up front, naming the sample and its first batch. */
  private checkFinite(data: TrainingData, order: ArrayLike<number>, B: number, epoch: number): void {
    if (data.kind !== 'float') return;
    const bad = firstNonFinite(data.x);
    if (bad < 0) return;
    const K = this.model.inputSize;
    const sample = Math.floor(bad / K);
    let pos = -1;
    for (let i = 0; i < order.length; i++) if (order[i] === sample) pos = i;
    const where = pos >= 0 ? `batch ${Math.floor(pos / B)} of epoch ${epoch + 1}` : 'the data';
    throw new NonFiniteInputError(
      `Input ${where}: sample ${sample}, feature ${bad % K} is ${data.x[bad]}. Clean the data (no NaN/Infinity) before training.`,
    );
  }

  async fit(data: TrainingData, o: FitOptions): Promise<History> {
    this.check();
    const outputs = this.model.outputSize;
    validateData(data, this.model.inputSize, outputs, this.spec.loss, 'training data');
    if (!Number.isInteger(o.epochs) || o.epochs < 1)
      throw new ConfigError(`epochs must be a positive integer, got ${o.epochs}.`);
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
      throw new ConfigError(`batchSize must be a positive integer, got ${o.batchSize}.`);
    const split = o.validationSplit ?? 0;
    if (!(split >= 0 && split < 1)) throw new ConfigError(`validationSplit must be in [0, 1), got ${split}.`);

    // Everything random in a fit derives from the trainer's Rng as it is now; a checkpoint that
    // stores this state and the (epoch, batch) position resumes onto the same batches exactly.
    this.fitStartRngState = this.rng.state();
    // Seeded split: a fixed permutation, the tail held out.
    const all = new Rng(this.rng.nextUint32()).permutation(data.count);
    const nVal = Math.floor(data.count * split);
    const trainIds =
      split > 0 ? all.slice(0, data.count - nVal) : Uint32Array.from({ length: data.count }, (_, i) => i);
    const valIds = split > 0 ? all.slice(data.count - nVal) : undefined;
    if (trainIds.length === 0) throw new ConfigError('validationSplit leaves no training samples.');
    if (o.validationData)
      validateData(o.validationData, this.model.inputSize, outputs, this.spec.loss, 'validation data');

    const B = Math.min(o.batchSize, trainIds.length);
    const plan = await this.plan(B);
    const feed = await this.feed(plan, data, o.residency ?? 'auto', o.augment);
    const stepsPerEpoch = Math.ceil(trainIds.length / B);
    const totalSteps = stepsPerEpoch * o.epochs;
    const logEvery = Math.max(1, o.logEvery ?? 10);
    const maxInFlight = Math.max(1, o.maxInFlight ?? 2);
    const device = this.gpu.device;
    const history: History = { epochs: [], steps: 0, stopped: false };
    const inflight: Promise<unknown>[] = [];
    const pendingLogs: Promise<void>[] = [];
    const epochSeedBase = this.rng.nextUint32();
    const startEpoch = o.start?.epoch ?? 0;
    let stopped = false;

    try {
      for (let epoch = startEpoch; epoch < o.epochs && !stopped; epoch++) {
        const t0 = performance.now();
        // Per-epoch order from (seed, epoch): reproducible, and a resume lands on the same order.
        const order =
          o.shuffle === false
            ? trainIds
            : new Rng((epochSeedBase ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0).shuffle(trainIds.slice());
        if (epoch === startEpoch) this.checkFinite(data, order, B, epoch);
        if (feed.augmented) writeGatherEpoch(device.queue, feed.gathers!, epoch);
        let epochLoss = 0;
        let epochCorrect = 0;
        let epochRows = 0;
        let sinceLoss = 0;
        let sinceCorrect = 0;
        let sinceRows = 0;
        const firstBatch = epoch === startEpoch ? (o.start?.batch ?? 0) : 0;
        for (let bi = firstBatch; bi < stepsPerEpoch; bi++) {
          const from = bi * B;
          const n = Math.min(B, order.length - from);
          this.writeBatch(
            plan,
            feed,
            data,
            order.subarray(from, from + n),
            n,
            `batch ${bi} of epoch ${epoch + 1}`,
          );
          this.setActive(plan, n);
          const lr = learningRate(this.optimizer.lr, this.schedule, this.step, totalSteps);
          plan.optimizer.writeHyper(device.queue, lr, this.step + 1);
          const logNow = (bi + 1) % logEvery === 0 || bi === stepsPerEpoch - 1;
          const enc = device.createCommandEncoder({ label: 'train-step' });
          const pass = enc.beginComputePass({ label: 'train-step' });
          if (feed.gathers && !feed.skip) encodeAll(pass, feed.gathers);
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
            const read = staging.read(16).then(async (buf) => {
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
            // Mark as handled now: when one read fails (a NaN loss), later reads that fail too are
            // settled by the drain below instead of surfacing as unhandled rejections.
            read.catch(() => undefined);
            pendingLogs.push(read);
            inflight.push(read);
          } else {
            inflight.push(device.queue.onSubmittedWorkDone());
          }
          while (inflight.length > maxInFlight) await inflight.shift();
          this.gpu.throwIfFailed();
          if (o.shouldStop?.()) {
            stopped = true;
            history.stopped = true;
            break;
          }
        }
        await Promise.all(pendingLogs.splice(0));
        inflight.length = 0;
        this.gpu.throwIfFailed();
        const seconds = (performance.now() - t0) / 1000;
        const log: EpochLog = {
          epoch,
          loss: epochLoss / Math.max(1, epochRows),
          accuracy: epochCorrect / Math.max(1, epochRows),
          seconds,
          samplesPerSecond: epochRows / seconds,
        };
        if (valIds || o.validationData) {
          const v = valIds
            ? await this.evaluate(data, { batchSize: B, ids: valIds })
            : await this.evaluate(o.validationData!, { batchSize: B });
          log.valLoss = v.loss;
          log.valAccuracy = v.accuracy;
        }
        history.epochs.push(log);
        await o.onEpoch?.(log);
      }
    } catch (e) {
      // Leave no read in flight behind a failure (its buffer would stay mapped, its error unseen).
      await Promise.allSettled(pendingLogs);
      throw e;
    }
    return history;
  }

  /** Mean loss and accuracy over `data` (or the subset `ids`), forward only. */
  async evaluate(
    data: TrainingData,
    o: { batchSize?: number; ids?: Uint32Array } = {},
  ): Promise<{ loss: number; accuracy: number; count: number }> {
    this.check();
    validateData(data, this.model.inputSize, this.model.outputSize, this.spec.loss, 'evaluation data');
    const ids = o.ids ?? Uint32Array.from({ length: data.count }, (_, i) => i);
    const B = Math.min(o.batchSize ?? 256, ids.length);
    const plan = await this.plan(B);
    const feed = await this.feed(plan, data, 'auto');
    const device = this.gpu.device;
    const clear = device.createCommandEncoder();
    clear.clearBuffer(plan.evalAcc.buffer, 0, 16);
    device.queue.submit([clear.finish()]);
    for (let from = 0; from < ids.length; from += B) {
      const n = Math.min(B, ids.length - from);
      this.writeBatch(plan, feed, data, ids.subarray(from, from + n), n, `evaluation batch ${from / B}`);
      this.setActive(plan, n);
      const enc = device.createCommandEncoder({ label: 'eval-step' });
      const pass = enc.beginComputePass();
      if (feed.gathers && !feed.skip) encodeAll(pass, feed.gathers);
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
    const feed = await this.feed(plan, d, 'auto');
    const out = new Float32Array(d.count * outputs);
    const ids = Uint32Array.from({ length: d.count }, (_, i) => i);
    const device = this.gpu.device;
    for (let from = 0; from < d.count; from += B) {
      const n = Math.min(B, d.count - from);
      this.writeBatch(plan, feed, d, ids.subarray(from, from + n), n, `prediction batch ${from / B}`);
      this.setActive(plan, n);
      const enc = device.createCommandEncoder({ label: 'predict' });
      const pass = enc.beginComputePass();
      if (feed.gathers && !feed.skip) encodeAll(pass, feed.gathers);
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
    const feed = await this.feed(plan, data, 'auto');
    const start = (this.step * B) % data.count;
    const ids = Uint32Array.from({ length: B }, (_, i) => (start + i) % data.count);
    this.writeBatch(plan, feed, data, ids, B, 'profile batch');
    this.setActive(plan, B);
    plan.optimizer.writeHyper(this.gpu.device.queue, this.optimizer.lr, this.step + 1);
    const list = [
      ...(feed.gathers && !feed.skip ? feed.gathers : []),
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

  /** Releases the GPU copy of a dataset this trainer uploaded. */
  forget(data: TrainingData): void {
    const r = this.residents.get(data);
    if (r) {
      for (const b of r.buffers) this.env.pool.release(b);
      this.residents.delete(data);
    }
    const id = this.feedKey.get(data);
    if (id)
      for (const k of [...this.feeds.keys()])
        if (k.startsWith(`${id}:`)) {
          this.env.pool.release(this.feeds.get(k)!.idx.buffer);
          this.feeds.delete(k);
        }
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
