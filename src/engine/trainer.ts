// The trainer: owns a model's GPU buffers and its plans, and runs fit / evaluate / predict.
//
// The training loop is src/engine/fit.ts (one submit per step, losses read back every logEvery
// steps); the state I/O (weights, running statistics, optimizer moments, loss scale) is
// src/engine/state-io.ts; the options and logs are src/engine/trainer-types.ts. This class holds
// what they share: the buffers, the plan per batch size, the feeds and the step counters.

import { ConfigError, NonFiniteInputError, ShapeError } from '../errors.js';
import { USAGE, writeArray } from '../gpu/buffers.js';
import type { GpuDevice } from '../gpu/device.js';
import { StagingBuffer, readBuffer } from '../gpu/readback.js';
import type { KernelEnv } from '../kernels/common.js';
import { createKernelEnv } from '../kernels/env.js';
import { ACTIVE_OFFSET } from '../kernels/losses.js';
import type { MatmulForm } from '../kernels/matmul.js';
import { deviceTuning, givenTuning, variantFor, type MatmulTuning } from './tune.js';
import { writeStepParams } from '../kernels/step-params.js';
import { resolveModel, type ModelSpec, type ResolvedModel } from '../nn/layers.js';
import { checkLabelSmoothing } from '../nn/losses.js';
import type { ParamLayout } from '../nn/model.js';
import { mix32 } from '../rng.js';
import { convAlgoPicker } from './conv-pick.js';
import { denseBiasChunk } from '../kernels/reduce.js';
import { resolveOptimizer, type ResolvedOptimizer } from '../optim/optimizers.js';
import { validateSchedule, type Schedule } from '../optim/schedules.js';
import { Rng, type RngState } from '../rng.js';
import { buildPlan, encodeAll, type ModelBuffers, type Plan, type PlanPickers } from './plan.js';
import { prepareLossScaler, resolveLossScale, type LossScaleState, type LossScaler } from '../kernels/amp.js';
import { fasterPrecision } from './precision-pick.js';
import { profileTrainingStep, type KernelTime } from './profile.js';
import {
  inputFeatures,
  firstNonFinite,
  validateData,
  validateStreamed,
  type BatchSource,
  type TrainingData,
} from './batch-source.js';
import { Feeds } from './feeds.js';
import { fit, type FitMachinery } from './fit.js';
import {
  StateIO,
  allocateModelBuffers,
  initialRunningStats,
  initialWeights,
  type OptimizerState,
  type RunningStats,
  type Weights,
} from './state-io.js';
import {
  PRECISIONS,
  type FitOptions,
  type FreezeSpec,
  type History,
  type TrainerOptions,
} from './trainer-types.js';
import { freezeSummary, resolveFreeze, type FreezeSummary } from './freeze.js';

