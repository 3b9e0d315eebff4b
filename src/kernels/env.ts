// Builds the environment the kernel wrappers share on one device.

import { BufferPool } from '../gpu/buffers.js';
import type { GpuDevice } from '../gpu/device.js';
import { PipelineCache } from '../gpu/pipelines.js';
import type { KernelEnv } from './common.js';
import { SHADERS } from './shaders.js';

export function createKernelEnv(gpu: GpuDevice): KernelEnv {
  return {
    device: gpu.device,
    pipelines: new PipelineCache(gpu.device, SHADERS),
    pool: new BufferPool(gpu.device),
  };
}
