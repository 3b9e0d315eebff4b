// Batch normalisation over x [rows, C] (rows = B*S: S spatial positions per sample, 1 after a dense
// layer), statistics per channel c over the ACTIVE rows only: n = active_samples * S (rows past n
// are the padding of a last partial batch). Forward and backward side by side.
//
// Layout: every kernel runs one invocation per (row block, channel) pair, channel fastest, so
// neighbouring lanes read neighbouring floats of a row and each invocation walks its rows at
// stride C with no integer division in the loop (lavapipe has no vector divide: one `i % C` per
// element cost more than the arithmetic). The reductions split the rows into P partitions of R
// rows (params.parts, params.part_rows; every active partition is full but the last), then a
// second kernel, one invocation per channel, folds the P partials in a fixed order:
// deterministic, and P * C invocations of work instead of C workgroups with barriers.
//
//   batchnorm_stats_partial (training): partition p of channel c, rows [r0, r1) of the active
//     ones, two passes over its rows (they are in cache the second time):
//     mean_p = x[r0, c] + sum(x - x[r0, c]) / n_p,  M2_p = sum((x - mean_p)^2)
//   batchnorm_stats_final: Chan's combination of the partitions, shifted by partition 0's mean:
//     mean = m0 + sum n_p (mean_p - m0) / n,  var = (sum M2_p + sum n_p (mean_p - mean)^2) / n
//     (biased; never E[x^2] - E[x]^2, so 1e3 + noise keeps its digits)
//     mean[c], inv_std[c] = 1 / sqrt(var + eps); running_mean = (1 - m) running_mean + m mean,
//     running_var = (1 - m) running_var + m var n / (n - 1) (PyTorch: the unbiased variance; the
//     biased one when n = 1)
//   batchnorm_forward (training): z = gamma (x - mean) inv_std + beta, a = act(z)
//   batchnorm_forward_eval:       z = gamma (x - running_mean) / sqrt(running_var + eps) + beta
//   *_z variants write z only, for a = z (identity): the a binding must not alias z (WebGPU
//   rejects two writable bindings of one range), so those entry points do not declare it
//   batchnorm_backward_partial, over the active rows of partition p, xhat = (x - mean) inv_std:
//     partial = (sum dz, sum dz xhat)
//   batchnorm_backward_final: dbeta[c] = sum dz, dgamma[c] = sum dz xhat, and coef[c] = (mean,
//     k = gamma inv_std, dbeta / n, inv_std dgamma / n) for the elementwise pass
//   batchnorm_backward: dx = k (dz - dbeta/n - (x - mean) inv_std dgamma / n) * act'(aux) on active
//     rows, 0 on padding rows (so padding never reaches earlier layers' weight gradients)
// The elementwise kernels take ER rows of one channel per invocation. Every kernel OVERWRITES
// its outputs. act in the forward is this layer's activation; act' in the backward is the
// PREVIOUS layer's (both through the ACT/ALPHA overrides). coef ([C] vec4) and partial
// ([P * C] vec2) are scratch owned by the dispatch groups; they keep every entry point within
// the 8 storage bindings every WebGPU device offers.

#include activation_fns
#include step_params

struct Params {
  rows: u32, // B * S
  S: u32,
  C: u32,
  count: u32, // rows * C
  eps: f32,
  momentum: f32,
  parts: u32, // P: row partitions of the reductions
  part_rows: u32, // R: rows per partition
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step_params: StepParams;
// Storage types of the activation-sized tensors: f16 where the wrapper binds half-precision
// views (src/gpu/shader-types.ts). Statistics, gamma/beta, running stats and every sum are f32.
alias x_t = f32;
alias dz_t = f32;
alias aux_t = f32;
alias z_t = f32;
alias a_t = f32;
alias dx_t = f32;

@group(0) @binding(2) var<storage, read> x: array<x_t>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read> dz: array<dz_t>;
@group(0) @binding(6) var<storage, read> aux: array<aux_t>;                // prev pre-activation
@group(0) @binding(7) var<storage, read_write> mean: array<f32>;         // [C] written by stats
@group(0) @binding(8) var<storage, read_write> inv_std: array<f32>;      // [C] written by stats
@group(0) @binding(9) var<storage, read_write> running_mean: array<f32>; // [C]
@group(0) @binding(10) var<storage, read_write> running_var: array<f32>; // [C]
@group(0) @binding(11) var<storage, read_write> z_out: array<z_t>;
@group(0) @binding(12) var<storage, read_write> a_out: array<a_t>;
@group(0) @binding(13) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(14) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(15) var<storage, read_write> coef: array<vec4<f32>>;  // [C]
@group(0) @binding(16) var<storage, read_write> dx: array<dx_t>;
@group(0) @binding(17) var<storage, read_write> partial: array<vec2<f32>>; // [P * C]

override WG: u32 = 256u;
override ER: u32 = 8u; // rows per invocation of the elementwise kernels

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn active_rows() -> u32 {
  return min(step_params.active_samples * params.S, params.rows);
}

// Rows [r0, r1) of partition p among the active rows (empty past the last active row).
fn part_range(p: u32, n: u32) -> vec2<u32> {
  let r0 = min(p * params.part_rows, n);
  return vec2<u32>(r0, min(r0 + params.part_rows, n));
}

@compute @workgroup_size(WG)
fn batchnorm_stats_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  let C = params.C;
  if (t >= params.parts * C) {
    return;
  }
  let p = t / C;
  let c = t - p * C;
  let range = part_range(p, active_rows());
  if (range.x >= range.y) {
    partial[t] = vec2<f32>(0.0, 0.0);
    return;
  }
  let shift = f32(x[range.x * C + c]);
  var s = 0.0;
  for (var r = range.x; r < range.y; r++) {
    s += f32(x[r * C + c]) - shift;
  }
  let np = f32(range.y - range.x);
  let mean_d = s / np;
  var q = 0.0;
  for (var r = range.x; r < range.y; r++) {
    let e = (f32(x[r * C + c]) - shift) - mean_d;
    q += e * e;
  }
  partial[t] = vec2<f32>(shift + mean_d, q);
}