export type { RunningStats, Weights, OptimizerState } from './state-io.js';
export type {
  EpochLog,
  FitOptions,
  FreezeSpec,
  History,
  Precision,
  StepLog,
  TrainerOptions,
} from './trainer-types.js';
export type { FreezeSummary } from './freeze.js';
export { PRECISIONS } from './trainer-types.js';

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
  /** Multiplies the scheduled learning rate (e.g. a fine-tune's lower rate once all layers train). */
  lrFactor = 1;
  /** Optimizer steps taken so far (t of the next step is step + 1). */
  step = 0;
  readonly rng: Rng;
  /** The Rng state at the start of the last fit() (what a resumable checkpoint must store). */
  fitStartRngState: RngState | undefined;
  /** Where the next training step of the current fit would start: pass as FitOptions.start to resume. */
  position: { epoch: number; batch: number } = { epoch: 0, batch: 0 };
  private readonly env: KernelEnv;
  private readonly bufs: ModelBuffers;
  private readonly io: StateIO;
  private readonly dummies: { read: GPUBuffer; write: GPUBuffer };
  private readonly plans = new Map<number, Promise<Plan>>();
  private readonly inferPlans = new Map<number, Promise<Plan>>();
  private readonly feeds: Feeds;
  private variants: MatmulTuning;
  /** Conv algorithms: measured per shape on this adapter ('tuned'), or fixed (tests, benchmarks). */
  private readonly convChoice: TrainerOptions['conv'];
  private readonly labelSmoothing: number;
  private storage: 'f32' | 'f16' = 'f32';
  private scaler: LossScaler | undefined;
  private staging: StagingBuffer[] = [];
  /** Scratch for 4-byte uniform updates (no per-step allocation). */
  private readonly scalar = new Uint32Array(1);
  private destroyed = false;
  private frozen: { spec: FreezeSpec; layers: boolean[] };

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
    this.labelSmoothing = opts.labelSmoothing ?? 0;
    checkLabelSmoothing(spec.loss, this.labelSmoothing);
    const freeze = opts.freeze ?? 'none';
    this.frozen = { spec: freeze, layers: resolveFreeze(this.model, freeze) };
    this.env = createKernelEnv(gpu);
    const m = this.model;
    this.feeds = new Feeds(
      this.env,
      { inputSize: m.inputSize, outputs: m.outputSize, loss: spec.loss },
      this.augmentSeed,
    );
    this.layout = { layers: m.params, size: m.paramSize, count: m.paramCount };
    const pool = this.env.pool;
    this.bufs = allocateModelBuffers(gpu.device, pool, m, this.optimizer.name);
    this.dummies = {
      read: pool.acquire(16, USAGE.STORAGE, 'unused-read'),
      write: pool.acquire(16, USAGE.STORAGE, 'unused-write'),
    };
    this.variants = givenTuning(opts.variants);
    this.io = new StateIO(gpu, pool, m, this.layout, this.bufs);
    // Forked whatever the kinds, so the trainer's Rng (split, shuffling) does not depend on them.
    this.setWeights(initialWeights(m, opts.init, opts.seed ?? 0, this.rng.fork()));
    this.setRunningStats(initialRunningStats(m));
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
    if (!opts.variants) t.variants = await deviceTuning(t.env, gpu);
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
    return this.io.readLossScale(this.scaler);
  }

  /**
   * Restores the loss scaler (a checkpoint's); ignored in f32, where there is none. The scale
   * must be a positive power of two.
   */
  setLossScaleState(s: LossScaleState): void {
    this.io.writeLossScale(this.storage === 'f16' ? this.scaler : undefined, s);
  }

  /** 'auto': the faster precision on this adapter (src/engine/precision-pick.ts). */
  private fasterPrecision(): Promise<'f32' | 'f16'> {
    return fasterPrecision(this.env, this.bufs, this.optimizer, this.pickers(), this.dummies, this.scaler);
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

  // ---- weights and state (src/engine/state-io.ts) ---------------------------------------------

  setWeights(weights: Weights[]): void {
    this.io.writeWeights(weights);
  }

  async getWeights(): Promise<Weights[]> {
    this.check();
    return this.io.readWeights();
  }

  /** Sets the batch-norm running statistics (one entry per batchnorm layer, in order). */
  setRunningStats(stats: RunningStats[], batchesTracked?: number): void {
    this.io.writeRunningStats(stats);
    if (batchesTracked !== undefined) this.batchesTracked = batchesTracked;
  }

  async getRunningStats(): Promise<RunningStats[]> {
    if (this.model.states.length === 0) return [];
    this.check();
    return this.io.readRunningStats();
  }

  /** Optimizer moments (flat, in the parameter layout) and the step, for checkpoints. */
  async getOptimizerState(): Promise<OptimizerState> {
    if (this.bufs.m) this.check();
    return { t: this.step, tensors: await this.io.readMoments() };
  }

  setOptimizerState(state: OptimizerState): void {
    this.io.writeMoments(state.tensors);
    this.step = state.t;
  }

  // ---- plans and feeds -------------------------------------------------------------------

  private pickers(): PlanPickers {
    const tuning = this.variants;
    const matmul = (form: MatmulForm, b: number, k: number, n: number) => variantFor(tuning, form, b, k, n);
    const conv = convAlgoPicker(this.env, this.gpu, tuning, this.convChoice);
    const { report } = this.gpu;
    return { matmul, conv, denseBiasChunk: denseBiasChunk(!report.software && report.kind === 'hardware') };
  }

  /**
   * The plan for batch size B: a training plan for fit (and profiling), or for evaluate and
   * predict an inference plan (forward only: no backward pipelines to compile), unless a
   * training plan of that size exists already, which serves both.
   */
  private plan(B: number, purpose: 'train' | 'infer' = 'train'): Promise<Plan> {
    const trained = this.plans.get(B);
    // An inference use reads forwardEval only, which no frozen set changes.
    if (trained) return purpose === 'infer' ? trained : trained.then((p) => this.fresh(p));
    if (purpose === 'infer') {
      let p = this.inferPlans.get(B);
      if (!p) {
        p = this.buildPlan(B, true);
        this.inferPlans.set(B, p);
      }
      return p;
    }
    const p = this.buildPlan(B, false);
    this.plans.set(B, p);
    return p;
  }

  private buildPlan(B: number, inference: boolean): Promise<Plan> {
    return buildPlan(this.env, this.bufs, this.optimizer, B, this.pickers(), this.dummies, {
      precision: this.storage,
      scaler: this.scaler,
      labelSmoothing: this.labelSmoothing,
      inference,
      frozen: inference ? undefined : this.frozen.layers,
    });
  }

  /** The plan with its step lists prepared for the current frozen set. */
  private async fresh(p: Plan): Promise<Plan> {
    await p.refreeze(this.frozen.layers);
    return p;
  }

  // ---- frozen layers (src/engine/freeze.ts) --------------------------------------------

  /** What is frozen now, as set by TrainerOptions.freeze or setFreeze. */
  get freeze(): FreezeSpec {
    return this.frozen.spec;
  }

  /** Frozen layers and parameters, counted. */
  get freezeSummary(): FreezeSummary {
    return freezeSummary(this.model, this.frozen.layers);
  }

  /**
   * Freezes (or unfreezes) layers from the next training step on: the training plans prepare
   * their step lists again; weights, running statistics and optimizer state stay as they are.
   * Throws ConfigError for a set that is not closed upstream (src/engine/freeze.ts).
   */
  setFreeze(f: FreezeSpec): void {
    this.frozen = { spec: f, layers: resolveFreeze(this.model, f) };
    // The gradients of frozen layers are no longer written: zero them, so that a clip's norm
    // over a span of trainable ranges counts nothing stale (plan-sections.ts updateSection).
    const enc = this.gpu.device.createCommandEncoder({ label: 'freeze-clear-grads' });
    enc.clearBuffer(this.bufs.grads);
    this.gpu.device.queue.submit([enc.finish()]);
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
    if (plan.evalLoss !== plan.loss)
      writeArray(this.gpu.device.queue, plan.evalLoss.params, ACTIVE_OFFSET, this.scalar);
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

  /** Trains on `data` (src/engine/fit.ts); the step counters and `position` advance as it goes. */
  async fit(data: BatchSource, o: FitOptions): Promise<History> {
    this.check();
    return fit(this, this.machinery(), data, o);
  }

  private machinery(): FitMachinery {
    return {
      validate: (d, what) => this.validate(d, what),
      plan: (B) => this.plan(B),
      refresh: (plan) => plan.refreeze(this.frozen.layers),
      source: (d, residency, budget) => this.feeds.source(d, residency, budget),
      feed: (plan, src, residency, augment) => this.feeds.get(plan, src, residency, augment),
      setActive: (plan, n) => this.setActive(plan, n),
      staging: () => this.stagingFor(),
    };
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
    const plan = await this.plan(B, 'infer');
    const src = await this.feeds.source(data, 'auto', o.memoryBudget);
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
      // Evaluation reports the plain cross-entropy, without the training's label smoothing.
      encodeAll(pass, [plan.evalLoss, plan.evalAccumulate]);
      pass.end();
      device.queue.submit([enc.finish()]);
    }
    const acc = new Float32Array(await readBuffer(device, this.env.pool, plan.evalAcc.buffer, 16));
    this.gpu.throwIfFailed();
    return { loss: acc[0] / acc[2], accuracy: acc[1] / acc[2], count: acc[2] };
  }

  /**
   * Outputs after the final activation (probabilities for sigmoid/softmax), [count, outputs].
   * mode 'train' runs the training forward pass, as PyTorch's model.train(): batch norm uses each
   * batch's statistics (and updates its running ones) and dropout drops; default 'eval'.
   */
  async predict(
    data: TrainingData | Float32Array,
    o: { batchSize?: number; mode?: 'eval' | 'train' } = {},
  ): Promise<Float32Array> {
    this.check();
    const K = this.model.inputSize;
    const outputs = this.model.outputSize;
    const d: TrainingData =
      data instanceof Float32Array
        ? { kind: 'float', x: data, count: data.length / K, labels: new Int32Array(data.length / K) }
        : data;
    if (!Number.isInteger(d.count) || inputFeatures(d) !== K)
      throw new ShapeError(`predict: input length must be a multiple of inputSize ${K}.`);
    if (d.kind === 'float') {
      const bad = firstNonFinite(d.x);
      if (bad >= 0)
        throw new NonFiniteInputError(
          `predict: sample ${Math.floor(bad / K)}, feature ${bad % K} is ${d.x[bad]}.`,
        );
    }
    const B = Math.min(o.batchSize ?? 256, d.count);
    const train = o.mode === 'train';
    const plan = await this.plan(B, train ? 'train' : 'infer');
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
      encodeAll(pass, train ? plan.forward : plan.forwardEval);
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
    return profileTrainingStep(this, this.machinery(), this.env.pool, data, batchSize);
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
