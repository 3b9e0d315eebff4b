// Losses, CPU reference in float64. Each returns the loss and its gradient with respect to
// the network output it takes (logits for bce / softmax-ce, the activation output for mse).
//
// Shapes: z, a, y and grad are (B,N) row-major; labels is (B). Only the first b rows (the
// active rows of a partial last batch, 1 <= b <= B) are read: rows >= b may hold anything
// (stale GPU data, NaN), are never touched, and get exactly zero gradient.
// Mean reduction over the b active rows (and over N for bce / mse), so the gradients carry
// the 1/b (1/(b·N)) factor. perSample has length b. correct counts the b active rows.
//
//   bce (logits)  l_ij = max(z,0) - z·y + log1p(e^-|z|)    l_i = mean_j l_ij
//                 dz = (σ(z) - y) / (b·N)                  correct_i = ∀j (z>0) == (y>0.5)
//   softmax-ce    l_i = logsumexp(z_i) - z_i[y_i]
//                 dz = (softmax(z_i) - onehot(y_i)) / b    correct_i = argmax z_i == y_i
//     with label smoothing eps in [0,1) (PyTorch's CrossEntropyLoss(label_smoothing=eps)):
//                 q_i = (1-eps)·onehot(y_i) + eps/N,  l_i = -Σ_j q_ij log softmax(z_i)_j
//                     = (1-eps)(logsumexp(z_i) - z_i[y_i]) + (eps/N) Σ_j (logsumexp(z_i) - z_ij)
//                 dz = (softmax(z_i) - q_i) / b;  eps = 0 is the plain form above, bit for bit
//   mse           l_i = mean_j (a-y)²                      da = 2(a-y) / (b·N)
//                 correct_i = N>1 ? argmax a_i == argmax y_i : (a>=0.5) == (y>=0.5)
// argmax takes the first maximal index. All forms stay finite and exact at |z| = 100.

import { ShapeError } from '../errors.js';
import { sigmoid } from './activations.js';
import { checkDims, checkLength, checkRows, type NumArray } from './check.js';
import { mean } from './reduce.js';

export interface LossResult {
  /** Mean of perSample. */
  loss: number;
  /** Loss of each active row, length b. */
  perSample: Float64Array;
  /** Number of correctly classified active rows. */
  correct: number;
  /** d loss / d output, (B,N); zero in rows >= b. */
  grad: Float64Array;
}

function checkLossArgs(fn: string, out: NumArray, B: number, N: number, b: number): void {
  checkDims(fn, { B, N });
  if (N < 1) throw new ShapeError(`${fn}: N must be at least 1, got ${N}`);
  checkLength(fn, 'output', out, B * N, `(B,N)=(${B},${N})`);
  checkRows(fn, b, B);
}

/** First index of the maximum of row i of x (B,N). */
function argmaxRow(x: NumArray, o: number, N: number): number {
  let best = 0;
  for (let j = 1; j < N; j++) if (x[o + j] > x[o + best]) best = j;
  return best;
}

/** Binary cross-entropy on logits z (B,N) with targets y (B,N) in [0,1]. */
export function bceWithLogits(z: NumArray, y: NumArray, B: number, N: number, b: number = B): LossResult {
  checkLossArgs('bceWithLogits', z, B, N, b);
  checkLength('bceWithLogits', 'y', y, B * N, `(B,N)=(${B},${N})`);
  const perSample = new Float64Array(b);
  const grad = new Float64Array(B * N);
  const scale = 1 / (b * N);
  let correct = 0;
  for (let i = 0; i < b; i++) {
    let s = 0;
    let ok = true;
    for (let j = 0; j < N; j++) {
      const k = i * N + j;
      const zk = z[k];
      const yk = y[k];
      // -y·log σ(z) - (1-y)·log(1-σ(z)) rewritten so no exp argument is positive and log1p keeps
      // precision when e^-|z| is tiny: at z = ±100 it is exactly max(z,0) - z·y.
      s += Math.max(zk, 0) - zk * yk + Math.log1p(Math.exp(-Math.abs(zk)));
      grad[k] = (sigmoid(zk) - yk) * scale;
      if (zk > 0 !== yk > 0.5) ok = false;
    }
    perSample[i] = s / N;
    if (ok) correct++;
  }
  return { loss: mean(perSample, b), perSample, correct, grad };
}

/**
 * Softmax cross-entropy on logits z (B,N) with integer class labels (B) in [0,N), the targets
 * smoothed by eps in [0, 1) (see the header).
 */
export function softmaxCrossEntropy(
  z: NumArray,
  labels: NumArray,
  B: number,
  N: number,
  b: number = B,
  eps: number = 0,
): LossResult {
  checkLossArgs('softmaxCrossEntropy', z, B, N, b);
  checkLength('softmaxCrossEntropy', 'labels', labels, B, `(B)=(${B})`);
  if (!(eps >= 0 && eps < 1))
    throw new ShapeError(`softmaxCrossEntropy: label smoothing must be in [0, 1), got ${eps}`);
  const perSample = new Float64Array(b);
  const grad = new Float64Array(B * N);
  let correct = 0;
  for (let i = 0; i < b; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= N) {
      throw new ShapeError(
        `softmaxCrossEntropy: label of row ${i} must be an integer in [0, ${N}), got ${label}`,
      );
    }
    const o = i * N;
    const top = argmaxRow(z, o, N);
    const m = z[o + top];
    // logsumexp(z) - z_y = log(1 + rest) - (z_y - m), where rest = Σ_{j≠top} e^(z_j - m) <= N-1.
    // Shifting by the max keeps every exponent <= 0; log1p(rest) rather than log(1 + rest) and
    // no 100 - 100 cancellation keep a confident, correct row's tiny loss (e^-100) exact.
    let rest = 0;
    for (let j = 0; j < N; j++) if (j !== top) rest += Math.exp(z[o + j] - m);
    const lse = Math.log1p(rest); // logsumexp(z) - m
    perSample[i] = lse - (z[o + label] - m);
    if (eps > 0) {
      let spread = 0; // Σ_j (logsumexp(z) - z_j)
      for (let j = 0; j < N; j++) spread += lse - (z[o + j] - m);
      perSample[i] = (1 - eps) * perSample[i] + (eps / N) * spread;
    }
    const s = 1 + rest;
    for (let j = 0; j < N; j++) {
      const q = (j === label ? 1 - eps : 0) + eps / N;
      grad[o + j] = (Math.exp(z[o + j] - m) / s - q) / b;
    }
    if (top === label) correct++;
  }
  return { loss: mean(perSample, b), perSample, correct, grad };
}

/** Mean squared error between outputs a (B,N) and targets y (B,N). */
export function mse(a: NumArray, y: NumArray, B: number, N: number, b: number = B): LossResult {
  checkLossArgs('mse', a, B, N, b);
  checkLength('mse', 'y', y, B * N, `(B,N)=(${B},${N})`);
  const perSample = new Float64Array(b);
  const grad = new Float64Array(B * N);
  const scale = 2 / (b * N);
  let correct = 0;
  for (let i = 0; i < b; i++) {
    const o = i * N;
    let s = 0;
    for (let j = 0; j < N; j++) {
      const d = a[o + j] - y[o + j];
      s += d * d;
      grad[o + j] = d * scale;
    }
    perSample[i] = s / N;
    const ok = N > 1 ? argmaxRow(a, o, N) === argmaxRow(y, o, N) : a[o] >= 0.5 === y[o] >= 0.5;
    if (ok) correct++;
  }
  return { loss: mean(perSample, b), perSample, correct, grad };
}
