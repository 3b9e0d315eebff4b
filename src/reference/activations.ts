// Activations, CPU reference in float64, forward and backward side by side.
//
// Shapes: Z, A, dA, dZ are all (B,N) row-major. Elementwise except softmax, which is row-wise
// over N. activationBackward returns a fresh dZ (overwrite, not accumulate) and needs
// A = activationForward(Z): sigmoid, tanh and softmax take their derivative from A (the usual
// form, and what the GPU does), relu, leaky_relu, gelu, relu6 and hardswish from Z.
//
//   identity   a = z                         a' = 1
//   relu       a = z>0 ? z : 0               a' = z>0 ? 1 : 0   (0 at z = 0)
//   leaky_relu a = z>0 ? z : α·z             a' = z>0 ? 1 : α   (α = opts.alpha, default 0.01)
//   sigmoid    a = 1/(1+e^-z)                a' = a(1-a)
//   tanh       a = tanh z                    a' = 1-a²
//   gelu       a = ½z(1+tanh u), u = c(z + 0.044715 z³), c = √(2/π)   (tanh approximation:
//              WGSL has no erf, so both sides use this form)
//              a' = ½(1+tanh u) + ½z(1-tanh²u)·c(1 + 3·0.044715 z²)
//   relu6      a = min(max(z,0),6)           a' = 0<z<6 ? 1 : 0 (0 at both kinks, z = 0 and 6)
//   hardswish  a = z·relu6(z+3)/6            a' = z<-3 ? 0 : z>3 ? 1 : (2z+3)/6
//              (MobileNetV3; at the kinks a'(-3) = -½ and a'(3) = 3/2, the middle piece's
//              value, as PyTorch does)
//   softmax    a_j = e^(z_j - m) / Σ_k e^(z_k - m), m = max_k z_k
//              dZ = S ⊙ (dA - rowsum(dA ⊙ S))

import { ConfigError } from '../errors.js';
// The names are the engine's one vocabulary (src/nn); the maths below is written independently.
import { ACTIVATIONS, type Activation } from '../nn/activations.js';
import { checkDims, checkLength, type NumArray } from './check.js';

export type ActivationName = Activation;

export const ACTIVATION_NAMES: readonly ActivationName[] = ACTIVATIONS;

export interface ActivationOptions {
  /** Negative slope of leaky_relu; default 0.01. Ignored by the other activations. */
  alpha?: number;
}

export const DEFAULT_LEAKY_ALPHA = 0.01;
const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_K = 0.044715;

export function isActivationName(name: string): name is ActivationName {
  return (ACTIVATION_NAMES as readonly string[]).includes(name);
}

function leakyAlpha(opts: ActivationOptions | undefined): number {
  const alpha = opts?.alpha ?? DEFAULT_LEAKY_ALPHA;
  if (!Number.isFinite(alpha)) throw new ConfigError(`leaky_relu alpha must be finite, got ${alpha}`);
  return alpha;
}

/** Logistic function without overflow: e^-z overflows to Infinity for z << 0, so use e^z/(1+e^z) there. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

export function gelu(z: number): number {
  return 0.5 * z * (1 + Math.tanh(GELU_C * (z + GELU_K * z * z * z)));
}

export function geluDerivative(z: number): number {
  const t = Math.tanh(GELU_C * (z + GELU_K * z * z * z));
  return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 3 * GELU_K * z * z);
}

export function relu6(z: number): number {
  return Math.min(Math.max(z, 0), 6);
}

export function hardswish(z: number): number {
  return (z * relu6(z + 3)) / 6;
}

export function hardswishDerivative(z: number): number {
  if (z < -3) return 0;
  if (z > 3) return 1;
  return (2 * z + 3) / 6;
}

function checkName(fn: string, name: string): void {
  if (!isActivationName(name)) {
    throw new ConfigError(`${fn}: unknown activation '${name}'; use one of ${ACTIVATION_NAMES.join(', ')}`);
  }
}

/** A (B,N) = act(Z). */
export function activationForward(
  name: ActivationName,
  Z: NumArray,
  B: number,
  N: number,
  opts?: ActivationOptions,
): Float64Array {
  checkName('activationForward', name);
  checkDims('activationForward', { B, N });
  checkLength('activationForward', 'Z', Z, B * N, `(B,N)=(${B},${N})`);
  const n = B * N;
  const A = new Float64Array(n);
  switch (name) {
    case 'identity':
      for (let i = 0; i < n; i++) A[i] = Z[i];
      break;
    case 'relu':
      for (let i = 0; i < n; i++) A[i] = Z[i] > 0 ? Z[i] : 0;
      break;
    case 'leaky_relu': {
      const alpha = leakyAlpha(opts);
      for (let i = 0; i < n; i++) A[i] = Z[i] > 0 ? Z[i] : alpha * Z[i];
      break;
    }
    case 'sigmoid':
      for (let i = 0; i < n; i++) A[i] = sigmoid(Z[i]);
      break;
    case 'tanh':
      for (let i = 0; i < n; i++) A[i] = Math.tanh(Z[i]);
      break;
    case 'gelu':
      for (let i = 0; i < n; i++) A[i] = gelu(Z[i]);
      break;
    case 'relu6':
      for (let i = 0; i < n; i++) A[i] = relu6(Z[i]);
      break;
    case 'hardswish':
      for (let i = 0; i < n; i++) A[i] = hardswish(Z[i]);
      break;
    case 'softmax':
      softmaxRows(Z, A, B, N);
      break;
  }
  return A;
}

