// A training run, as `webgpu-trainer train`, the browser demo and a user's script all do it:
// a Trainer built from a spec and a configuration, trained on a batch source with checkpoints
// every N epochs and on a stop request, a metrics log, divergence and device-loss stops that name
// the last good checkpoint (src/engine/run-guard.ts), then the test evaluation (with flip
// test-time augmentation when asked, src/engine/tta.ts) and the trained model. What it writes goes
// through a RunStore (src/io/run-store.ts), so this module has no file system in it.
//
//   const run = await TrainingRun.create(gpu, { spec, data, config, meta, store });
//   const result = await run.train({ signal, onStep, onEpoch });   // or runTraining(gpu, {...})
//
// Exact resume: everything random in Trainer.fit derives from trainer.rng at the start of fit.
// A checkpoint stores that state (fitStartRngState), the next step's position, the weights, the
// batch-norm statistics, the optimizer moments and the loss scale. A run created with
// `resume: checkpoint` and the same spec and configuration restores those and calls fit with
// `start`, which gives the same weights bit for bit as a run that never stopped
// (test/engine/run.test.ts, test/cli/resume.test.ts). train() called again after a stop
// continues the same way in memory (the demo's pause and resume).
//
// Fine-tuning: `freeze` starts the run with frozen layers and `unfreezeAfter` unfreezes them at
// the end of that epoch, the learning rate times `unfreezeLrFactor` from then on; a checkpoint
// keeps where the run stands (its schedule block holds the freeze and the rate factor).

import { ConfigError } from '../errors.js';
import type { GpuDevice } from '../gpu/device.js';
import { architectureOf } from '../io/architecture.js';
import { featureOrders } from '../io/torch-layout.js';
import { resolveModel } from '../nn/layers.js';
import type { CheckpointInput, JsonObject, ModelInput } from '../io/modelfile.js';
import type { ModelSpec } from '../nn/model.js';
import type { BatchSource } from './batch-source.js';
import { freezeFromJson, freezeToJson } from './freeze.js';
import { RunGuard, type RunAdvice } from './run-guard.js';
import { MemoryRunStore, type RunStore } from '../io/run-store.js';
import {
  Trainer,
  type EpochLog,
  type FitOptions,
  type History,
  type StepLog,
  type TrainerOptions,
} from './trainer.js';
import { evaluateTest, type TestResult, type Tta } from './tta.js';

/** How to train: the Trainer's options and Trainer.fit's, in one object. */
export interface RunConfig {
  epochs: number;
  batchSize: number;
  seed?: number;
  init?: TrainerOptions['init'];
  optimizer: TrainerOptions['optimizer'];
  schedule?: TrainerOptions['schedule'];
  variants?: TrainerOptions['variants'];
  conv?: TrainerOptions['conv'];
  precision?: TrainerOptions['precision'];
  labelSmoothing?: TrainerOptions['labelSmoothing'];
  /** Frozen layers at the start (fine-tuning a pretrained backbone); default 'none'. */
  freeze?: TrainerOptions['freeze'];
  /**
   * Unfreeze every layer after this many epochs (needs `freeze`), the scheduled learning rate
   * times `unfreezeLrFactor` (default 0.1) from then on.
   */
  unfreezeAfter?: number;
  unfreezeLrFactor?: number;
  /** Fraction of the training data held out for validation after each epoch. */
  validationSplit?: number;
  augment?: FitOptions['augment'];
  /**
   * Default: shuffle unless one batch covers the whole training set (then only the summation
   * order would change, and leaving the data in place lets the engine skip the gather).
   */
  shuffle?: boolean;
  residency?: FitOptions['residency'];
  /** Read the loss back (onStep, the metrics log) every N steps; default 10. */
  logEvery?: number;
}

export interface RunData {
  train: BatchSource;
  /** Scored after each epoch (instead of validationSplit). */
  validation?: BatchSource;
  /** Scored once after the last epoch, with `tta`. */
  test?: BatchSource;
}

/** What the model and checkpoint files record besides the tensors. */
export interface RunMeta {
  /** [h, w, c] of the input (flat data: [1, features, 1]). */
  inputShape: readonly [number, number, number];
  /** The preprocessing the data went through, e.g. {kind: 'scale'}. */
  normalization: JsonObject;
  classNames: string[];
  /** The start of the training block, e.g. {config, dataset}; the run adds adapter and steps. */
  training?: JsonObject;
}

