// Every tolerance the GPU-vs-CPU kernel checks use, in one place: the self-test (src/selftest/)
// and the unit tests (test/tolerances.ts re-exports these and adds the test-only cases). The GPU
// computes in float32, the reference (src/reference) in float64 on the same f32-rounded inputs,
// so each tolerance is a float32 rounding budget; the comment next to each says where its size
// comes from (measured on lavapipe by the unit tests named in each section).
// A check passes when every element has |a - e| <= atol + rtol*|e| AND the relative L2 error
// ||a - e|| / ||e|| <= l2 (src/selftest/harness.ts allclose). Unit roundoff u = 2^-24 ~ 6e-8.

export interface Tol {
  atol: number;
  rtol: number;
  l2: number;
}

// ---- matmul (test/kernels/matmul.test.ts) ----
// A float32 dot product of r terms (r = the reduction length: K forward, B weightGrad, N inputGrad)
// with operands uniform in [-2, 2] has partial sums of size ~sqrt(r), so its rounding error grows
// ~u * r. Measured on lavapipe over every variant and shape up to 512x784x300: max |error| <=
// 2.7e-7 * r, relative L2 <= 2.1e-7. atol = 2e-6 * r leaves a ~7x margin; the absolute term is
// needed because a sum that cancels to ~0 has no relative accuracy at all.

/** Z = X W^T + b, dW, dX: plain f32 sums of r products. */
export function matmulTol(r: number): Tol {
  return { atol: 2e-6 * r, rtol: 1e-5, l2: 1e-6 };
}

/**
 * A = act(Z) and dX * act'(Zprev): the sum's error as above plus the f32 activation's own
 * (ACTIVATION below); act has slope <= 1.5 (hardswish at z = 3; gelu 1.13), well inside the
 * sum's ~7x margin, so the two simply add.
 * Loosened l2 (2e-6): saturated tanh/sigmoid rows measured 3.6e-7.
 */
export function matmulActTol(r: number): Tol {
  return { atol: 2e-6 * r + 1e-6, rtol: 2e-5, l2: 2e-6 };
}

// ---- elementwise activations and softmax (test/kernels/activations.test.ts) ----

/**
 * act(z), dA * act'(z) for z in [-2, 2] ([-8, 8] for relu6 and hardswish). Measured: max
 * |error| 4.4e-7 (tanh' = 1 - t^2 loses bits to cancellation as |t| -> 1; the dA factor doubles
 * it), relative L2 <= 1.7e-6 (a 1x1 case, where L2 is just one small value's relative error).
 * Used for the matmul epilogues too.
 */
export const ACTIVATION: Tol = { atol: 1e-6, rtol: 1e-5, l2: 5e-6 };

/**
 * Row softmax and its backward over <= 65 columns. Measured max |error| 2.3e-7 (the backward's
 * dA - rowsum(dA S) cancels); relative L2 <= 1.6e-7.
 */
export const SOFTMAX: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

// ---- losses (test/kernels/losses.test.ts) ----

/**
 * Gradients: (sigmoid(z) - y) / (bN), (softmax - onehot) / b, 2(a - y) / (bN). Each is one
 * probability or difference of size <= 1 (<= 2.1e2 at logits +-100 for mse) plus a scaling.
 * Measured max |error| 6.7e-8 (a softmax probability's own rounding), relative L2 <= 2.1e-7
 * (sigmoid(z) - y cancels when the prediction is close to its target).
 */
export const LOSS_GRAD: Tol = { atol: 2e-7, rtol: 1e-5, l2: 1e-6 };

/** Row losses of size ~0.1..10 summed over N <= 13 terms. Measured max |error| 1e-6 (mse ~6). */
export const LOSS: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

// ---- reductions (test/kernels/reduce.test.ts) ----

/**
 * Global gradient norm sqrt(sum g^2) and the clip scale derived from it. The sum is a
 * grid-stride then tree reduction of <= 20481 positive terms (relative error ~u log n), halved
 * by the sqrt; the scale divides by it once more. rtol 1e-5 is ~100x that.
 */
export const CLIP: Tol = { atol: 1e-7, rtol: 1e-5, l2: 1e-5 };

// ---- optimizers (test/kernels/optim.test.ts) ----

/**
 * Parameters (|p| ~ 2), momentum velocity and Adam's m after 3 steps: each step a few f32
 * roundings on values up to ~5 (velocity), plus the clip scale's relative error when clipping.
 * Measured max |error| 4.8e-7, relative L2 <= 6e-8.
 */
export const OPTIM: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/**
 * Adam's second moment v = sum (1 - beta2) beta2^k g^2: values down to ~1e-11 (clipped, small g),
 * so the absolute floor is scaled down with them. Measured max |error| 3.6e-11, rel L2 1.3e-7.
 */
