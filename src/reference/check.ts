// Boundary checks shared by the CPU reference. Every public reference function validates its
// sizes here so a wrong shape fails loudly with a ShapeError instead of reading past the end
// of an array (which in JS silently yields undefined -> NaN).

import { ShapeError } from '../errors.js';

/** Any readable numeric array: Float64Array, Float32Array (GPU readback), Int32Array, number[]. */
export type NumArray = ArrayLike<number>;

/** Throws unless every named dimension is a non-negative integer. */
export function checkDims(fn: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 0) {
      throw new ShapeError(`${fn}: dimension ${name} must be a non-negative integer, got ${v}`);
    }
  }
}

/** Throws unless `a` holds exactly `n` elements (shape written out for the message). */
export function checkLength(fn: string, name: string, a: NumArray, n: number, shape: string): void {
  if (a.length !== n) {
    throw new ShapeError(
      `${fn}: ${name} must have ${n} elements (${shape}), got ${a.length}; check the shape arguments`,
    );
  }
}

/** Throws unless the active row count b satisfies 0 < b <= B. */
export function checkRows(fn: string, b: number, B: number): void {
  if (!Number.isInteger(b) || b < 1 || b > B) {
    throw new ShapeError(`${fn}: active rows b must be an integer in [1, ${B}], got ${b}`);
  }
}
