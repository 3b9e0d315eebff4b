// Profile mode: the time of every kernel in one training step, from GPU timestamp queries
// (feature 'timestamp-query'). Each dispatch gets its own compute pass with timestampWrites at
// its beginning and end, so the numbers include per-pass overhead but rank the kernels
// faithfully; summed per kernel kind, they show the next optimisation target.

import { ConfigError } from '../errors.js';
import { USAGE, type BufferPool } from '../gpu/buffers.js';
import { StagingBuffer } from '../gpu/readback.js';
import { encodeDispatch, type Dispatch } from '../kernels/common.js';

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
