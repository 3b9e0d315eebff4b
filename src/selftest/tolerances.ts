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

// ---- layer norm (test/kernels/layernorm.test.ts) ----
// Per row: f32 sums of C values (one lane walking the row in the row layout; GW lanes and a tree
// in the group layout), then xhat = (x - mean) invStd. Two things size the error: the sum length C
// (a lane's sequential sum of 1000 values put 2.4e-6 on the mean) and the row's conditioning
// k = max over rows of invStd * max|x|: the f32 mean carries ulp(|mean|)/2, which xhat multiplies
// by invStd. k is ~1.8 for spread-out rows; a C = 2 row of two near-equal values reaches ~560.

/** invStd per row: f32 sums, one sqrt, one division. Measured l2 3.4e-7, nothing beyond rtol. */
export const LN_INV_STD: Tol = { atol: 1e-6, rtol: 1e-5, l2: 1e-6 };

/**
 * The per-row mean over C values. Loosened l2 (1e-3): a mean of values in [-2, 2] lies near 0,
 * so with one row its L2 is the relative error of one small number (measured 3.1e-4 at |error|
 * 3e-7 on a row of 1000).
 */
export function layerNormMeanTol(C: number): Tol {
  return { atol: 1e-6 + 1e-8 * C, rtol: 1e-5, l2: 1e-3 };
}

/**
 * z = gamma xhat + beta and a = act(z), |gamma| <= 2. Measured beyond rtol: 5e-6 at C = 1000
 * (row layout, k 1.8), 3.4e-5 at k = 556 (C = 2); rel L2 <= 1e-6 at k <= 560, 7.9e-6 on rows at
 * 1e3 + noise (k ~ 870: the f32 mean's ulp(1e3)/2 over every element), hence the k term in l2.
 */
export function layerNormTol(C: number, k: number): Tol {
  return { atol: 1e-6 + 1e-8 * C + 2e-7 * k, rtol: 1e-5, l2: 3e-6 + 2e-8 * k };
}

/**
 * dX = s (g - mean_c g - xhat mean_c(g xhat)) * act'(aux), s = the largest row invStd: the
 * error of xhat (above) times s, on values of size ~s |g|. Measured beyond rtol <= 2.1e-7 k s.
 * With C = 2, dX = s^3 eps (g1 - g2) / 2 is what is left of a cancellation of O(s) terms, with no
 * relative accuracy (measured rel L2 3.3e-2): no L2 bound there. C >= 3 measured rel L2 4.1e-6.
 */
export function layerNormGradTol(C: number, k: number, s: number): Tol {
  return { atol: 1e-6 * Math.max(1, k * s), rtol: 1e-5, l2: C <= 2 ? Infinity : 1e-5 };
}

/**
 * dGamma = sum over n rows of dZ xhat, |dZ| <= 2: matmulTol's sum plus each term's xhat error.
 * Measured beyond rtol 2e-6 with n = 1 (C = 1000, row layout), rel L2 2e-6.
 */
export function layerNormGammaTol(n: number, C: number, k: number): Tol {
  return { atol: n * (2e-6 + 2e-8 * C + 4e-7 * k), rtol: 1e-5, l2: 1e-5 };
}

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

// ---- grouped and depthwise conv2d (test/kernels/conv-grouped.test.ts) ----
// The direct kernels (src/kernels/conv-grouped.ts) sum r = KH*KW*C/G products per output, KH*KW*F/G
// per input-gradient element, and B*OH*OW per weight (chunks of >= 64 rows, then <= 256 partial
// sums): plain f32 sums with no other rounding, so the conv budgets apply with r counted per group.
// Measured on lavapipe (depthwise, channel multiplier 2, G = 2..4, G = 1; r up to 18432): max
// |error| <= 2.9e-7 * r, relative L2 <= 4.1e-7.

/** Z and dW of a grouped conv: convTol of the per-group r. */
export function groupedConvTol(r: number): Tol {
  return convTol(r);
}

/** A = act(Z) and dX * act'(aux) of a grouped conv: convActTol of the per-group r. */
export function groupedConvActTol(r: number): Tol {
  return convActTol(r);
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
