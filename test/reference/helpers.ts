// Shared test helpers for the CPU reference: seeded inputs, central finite differences and an
// allclose check that prints the first mismatches with their indices. Tolerances live here.

import { expect } from 'vitest';
import type { Rng } from '../../src/rng.js';

/**
 * Finite-difference step. Central differences have truncation error ~h²·f'''/6 (~1e-12) and
 * rounding error ~eps·|f|/h (~1e-10·|f|); h = 1e-6 balances them for the O(1..100) losses here.
 */
export const FD_H = 1e-6;
/** Gradient check tolerance: |analytic - numeric| <= atol + rtol·|numeric|. */
export const GRAD_TOL = { atol: 1e-7, rtol: 1e-6 } as const;
/** Float64 forward values computed two ways (closed form vs implementation). */
export const VALUE_TOL = { atol: 1e-12, rtol: 1e-12 } as const;

export interface Tol {
  atol: number;
  rtol: number;
}

/** n values uniform in [lo, hi] with |v| >= minAbs (never zero; away from relu kinks when asked). */
export function randArray(rng: Rng, n: number, lo = -2, hi = 2, minAbs = 1e-3): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    do v = rng.uniform(lo, hi);
    while (Math.abs(v) < minAbs);
    a[i] = v;
  }
  return a;
}

/** Central differences of scalar f with respect to every element of x (perturbed in place, restored). */
export function numericGrad(f: () => number, x: Float64Array, h = FD_H): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const orig = x[i];
    x[i] = orig + h;
    const fp = f();
    x[i] = orig - h;
    const fm = f();
    x[i] = orig;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** Σ r ⊙ y: turns a vector output into a scalar whose gradient w.r.t. y is r. */
export function dot(r: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += r[i] * y[i];
  return s;
}

/** Elementwise |a - e| <= atol + rtol·|e|; on failure lists the first mismatches with indices. */
export function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tol,
  label: string,
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
    if (!ok) {
      count++;
      if (bad.length < 5)
        bad.push(`[${i}] got ${a}, expected ${e}, diff ${Math.abs(a - e).toExponential(2)}`);
    }
  }
  expect(count, `${label}: ${count}/${expected.length} mismatches\n  ${bad.join('\n  ')}`).toBe(0);
}

/** Checks analytic against central finite differences of f with respect to x. */
export function expectGradMatches(
  f: () => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  label: string,
  tol: Tol = GRAD_TOL,
): void {
  expectAllClose(analytic, numericGrad(f, x), tol, label);
}
