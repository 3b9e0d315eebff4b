// Comparison of GPU results (float32) with the float64 CPU reference. Two tiers:
//  - expectExact: equality, for small-integer inputs where every f32 partial sum is exact, so
//    any difference is an indexing bug, never rounding.
//  - expectAllClose: elementwise |a - e| <= atol + rtol*|e| AND relative L2 error
//    ||a - e|| / ||e|| <= l2. The elementwise bound catches a single wrong element; the L2 bound
//    catches a systematic drift too small per element to trip it.
// On failure both print the first mismatches with their flat index (and [row, col] when the
// number of columns is given), so a failing run says WHERE, not just "not close".
// NaN (the poison the tests fill outputs with) never compares close or equal, so an element a
// kernel forgot to write always fails.

import { expect } from 'vitest';
import type { Tol } from '../tolerances.js';

const SHOW = 8;

function where(i: number, cols: number | undefined): string {
  return cols === undefined ? `[${i}]` : `[${i}] (row ${Math.floor(i / cols)}, col ${i % cols})`;
}

export interface CloseReport {
  ok: boolean;
  /** Elements outside atol + rtol*|e|. */
  bad: number;
  maxAbs: number;
  relL2: number;
  message: string;
}

/** Compares without asserting; `expectAllClose` is the assertion. */
export function allclose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tol,
  cols?: number,
): CloseReport {
  if (actual.length !== expected.length) {
    return {
      ok: false,
      bad: Math.max(actual.length, expected.length),
      maxAbs: NaN,
      relL2: NaN,
      message: `length ${actual.length}, expected ${expected.length}`,
    };
  }
  const lines: string[] = [];
  let bad = 0;
  let maxAbs = 0;
  let errSq = 0;
  let refSq = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const d = Math.abs(a - e);
    // Written as !(d <= bound) so NaN in either side counts as a mismatch.
    if (!(d <= tol.atol + tol.rtol * Math.abs(e))) {
      bad++;
      if (lines.length < SHOW)
        lines.push(`${where(i, cols)} got ${a}, expected ${e}, |diff| ${d.toExponential(2)}`);
    }
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
    errSq += Number.isNaN(d) ? Infinity : d * d;
    refSq += e * e;
  }
  // A (near-)zero reference has no meaningful relative error: fall back to the absolute one.
  const relL2 = refSq > 0 ? Math.sqrt(errSq / refSq) : Math.sqrt(errSq);
  const l2ok = relL2 <= tol.l2;
  const ok = bad === 0 && l2ok;
  const head =
    `${bad}/${expected.length} elements outside atol ${tol.atol} + rtol ${tol.rtol}*|e|; ` +
    `max |diff| ${maxAbs.toExponential(2)}; relative L2 ${relL2.toExponential(2)} (limit ${tol.l2})`;
  return { ok, bad, maxAbs, relL2, message: [head, ...lines].join('\n  ') };
}

export function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tol,
  label: string,
  cols?: number,
): void {
  const r = allclose(actual, expected, tol, cols);
  expect(r.ok, `${label}: ${r.message}`).toBe(true);
}

/** Bitwise-value equality (NaN never equal); prints the first mismatches with indices. */
export function expectExact(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  cols?: number,
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  const lines: string[] = [];
  let bad = 0;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      bad++;
      if (lines.length < SHOW) lines.push(`${where(i, cols)} got ${actual[i]}, expected ${expected[i]}`);
    }
  }
  expect(bad, `${label}: ${bad}/${expected.length} elements differ\n  ${lines.join('\n  ')}`).toBe(0);
}