@compute @workgroup_size(WG)
fn batchnorm_stats_final(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = flat(gid, nwg);
  let C = params.C;
  if (c >= C) {
    return;
  }
  let n = active_rows();
  let used = (n + params.part_rows - 1u) / params.part_rows;
  let m0 = partial[c].x;
  var s = 0.0;
  for (var p = 0u; p < used; p++) {
    let range = part_range(p, n);
    s += f32(range.y - range.x) * (partial[p * C + c].x - m0);
  }
  let m = m0 + s / f32(n);
  var m2 = 0.0;
  for (var p = 0u; p < used; p++) {
    let range = part_range(p, n);
    let pm = partial[p * C + c];
    let d = pm.x - m;
    m2 += pm.y + f32(range.y - range.x) * d * d;
  }
  let v = m2 / f32(n);
  mean[c] = m;
  inv_std[c] = 1.0 / sqrt(v + params.eps);
  let unbiased = select(v, v * f32(n) / f32(n - 1u), n > 1u);
  let mo = params.momentum;
  running_mean[c] = (1.0 - mo) * running_mean[c] + mo * m;
  running_var[c] = (1.0 - mo) * running_var[c] + mo * unbiased;
}

// The elementwise kernels' (row block, channel) pair: rows [r0, r1) of channel c, or r0 = r1 when
// the invocation is past the end.
struct Block {
  c: u32,
  r0: u32,
  r1: u32,
}

fn block(t: u32) -> Block {
  let C = params.C;
  let q = t / C;
  let r0 = min(q * ER, params.rows);
  return Block(t - q * C, r0, min(r0 + ER, params.rows));
}

@compute @workgroup_size(WG)
fn batchnorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = block(flat(gid, nwg));
  let m = mean[b.c];
  let k = gamma[b.c] * inv_std[b.c];
  let be = beta[b.c];
  for (var r = b.r0; r < b.r1; r++) {
    let i = r * params.C + b.c;
    let z = (f32(x[i]) - m) * k + be;
    z_out[i] = z_t(z);
    a_out[i] = a_t(act_forward(z));
  }
}

@compute @workgroup_size(WG)
fn batchnorm_forward_z(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = block(flat(gid, nwg));
  let m = mean[b.c];
  let k = gamma[b.c] * inv_std[b.c];
  let be = beta[b.c];
  for (var r = b.r0; r < b.r1; r++) {
    let i = r * params.C + b.c;
    z_out[i] = z_t((f32(x[i]) - m) * k + be);
  }
}

@compute @workgroup_size(WG)
fn batchnorm_forward_eval(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let b = block(flat(gid, nwg));
  let m = running_mean[b.c];
  let k = gamma[b.c] / sqrt(running_var[b.c] + params.eps);
  let be = beta[b.c];
  for (var r = b.r0; r < b.r1; r++) {
    let i = r * params.C + b.c;
    let z = (f32(x[i]) - m) * k + be;
    z_out[i] = z_t(z);
    a_out[i] = a_t(act_forward(z));
  }
}

@compute @workgroup_size(WG)
fn batchnorm_forward_eval_z(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let b = block(flat(gid, nwg));
  let m = running_mean[b.c];
  let k = gamma[b.c] / sqrt(running_var[b.c] + params.eps);
  let be = beta[b.c];
  for (var r = b.r0; r < b.r1; r++) {
    let i = r * params.C + b.c;
    z_out[i] = z_t((f32(x[i]) - m) * k + be);
  }
}

@compute @workgroup_size(WG)
fn batchnorm_backward_partial(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let t = flat(gid, nwg);
  let C = params.C;
  if (t >= params.parts * C) {
    return;
  }
  let p = t / C;
  let c = t - p * C;
  let range = part_range(p, active_rows());
  let m = mean[c];
  let is = inv_std[c];
  var sd = 0.0;
  var sdx = 0.0;
  for (var r = range.x; r < range.y; r++) {
    let g = f32(dz[r * C + c]);
    sd += g;
    sdx += g * ((f32(x[r * C + c]) - m) * is);
  }
  partial[t] = vec2<f32>(sd, sdx);
}

@compute @workgroup_size(WG)
fn batchnorm_backward_final(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = flat(gid, nwg);
  let C = params.C;
  if (c >= C) {
    return;
  }
  let n = active_rows();
  let used = (n + params.part_rows - 1u) / params.part_rows;
  var sums = vec2<f32>(0.0, 0.0);
  for (var p = 0u; p < used; p++) {
    sums += partial[p * C + c];
  }
  dbeta[c] = sums.x;
  dgamma[c] = sums.y;
  let is = inv_std[c];
  let inv_n = 1.0 / f32(n);
  coef[c] = vec4<f32>(mean[c], gamma[c] * is, sums.x * inv_n, is * sums.y * inv_n);
}

@compute @workgroup_size(WG)
fn batchnorm_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = block(flat(gid, nwg));
  let n = active_rows();
  let k = coef[b.c];
  for (var r = b.r0; r < b.r1; r++) {
    let i = r * params.C + b.c;
    if (r >= n) {
      dx[i] = dx_t(0.0);
    } else {
      var d = k.y * (f32(dz[i]) - k.z - (f32(x[i]) - k.x) * k.w);
      if (ACT != 0u) {
        d *= act_grad(f32(aux[i]));
      }
      dx[i] = dx_t(d);
    }
  }
}