export interface RunOptions {
  spec: ModelSpec;
  data: RunData;
  config: RunConfig;
  meta: RunMeta;
  /** Where checkpoints, the model and the metrics go; default a new MemoryRunStore. */
  store?: RunStore;
  /** Continue this checkpoint (made with the same spec and config): bit for bit as if never stopped. */
  resume?: CheckpointInput;
  /** The resumed checkpoint's name in messages; default the store's checkpoint name. */
  resumedFrom?: string;
  /** Write a checkpoint every N complete epochs (default 1); 0: only when stopped. */
  checkpointEvery?: number;
  /** Test-time augmentation of the test evaluation (default none; see resolveTta). */
  tta?: Tta;
  /** Batch size of the test evaluation (default 256). */
  evalBatchSize?: number;
  /** The words the divergence and device-loss errors advise with (default: this API's). */
  advice?: RunAdvice;
  /** Title of the curves a store draws (default 'training run'). */
  caption?: string;
}

export interface EpochInfo {
  /** False when a stop request ended the epoch early. */
  complete: boolean;
  /** Where the next step would start. */
  position: { epoch: number; batch: number };
  /** Mixed precision: the loss scale and the steps skipped for overflowing gradients so far. */
  lossScale?: Awaited<ReturnType<Trainer['lossScaleState']>>;
  /** True after the epoch whose end unfroze the network (RunConfig.unfreezeAfter). */
  unfrozen?: boolean;
}

export interface RunControl {
  /** Stops after the current step and writes a checkpoint (as does shouldStop returning true). */
  signal?: AbortSignal;
  /** Asked after every step, and again at the end of an epoch: a question, free of side effects. */
  shouldStop?: () => boolean;
  onStep?: (log: StepLog) => void | Promise<void>;
  onEpoch?: (log: EpochLog, info: EpochInfo) => void | Promise<void>;
  /** Runs after onStep with the same log: for instruments and tests (a fault injected mid-run). */
  afterStep?: (log: StepLog) => void | Promise<void>;
}

export interface RunResult {
  history: History;
  /** True when a stop request ended the run (a checkpoint was written; train() again continues). */
  stopped: boolean;
  position: { epoch: number; batch: number };
  test?: TestResult;
  /** The model as stored; absent when stopped. */
  model?: ModelInput;
  /** The trained network; the caller destroys it. */
  trainer: Trainer;
}

