// Weight updates over the model's ONE flat parameter buffer: one dispatch updates every layer.
// t is the 1-based step; bc1 = 1 - beta1^t and bc2 = 1 - beta2^t are computed on the CPU in f64
// and passed in, so bias correction does not suffer from f32 powers. g is scaled by `clip[0]`
// when CLIP is on (global-norm clipping, computed by reduce.wgsl just before). With
// SKIP_ON_OVERFLOW (mixed precision) nothing changes while the loss scaler's overflow flag is
// set (amp.wgsl): parameters and moments keep their values, as PyTorch's GradScaler skips step().
//   sgd_update:       g' = g + wd p;  p -= lr g'
//   momentum_update:  g' = g + wd p;  v = mu v + g';  p -= lr (NESTEROV ? g' + mu v : v)
//   adam_update:      DECOUPLED (AdamW): p *= 1 - lr wd, g' = g;  else g' = g + wd p
//                     m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
//                     p -= lr (m / bc1) / (sqrt(v / bc2) + eps)
// Padding between tensors (kept for binding alignment) has zero gradient and zero parameters,
// so it stays zero under every rule.
//
// This file is the body of two shaders that differ only in the element type VT of p, g, m, v:
// optim.wgsl (f32, any length) and optim_vec4.wgsl (vec4<f32>, for lengths that are a multiple
// of 4, which the model's 64-float-aligned buffer always is). The arithmetic reads the same for
// both (scalars broadcast); the vec4 form moves 16 bytes per load, which CPU drivers, where every
// storage load is a per-lane gather, run about twice as fast. h.count counts VT elements.

struct Hyper {
  lr: f32,
  wd: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  mu: f32,
  bc1: f32,
  bc2: f32,
  count: u32,
  row_stride: u32,
  // 1 - beta1 and 1 - beta2, computed in float64 on the CPU like bc1/bc2. In f32, 1 - 0.999
  // evaluates as 1 - f32(0.999) = 0.00099998713: 1.3e-5 relative error, which made the first
  // Adam step lr * (1 + 6.4e-6) instead of exactly lr and biased every later step the same way.
  one_minus_beta1: f32,
  one_minus_beta2: f32,
}

override WG: u32 = 256u;
override CLIP: bool = false;
override NESTEROV: bool = false;
override DECOUPLED: bool = false;
override SKIP_ON_OVERFLOW: bool = false;

@group(0) @binding(0) var<uniform> h: Hyper;
@group(0) @binding(1) var<storage, read_write> p: array<VT>;
@group(0) @binding(2) var<storage, read> g: array<VT>;
@group(0) @binding(3) var<storage, read> clip: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<VT>;
@group(0) @binding(5) var<storage, read_write> v: array<VT>;
// Loss-scaler state (amp.wgsl); word 2 is this step's overflow flag.
@group(0) @binding(6) var<storage, read> amp: array<u32>;

// Out of range, or a step the loss scaler skips.
fn idle(i: u32) -> bool {
  return i >= h.count || (SKIP_ON_OVERFLOW && amp[2] != 0u);
}

fn grad_at(i: u32) -> VT {
  var x = g[i];
  if (CLIP) {
    x *= clip[0];
  }
  return x;
}

fn index(gid: vec3<u32>) -> u32 {
  return gid.x + gid.y * h.row_stride;
}

@compute @workgroup_size(WG)
fn sgd_update(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (idle(i)) {
    return;
  }
  let w = p[i];
  p[i] = w - h.lr * (grad_at(i) + h.wd * w);
}

@compute @workgroup_size(WG)
fn momentum_update(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (idle(i)) {
    return;
  }
  let w = p[i];
  let gg = grad_at(i) + h.wd * w;
  let vel = h.mu * m[i] + gg;
  m[i] = vel;
  if (NESTEROV) {
    p[i] = w - h.lr * (gg + h.mu * vel);
  } else {
    p[i] = w - h.lr * vel;
  }
}

@compute @workgroup_size(WG)
fn adam_update(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = index(gid);
  if (idle(i)) {
    return;
  }
  var w = p[i];
  var gg = grad_at(i);
  if (DECOUPLED) {
    w *= 1.0 - h.lr * h.wd;
  } else {
    gg += h.wd * w;
  }
  let mm = h.beta1 * m[i] + h.one_minus_beta1 * gg;
  let vv = h.beta2 * v[i] + h.one_minus_beta2 * gg * gg;
  m[i] = mm;
  v[i] = vv;
  p[i] = w - h.lr * (mm / h.bc1) / (sqrt(vv / h.bc2) + h.eps);
}
