// Shared GPU fixtures for tests: one device per test file, upload/readback with NaN poisoning.
// In CI (CI=true) a missing adapter FAILS the run; locally it fails too unless WGT_ALLOW_NO_GPU=1,
// so a GPU test can never silently pass by not running.

import { acquireGpu, type GpuDevice } from '../../src/gpu/device.js';
import { USAGE } from '../../src/gpu/buffers.js';
import { readBuffer } from '../../src/gpu/readback.js';
import { halfView, view, type KernelEnv, type TensorView } from '../../src/kernels/common.js';
import { packHalf, unpackHalf } from '../../src/gpu/half.js';
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

/** An f16 tensor holding `data` rounded to half precision (16-byte padded, as f16 plans allocate). */
export function uploadHalf(env: KernelEnv, data: ArrayLike<number>): TensorView {
  const bits = packHalf(data);
  const bytes = Math.max(16, Math.ceil(bits.byteLength / 16) * 16);
  const padded = new Uint16Array(bytes / 2);
  padded.set(bits);
  const buf = env.pool.acquire(bytes, USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC, 'test-input-f16');
  env.device.queue.writeBuffer(buf, 0, padded);
  return halfView(buf, data.length);
}

/** A fresh f16 output filled with NaN. */
export function poisonedHalf(env: KernelEnv, length: number): TensorView {
  return uploadHalf(env, new Float32Array(length).fill(NaN));
}

export async function downloadHalf(env: KernelEnv, t: TensorView): Promise<Float32Array> {
  const n = Math.ceil((t.length * 2) / 4) * 4;
  const bytes = await readBuffer(env.device, env.pool, t.buffer, n, t.offset);
  return unpackHalf(new Uint16Array(bytes, 0, t.length));
}
