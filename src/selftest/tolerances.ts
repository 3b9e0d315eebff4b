// The tolerances the self-test holds each kernel to: the same float32 rounding budgets as the
// unit tests (test/tolerances.ts, which has the measurements behind each number), copied here
// because shipped code cannot import test/. Keep the two in step when either changes.

export interface Tol {
  atol: number;
  rtol: number;
  l2: number;
}

/** A float32 dot product of r terms in [-2, 2]: error grows ~u * r (measured <= 2.7e-7 * r). */
export function matmulTol(r: number): Tol {
  return { atol: 2e-6 * r, rtol: 1e-5, l2: 1e-6 };
}

/** The same followed by an activation or its derivative in the epilogue. */
export function matmulActTol(r: number): Tol {
  return { atol: 2e-6 * r + 1e-6, rtol: 2e-5, l2: 2e-6 };
}

/** act(z) and dA * act'(z) on z in [-2, 2]. */
export const ACTIVATION: Tol = { atol: 1e-6, rtol: 1e-5, l2: 5e-6 };

/** Row softmax and its backward. */
export const SOFTMAX: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/** Loss gradients: one probability or difference of size <= 1 and a scaling. */
export const LOSS_GRAD: Tol = { atol: 2e-7, rtol: 1e-5, l2: 1e-6 };

/** Row losses of size ~0.1..10. */
export const LOSS: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/** Global gradient norm and clip scale: a tree reduction of positive terms. */
export const CLIP: Tol = { atol: 1e-7, rtol: 1e-5, l2: 1e-5 };

/** Parameters, momentum and Adam's m after a few steps. */
export const OPTIM: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/** Adam's second moment, whose values go down to ~1e-11. */
export const OPTIM_V: Tol = { atol: 1e-10, rtol: 1e-5, l2: 1e-6 };

/** Window max (exact) and mean: an f32 sum of <= 169 values, then one division. */
export const POOL: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/** Pool gradients: a gather of <= 9 windows' dOut (/ KH*KW for avg), times act'(aux). */
export const POOL_GRAD: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/** Dropout: x times the 1 / (1 - rate) scale, which rounds once (exact for rate 0.5). */
export const DROPOUT: Tol = { atol: 4e-6, rtol: 1e-5, l2: 5e-6 };

/** Batch-norm mean and 1/sqrt(var + eps): two-pass f32 sums over the active rows. */
export const BN_STATS: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-5 };

/** z = gamma (x - mean) invStd + beta on inputs in [-2, 2]. */
export const BN_FORWARD: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/** Batch-norm dX through the statistics. */
export const BN_GRAD: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/** Conv Z and dW: f32 sums of r products, as matmul (long sums: l2 grows like sqrt(r)). */
export function convTol(r: number): Tol {
  return { atol: 2e-6 * r, rtol: 1e-5, l2: 1e-6 + 6e-8 * Math.sqrt(r) };
}

/** Conv bias grad: one f32 sum of r values per filter. */
export function convBiasTol(r: number): Tol {
  return { atol: 2e-6 * r, rtol: 1e-5, l2: 1e-5 + 6e-8 * Math.sqrt(r) };
}

/** Conv A = act(Z) and dX * act'(Zprev). */
export function convActTol(r: number): Tol {
  return { atol: 2e-6 * r + 1e-6, rtol: 2e-5, l2: 2e-6 };
}

/**
 * Mixed precision: f32 sums of r products of f16 operands, stored once in f16 (relative 2^-11;
 * the reference runs on the same f16-rounded inputs).
 */
export function halfStoreTol(r: number): Tol {
  return { atol: 2e-6 * r + 1e-7, rtol: 1e-3, l2: 1e-3 };
}
