// `webgpu-trainer selftest` without the printing: runs every registered kernel family on one
// device against the float64 reference and returns the rows. FAMILIES is the registry: a new
// kernel family adds its SelftestFamily here and shows up in the command's table and JSON.
// A family that gives no result within its time budget (GPU work or a readback that never
// completes) ends the run with a failed row naming it: GPU work cannot be cancelled, so the later
// families are not started on the busy device. A shader compile that blocks the main thread (as
// Dawn's Node binding can) stops the timer too; only a watchdog process could catch that.

import type { GpuDevice } from '../gpu/device.js';
import { createKernelEnv } from '../kernels/env.js';
import { DEFAULT_VARIANT, variantName, type MatmulVariant } from '../kernels/matmul.js';
import { DENSE_FAMILIES, type SelftestFamily } from './checks.js';
import { CNN_FAMILIES } from './cnn.js';
import { halfFamily } from './half.js';
import { Harness, type CheckResult, type SelftestOptions } from './harness.js';

export type { CheckResult, SelftestOptions };

export const FAMILIES: readonly SelftestFamily[] = [...DENSE_FAMILIES, ...CNN_FAMILIES, halfFamily];

export interface SelftestReport {
  adapter: { name: string; origin: string; kind: string };
  /** The matmul variants checked (the tuner's choice per form, and the default). */
  variants: string[];
  results: CheckResult[];
  passed: number;
  failed: number;
  seconds: number;
}

/** Distinct variants by name, in first-seen order. */
function distinct(vs: readonly MatmulVariant[]): MatmulVariant[] {
  const seen = new Map<string, MatmulVariant>();
  for (const v of vs) if (!seen.has(variantName(v))) seen.set(variantName(v), v);
  return [...seen.values()];
}

export async function runSelftest(
  gpu: GpuDevice,
  chosen: readonly MatmulVariant[],
  options: SelftestOptions & { families?: readonly string[]; familyTimeoutMs?: number } = {},
): Promise<SelftestReport> {
  const t0 = performance.now();
  const env = createKernelEnv(gpu);
  const h = new Harness(env, options);
  const variants = distinct([...chosen, DEFAULT_VARIANT]);
  const budget = options.familyTimeoutMs ?? 120_000;
  for (const family of FAMILIES) {
    if (options.families && !options.families.includes(family.name)) continue;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), budget);
    });
    const run = family.run(h, { variants }).then(() => 'done' as const);
    const outcome = await Promise.race([run, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      run.catch(() => undefined); // it may still fail later; the run is over either way
      h.results.push({
        kernel: `${family.name} (timed out)`,
        variant: '-',
        shape: '-',
        maxError: Infinity,
        relL2: Infinity,
        tolerance: { atol: 0, rtol: 0, l2: 0 },
        pass: false,
        detail: `no result within ${budget / 1000} s (the GPU or driver did not finish this family's work); later families were not run`,
      });
      break;
    }
    gpu.throwIfFailed();
  }
  const failed = h.results.filter((r) => !r.pass).length;
  return {
    adapter: { name: gpu.report.name, origin: gpu.report.origin, kind: gpu.report.kind },
    variants: variants.map(variantName),
    results: h.results,
    passed: h.results.length - failed,
    failed,
    seconds: (performance.now() - t0) / 1000,
  };
}