const json = (v: unknown): JsonObject => JSON.parse(JSON.stringify(v ?? {})) as JsonObject;
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export class TrainingRun {
  readonly store: RunStore;
  /** Training samples per epoch (after the validation hold-out), steps per epoch, batch size. */
  readonly trainCount: number;
  readonly stepsPerEpoch: number;
  readonly batchSize: number;
  /** Where the next train() starts; undefined: at the beginning. */
  start: { epoch: number; batch: number } | undefined;
  private readonly guard: RunGuard;
  private readonly t0 = performance.now();
  private continuing = false;
  private done = false;

  private constructor(
    readonly gpu: GpuDevice,
    readonly trainer: Trainer,
    private readonly o: RunOptions,
  ) {
    this.store = o.store ?? new MemoryRunStore();
    const count = o.data.train.count;
    this.trainCount = count - Math.floor(count * (o.config.validationSplit ?? 0));
    this.batchSize = Math.min(o.config.batchSize, this.trainCount);
    this.stepsPerEpoch = Math.ceil(this.trainCount / this.batchSize);
    const c = o.config.optimizer;
    this.guard = new RunGuard({
      gpu,
      lr: c.lr,
      maxNorm: c.maxNorm ?? null,
      resumedFrom: o.resume ? (o.resumedFrom ?? this.store.checkpointName) : undefined,
      advice: o.advice,
    });
  }

  /** Builds the trainer and, with `resume`, restores the checkpoint into it. */
  static async create(gpu: GpuDevice, o: RunOptions): Promise<TrainingRun> {
    const c = o.config;
    // A model the files cannot store in PyTorch's layout fails now, not after training.
    featureOrders(resolveModel(o.spec));
    const trainer = await Trainer.create(gpu, o.spec, {
      seed: c.seed,
      init: c.init,
      optimizer: c.optimizer,
      schedule: c.schedule,
      variants: c.variants,
      conv: c.conv,
      precision: c.precision ?? 'f32',
      labelSmoothing: c.labelSmoothing,
      freeze: c.freeze,
    });
    checkUnfreeze(c);
    const run = new TrainingRun(gpu, trainer, o);
    const r = o.resume;
    if (r) {
      trainer.setWeights(r.model.weights);
      if (r.model.runningStats) trainer.setRunningStats(r.model.runningStats, r.model.batchesTracked);
      trainer.setOptimizerState(r.optimizerState);
      trainer.rng.restore(r.state.rngState);
      if (r.state.lossScale) trainer.setLossScaleState(r.state.lossScale);
      // The freeze state and rate factor the run had reached (it may have unfrozen already).
      const sched = r.state.schedule;
      if (sched.freeze !== undefined) trainer.setFreeze(freezeFromJson(sched.freeze, 'checkpoint'));
      if (typeof sched.lrFactor === 'number') trainer.lrFactor = sched.lrFactor;
      run.start = { epoch: r.state.epoch, batch: r.state.batchInEpoch };
    }
    return run;
  }

  /** True when every epoch has run (a resumed checkpoint from the end of its run, or train() done). */
  get finished(): boolean {
    return this.done || (this.start !== undefined && this.start.epoch >= this.o.config.epochs);
  }

  /** Trains to the last epoch or a stop request; then evaluates and stores the model, or checkpoints. */
  async train(control: RunControl = {}): Promise<RunResult> {
    const { trainer, store, o } = this;
    if (this.finished)
      throw new ConfigError(`the run already finished all ${o.config.epochs} epochs; nothing to train`);
    const start = this.start;
    // Continuing in memory after a stop: the fit replays its Rng from where the stopped one began.
    if (this.continuing && trainer.fitStartRngState) trainer.rng.restore(trainer.fitStartRngState);
    await store.openMetrics(!start);
    store.appendMetric({
      type: 'run',
      time: new Date().toISOString(),
      adapter: this.gpu.report.name,
      parameters: trainer.parameterCount,
      config: json(o.meta.training?.config),
      ...(start ? { resumedFrom: { ...start, file: o.resumedFrom } } : {}),
    });
    const stopRequested = () => control.signal?.aborted === true || control.shouldStop?.() === true;
    let history: History;
    try {
      history = await trainer.fit(o.data.train, this.fitOptions(control, stopRequested));
    } catch (e) {
      throw this.guard.explain(e);
    }
    const caption = o.caption ?? 'training run';
    if (history.stopped) {
      await this.saveCheckpoint();
      await store.close(`${caption} (interrupted)`);
      this.continuing = true;
      this.start = { ...trainer.position };
      return { history, stopped: true, position: { ...trainer.position }, trainer };
    }
    this.done = true;
    const test = await this.evaluate();
    if (test) store.appendMetric({ type: 'test', ...test });
    const model = await this.modelInput({
      steps: trainer.step,
      epochs: o.config.epochs,
      ...(test ? { test: testBlock(test) } : {}),
    });
    await store.saveModel(model);
    await store.close(`${caption}${test ? `, test accuracy ${pct(test.accuracy)}` : ''}`);
    return { history, stopped: false, position: { ...trainer.position }, test, model, trainer };
  }

  private fitOptions(control: RunControl, stopRequested: () => boolean): FitOptions {
    const { trainer, store, o, stepsPerEpoch } = this;
    const c = o.config;
    const start = this.start;
    const every = o.checkpointEvery ?? 1;
    return {
      epochs: c.epochs,
      batchSize: c.batchSize,
      shuffle: c.shuffle ?? c.batchSize < o.data.train.count,
      validationSplit: c.validationSplit,
      validationData: o.data.validation,
      logEvery: c.logEvery,
      shouldStop: stopRequested,
      start,
      augment: c.augment,
      residency: c.residency,
      onStep: async (s) => {
        store.appendMetric({
          type: 'step',
          step: s.step,
          epoch: s.epoch,
          batch: s.batch,
          x: s.epoch + (s.batch + 1) / stepsPerEpoch,
          loss: s.loss,
          accuracy: s.accuracy,
          samples: s.samples,
          lr: s.lr,
          time: (performance.now() - this.t0) / 1000,
        });
        await control.onStep?.(s);
        await control.afterStep?.(s);
      },
      onEpoch: async (e) => {
        const pos = { ...trainer.position };
        const complete = pos.batch === 0 && pos.epoch === e.epoch + 1;
        const resumedAt = start && e.epoch === start.epoch && start.batch > 0 ? start.batch : undefined;
        store.appendMetric({
          type: 'epoch',
          ...e,
          x: complete ? e.epoch + 1 : e.epoch + pos.batch / stepsPerEpoch,
          ...(complete ? {} : { partial: true }),
          ...(resumedAt ? { resumedAt } : {}),
        });
        const lossScale = await trainer.lossScaleState();
        if (lossScale) store.appendMetric({ type: 'loss-scale', epoch: e.epoch, ...lossScale });
        // From the next step on, every layer trains, at the lower rate.
        const unfrozen = complete && c.unfreezeAfter === e.epoch + 1 && trainer.freeze !== 'none';
        if (unfrozen) {
          trainer.setFreeze('none');
          trainer.lrFactor = c.unfreezeLrFactor ?? DEFAULT_UNFREEZE_LR_FACTOR;
          store.appendMetric({ type: 'unfreeze', epoch: e.epoch + 1, lrFactor: trainer.lrFactor });
        }
        const info = {
          complete,
          position: pos,
          ...(lossScale ? { lossScale } : {}),
          ...(unfrozen ? { unfrozen } : {}),
        };
        await control.onEpoch?.(e, info);
        if (complete && every > 0 && (e.epoch + 1) % every === 0 && !stopRequested())
          await this.saveCheckpoint();
      },
    };
  }

  private async evaluate(): Promise<TestResult | undefined> {
    const test = this.o.data.test;
    if (!test) return undefined;
    return evaluateTest(this.trainer, test, {
      tta: this.o.tta ?? 'none',
      shape: this.o.meta.inputShape,
      batchSize: this.o.evalBatchSize ?? 256,
    });
  }

  /** The model as a file holds it; non-finite weights throw the divergence error instead. */
  private async modelInput(extra: JsonObject): Promise<ModelInput> {
    const { trainer, o } = this;
    return {
      architecture: architectureOf(o.spec, o.meta.inputShape),
      normalization: o.meta.normalization,
      classNames: o.meta.classNames,
      training: { ...o.meta.training, adapter: this.gpu.report.name, ...extra },
      weights: this.guard.finite(await trainer.getWeights(), trainer.step, 'weights'),
      runningStats: await trainer.getRunningStats(),
      batchesTracked: trainer.batchesTracked,
    };
  }

  /** What a checkpoint records of the freeze (kept in its schedule block): where the run is. */
  private freezeState(): JsonObject {
    const { trainer, o } = this;
    if (o.config.freeze === undefined && trainer.freeze === 'none' && trainer.lrFactor === 1) return {};
    return { freeze: freezeToJson(trainer.freeze), lrFactor: trainer.lrFactor };
  }

  private async saveCheckpoint(): Promise<void> {
    const { trainer, o } = this;
    const pos = { ...trainer.position };
    const lossScale = await trainer.lossScaleState();
    const checkpoint: CheckpointInput = {
      model: await this.modelInput({ steps: trainer.step }),
      state: {
        step: trainer.step,
        epoch: pos.epoch,
        batchInEpoch: pos.batch,
        rngState: trainer.fitStartRngState!,
        dataPosition: {
          epoch: pos.epoch,
          batch: pos.batch,
          batchSize: this.batchSize,
          stepsPerEpoch: this.stepsPerEpoch,
          trainSamples: this.trainCount,
        },
        optimizer: json(o.config.optimizer),
        schedule: { ...json(o.config.schedule), ...this.freezeState() },
        ...(lossScale ? { lossScale } : {}),
      },
      optimizerState: this.guard.finite(await trainer.getOptimizerState(), trainer.step, 'optimizer state'),
    };
    await this.store.saveCheckpoint(checkpoint);
    this.guard.saved(this.store.checkpointName, pos, this.stepsPerEpoch);
  }
}

