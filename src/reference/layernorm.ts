// Layer normalisation, CPU reference in float64, forward and backward side by side.
//
// Shapes: x is (R,C) row-major with the normalised axis last: R = B·(positions per sample), so
// an NHWC map [B,H,W,C] has R = B·H·W and a flat (B,C) input R = B. Statistics are per ROW r over
// its C values (PyTorch's nn.LayerNorm(C) on a channels-last tensor); gamma, beta are (C); xhat
// is (R,C); invStd is (R).
//
//   forward   μ_r = (1/C)·Σ_c x[r,c];  σ²_r = (1/C)·Σ_c (x[r,c] - μ_r)²   (biased, two passes)
//             invStd_r = 1/√(σ²_r + ε);  x̂ = (x - μ_r)·invStd_r;  out = γ·x̂ + β
//             (training and evaluation are the same: nothing depends on the batch)
//   backward  dβ_c = Σ_r dOut;  dγ_c = Σ_r dOut·x̂;  g = dOut·γ
//             dX = invStd_r·(g - mean_c(g) - x̂·mean_c(g·x̂))
// With C = 1 every row is its own mean: x̂ = 0, out = β and dX = 0.
// Every function returns fresh arrays.

import { ConfigError, ShapeError } from '../errors.js';
import { checkDims, checkLength, type NumArray } from './check.js';

export interface LayerNormResult {
  /** (R,C) = γ·x̂ + β */
  out: Float64Array;
  /** (R,C) normalised input, kept for the backward pass */
  xhat: Float64Array;
  /** (R) 1/√(σ²_r + ε) */
  invStd: Float64Array;
}

export interface LayerNormGrads {
  /** (R,C) */
  dX: Float64Array;
  /** (C) */
  dGamma: Float64Array;
  /** (C) */
  dBeta: Float64Array;
}

function checkShape(fn: string, R: number, C: number): void {
  checkDims(fn, { R, C });
  if (C < 1) throw new ShapeError(`${fn}: C must be at least 1 to normalise a row over it, got ${C}`);
}

/** Per-row statistics (two-pass), normalised x̂ and γ·x̂ + β. */
export function layerNormForward(
  x: NumArray,
  R: number,
  C: number,
  gamma: NumArray,
  beta: NumArray,
  eps: number,
): LayerNormResult {
  const fn = 'layerNormForward';
  checkShape(fn, R, C);
  if (!(eps > 0 && Number.isFinite(eps))) {
    throw new ConfigError(`${fn}: eps must be a positive finite number, got ${eps}`);
  }
  checkLength(fn, 'x', x, R * C, `(R,C)=(${R},${C})`);
  checkLength(fn, 'gamma', gamma, C, `(C)=(${C})`);
  checkLength(fn, 'beta', beta, C, `(C)=(${C})`);
  const out = new Float64Array(R * C);
  const xhat = new Float64Array(R * C);
  const invStd = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    const o = r * C;
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[o + c];
    mean /= C;
    let variance = 0;
    for (let c = 0; c < C; c++) variance += (x[o + c] - mean) ** 2;
    variance /= C;
    const s = 1 / Math.sqrt(variance + eps);
    invStd[r] = s;
    for (let c = 0; c < C; c++) {
      xhat[o + c] = (x[o + c] - mean) * s;
      out[o + c] = gamma[c] * xhat[o + c] + beta[c];
    }
  }
  return { out, xhat, invStd };
}

/** Backward through γ, β and the per-row statistics. */
export function layerNormBackward(
  dZ: NumArray,
  xhat: NumArray,
  invStd: NumArray,
  gamma: NumArray,
  R: number,
  C: number,
): LayerNormGrads {
  const fn = 'layerNormBackward';
  checkShape(fn, R, C);
  checkLength(fn, 'dZ', dZ, R * C, `(R,C)=(${R},${C})`);
  checkLength(fn, 'xhat', xhat, R * C, `(R,C)=(${R},${C})`);
  checkLength(fn, 'invStd', invStd, R, `(R)=(${R})`);
  checkLength(fn, 'gamma', gamma, C, `(C)=(${C})`);
  const dX = new Float64Array(R * C);
  const dGamma = new Float64Array(C);
  const dBeta = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    const o = r * C;
    let mg = 0;
    let mgx = 0;
    for (let c = 0; c < C; c++) {
      const g = dZ[o + c] * gamma[c];
      mg += g;
      mgx += g * xhat[o + c];
      dBeta[c] += dZ[o + c];
      dGamma[c] += dZ[o + c] * xhat[o + c];
    }
    mg /= C;
    mgx /= C;
    for (let c = 0; c < C; c++) {
      dX[o + c] = invStd[r] * (dZ[o + c] * gamma[c] - mg - xhat[o + c] * mgx);
    }
  }
  return { dX, dGamma, dBeta };
}
