// Shared by the f16 kernel tests: whether this adapter runs them, and f16-exact random inputs.

import { expect } from 'vitest';
import { roundHalf } from '../../src/gpu/half.js';
import type { Rng } from '../../src/rng.js';
import { testGpu } from '../helpers/gpu.js';
import { randF32 } from './inputs.js';

/** True when the test adapter has shader-f16; lavapipe (CI's adapter) must have it. */
export async function needF16(): Promise<boolean> {
  const { gpu } = await testGpu();
  if (gpu.device.features.has('shader-f16')) return true;
  // lavapipe (CI's adapter) offers shader-f16: there these tests must run.
  expect(gpu.report.kind, 'lavapipe must offer shader-f16').not.toBe('lavapipe');
  console.log(`[gpu] f16 kernels skipped: ${gpu.report.name} has no shader-f16`);
  return false;
}

/** Seeded values in the usual test range, rounded to f16 so both precisions see the same inputs. */
export const halfArray = (rng: Rng, n: number) => Float32Array.from(randF32(rng, n), roundHalf);
