// The per-step parameters a plan writes once per training step: one 16-byte UNIFORM buffer
//   word 0  active  live samples in the batch (a last partial batch has active < B; rows >= active
//                   are padding that batch statistics and gradients must ignore)
//   word 1  step    the optimizer step being taken, 0-based (dropout draws a new mask per step)
//   word 2  seed    the dropout seed
//   word 3  0       padding to the 16-byte uniform size
// WGSL reads it as `var<uniform> step_params: StepParams` (shaders/step_params.wgsl, where the
// first word is `active_samples`: `active` is reserved in WGSL).

import { ShapeError } from '../errors.js';
import { USAGE } from '../gpu/buffers.js';
import type { KernelEnv } from './common.js';

export const STEP_PARAMS_BYTES = 16;

/** Byte offsets of the words in the step-params buffer. */
export const STEP_PARAMS_OFFSETS = { active: 0, step: 4, seed: 8 } as const;

export interface StepParamsValues {
  active: number;
  step: number;
  seed: number;
}

/** A zeroed step-params buffer; write it with writeStepParams before the first step. */
export function createStepParams(env: KernelEnv, label: string): GPUBuffer {
  const buf = env.pool.acquire(STEP_PARAMS_BYTES, USAGE.UNIFORM | USAGE.COPY_DST, label);
  env.device.queue.writeBuffer(buf, 0, new Uint32Array(STEP_PARAMS_BYTES / 4));
  return buf;
}

/**
 * Queues the write of (active, step, seed) into `buffer` through the caller's `scratch` (at least
 * 4 words), so a step allocates nothing. The write lands before the next submitted command buffer.
 */
export function writeStepParams(
  queue: GPUQueue,
  buffer: GPUBuffer,
  scratch: Uint32Array<ArrayBuffer>,
  v: StepParamsValues,
): void {
  if (scratch.length < 4) {
    throw new ShapeError(`writeStepParams: scratch holds ${scratch.length} words; pass a Uint32Array(4).`);
  }
  if (!Number.isInteger(v.active) || v.active < 1) {
    throw new ShapeError(
      `writeStepParams: active must be a positive integer (live samples in the batch), got ${v.active}.`,
    );
  }
  if (!Number.isInteger(v.step) || v.step < 0 || !Number.isInteger(v.seed)) {
    throw new ShapeError(
      `writeStepParams: step must be a non-negative integer and seed an integer, got step ${v.step}, seed ${v.seed}.`,
    );
  }
  scratch[0] = v.active;
  scratch[1] = v.step >>> 0;
  scratch[2] = v.seed >>> 0;
  scratch[3] = 0;
  queue.writeBuffer(buffer, 0, scratch, 0, 4);
}
