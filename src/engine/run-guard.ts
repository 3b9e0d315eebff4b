// How a training run (src/engine/run.ts) ends when training goes wrong: divergence (a NaN/Inf
// loss or weight) and a lost GPU device. In both cases the run stops without writing anything
// over the last good checkpoint or model, and its error says which checkpoint is intact and how
// to continue from it.
//
// - Divergence: the trainer throws NonFiniteLossError at the readback that sees a NaN/Inf loss.
//   A weight can also turn NaN between two readbacks, so every model or checkpoint the run saves
//   goes through `finite` first, which refuses non-finite tensors with the same error.
//   Resuming with the same learning rate would diverge again at the same step (training is
//   deterministic), so the advice lowers the learning rate.
// - Device loss: the trainer throws DeviceLostError (or a readback fails) once the device is
//   gone; the weights on it are lost with it, so the last checkpoint is what survives.
//
// The words of the advice (how to set a learning rate, how to resume) belong to the caller:
// RunAdvice; the CLI's names its flags and the command line.

import { DeviceLostError, NonFiniteLossError } from '../errors.js';
import type { GpuDevice } from '../gpu/device.js';

/** How the caller's user changes the settings the error messages advise. */
export interface RunAdvice {
  /** The setting for a learning rate of `lr`, e.g. '--lr 0.001'. */
  lr(lr: string): string;
  /** The setting that clips gradients, e.g. '--max-norm 1'. */
  clip: string;
  /** How to continue from the checkpoint `name`, with a new learning rate when given. */
  resume(name: string, lr?: string): string;
}

/** Advice in the library's own terms (runTraining's options). */
export const LIBRARY_ADVICE: RunAdvice = {
  lr: (lr) => `optimizer.lr ${lr}`,
  clip: 'optimizer.maxNorm 1',
  resume: (name, lr) =>
    `runTraining with resume set to the checkpoint in ${name}${lr ? ` and optimizer.lr ${lr}` : ''}`,
};

/** Index and value of the first non-finite element of any Float32Array inside `value`, with its path. */
function firstNonFinite(
  value: unknown,
  where: string,
): { where: string; index: number; value: number } | null {
  if (value instanceof Float32Array) {
    for (let i = 0; i < value.length; i++) {
      if (!Number.isFinite(value[i])) return { where, index: i, value: value[i] };
    }
    return null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = firstNonFinite(value[i], `${where}[${i}]`);
      if (bad) return bad;
    }
    return null;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const bad = firstNonFinite(v, where ? `${where}.${k}` : k);
      if (bad) return bad;
    }
  }
  return null;
}

function lowerLr(lr: number): string {
  return String(Number((lr / 10).toPrecision(3)));
}

export interface GuardOptions {
  gpu: GpuDevice;
  /** The learning rate and clipping the run uses (for the advice). */
  lr: number;
  maxNorm: number | null;
  /** The checkpoint this run resumed from, if any: good until this run writes a newer one. */
  resumedFrom?: string;
  advice?: RunAdvice;
}

/**
 * Tracks the last good checkpoint of a run and turns a divergence or device loss into an error
 * whose message says what happened, what is intact and how to continue.
 */
export class RunGuard {
  private lastGood: { name: string; where: string } | undefined;
  private readonly advice: RunAdvice;

  constructor(private readonly o: GuardOptions) {
    if (o.resumedFrom) this.lastGood = { name: o.resumedFrom, where: 'the checkpoint this run resumed from' };
    this.advice = o.advice ?? LIBRARY_ADVICE;
  }

  /** Call after a checkpoint was written; `position` is where the next step would start. */
  saved(name: string, position: { epoch: number; batch: number }, stepsPerEpoch: number): void {
    this.lastGood = {
      name,
      where: `epoch ${position.epoch + 1}, step ${position.batch}/${stepsPerEpoch}`,
    };
  }

  /** Returns `tensors` unchanged when every value in them is finite; else throws the divergence error. */
  finite<T>(tensors: T, step: number, what: string): T {
    const bad = firstNonFinite(tensors, '');
    if (bad) {
      throw this.explain(
        new NonFiniteLossError(
          `The ${what} became non-finite by step ${step} (${bad.where || 'tensor'} element ${bad.index} is ${bad.value}).`,
        ),
      );
    }
    return tensors;
  }

  private resumeLine(lr?: string): string {
    if (!this.lastGood) {
      return 'No checkpoint was written before this happened, so there is nothing to resume: start the run again.';
    }
    return (
      `The last good checkpoint is intact: ${this.lastGood.name} (${this.lastGood.where}); nothing was written over it.\n` +
      `Continue from it with: ${this.advice.resume(this.lastGood.name, lr)}`
    );
  }

  private deviceLost(e: unknown): DeviceLostError | undefined {
    if (e instanceof DeviceLostError) return e;
    // A readback on a lost device fails with the driver's own error; the device says why.
    if (this.o.gpu.lostError) return this.o.gpu.lostError;
    try {
      this.o.gpu.throwIfFailed();
    } catch (f) {
      if (f instanceof DeviceLostError) return f;
    }
    return undefined;
  }

  /** The error to report for a failure during training: explained when it is a divergence or device loss. */
  explain(e: unknown): unknown {
    if (e instanceof DivergedError || e instanceof RunDeviceLostError) return e;
    if (e instanceof NonFiniteLossError) {
      const lr = lowerLr(this.o.lr);
      const clip = this.o.maxNorm === null ? `, or clip gradients with ${this.advice.clip}` : '';
      return new DivergedError(
        `Training diverged. ${e.message.replace(/ Lower the learning rate.*$/, '')}\n` +
          `Likely cause: the learning rate (${this.advice.lr(String(this.o.lr))}) is too high for this network and data.\n` +
          `Fix: lower it (e.g. ${this.advice.lr(lr)})${clip}.\n` +
          this.resumeLine(lr),
        { cause: e },
      );
    }
    const lost = this.deviceLost(e);
    if (lost) {
      return new RunDeviceLostError(
        `The GPU device was lost during training (${lost.reason}): ${lost.message}\n` +
          'The weights on the device are lost with it.\n' +
          this.resumeLine(),
        lost.reason,
        { cause: e },
      );
    }
    return e;
  }
}

/** Divergence as a run reports it: the trainer's finding plus cause, fix and how to resume. */
export class DivergedError extends NonFiniteLossError {}

/** Device loss as a run reports it: what survived and how to resume. */
export class RunDeviceLostError extends DeviceLostError {
  constructor(message: string, reason: string, options?: { cause?: unknown }) {
    super(message, reason);
    if (options) this.cause = options.cause;
  }
}

for (const [name, cls] of Object.entries({ DivergedError, RunDeviceLostError })) {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
}
