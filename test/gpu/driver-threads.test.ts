// LP_NUM_THREADS: the engine gives llvmpipe 4 worker threads per core unless the user chose
// (src/gpu/driver-threads.ts says why), and the choice really reaches the driver.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { driverThreadsFor, driverThreadsKey, THREADS_PER_CORE } from '../../src/gpu/driver-threads.js';
import { testGpu } from '../helpers/gpu.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('driverThreadsFor', () => {
  it('gives 4 threads per core when the user set nothing, capped at llvmpipe’s 32', () => {
    expect(THREADS_PER_CORE).toBe(4);
    expect(driverThreadsFor(undefined, 2)).toEqual({ threads: 8, source: 'engine' });
    expect(driverThreadsFor('', 3)).toEqual({ threads: 12, source: 'engine' });
    expect(driverThreadsFor(undefined, 1)).toEqual({ threads: 4, source: 'engine' });
    expect(driverThreadsFor(undefined, 64)).toEqual({ threads: 32, source: 'engine' });
    // A nonsense core count still gives a valid thread count.
    expect(driverThreadsFor(undefined, 0)).toEqual({ threads: 4, source: 'engine' });
    expect(driverThreadsFor(undefined, Number.NaN)).toEqual({ threads: 4, source: 'engine' });
  });

  it('keeps a value the user set, even one llvmpipe will not read', () => {
    expect(driverThreadsFor('2', 16)).toEqual({ threads: 2, source: 'user' });
    expect(driverThreadsFor('0', 16)).toEqual({ threads: 0, source: 'user' });
    expect(driverThreadsFor('many', 16)).toEqual({ threads: 0, source: 'user' });
  });

  it('puts the thread count into tuning-cache keys only when it is known', () => {
    expect(driverThreadsKey({ driverThreads: { threads: 8, source: 'engine' } })).toBe(' | lp threads 8');
    expect(driverThreadsKey({})).toBe('');
  });
});

/** Runs the child with LP_NUM_THREADS as given (undefined: removed from its environment). */
function child(lp: string | undefined): {
  kind: string;
  driverThreads: unknown;
  tasks: number;
  env: string | null;
} {
  const env = { ...process.env };
  delete env.LP_NUM_THREADS;
  if (lp !== undefined) env.LP_NUM_THREADS = lp;
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'driver-threads-child.ts')], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as ReturnType<typeof child>;
}

describe('LP_NUM_THREADS on this adapter', () => {
  it('is set by the engine, reported, and reaches llvmpipe (its thread pools grow with it)', async () => {
    const { gpu } = await testGpu();
    if (gpu.report.kind !== 'lavapipe') {
      // Hardware and SwiftShader never read it; the report must not claim otherwise.
      expect(gpu.report.driverThreads).toBeUndefined();
      return;
    }
    const cores = (await import('node:os')).availableParallelism();
    const byEngine = child(undefined);
    expect(byEngine.kind).toBe('lavapipe');
    expect(byEngine.driverThreads).toEqual({ threads: Math.min(32, 4 * cores), source: 'engine' });
    expect(byEngine.env).toBe(String(Math.min(32, 4 * cores)));
    const byUser = child('1');
    expect(byUser.driverThreads).toEqual({ threads: 1, source: 'user' });
    expect(byUser.env).toBe('1');
    // llvmpipe makes a rasterizer thread and a compute thread per LP_NUM_THREADS (Mesa 25), so
    // the engine's count must show as many more OS threads than one thread does. If this fails,
    // the variable was set too late (after a Dawn instance) or the driver stopped reading it.
    expect(byEngine.tasks - byUser.tasks).toBeGreaterThanOrEqual(Math.min(32, 4 * cores) - 1);
  }, 120_000);
});
