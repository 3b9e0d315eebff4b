// Batch normalisation, CPU reference in float64, forward and backward side by side.
//
// Shapes: x is (rows,C) row-major with the channel last: rows = B·H·W for an NHWC map, rows = B
// for a flat (B,C) input. Statistics are per channel c over all rows. gamma, beta, mean,
// variance, invStd and the running statistics are (C).
//
//   train     μ_c = (1/R)·Σ_r x[r,c];   σ²_c = (1/R)·Σ_r (x[r,c] - μ_c)²   (biased, two passes:
//             E[x²] - E[x]² loses every digit when |μ| >> σ, e.g. 1e8 + noise)
//             invStd_c = 1/√(σ²_c + ε);  x̂ = (x - μ)·invStd;  out = γ·x̂ + β
//   eval      out = γ·(x - runningMean)/√(runningVar + ε) + β
//   backward  (training mode: μ and σ² depend on x)
//             dβ_c = Σ_r dOut;  dγ_c = Σ_r dOut·x̂;  g = dOut·γ
//             dX = invStd·(g - mean_r(g) - x̂·mean_r(g·x̂))
//   running   PyTorch's rule: r ← (1 - momentum)·r + momentum·batch, where the running variance
//             takes the UNBIASED batch variance σ²·R/(R-1). With R = 1 that is 0/0; this
//             reference then takes the biased variance (0), keeping the running var finite
//             (PyTorch refuses to train on one value per channel instead).
// Every function returns fresh arrays except updateRunningStats, which updates in place.

import { ConfigError, ShapeError } from '../errors.js';
import { checkDims, checkLength, type NumArray } from './check.js';

export interface BatchNormTrainResult {
  /** (rows,C) = γ·x̂ + β */
  out: Float64Array;
  /** (C) batch mean */
  mean: Float64Array;
  /** (C) biased batch variance */
  variance: Float64Array;
  /** (C) 1/√(variance + ε) */
  invStd: Float64Array;
  /** (rows,C) normalised input, kept for the backward pass */
  xhat: Float64Array;
}

export interface BatchNormGrads {
  /** (rows,C) */
  dX: Float64Array;
  /** (C) */
  dGamma: Float64Array;
  /** (C) */
  dBeta: Float64Array;
}

function checkShape(fn: string, rows: number, C: number): void {
  checkDims(fn, { rows, C });
  if (rows < 1) throw new ShapeError(`${fn}: rows must be at least 1 to form batch statistics, got ${rows}`);
}

function checkEps(fn: string, eps: number): void {
  if (!(eps > 0 && Number.isFinite(eps))) {
    throw new ConfigError(`${fn}: eps must be a positive finite number, got ${eps}`);
  }
}

/** Training-mode forward: batch statistics (two-pass), normalised x̂ and γ·x̂ + β. */
export function batchNormForwardTrain(
  x: NumArray,
  rows: number,
  C: number,
  gamma: NumArray,
  beta: NumArray,
  eps: number,
): BatchNormTrainResult {
  const fn = 'batchNormForwardTrain';
  checkShape(fn, rows, C);
  checkEps(fn, eps);
  checkLength(fn, 'x', x, rows * C, `(rows,C)=(${rows},${C})`);
  checkLength(fn, 'gamma', gamma, C, `(C)=(${C})`);
  checkLength(fn, 'beta', beta, C, `(C)=(${C})`);
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  const invStd = new Float64Array(C);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) mean[c] += x[r * C + c];
  for (let c = 0; c < C; c++) mean[c] /= rows;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const d = x[r * C + c] - mean[c];
      variance[c] += d * d;
    }
  }
  for (let c = 0; c < C; c++) {
    variance[c] /= rows;
    invStd[c] = 1 / Math.sqrt(variance[c] + eps);
  }
  const xhat = new Float64Array(rows * C);
  const out = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      xhat[i] = (x[i] - mean[c]) * invStd[c];
      out[i] = gamma[c] * xhat[i] + beta[c];
    }
  }
  return { out, mean, variance, invStd, xhat };
}

/** Evaluation-mode forward with the running statistics. */
export function batchNormForwardEval(
  x: NumArray,
  rows: number,
  C: number,
  gamma: NumArray,
  beta: NumArray,
  runningMean: NumArray,
  runningVar: NumArray,
  eps: number,
): Float64Array {
  const fn = 'batchNormForwardEval';
  checkDims(fn, { rows, C });
  checkEps(fn, eps);
  checkLength(fn, 'x', x, rows * C, `(rows,C)=(${rows},${C})`);
  for (const [name, a] of [
    ['gamma', gamma],
    ['beta', beta],
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const) {
    checkLength(fn, name, a, C, `(C)=(${C})`);
  }
  const out = new Float64Array(rows * C);
  for (let c = 0; c < C; c++) {
    if (!(runningVar[c] >= 0)) {
      throw new ShapeError(
        `${fn}: runningVar[${c}] = ${runningVar[c]} must be >= 0; the running statistics are corrupt`,
      );
    }
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      out[i] = (gamma[c] * (x[i] - runningMean[c])) / Math.sqrt(runningVar[c] + eps) + beta[c];
    }
  }
  return out;
}

/** Training-mode backward through γ, β and the batch statistics. */
export function batchNormBackward(
  dOut: NumArray,
  xhat: NumArray,
  invStd: NumArray,
  gamma: NumArray,
  rows: number,
  C: number,
): BatchNormGrads {
  const fn = 'batchNormBackward';
  checkShape(fn, rows, C);
  checkLength(fn, 'dOut', dOut, rows * C, `(rows,C)=(${rows},${C})`);
  checkLength(fn, 'xhat', xhat, rows * C, `(rows,C)=(${rows},${C})`);
  checkLength(fn, 'invStd', invStd, C, `(C)=(${C})`);
  checkLength(fn, 'gamma', gamma, C, `(C)=(${C})`);
  const dGamma = new Float64Array(C);
  const dBeta = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      dBeta[c] += dOut[i];
      dGamma[c] += dOut[i] * xhat[i];
    }
  }
  // With g = γ·dOut: mean_r(g) = γ·dβ/R and mean_r(g·x̂) = γ·dγ/R.
  const dX = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const g = gamma[c] * dOut[i];
      dX[i] = invStd[c] * (g - (gamma[c] * dBeta[c]) / rows - (xhat[i] * gamma[c] * dGamma[c]) / rows);
    }
  }
  return { dX, dGamma, dBeta };
}

/**
 * In place: r ← (1 - momentum)·r + momentum·batch, the variance taking the unbiased batch
 * variance biasedVar·rows/(rows - 1) (the biased one when rows = 1; see the header).
 */
export function updateRunningStats(
  runningMean: Float64Array,
  runningVar: Float64Array,
  mean: NumArray,
  biasedVar: NumArray,
  rows: number,
  momentum: number,
): void {
  const fn = 'updateRunningStats';
  const C = runningMean.length;
  checkShape(fn, rows, C);
  checkLength(fn, 'runningVar', runningVar, C, `(C)=(${C})`);
  checkLength(fn, 'mean', mean, C, `(C)=(${C})`);
  checkLength(fn, 'biasedVar', biasedVar, C, `(C)=(${C})`);
  if (!(momentum >= 0 && momentum <= 1)) {
    throw new ConfigError(`${fn}: momentum must be in [0, 1] (PyTorch's convention), got ${momentum}`);
  }
  const unbias = rows > 1 ? rows / (rows - 1) : 1;
  for (let c = 0; c < C; c++) {
    runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean[c];
    runningVar[c] = (1 - momentum) * runningVar[c] + momentum * biasedVar[c] * unbias;
  }
}
