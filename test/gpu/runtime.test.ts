// The device layer: adapter report, WGSL compile errors with line:column, the pipeline cache,
// and named errors for validation failures and lost devices.

import { describe, expect, it } from 'vitest';
import { acquireGpu } from '../../src/gpu/device.js';
import { compileModule, PipelineCache } from '../../src/gpu/pipelines.js';
import { BufferPool, USAGE } from '../../src/gpu/buffers.js';
import { DeviceLostError, GpuValidationError, ShaderCompileError } from '../../src/errors.js';
import { SHADERS } from '../../src/kernels/shaders.js';
import { testGpu } from '../helpers/gpu.js';

describe('gpu runtime', () => {
  it('reports the adapter with its limits and features', async () => {
    const { gpu } = await testGpu();
    const r = gpu.report;
    expect(r.name.length).toBeGreaterThan(0);
    expect(['lavapipe', 'swiftshader', 'hardware', 'unknown']).toContain(r.kind);
    expect(r.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(Array.isArray(r.features)).toBe(true);
    if (process.env.CI === 'true') expect(r.kind).not.toBe('unknown');
  });

  it('reports WGSL compile errors with line:column and the source line', async () => {
    const { gpu } = await testGpu();
    const code = 'fn ok() -> f32 { return 1.0; }\nfn broken() -> f32 { return undefined_name; }\n';
    const err = await compileModule(gpu.device, 'broken', code).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShaderCompileError);
    const e = err as ShaderCompileError;
    expect(e.line).toBe(2);
    expect(e.column).toBeGreaterThan(1);
    expect(e.message).toContain('shaders/broken.wgsl:2:');
    expect(e.message).toContain('return undefined_name;');
  });

  it('caches pipelines by shader, entry point and overrides', async () => {
    const { gpu } = await testGpu();
    const cache = new PipelineCache(gpu.device, SHADERS);
    const a = await cache.get('activations', 'activation_forward', { ACT: 1, WG: 256 });
    const b = await cache.get('activations', 'activation_forward', { WG: 256, ACT: 1 });
    const c = await cache.get('activations', 'activation_forward', { ACT: 3, WG: 256 });
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(cache.size).toBe(2);
    await expect(cache.get('no-such-shader', 'main')).rejects.toBeInstanceOf(ShaderCompileError);
  });

  it('reuses released buffers and counts live ones', async () => {
    const { gpu } = await testGpu();
    const pool = new BufferPool(gpu.device);
    const a = pool.acquire(100, USAGE.STORAGE, 'a');
    expect(a.size).toBe(112);
    expect(pool.liveCount).toBe(1);
    pool.release(a);
    expect(pool.liveCount).toBe(0);
    const b = pool.acquire(112, USAGE.STORAGE, 'b');
    expect(b).toBe(a);
    pool.release(b);
    pool.trim();
  });

  it('surfaces uncaptured validation errors and device loss as named errors', async () => {
    const gpu = await acquireGpu({ log: () => {} });
    // A MAP_READ buffer cannot also be STORAGE: a validation error, reported asynchronously.
    gpu.device.createBuffer({ size: 16, usage: USAGE.MAP_READ | USAGE.STORAGE });
    await gpu.device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 50));
    expect(() => gpu.throwIfFailed()).toThrow(GpuValidationError);
    gpu.destroy();
    expect(() => gpu.throwIfFailed()).toThrow(DeviceLostError);
  });
});