/** Row-wise softmax into `out`; subtracting the row max keeps every exponent <= 0 (no overflow). */
export function softmaxRows(Z: NumArray, out: Float64Array, B: number, N: number): void {
  for (let i = 0; i < B; i++) {
    const o = i * N;
    let m = -Infinity;
    for (let j = 0; j < N; j++) m = Math.max(m, Z[o + j]);
    let s = 0;
    for (let j = 0; j < N; j++) {
      const e = Math.exp(Z[o + j] - m);
      out[o + j] = e;
      s += e;
    }
    for (let j = 0; j < N; j++) out[o + j] /= s;
  }
}

/** dZ (B,N) from dA (B,N); A must be activationForward(name, Z). */
export function activationBackward(
  name: ActivationName,
  Z: NumArray,
  A: NumArray,
  dA: NumArray,
  B: number,
  N: number,
  opts?: ActivationOptions,
): Float64Array {
  checkName('activationBackward', name);
  checkDims('activationBackward', { B, N });
  const shape = `(B,N)=(${B},${N})`;
  checkLength('activationBackward', 'Z', Z, B * N, shape);
  checkLength('activationBackward', 'A', A, B * N, shape);
  checkLength('activationBackward', 'dA', dA, B * N, shape);
  const n = B * N;
  const dZ = new Float64Array(n);
  switch (name) {
    case 'identity':
      for (let i = 0; i < n; i++) dZ[i] = dA[i];
      break;
    case 'relu':
      for (let i = 0; i < n; i++) dZ[i] = Z[i] > 0 ? dA[i] : 0;
      break;
    case 'leaky_relu': {
      const alpha = leakyAlpha(opts);
      for (let i = 0; i < n; i++) dZ[i] = Z[i] > 0 ? dA[i] : alpha * dA[i];
      break;
    }
    case 'sigmoid':
      for (let i = 0; i < n; i++) dZ[i] = dA[i] * A[i] * (1 - A[i]);
      break;
    case 'tanh':
      for (let i = 0; i < n; i++) dZ[i] = dA[i] * (1 - A[i] * A[i]);
      break;
    case 'gelu':
      for (let i = 0; i < n; i++) dZ[i] = dA[i] * geluDerivative(Z[i]);
      break;
    case 'relu6':
      for (let i = 0; i < n; i++) dZ[i] = Z[i] > 0 && Z[i] < 6 ? dA[i] : 0;
      break;
    case 'hardswish':
      for (let i = 0; i < n; i++) dZ[i] = dA[i] * hardswishDerivative(Z[i]);
      break;
    case 'softmax':
      // Jacobian-vector product of softmax: J = diag(S) - S·Sᵀ per row, so
      // dZ = S ⊙ dA - S·(S·dA) = S ⊙ (dA - Σ_k dA_k S_k).
      for (let i = 0; i < B; i++) {
        const o = i * N;
        let dot = 0;
        for (let j = 0; j < N; j++) dot += dA[o + j] * A[o + j];
        for (let j = 0; j < N; j++) dZ[o + j] = A[o + j] * (dA[o + j] - dot);
      }
      break;
  }
  return dZ;
}
