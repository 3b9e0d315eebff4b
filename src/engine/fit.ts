// The training loop behind Trainer.fit, as named steps: check the options, prepare the run
// (seeded split, plan, feed), then per epoch train its batches and close it (validation, log).
//
// Each training step is one command encoder, one compute pass and one queue.submit. Per step the
// CPU only writes small things with queue.writeBuffer: the batch's sample indices (resident data)
// or the batch itself (upload path), the optimizer's hyper-parameters, and the active row count
// of a last partial batch. Loss and accuracy accumulate on the GPU and are copied out every
// `logEvery` steps into a staging buffer that is mapped asynchronously; at most `maxInFlight`
// submitted steps may be pending before the CPU waits (how it waits: src/engine/step-waiter.ts).

import { ConfigError, NonFiniteLossError } from '../errors.js';
import type { GpuDevice } from '../gpu/device.js';
import type { StagingBuffer } from '../gpu/readback.js';
import type { ResolvedModel } from '../nn/layers.js';
import type { ResolvedOptimizer } from '../optim/optimizers.js';
import { learningRate, type Schedule } from '../optim/schedules.js';
import type { Rng, RngState } from '../rng.js';
import { epochOrder, splitIndices } from '../data/order.js';
import type { BatchSource } from './batch-source.js';
import { checkFiniteRows, type Feed, type Residency } from './feed.js';
import type { AugmentOptions } from './gpu-data.js';
import { encodeAll, type Plan } from './plan.js';
import { createStepWaiter, pacedWaitsWanted, type StepWaiter } from './step-waiter.js';
import type { EpochLog, FitOptions, History, StepLog } from './trainer-types.js';

/** The trainer as a fit sees it: its public state, which the loop advances. */
export interface FitTrainer {
  readonly gpu: GpuDevice;
  readonly model: ResolvedModel;
  readonly optimizer: ResolvedOptimizer;
  readonly schedule: Schedule | undefined;
  /** Multiplies the scheduled learning rate (a fine-tune's lower rate once the backbone trains). */
  readonly lrFactor: number;
  readonly rng: Rng;
  step: number;
  batchesTracked: number;
  position: { epoch: number; batch: number };
  fitStartRngState: RngState | undefined;
  evaluate(
    data: BatchSource,
    o: { batchSize?: number; ids?: Uint32Array },
  ): Promise<{ loss: number; accuracy: number }>;
}

/** The trainer's step machinery (its private plan cache, feeds and staging buffers). */
export interface FitMachinery {
  validate(data: BatchSource, what: string): void;
  plan(B: number): Promise<Plan>;
  /**
   * Brings the plan's step lists up to date with the trainer's frozen set (Trainer.setFreeze,
   * between steps); resolves at once when they are.
   */
  refresh(plan: Plan): Promise<void>;
  source(data: BatchSource, residency: Residency, budget: number | undefined): Promise<BatchSource>;
  feed(plan: Plan, src: BatchSource, residency: Residency, augment?: AugmentOptions): Promise<Feed>;
  /** Writes the live row count (and the dropout step) of this batch. */
  setActive(plan: Plan, n: number): void;
  /** A staging buffer for a loss readback that is not in flight. */
  staging(): StagingBuffer;
}

/** One fit, prepared: what every epoch of it shares. */
interface FitRun {
  t: FitTrainer;
  m: FitMachinery;
  o: FitOptions;
  plan: Plan;
  feed: Feed;
  src: BatchSource;
  B: number;
  trainIds: Uint32Array;
  valIds: Uint32Array | undefined;
  stepsPerEpoch: number;
  totalSteps: number;
  logEvery: number;
  waiter: StepWaiter;
  epochSeedBase: number;
  startEpoch: number;
  history: History;
}

/** Loss, right answers and rows of an epoch, and of the steps since the last log. */
interface Sums {
  loss: number;
  correct: number;
  rows: number;
  sinceLoss: number;
  sinceCorrect: number;
  sinceRows: number;
}

