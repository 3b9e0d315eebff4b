// Snippet (not a module of its own): the elementwise activations and their derivatives, shared by
// matmul.wgsl (fused epilogues) and activations.wgsl (standalone kernels) via `#include`.
//
// ACT ids: 0 identity, 1 relu, 2 leaky_relu (slope ALPHA), 3 sigmoid, 4 tanh, 5 gelu (tanh form),
// 7 relu6, 8 hardswish (6 is softmax, a row operation in activations.wgsl, not here).
//   relu6      a = min(max(z, 0), 6)       a' = 1 for 0 < z < 6, else 0
//   hardswish  a = z relu6(z + 3) / 6      a' = 0 for z < -3, z/3 + 1/2 for -3 <= z <= 3, 1 for z > 3
// At the kinks (PyTorch's convention, as for relu' (0) = 0): relu6' (0) = relu6' (6) = 0;
// hardswish' (-3) = -1/2 and hardswish' (3) = 3/2 (the middle piece's closed interval).
// Derivatives are written in terms of the pre-activation z only, so backward needs Z and not A.
// tanh is evaluated on a clamped argument: some drivers compute it as (e^2x-1)/(e^2x+1), which is
// NaN once e^2x overflows; tanh(+-15) already rounds to +-1 in f32.

override ACT: u32 = 0u;
override ALPHA: f32 = 0.01;

fn safe_tanh(x: f32) -> f32 {
  return tanh(clamp(x, -15.0, 15.0));
}

fn sigmoid(z: f32) -> f32 {
  // Two branches so exp() never overflows: for z < 0 use e^z / (1 + e^z).
  if (z >= 0.0) {
    return 1.0 / (1.0 + exp(-z));
  }
  let e = exp(z);
  return e / (1.0 + e);
}

const GELU_C: f32 = 0.7978845608028654; // sqrt(2/pi)

fn act_forward(z: f32) -> f32 {
  switch (ACT) {
    case 1u: { return max(z, 0.0); }
    case 2u: { return select(ALPHA * z, z, z > 0.0); }
    case 3u: { return sigmoid(z); }
    case 4u: { return safe_tanh(z); }
    case 5u: { return 0.5 * z * (1.0 + safe_tanh(GELU_C * (z + 0.044715 * z * z * z))); }
    case 7u: { return clamp(z, 0.0, 6.0); }
    case 8u: { return z * clamp(z + 3.0, 0.0, 6.0) / 6.0; }
    default: { return z; }
  }
}

fn act_grad(z: f32) -> f32 {
  switch (ACT) {
    case 1u: { return select(0.0, 1.0, z > 0.0); }
    case 2u: { return select(ALPHA, 1.0, z > 0.0); }
    case 3u: { let s = sigmoid(z); return s * (1.0 - s); }
    case 4u: { let t = safe_tanh(z); return 1.0 - t * t; }
    case 5u: {
      let u = GELU_C * (z + 0.044715 * z * z * z);
      let t = safe_tanh(u);
      let du = GELU_C * (1.0 + 3.0 * 0.044715 * z * z);
      return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du;
    }
    case 7u: { return select(0.0, 1.0, z > 0.0 && z < 6.0); }
    case 8u: {
      if (z < -3.0) { return 0.0; }
      if (z > 3.0) { return 1.0; }
      return z / 3.0 + 0.5;
    }
    default: { return 1.0; }
  }
}
