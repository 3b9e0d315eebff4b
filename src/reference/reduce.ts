// Reductions, CPU reference in float64.
// Shapes: dZ is (B,N); columnSum gives (N) (the bias gradient). `mean` averages the first n
// values (the active rows of a per-sample loss). `sumSquares`/`globalNorm` feed gradient
// clipping: the norm is taken over ALL parameter arrays together, not per array.
// Plain left-to-right float64 sums: with float64 the rounding error is far below any tolerance
// used against the float32 GPU, so compensated summation would only obscure the maths.

import { ShapeError } from '../errors.js';
import { checkDims, checkLength, type NumArray } from './check.js';

/** Sum over rows of dZ (B,N) -> (N). */
export function columnSum(dZ: NumArray, B: number, N: number): Float64Array {
  checkDims('columnSum', { B, N });
  checkLength('columnSum', 'dZ', dZ, B * N, `(B,N)=(${B},${N})`);
  const out = new Float64Array(N);
  for (let i = 0; i < B; i++) for (let j = 0; j < N; j++) out[j] += dZ[i * N + j];
  return out;
}

/** Mean of values[0..n). */
export function mean(values: NumArray, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > values.length) {
    throw new ShapeError(`mean: n must be an integer in [1, ${values.length}], got ${n}`);
  }
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i];
  return s / n;
}

/** Σ v² over the whole array. */
export function sumSquares(values: NumArray): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] * values[i];
  return s;
}

/** sqrt(Σ over every array of Σ v²): the global gradient norm used for clipping. */
export function globalNorm(arrays: readonly NumArray[]): number {
  let s = 0;
  for (const a of arrays) s += sumSquares(a);
  return Math.sqrt(s);
}