export const DEFAULT_UNFREEZE_LR_FACTOR = 0.1;

/** unfreezeAfter needs a frozen start and a positive whole number of epochs within the run. */
function checkUnfreeze(c: RunConfig): void {
  if (c.unfreezeAfter === undefined) {
    if (c.unfreezeLrFactor !== undefined)
      throw new ConfigError(
        'unfreezeLrFactor applies when unfreezeAfter is set; set it, or drop the factor.',
      );
    return;
  }
  if (!Number.isInteger(c.unfreezeAfter) || c.unfreezeAfter < 1)
    throw new ConfigError(`unfreezeAfter must be a positive whole number of epochs, got ${c.unfreezeAfter}.`);
  if ((c.freeze ?? 'none') === 'none')
    throw new ConfigError("unfreezeAfter needs frozen layers to unfreeze: set freeze (e.g. 'backbone').");
  const f = c.unfreezeLrFactor ?? DEFAULT_UNFREEZE_LR_FACTOR;
  if (!(f > 0 && Number.isFinite(f)))
    throw new ConfigError(`unfreezeLrFactor must be a positive number, got ${f}.`);
}

function testBlock(t: TestResult): JsonObject {
  return {
    loss: t.loss,
    accuracy: t.accuracy,
    samples: t.count,
    tta: t.tta,
    ...(t.single ? { single: { loss: t.single.loss, accuracy: t.single.accuracy } } : {}),
  };
}

/** TrainingRun.create and train() in one call; the result's trainer is the caller's to destroy. */
export async function runTraining(gpu: GpuDevice, o: RunOptions & RunControl): Promise<RunResult> {
  const run = await TrainingRun.create(gpu, o);
  try {
    return await run.train(o);
  } catch (e) {
    run.trainer.destroy();
    throw e;
  }
}
