// How `train` ends when training goes wrong: divergence (a NaN/Inf loss or weight) and a lost GPU
// device. In both cases the run stops without writing anything over the last good checkpoint or
// model, and says which checkpoint is intact and the exact command that continues from it.
//
// - Divergence: the trainer throws NonFiniteLossError at the readback that sees a NaN/Inf loss.
//   A weight can also turn NaN between two readbacks, so every model or checkpoint the CLI saves
//   goes through `finite` first, which refuses non-finite tensors with the same error.
//   Resuming with the same learning rate would diverge again at the same step (training is
//   deterministic), so `--resume` accepts --lr and --max-norm overrides (RESUME_OVERRIDES) and
//   the printed command lowers --lr. It also takes --tta, which changes only the final test
//   evaluation, never the training.
// - Device loss: the trainer throws DeviceLostError (or a readback fails) once the device is
//   gone; the weights on it are lost with it, so the last checkpoint is what survives.
//
// WGT_TEST_DESTROY_DEVICE_AFTER_STEPS=N is for tests only: it destroys the device once a step
// numbered N or later has been reported, to exercise the device-loss path without a driver fault.

import { DeviceLostError, NonFiniteLossError } from '../errors.js';
import type { GpuDevice } from '../gpu/device.js';
import type { StepLog } from '../engine/trainer.js';
import type { ParsedArgs } from './args.js';
import type { TtaChoice } from './tta.js';

/** Training options that `--resume` may change: the ways out of a divergence, and --tta. */
export const RESUME_OVERRIDES: ReadonlySet<string> = new Set(['lr', 'max-norm', 'tta']);

/** Applies --lr / --max-norm / --tta given together with --resume onto the checkpoint's configuration. */
export function applyResumeOverrides(
  cfg: { lr: number; maxNorm: number | null; tta: TtaChoice },
  args: ParsedArgs,
): void {
  if (args.given.has('lr')) cfg.lr = args.values.lr as number;
  if (args.given.has('max-norm')) cfg.maxNorm = args.values['max-norm'] as number;
  if (args.given.has('tta')) cfg.tta = args.values.tta as TtaChoice;
}

/** Quotes a path for a POSIX shell when it needs it, so a printed command can be pasted as is. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

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
}

/**
 * Tracks the last good checkpoint of a run and turns a divergence or device loss into an error
 * whose message says what happened, what is intact and how to continue.
 */
export class RunGuard {
  private lastGood: { file: string; where: string } | undefined;
  private readonly destroyAfter: number | undefined;

  constructor(private readonly o: GuardOptions) {
    if (o.resumedFrom) this.lastGood = { file: o.resumedFrom, where: 'the checkpoint this run resumed from' };
    const n = Number(process.env.WGT_TEST_DESTROY_DEVICE_AFTER_STEPS);
    this.destroyAfter = Number.isInteger(n) && n > 0 ? n : undefined;
  }

  /** Call after a checkpoint was written; `position` is where the next step would start. */
  saved(file: string, position: { epoch: number; batch: number }, stepsPerEpoch: number): void {
    this.lastGood = {
      file,
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

  /** Wraps a step callback with the test-only device destroyer (no-op unless its variable is set). */
  onStep(inner: (s: StepLog) => void | Promise<void>): (s: StepLog) => void | Promise<void> {
    const after = this.destroyAfter;
    if (after === undefined) return inner;
    let done = false;
    return async (s) => {
      await inner(s);
      if (!done && s.step >= after) {
        done = true;
        this.o.gpu.destroy();
      }
    };
  }

  private resumeLine(extra: string): string {
    if (!this.lastGood) {
      return 'No checkpoint was written before this happened, so there is nothing to resume: start the run again.';
    }
    const cmd = `webgpu-trainer train --resume ${shellQuote(this.lastGood.file)}${extra}`;
    return (
      `The last good checkpoint is intact: ${this.lastGood.file} (${this.lastGood.where}); nothing was written over it.\n` +
      `Continue from it with: ${cmd}`
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
      const clip = this.o.maxNorm === null ? ', or clip gradients with --max-norm 1' : '';
      return new DivergedError(
        `Training diverged. ${e.message.replace(/ Lower the learning rate.*$/, '')}\n` +
          `Likely cause: the learning rate (--lr ${this.o.lr}) is too high for this network and data.\n` +
          `Fix: lower it (e.g. --lr ${lr})${clip}.\n` +
          this.resumeLine(` --lr ${lr}`),
        { cause: e },
      );
    }
    const lost = this.deviceLost(e);
    if (lost) {
      return new RunDeviceLostError(
        `The GPU device was lost during training (${lost.reason}): ${lost.message}\n` +
          'The weights on the device are lost with it.\n' +
          this.resumeLine(''),
        lost.reason,
        { cause: e },
      );
    }
    return e;
  }
}

/** Divergence as the CLI reports it: the trainer's finding plus cause, fix and resume command. */
export class DivergedError extends NonFiniteLossError {}

/** Device loss as the CLI reports it: what survived and the resume command. */
export class RunDeviceLostError extends DeviceLostError {
  constructor(message: string, reason: string, options?: { cause?: unknown }) {
    super(message, reason);
    if (options) this.cause = options.cause;
  }
}

for (const [name, cls] of Object.entries({ DivergedError, RunDeviceLostError })) {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
}
