// Dense layer matmul, CPU reference in float64.
//
// Shapes: X is (B,K) inputs, W is (N,K) weights (out x in, PyTorch Linear layout), b is (N),
// Z is (B,N). All row-major.
//   forward:  Z  = X·Wᵀ + b
//   backward: dX = dZ·W (B,K),  dW = dZᵀ·X (N,K),  db = column sums of dZ (N)
// Backward OVERWRITES: it returns fresh arrays, it never accumulates into existing gradients.
// The generic `matmul` computes op(A)·op(B) for the three forms the GPU kernels implement
// (A·Bᵀ forward, A·B for dX, Aᵀ·B for dW), plus the fourth for completeness.
// Sums run in float64 in natural k order; there is no tiling, so this is the ground truth.

import { checkDims, checkLength, type NumArray } from './check.js';
import { columnSum } from './reduce.js';

/**
 * C (M,N) = op(A) (M,K) · op(B) (K,N).
 * transA: A is stored as (K,M) and op(A) = Aᵀ; otherwise A is stored as (M,K).
 * transB: Bm is stored as (N,K) and op(B) = Bmᵀ; otherwise Bm is stored as (K,N).
 */
export function matmul(
  A: NumArray,
  Bm: NumArray,
  M: number,
  K: number,
  N: number,
  transA: boolean,
  transB: boolean,
): Float64Array {
  checkDims('matmul', { M, K, N });
  checkLength('matmul', 'A', A, M * K, transA ? `(K,M)=(${K},${M})` : `(M,K)=(${M},${K})`);
  checkLength('matmul', 'B', Bm, K * N, transB ? `(N,K)=(${N},${K})` : `(K,N)=(${K},${N})`);
  const C = new Float64Array(M * N);
  // Strides turn the transposes into index arithmetic: op(A)[i,k] = A[i*aI + k*aK].
  const aI = transA ? 1 : K;
  const aK = transA ? M : 1;
  const bK = transB ? 1 : N;
  const bJ = transB ? K : 1;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[i * aI + k * aK] * Bm[k * bK + j * bJ];
      C[i * N + j] = s;
    }
  }
  return C;
}

/** Z (B,N) = X (B,K) · Wᵀ (K,N) + b (N). Pass bias = null for a layer without bias. */
export function matmulForward(
  X: NumArray,
  W: NumArray,
  bias: NumArray | null,
  B: number,
  K: number,
  N: number,
): Float64Array {
  const Z = matmul(X, W, B, K, N, false, true);
  if (bias !== null) {
    checkLength('matmulForward', 'bias', bias, N, `(N)=(${N})`);
    for (let i = 0; i < B; i++) for (let j = 0; j < N; j++) Z[i * N + j] += bias[j];
  }
  return Z;
}

export interface MatmulGrads {
  /** (B,K) = dZ·W */
  dX: Float64Array;
  /** (N,K) = dZᵀ·X */
  dW: Float64Array;
  /** (N) = column sums of dZ */
  db: Float64Array;
}

/** Gradients of Z = X·Wᵀ + b given dZ (B,N). Returns fresh arrays (overwrite, not accumulate). */
export function matmulBackward(
  dZ: NumArray,
  X: NumArray,
  W: NumArray,
  B: number,
  K: number,
  N: number,
): MatmulGrads {
  checkDims('matmulBackward', { B, K, N });
  checkLength('matmulBackward', 'dZ', dZ, B * N, `(B,N)=(${B},${N})`);
  checkLength('matmulBackward', 'X', X, B * K, `(B,K)=(${B},${K})`);
  checkLength('matmulBackward', 'W', W, N * K, `(N,K)=(${N},${K})`);
  return {
    dX: matmul(dZ, W, B, N, K, false, false),
    dW: matmul(dZ, X, N, B, K, true, false),
    db: columnSum(dZ, B, N),
  };
}
