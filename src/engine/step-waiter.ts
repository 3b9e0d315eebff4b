// How fit() waits for the steps it has submitted: at most `maxInFlight` steps queued ahead of the
// GPU, and each logging step's loss read back in order.
//
// Two strategies:
//   eager  (the default): every step gets its completion promise at submit time (a mapAsync
//          for a logging step, onSubmittedWorkDone otherwise), and the oldest is awaited once more
//          than maxInFlight are queued. The queue never drains, so the GPU never idles.
//   paced  (opt-in, CPU drivers under Node; see pacedWaitsWanted): no promise exists while the kernels
//          run. While any Dawn promise is pending, Dawn's Node binding polls for completion on the
//          main thread, about one core's worth of CPU (bench/ceiling.ts: 0.5x the driver threads'
//          CPU time), and on a CPU driver that core is the GPU: on 2 cores the poll takes a third
//          of the machine from the kernels. So once more than maxInFlight steps are queued, the
//          waiter sleeps (a timer: no polling) for most of the time the queue is expected to take,
//          then drains it with onSubmittedWorkDone, then reads the queued logging steps' losses
//          (their buffers are ready, so those maps resolve at once). The expected time per step
//          is learned from the drains themselves. The GPU idles only while the CPU records the
//          next step after a drain, which is short next to a CPU driver's step.

import { envVariable } from '../env-vars.js';

export interface StepWaiter {
  /** After a step's submit: `log` reads its loss (started at once, or after the next drain). */
  submitted(log?: () => Promise<void>): Promise<void>;
  /** Waits for every submitted step and runs every pending log read, in order. */
  flush(): Promise<void>;
  /** After a failure: settles whatever is pending without throwing. */
  abandon(): Promise<void>;
}

export function createStepWaiter(
  device: GPUDevice,
  maxInFlight: number,
  paced: boolean,
  sleep: (ms: number) => Promise<void> = defaultSleep,
): StepWaiter {
  return paced ? new PacedWaiter(device, maxInFlight, sleep) : new EagerWaiter(device, maxInFlight);
}

/**
 * Whether fit() paces its waits: only where WGT_PACED_WAITS=1 asks for it, and then only on a CPU
 * driver under Node (see the header). Not the default, because it is slower on the loads measured
 * (LeNet on MNIST, lavapipe, 2 cores, idle and loaded: docs/tuning.md): the drains idle the
 * driver while the CPU records and feeds the next steps.
 */
export function pacedWaitsWanted(report: { software: boolean; kind: string; origin: string }): boolean {
  if (envVariable('WGT_PACED_WAITS') !== '1') return false;
  const cpu = report.software || report.kind === 'lavapipe' || report.kind === 'swiftshader';
  return cpu && report.origin.startsWith('node');
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class EagerWaiter implements StepWaiter {
  private readonly inflight: Promise<unknown>[] = [];
  private readonly logs: Promise<void>[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly maxInFlight: number,
  ) {}

  async submitted(log?: () => Promise<void>): Promise<void> {
    if (log) {
      const read = log();
      // Marked as handled now: when one read fails (a NaN loss), later reads that fail too are
      // settled by flush or abandon instead of surfacing as unhandled rejections.
      read.catch(() => undefined);
      this.logs.push(read);
      this.inflight.push(read);
    } else {
      this.inflight.push(this.device.queue.onSubmittedWorkDone());
    }
    while (this.inflight.length > this.maxInFlight) await this.inflight.shift();
  }

  async flush(): Promise<void> {
    await Promise.all(this.logs.splice(0));
    this.inflight.length = 0;
  }

  async abandon(): Promise<void> {
    await Promise.allSettled(this.logs.splice(0));
    this.inflight.length = 0;
  }
}

class PacedWaiter implements StepWaiter {
  private queued = 0;
  private queuedSince = 0;
  private msPerStep = 0;
  private readonly logs: (() => Promise<void>)[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly maxInFlight: number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  async submitted(log?: () => Promise<void>): Promise<void> {
    if (this.queued === 0) this.queuedSince = performance.now();
    this.queued++;
    if (log) this.logs.push(log);
    if (this.queued > this.maxInFlight) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.queued > 0) {
      // Wake a little before the queue should be done; an early wake only polls for the rest.
      const due = this.queuedSince + this.queued * this.msPerStep;
      const ms = 0.9 * (due - performance.now());
      if (this.msPerStep > 0 && ms > 1) await this.sleep(ms);
      await this.device.queue.onSubmittedWorkDone();
      // An upper bound (the queue may have finished before this wait began); the average keeps
      // one slow drain (a validation pass, a page fault) from setting the pace.
      const seen = (performance.now() - this.queuedSince) / this.queued;
      this.msPerStep =
        this.msPerStep === 0 ? seen : 0.75 * this.msPerStep + 0.25 * Math.min(seen, 2 * this.msPerStep);
      this.queued = 0;
    }
    for (const log of this.logs.splice(0)) await log();
  }

  async abandon(): Promise<void> {
    this.queued = 0;
    await Promise.allSettled(this.logs.splice(0).map((log) => log()));
  }
}
