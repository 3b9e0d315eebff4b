// Shared GPU fixtures for tests: one device per test file, upload/readback with NaN poisoning.
// In CI (CI=true) a missing adapter FAILS the run; locally it fails too unless WGT_ALLOW_NO_GPU=1,
// so a GPU test can never silently pass by not running.

import { acquireGpu, type GpuDevice } from '../../src/gpu/device.js';
import { USAGE } from '../../src/gpu/buffers.js';
import { readBuffer } from '../../src/gpu/readback.js';
import { view, type KernelEnv, type TensorView } from '../../src/kernels/common.js';
import { createKernelEnv } from '../../src/kernels/env.js';

export interface TestGpu {
  gpu: GpuDevice;
  env: KernelEnv;
  dummies: { read: GPUBuffer; write: GPUBuffer };
}

let shared: Promise<TestGpu> | undefined;

export function testGpu(): Promise<TestGpu> {
  shared ??= (async () => {
    const gpu = await acquireGpu({ log: () => {} });
    // Printed once per test file so the CI log names the adapter the GPU-vs-CPU tests ran on.
    console.log(`[gpu] adapter: ${gpu.report.name} (${gpu.report.origin})`);
    const env = createKernelEnv(gpu);
    const dummies = {
      read: env.pool.acquire(16, USAGE.STORAGE, 'dummy-read'),
      write: env.pool.acquire(16, USAGE.STORAGE, 'dummy-write'),
    };
    return { gpu, env, dummies };
  })();
  return shared;
}

export function upload(env: KernelEnv, data: ArrayLike<number>, kind: 'f32' | 'u32' = 'f32'): TensorView {
  const arr = kind === 'f32' ? Float32Array.from(data) : Uint32Array.from(data);
  const buf = env.pool.acquire(arr.byteLength, USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC, 'test-input');
  env.device.queue.writeBuffer(buf, 0, arr);
  return view(buf, arr.length);
}

/** A fresh output buffer filled with NaN so an element the kernel forgets to write fails the test. */
export function poisoned(env: KernelEnv, length: number): TensorView {
  return upload(env, new Float32Array(length).fill(NaN));
}

export async function download(env: KernelEnv, t: TensorView): Promise<Float32Array> {
  const bytes = await readBuffer(env.device, env.pool, t.buffer, t.length * 4, t.offset);
  return new Float32Array(bytes);
}

export function run(env: KernelEnv, encode: (pass: GPUComputePassEncoder) => void): void {
  const enc = env.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encode(pass);
  pass.end();
  env.device.queue.submit([enc.finish()]);
}