export async function fit(
  t: FitTrainer,
  m: FitMachinery,
  data: BatchSource,
  o: FitOptions,
): Promise<History> {
  m.validate(data, 'training data');
  checkFitOptions(o);
  const run = await prepareFit(t, m, data, o);
  try {
    for (let epoch = run.startEpoch; epoch < o.epochs && !run.history.stopped; epoch++) {
      const t0 = performance.now();
      const sums = await trainEpoch(run, epoch);
      const log = await closeEpoch(run, epoch, sums, t0);
      run.history.epochs.push(log);
      await o.onEpoch?.(log);
    }
  } catch (e) {
    // Leave no read in flight behind a failure (its buffer would stay mapped, its error unseen).
    await run.waiter.abandon();
    await run.feed.settle();
    throw e;
  }
  return run.history;
}

function checkFitOptions(o: FitOptions): void {
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    throw new ConfigError(`epochs must be a positive integer, got ${o.epochs}.`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new ConfigError(`batchSize must be a positive integer, got ${o.batchSize}.`);
  const split = o.validationSplit ?? 0;
  if (!(split >= 0 && split < 1)) throw new ConfigError(`validationSplit must be in [0, 1), got ${split}.`);
}

/** The seeded split, the plan and the feed of a fit, and where it starts. */
async function prepareFit(t: FitTrainer, m: FitMachinery, data: BatchSource, o: FitOptions): Promise<FitRun> {
  const split = o.validationSplit ?? 0;
  // Everything random in a fit derives from the trainer's Rng as it is now; a checkpoint that
  // stores this state and the (epoch, batch) position resumes onto the same batches exactly.
  t.fitStartRngState = t.rng.state();
  if (o.memoryBudget !== undefined && !(o.memoryBudget > 0))
    throw new ConfigError(`memoryBudget must be a positive number of bytes, got ${o.memoryBudget}.`);
  // Seeded split and per-epoch order from the data library (src/data/order.ts).
  const splitSeed = t.rng.nextUint32();
  const nVal = Math.floor(data.count * split);
  const { train: trainIds, validation } = splitIndices(data.count, nVal, splitSeed);
  if (trainIds.length === 0) throw new ConfigError('validationSplit leaves no training samples.');
  if (o.validationData) m.validate(o.validationData, 'validation data');

  const B = Math.min(o.batchSize, trainIds.length);
  const plan = await m.plan(B);
  const residency = o.residency ?? 'auto';
  const src = await m.source(data, residency, o.memoryBudget);
  const feed = await m.feed(plan, src, residency, o.augment);
  const stepsPerEpoch = Math.ceil(trainIds.length / B);
  const maxInFlight = Math.max(1, o.maxInFlight ?? 2);
  return {
    t,
    m,
    o,
    plan,
    feed,
    src,
    B,
    trainIds,
    valIds: split > 0 ? validation : undefined,
    stepsPerEpoch,
    totalSteps: stepsPerEpoch * o.epochs,
    logEvery: Math.max(1, o.logEvery ?? 10),
    waiter: createStepWaiter(t.gpu.device, maxInFlight, pacedWaitsWanted(t.gpu.report)),
    epochSeedBase: t.rng.nextUint32(),
    startEpoch: o.start?.epoch ?? 0,
    history: { epochs: [], steps: 0, stopped: false },
  };
}

/** Trains one epoch's batches (from the resume position in the first); stops early on shouldStop. */
async function trainEpoch(run: FitRun, epoch: number): Promise<Sums> {
  const { t, o, feed, B } = run;
  const device = t.gpu.device;
  // Per-epoch order from (seed, epoch): reproducible, and a resume lands on the same order.
  const order = epochOrder(run.trainIds, run.epochSeedBase, epoch, o.shuffle !== false);
  if (epoch === run.startEpoch) checkFiniteRows(run.src, t.model.inputSize, order, B, epoch);
  feed.setEpoch(device.queue, epoch);
  const sums: Sums = { loss: 0, correct: 0, rows: 0, sinceLoss: 0, sinceCorrect: 0, sinceRows: 0 };
  const firstBatch = epoch === run.startEpoch ? (o.start?.batch ?? 0) : 0;
  feed.begin(order, B, firstBatch);
  for (let bi = firstBatch; bi < run.stepsPerEpoch; bi++) {
    await run.m.refresh(run.plan);
    const lr = learningRate(t.optimizer.lr, t.schedule, t.step, run.totalSteps) * t.lrFactor;
    const logNow = (bi + 1) % run.logEvery === 0 || bi === run.stepsPerEpoch - 1;
    const staging = await trainStep(run, epoch, bi, lr, logNow);
    t.step++;
    t.batchesTracked++;
    run.history.steps++;
    t.position = bi + 1 < run.stepsPerEpoch ? { epoch, batch: bi + 1 } : { epoch: epoch + 1, batch: 0 };
    if (staging)
      await run.waiter.submitted(lossReader(run, staging, sums, { step: t.step, epoch, batch: bi, lr }));
    else await run.waiter.submitted();
    t.gpu.throwIfFailed();
    if (o.shouldStop?.()) {
      run.history.stopped = true;
      break;
    }
  }
  await run.waiter.flush();
  t.gpu.throwIfFailed();
  return sums;
}

/** Loads batch `bi` and submits its step; returns the staging buffer its loss is copied into, if logged. */
async function trainStep(
  run: FitRun,
  epoch: number,
  bi: number,
  lr: number,
  logNow: boolean,
): Promise<StagingBuffer | undefined> {
  const { t, m, plan, feed } = run;
  const device = t.gpu.device;
  const n = await feed.load(plan, bi, `batch ${bi} of epoch ${epoch + 1}`);
  m.setActive(plan, n);
  plan.optimizer.writeHyper(device.queue, lr, t.step + 1);
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
    staging = m.staging();
    staging.encodeCopy(enc, plan.acc.buffer, 0, 16);
    enc.clearBuffer(plan.acc.buffer, 0, 16);
  }
  device.queue.submit([enc.finish()]);
  return staging;
}

