// Batch normalisation over x [rows, C] (rows = B*S: S spatial positions per sample, 1 after a dense
// layer), statistics per channel c over the ACTIVE rows only: n = active_samples * S (rows past n
// are the padding of a last partial batch). Forward and backward side by side.
//
//   batchnorm_stats (training; one workgroup per channel, WG lanes, two passes over the column):
//     shift = x[0, c] (an active row), d = x - shift          pass 1: mean_d = sum(d) / n
//     var = sum((d - mean_d)^2) / n                           pass 2: biased, never E[x^2] - E[x]^2
//     mean[c] = shift + mean_d, inv_std[c] = 1 / sqrt(var + eps)
//     running_mean = (1 - m) running_mean + m mean, running_var = (1 - m) running_var +
//     m var n / (n - 1) (PyTorch: the unbiased variance; the biased one when n = 1)
//     Shifting by a sample keeps the sums small when |mean| >> std (1e3 + noise): x - shift is
//     exact there, so the variance keeps its digits.
//   batchnorm_forward (training): z = gamma (x - mean) inv_std + beta, a = act(z)
//   batchnorm_forward_eval:       z = gamma (x - running_mean) / sqrt(running_var + eps) + beta
//   *_z variants write z only, for a = z (identity): the a binding must not alias z (WebGPU
//   rejects two writable bindings of one range), so those entry points do not declare it
//   batchnorm_backward_reduce (one workgroup per channel), over active rows, xhat = (x - mean) inv_std:
//     dbeta[c] = sum dz, dgamma[c] = sum dz xhat, and coef[c] = (mean, k = gamma inv_std,
//     dbeta / n, inv_std dgamma / n) for the elementwise pass
//   batchnorm_backward: dx = k (dz - dbeta/n - (x - mean) inv_std dgamma / n) * act'(aux) on active
//     rows, 0 on padding rows (so padding never reaches earlier layers' weight gradients)
// The reductions are per-lane strided sums then a fixed tree over WG lanes: deterministic. The
// elementwise kernels run one invocation per element on a 2-D grid of WG-wide workgroups. Every
// kernel OVERWRITES its outputs. act in the forward is this layer's activation; act' in the
// backward is the PREVIOUS layer's (both through the ACT/ALPHA overrides). coef is a [C] vec4
// scratch owned by the backward dispatch pair: it keeps the elementwise pass at 5 storage
// bindings (within the 8 every WebGPU device offers).

#include activation_fns
#include step_params

struct Params {
  rows: u32, // B * S
  S: u32,
  C: u32,
  count: u32, // rows * C
  eps: f32,
  momentum: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step_params: StepParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read> dz: array<f32>;
@group(0) @binding(6) var<storage, read> aux: array<f32>;                // prev pre-activation
@group(0) @binding(7) var<storage, read_write> mean: array<f32>;         // [C] written by stats
@group(0) @binding(8) var<storage, read_write> inv_std: array<f32>;      // [C] written by stats
@group(0) @binding(9) var<storage, read_write> running_mean: array<f32>; // [C]
@group(0) @binding(10) var<storage, read_write> running_var: array<f32>; // [C]
@group(0) @binding(11) var<storage, read_write> z_out: array<f32>;
@group(0) @binding(12) var<storage, read_write> a_out: array<f32>;
@group(0) @binding(13) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(14) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(15) var<storage, read_write> coef: array<vec4<f32>>;  // [C]
@group(0) @binding(16) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256u;

var<workgroup> red0: array<f32, WG>;
var<workgroup> red1: array<f32, WG>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn active_rows() -> u32 {
  return min(step_params.active_samples * params.S, params.rows);
}

// Tree sum of red0 (and red1) over the workgroup; every lane returns with the totals in [0].
fn reduce2(li: u32) {
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      red0[li] += red0[li + h];
      red1[li] += red1[li + h];
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG)
fn batchnorm_stats(
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= params.C) {
    return; // uniform per workgroup: no lane of it reaches a barrier
  }
  let n = active_rows();
  let C = params.C;
  let shift = x[c];
  var s = 0.0;
  for (var r = li; r < n; r += WG) {
    s += x[r * C + c] - shift;
  }
  red0[li] = s;
  red1[li] = 0.0;
  reduce2(li);
  let mean_d = red0[0] / f32(n);
  workgroupBarrier(); // everyone has read red0[0] before it is overwritten
  var q = 0.0;
  for (var r = li; r < n; r += WG) {
    let e = (x[r * C + c] - shift) - mean_d;
    q += e * e;
  }
  red0[li] = q;
  reduce2(li);
  if (li == 0u) {
    let v = red0[0] / f32(n);
    let m = shift + mean_d;
    mean[c] = m;
    inv_std[c] = 1.0 / sqrt(v + params.eps);
    let unbiased = select(v, v * f32(n) / f32(n - 1u), n > 1u);
    let mo = params.momentum;
    running_mean[c] = (1.0 - mo) * running_mean[c] + mo * m;
    running_var[c] = (1.0 - mo) * running_var[c] + mo * unbiased;
  }
}

fn z_train(i: u32) -> f32 {
  let c = i % params.C;
  return gamma[c] * ((x[i] - mean[c]) * inv_std[c]) + beta[c];
}

fn z_eval(i: u32) -> f32 {
  let c = i % params.C;
  return gamma[c] * (x[i] - running_mean[c]) / sqrt(running_var[c] + params.eps) + beta[c];
}

@compute @workgroup_size(WG)
fn batchnorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i < params.count) {
    let z = z_train(i);
    z_out[i] = z;
    a_out[i] = act_forward(z);
  }
}

@compute @workgroup_size(WG)
fn batchnorm_forward_z(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i < params.count) {
    z_out[i] = z_train(i);
  }
}

@compute @workgroup_size(WG)
fn batchnorm_forward_eval(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = flat(gid, nwg);
  if (i < params.count) {
    let z = z_eval(i);
    z_out[i] = z;
    a_out[i] = act_forward(z);
  }
}

@compute @workgroup_size(WG)
fn batchnorm_forward_eval_z(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = flat(gid, nwg);
  if (i < params.count) {
    z_out[i] = z_eval(i);
  }
}

@compute @workgroup_size(WG)
fn batchnorm_backward_reduce(
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= params.C) {
    return;
  }
  let n = active_rows();
  let C = params.C;
  let m = mean[c];
  let is = inv_std[c];
  var sd = 0.0;
  var sdx = 0.0;
  for (var r = li; r < n; r += WG) {
    let g = dz[r * C + c];
    sd += g;
    sdx += g * ((x[r * C + c] - m) * is);
  }
  red0[li] = sd;
  red1[li] = sdx;
  reduce2(li);
  if (li == 0u) {
    let db = red0[0];
    let dg = red1[0];
    dbeta[c] = db;
    dgamma[c] = dg;
    let inv_n = 1.0 / f32(n);
    coef[c] = vec4<f32>(m, gamma[c] * is, db * inv_n, is * dg * inv_n);
  }
}

@compute @workgroup_size(WG)
fn batchnorm_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= params.count) {
    return;
  }
  if (i / params.C >= active_rows()) {
    dx[i] = 0.0;
    return;
  }
  let k = coef[i % params.C];
  var d = k.y * (dz[i] - k.z - (x[i] - k.x) * k.w);
  if (ACT != 0u) {
    d *= act_grad(aux[i]);
  }
  dx[i] = d;
}