export const OPTIM_V: Tol = { atol: 1e-10, rtol: 1e-5, l2: 1e-6 };

// ---- pooling (test/kernels/pool.test.ts) ----

/**
 * Window and global means: an f32 sum of <= 169 values in [-2, 2] (13x13 global pool), then one
 * division. Measured (with POOL_GRAD) max |error| 2.1e-7, relative L2 1.9e-7.
 */
export const POOL: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/**
 * Pool gradients: a gather of <= 9 overlapping windows' dOut (/ KH*KW for avg), times act'(aux)
 * (leaky_relu's alpha multiply rounds once more). Measured as POOL.
 */
export const POOL_GRAD: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

// ---- dropout (test/kernels/dropout.test.ts) ----

/**
 * x * f32(1 / (1 - rate)) (* act'(aux)): the scale rounds once to f32 for rates like 0.3, the
 * product once more. Loosened atol (4e-6): tanh'(aux)'s own error (<= 4.4e-7, see ACTIVATION) is
 * multiplied by dOut * 2 (<= 4); measured 9.4e-7. Loosened l2 (5e-6, as ACTIVATION): a 1x1 case's
 * L2 is one tanh' value's relative error, measured 1.6e-6.
 */
export const DROPOUT: Tol = { atol: 4e-6, rtol: 1e-5, l2: 5e-6 };

// ---- batch norm (test/kernels/batchnorm.test.ts) ----

/**
 * mean, invStd, running mean and var: per-channel sums of <= 507 f32 values (lane sums, then a
 * tree), one sqrt and one division. Measured max |error| beyond rtol 3.7e-8. Loosened l2 (1e-5):
 * a one-channel mean of values in [-2, 2] lies near 0 (0.03 over 169 rows), so its L2 is the
 * relative error of one small number, measured 3.1e-6 at |error| 9e-8.
 */
export const BN_STATS: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-5 };

/** z = gamma (x - mean) invStd + beta and a = act(z). Measured beyond rtol 8.2e-8, rel L2 7.2e-8. */
export const BN_FORWARD: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/**
 * dX, dGamma: sums of <= 338 products dZ xhat, then dX = k (dZ - dBeta/n - xhat dGamma/n).
 * Measured beyond rtol 1.2e-7 (dGamma up to ~1e2 rides on rtol), rel L2 2.1e-7.
 */
export const BN_GRAD: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

// ---- conv2d (test/kernels/conv.test.ts) ----
// The convolutions run on the matmul kernels, so their outputs are f32 dot products of r terms
// like matmulTol's (r: KH*KW*C forward, B*OH*OW filter grad and bias grad, KH*KW*F input grad,
// where im2col's col2im gather adds <= KH*KW partial sums of F terms in another order: the same
// count of roundings). Same budget as matmul; measured in the conv tests below.

/**
 * Z, dW: f32 sums of r products of operands in [-2, 2]. Loosened l2 for long sums (1e-6 +
 * 6e-8 sqrt(r), u sqrt(r) being a random walk of r roundings): the filter grad of batch 32 at
 * 32x32 sums r = 32768 terms and measured 3.1e-6 against 1.2e-5 allowed.
 */
export function convTol(r: number): Tol {
  return { atol: 2e-6 * r, rtol: 1e-5, l2: 1e-6 + 6e-8 * Math.sqrt(r) };
}

/**
 * db: one sequential f32 sum of r values per filter. Loosened l2 (1e-5): with one filter L2 is
 * that one sum's relative error, large when its terms cancel (measured 1.0e-6 on a sum of 65).
 */
export function convBiasTol(r: number): Tol {
  return { atol: 2e-6 * r, rtol: 1e-5, l2: 1e-5 + 6e-8 * Math.sqrt(r) };
}

/** A = act(Z) and dX * act'(Zprev): the sum's error plus the f32 activation's (as matmulActTol). */
export function convActTol(r: number): Tol {
  return { atol: 2e-6 * r + 1e-6, rtol: 2e-5, l2: 2e-6 };
}

// ---- mixed precision (test/kernels/half.test.ts) ----
// The reference runs in float64 on the same f16-rounded inputs, so what remains is the f32
// accumulation (as matmulTol) plus ONE rounding of the stored output to f16: relative 2^-11 =
// 4.9e-4 for normal values, at most 2^-25 absolute in the subnormal range. rtol 1e-3 is a 2x
// margin on that rounding; relative L2 likewise.

/** f32 sums of r products of f16 operands, stored in f16. */
export function halfStoreTol(r: number): Tol {
  return { atol: 2e-6 * r + 1e-7, rtol: 1e-3, l2: 1e-3 };
}
