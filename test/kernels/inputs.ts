// Seeded inputs for the GPU-vs-reference kernel tests. Every array is a Float32Array, so the GPU
// and the float64 reference read exactly the same values (rounding to f32 happens once, here,
// and is not part of any kernel's error).

import type { KernelEnv, TensorView } from '../../src/kernels/common.js';
import type { Rng } from '../../src/rng.js';

/** n values uniform in [lo, hi], never closer to 0 than 1e-3 (no exact zeros, no relu ties). */
export function randF32(rng: Rng, n: number, lo = -2, hi = 2): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    do v = Math.fround(rng.uniform(lo, hi));
    while (Math.abs(v) < 1e-3);
    a[i] = v;
  }
  return a;
}

/** n nonzero integers in [-m, m]: f32 sums of these stay exact far beyond our shapes. */
export function randInts(rng: Rng, n: number, m = 3): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = rng.int(2 * m) - m; // [-m, m-1]
    a[i] = k >= 0 ? k + 1 : k;
  }
  return a;
}

/** A seed from a case's numbers, so every shape gets its own but reproducible stream. */
export function seedOf(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) h = (Math.imul(h ^ p, 0x9e3779b1) + 0x7f4a7c15) | 0;
  return h >>> 0;
}

/** Hands test buffers back to the pool so hundreds of cases do not grow memory. */
export function free(env: KernelEnv, ...views: TensorView[]): void {
  for (const v of views) env.pool.release(v.buffer);
}
