// A trainer's state in and out of the GPU: weights, batch-norm running statistics, optimizer
// moments and the loss scale, and their starting values. The Trainer's getWeights/setWeights,
// get/setRunningStats, get/setOptimizerState and lossScaleState/setLossScaleState delegate here.
//
// Layouts: parameters are one flat f32 buffer in the model's ParamLayout (per layer W then b at
// their offsets, zero padding between tensors); the optimizer moments m and v share that layout;
// the running statistics are one flat buffer with each batchnorm layer's means then variances at
// its StateSlot offsets. Everything a caller passes in is checked (counts, lengths, finiteness)
// before anything is written, so a bad checkpoint leaves the GPU state as it was.

import { NonFiniteInputError, ShapeError } from '../errors.js';
import { USAGE, writeArray, type BufferPool } from '../gpu/buffers.js';
import type { GpuDevice } from '../gpu/device.js';
import { readBuffer } from '../gpu/readback.js';
import { resolveLossScale, type LossScaleState, type LossScaler } from '../kernels/amp.js';
import { defaultInit, initModelWeights, type Init } from '../nn/init.js';
import type { ResolvedModel } from '../nn/layers.js';
import type { OptimizerName } from '../optim/optimizers.js';
import type { ParamLayout } from '../nn/model.js';
import type { Rng } from '../rng.js';
import { firstNonFinite } from './batch-source.js';
import type { ModelBuffers } from './plan.js';

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

/** The optimizer's moments (flat, in the parameter layout) and its step count t. */
export interface OptimizerState {
  t: number;
  tensors: Record<string, Float32Array>;
}

/**
 * The state buffers of a model: parameters and their gradients, the optimizer's moments (m for
 * momentum and Adam, v for Adam) and the batch-norm running statistics. Gradients and moments
 * start at zero; the padding between tensors stays zero forever.
 */
export function allocateModelBuffers(
  device: GPUDevice,
  pool: BufferPool,
  model: ResolvedModel,
  optimizer: OptimizerName,
): ModelBuffers {
  const P = model.paramSize;
  const usage = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
  const bufs: ModelBuffers = {
    model,
    state: model.stateSize > 0 ? pool.acquire(model.stateSize * 4, usage, 'bn-running-stats') : undefined,
    params: pool.acquire(P * 4, usage, 'params'),
    grads: pool.acquire(P * 4, usage, 'grads'),
    m: optimizer !== 'sgd' ? pool.acquire(P * 4, usage, 'optim-m') : undefined,
    v: optimizer === 'adam' || optimizer === 'adamw' ? pool.acquire(P * 4, usage, 'optim-v') : undefined,
  };
  for (const b of [bufs.grads, bufs.m, bufs.v]) if (b) device.queue.writeBuffer(b, 0, new Float32Array(P));
  return bufs;
}

