// Profile mode: the time of every kernel in one training step, from GPU timestamp queries
// (feature 'timestamp-query'). Each dispatch gets its own compute pass with timestampWrites at
// its beginning and end, so the numbers include per-pass overhead but rank the kernels
// faithfully; summed per kernel kind, they show the next optimisation target.

import { ConfigError } from '../errors.js';
import { USAGE, type BufferPool } from '../gpu/buffers.js';
import { StagingBuffer } from '../gpu/readback.js';
import { encodeDispatch, type Dispatch } from '../kernels/common.js';
import type { TrainingData } from './batch-source.js';
import type { FitMachinery, FitTrainer } from './fit.js';

export interface KernelTime {
  label: string;
  kind: string;
  ms: number;
}

export async function profileDispatches(
  device: GPUDevice,
  pool: BufferPool,
  list: readonly Dispatch[],
): Promise<KernelTime[]> {
  if (!device.features.has('timestamp-query')) {
    throw new ConfigError(
      "Profiling needs the 'timestamp-query' feature, which this adapter does not offer.",
    );
  }
  const count = list.length * 2;
  const set = device.createQuerySet({ type: 'timestamp', count, label: 'profile' });
  const resolve = pool.acquire(count * 8, USAGE.COPY_SRC | 0x0200 /* QUERY_RESOLVE */, 'profile-resolve');
  const staging = new StagingBuffer(pool, count * 8, 'profile-read');
  try {
    const enc = device.createCommandEncoder({ label: 'profile' });
    list.forEach((d, i) => {
      const pass = enc.beginComputePass({
        label: d.label,
        timestampWrites: { querySet: set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      encodeDispatch(pass, d);
      pass.end();
    });
    enc.resolveQuerySet(set, 0, count, resolve, 0);
    staging.encodeCopy(enc, resolve, 0, count * 8);
    device.queue.submit([enc.finish()]);
    const ts = new BigUint64Array(await staging.read());
    return list.map((d, i) => ({
      label: d.label,
      kind: d.kind,
      ms: Number(ts[2 * i + 1] - ts[2 * i]) / 1e6,
    }));
  } finally {
    staging.release();
    pool.release(resolve);
    set.destroy();
  }
}

/** Sums kernel times per kind, largest first. */
export function summariseProfile(
  times: readonly KernelTime[],
): { kind: string; ms: number; count: number }[] {
  const by = new Map<string, { kind: string; ms: number; count: number }>();
  for (const t of times) {
    const e = by.get(t.kind) ?? { kind: t.kind, ms: 0, count: 0 };
    e.ms += t.ms;
    e.count++;
    by.set(t.kind, e);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

/**
 * Times every kernel of one training step of `t` (Trainer.profileStep): successive calls walk
 * through `data` a batch at a time, so the step is a steady-state one. The step really runs.
 */
export async function profileTrainingStep(
  t: FitTrainer & { lrFactor: number },
  m: FitMachinery,
  pool: BufferPool,
  data: TrainingData,
  batchSize: number,
): Promise<KernelTime[]> {
  m.validate(data, 'profile data');
  const B = Math.min(batchSize, data.count);
  const plan = await m.plan(B);
  const feed = await m.feed(plan, data, 'auto');
  const start = (t.step * B) % data.count;
  feed.begin(
    Uint32Array.from({ length: B }, (_, i) => (start + i) % data.count),
    B,
    0,
  );
  const n = await feed.load(plan, 0, 'profile batch');
  await feed.settle();
  m.setActive(plan, n);
  plan.optimizer.writeHyper(t.gpu.device.queue, t.optimizer.lr * t.lrFactor, t.step + 1);
  const list = [
    ...feed.dispatches(),
    ...plan.forward,
    plan.loss,
    ...plan.lossBackward,
    plan.accumulate,
    ...plan.backward,
    ...plan.update,
  ];
  const times = await profileDispatches(t.gpu.device, pool, list);
  t.step++;
  t.batchesTracked++;
  t.gpu.throwIfFailed();
  return times;
}