/** The read of one logged step's loss: checks it is finite, adds it to the sums, calls onStep. */
function lossReader(
  run: FitRun,
  s: StagingBuffer,
  sums: Sums,
  at: { step: number; epoch: number; batch: number; lr: number },
): () => Promise<void> {
  s.reserve();
  return () =>
    s.read(16).then(async (buf) => {
      const [l, c, rows] = new Float32Array(buf);
      if (!Number.isFinite(l)) {
        throw new NonFiniteLossError(
          `The loss became ${l} at step ${at.step} (epoch ${at.epoch + 1}). Lower the learning rate or enable gradient clipping (maxNorm).`,
        );
      }
      sums.sinceLoss += l;
      sums.sinceCorrect += c;
      sums.sinceRows += rows;
      sums.loss += l;
      sums.correct += c;
      sums.rows += rows;
      const log: StepLog = {
        step: at.step,
        epoch: at.epoch,
        batch: at.batch,
        loss: sums.sinceLoss / Math.max(1, sums.sinceRows),
        accuracy: sums.sinceCorrect / Math.max(1, sums.sinceRows),
        samples: sums.sinceRows,
        lr: at.lr,
      };
      sums.sinceLoss = sums.sinceCorrect = sums.sinceRows = 0;
      await run.o.onStep?.(log);
    });
}

/** The epoch's log: its mean loss and accuracy, speed, and the validation scores if asked. */
async function closeEpoch(run: FitRun, epoch: number, sums: Sums, t0: number): Promise<EpochLog> {
  const seconds = (performance.now() - t0) / 1000;
  const log: EpochLog = {
    epoch,
    loss: sums.loss / Math.max(1, sums.rows),
    accuracy: sums.correct / Math.max(1, sums.rows),
    seconds,
    samplesPerSecond: sums.rows / seconds,
  };
  await run.feed.settle();
  const { valIds, o, B } = run;
  if (valIds || o.validationData) {
    const v = valIds
      ? await run.t.evaluate(run.src, { batchSize: B, ids: valIds })
      : await run.t.evaluate(o.validationData!, { batchSize: B });
    log.valLoss = v.loss;
    log.valAccuracy = v.accuracy;
  }
  return log;
}
