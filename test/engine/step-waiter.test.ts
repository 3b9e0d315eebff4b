// The trainer's wait strategies (src/engine/step-waiter.ts) on a fake queue: when completion
// promises are created, the order of loss reads, the learned pace, and failures.
import { describe, expect, it } from 'vitest';
import { createStepWaiter, pacedWaitsWanted } from '../../src/engine/step-waiter.js';

function fakeDevice() {
  const calls = { done: 0 };
  const device = {
    queue: {
      onSubmittedWorkDone: () => {
        calls.done++;
        return new Promise<void>((resolve) => setTimeout(resolve, 2));
      },
    },
  } as unknown as GPUDevice;
  return { device, calls };
}

describe('step waiter', () => {
  it('paced: no completion promise until more than maxInFlight steps are queued', async () => {
    const { device, calls } = fakeDevice();
    const sleeps: number[] = [];
    const w = createStepWaiter(device, 2, true, async (ms) => {
      sleeps.push(ms);
    });
    const order: number[] = [];
    await w.submitted();
    await w.submitted(async () => {
      order.push(2);
    });
    expect(calls.done).toBe(0);
    expect(order).toEqual([]);
    await w.submitted(async () => {
      order.push(3);
    });
    // Third step: one drain, then the queued reads in submit order.
    expect(calls.done).toBe(1);
    expect(order).toEqual([2, 3]);
    expect(sleeps).toEqual([]); // no pace learned before the first drain
    for (let i = 0; i < 3; i++) await w.submitted();
    expect(calls.done).toBe(2);
    expect(sleeps.length).toBe(1); // the second drain sleeps first
    await w.submitted(async () => {
      order.push(7);
    });
    await w.flush();
    expect(order).toEqual([2, 3, 7]);
    expect(calls.done).toBe(3);
    await w.flush(); // nothing queued: no wait
    expect(calls.done).toBe(3);
  });

  it('paced: a failing read surfaces from the drain; abandon settles the rest', async () => {
    const { device } = fakeDevice();
    const w = createStepWaiter(device, 1, true, async () => undefined);
    await w.submitted(async () => {
      throw new Error('loss became NaN');
    });
    await expect(w.submitted()).rejects.toThrow('loss became NaN');
    let ran = false;
    await w.submitted(async () => {
      ran = true;
      throw new Error('later');
    });
    await w.abandon();
    expect(ran).toBe(true);
  });

  it('eager: a promise per step, awaited once more than maxInFlight are pending', async () => {
    const { device, calls } = fakeDevice();
    const w = createStepWaiter(device, 2, false);
    const order: number[] = [];
    await w.submitted();
    await w.submitted(async () => {
      order.push(2);
    });
    await w.submitted();
    expect(calls.done).toBe(2);
    expect(order).toEqual([2]);
    await w.flush();
  });

  it('paces only CPU drivers under Node, and only when WGT_PACED_WAITS=1', () => {
    const before = process.env.WGT_PACED_WAITS;
    process.env.WGT_PACED_WAITS = '1';
    expect(
      pacedWaitsWanted({ software: true, kind: 'lavapipe', origin: 'node (software fallback: lavapipe)' }),
    ).toBe(true);
    expect(pacedWaitsWanted({ software: false, kind: 'hardware', origin: 'node' })).toBe(false);
    expect(pacedWaitsWanted({ software: true, kind: 'swiftshader', origin: 'browser' })).toBe(false);
    delete process.env.WGT_PACED_WAITS;
    expect(pacedWaitsWanted({ software: true, kind: 'lavapipe', origin: 'node' })).toBe(false);
    if (before !== undefined) process.env.WGT_PACED_WAITS = before;
  });
});