/** Checks `weights` against the layout and packs them into one flat parameter array. */
export function packWeights(layout: ParamLayout, weights: readonly Weights[]): Float32Array {
  if (weights.length !== layout.layers.length) {
    throw new ShapeError(
      `setWeights: the model has ${layout.layers.length} layers with parameters, got ${weights.length} weight pairs.`,
    );
  }
  const flat = new Float32Array(layout.size);
  weights.forEach((w, i) => {
    const l = layout.layers[i];
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
  return flat;
}

/** The per-layer weights held in a flat parameter array. */
export function unpackWeights(layout: ParamLayout, flat: Float32Array): Weights[] {
  return layout.layers.map((l) => ({
    W: flat.slice(l.W.offset, l.W.offset + l.W.length),
    b: flat.slice(l.b.offset, l.b.offset + l.b.length),
  }));
}

/** Checks running statistics against the model's batchnorm layers and packs them flat. */
export function packRunningStats(model: ResolvedModel, stats: readonly RunningStats[]): Float32Array {
  const states = model.states;
  if (stats.length !== states.length) {
    throw new ShapeError(
      `setRunningStats: the model has ${states.length} batchnorm layers, got ${stats.length} entries.`,
    );
  }
  const flat = new Float32Array(model.stateSize);
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
  return flat;
}

/** The per-layer running statistics held in a flat state array. */
export function unpackRunningStats(model: ResolvedModel, flat: Float32Array): RunningStats[] {
  return model.states.map((st) => ({
    mean: flat.slice(st.mean, st.mean + st.channels),
    variance: flat.slice(st.variance, st.variance + st.channels),
  }));
}

/** Checks that a moment tensor fills the parameter layout. */
export function checkMoment(name: string, data: Float32Array | undefined, size: number): Float32Array {
  if (!data || data.length !== size) {
    throw new ShapeError(
      `Optimizer state '${name}' must hold ${size} values (this model's layout), got ${data?.length ?? 0}.`,
    );
  }
  return data;
}

/**
 * Starting weights: the initialisers (one, or one per weighted layer; default He before a
 * ReLU-like activation, else Xavier) for dense and conv2d, batch-norm scales 1 (layer norm's too), every bias 0.
 * Draws from `rng`, which the caller forks so its own stream does not depend on the kinds.
 */
export function initialWeights(
  model: ResolvedModel,
  init: Init | Init[] | undefined,
  seed: number,
  rng: Rng,
): Weights[] {
  const norm = (p: { type: string }) => p.type === 'batchnorm' || p.type === 'layernorm';
  const weighted = model.params.filter((p) => !norm(p));
  const inits = Array.isArray(init)
    ? init
    : weighted.map((p) => init ?? defaultInit(outputActivation(model, p.layer)));
  const W = initModelWeights(inits, weighted, seed, rng);
  let wi = 0;
  return model.params.map((p) =>
    norm(p)
      ? { W: new Float32Array(p.units).fill(1), b: new Float32Array(p.units) }
      : { W: W[wi++], b: new Float32Array(p.b.length) },
  );
}

/** Starting running statistics: mean 0, variance 1 (PyTorch's). */
export function initialRunningStats(model: ResolvedModel): RunningStats[] {
  return model.states.map((s) => ({
    mean: new Float32Array(s.channels),
    variance: new Float32Array(s.channels).fill(1),
  }));
}

/** The activation a weighted layer's output goes through: its own, or a batch norm's right after it. */
function outputActivation(m: ResolvedModel, index: number): string {
  const own = m.layers[index].activation;
  const readers = m.layers[index].readers;
  const next = readers.length === 1 ? m.layers[readers[0]] : undefined;
  return own === 'identity' && next?.type === 'batchnorm' ? next.activation : own;
}

/**
 * Reads and writes one trainer's state buffers. Writes go through queue.writeBuffer (ordered
 * before any later submit); reads wait for the GPU and throw the device's error if it failed.
 */
export class StateIO {
  constructor(
    private readonly gpu: GpuDevice,
    private readonly pool: BufferPool,
    private readonly model: ResolvedModel,
    private readonly layout: ParamLayout,
    private readonly bufs: ModelBuffers,
  ) {}

  writeWeights(weights: readonly Weights[]): void {
    writeArray(this.gpu.device.queue, this.bufs.params, 0, packWeights(this.layout, weights));
  }

  async readWeights(): Promise<Weights[]> {
    return unpackWeights(this.layout, await this.readFlat(this.bufs.params, this.layout.size));
  }

  writeRunningStats(stats: readonly RunningStats[]): void {
    const flat = packRunningStats(this.model, stats);
    if (this.bufs.state) writeArray(this.gpu.device.queue, this.bufs.state, 0, flat);
  }

  async readRunningStats(): Promise<RunningStats[]> {
    if (!this.bufs.state) return [];
    return unpackRunningStats(this.model, await this.readFlat(this.bufs.state, this.model.stateSize));
  }

  /** The optimizer's moments: m (momentum, Adam), v (Adam); none for plain SGD. */
  async readMoments(): Promise<Record<string, Float32Array>> {
    const tensors: Record<string, Float32Array> = {};
    if (this.bufs.m) tensors.m = await this.readFlat(this.bufs.m, this.layout.size);
    if (this.bufs.v) tensors.v = await this.readFlat(this.bufs.v, this.layout.size);
    return tensors;
  }

  /** Writes the moments this optimizer has; each is checked before any is written. */
  writeMoments(tensors: Record<string, Float32Array>): void {
    const writes: [GPUBuffer, Float32Array][] = [];
    if (this.bufs.m) writes.push([this.bufs.m, checkMoment('m', tensors.m, this.layout.size)]);
    if (this.bufs.v) writes.push([this.bufs.v, checkMoment('v', tensors.v, this.layout.size)]);
    for (const [buf, data] of writes) writeArray(this.gpu.device.queue, buf, 0, data);
  }

  /** The loss scaler's scale and skipped-step count, or undefined without one (f32). */
  async readLossScale(scaler: LossScaler | undefined): Promise<LossScaleState | undefined> {
    if (!scaler) return undefined;
    const s = await scaler.read();
    this.gpu.throwIfFailed();
    return s;
  }

  /** Restores a loss scaler (ignored without one); the scale must be a positive power of two. */
  writeLossScale(scaler: LossScaler | undefined, s: LossScaleState): void {
    if (!scaler) return;
    resolveLossScale({ initScale: s.scale });
    scaler.write(s);
  }

  private async readFlat(buf: GPUBuffer, length: number): Promise<Float32Array> {
    const bytes = await readBuffer(this.gpu.device, this.pool, buf, length * 4);
    this.gpu.throwIfFailed();
    return new Float32Array(bytes);
  }
}
