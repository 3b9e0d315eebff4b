// Layer normalisation over x [rows, C] (rows = B*S: S positions per sample, 1 after a dense layer;
// C = the last axis), statistics per ROW over its C values (nn.LayerNorm(C), channels last):
//
//   forward   m_r = mean_c x,  v_r = mean_c (x - m_r)^2 (biased),  s_r = 1 / sqrt(v_r + eps)
//             xhat = (x - m_r) s_r,  z = gamma xhat + beta,  a = act(z)
//             mean[r] = m_r and inv_std[r] = s_r are saved for the backward pass; two passes
//             over the row with a correction term (stats_of), so a row at 1e3 + noise keeps
//             its digits.
//   backward  g = dz gamma;  dx = s_r (g - mean_c g - xhat mean_c(g xhat)) * act'(aux)
//   params    partial[p, c] = (sum dz, sum dz xhat) over the rows of partition p, then
//             dbeta[c] = sum_p partial.x, dgamma[c] = sum_p partial.y in partition order
//             (deterministic; the rows split as in batchnorm.wgsl's reductions)
// Rows are independent, so the padding rows of a last partial batch need no mask: the loss writes
// dz = 0 there, which gives them dx = 0 exactly and adds nothing to dgamma or dbeta (as a dense
// layer's bias gradient sums every row).
//
// Three layouts for the row passes, picked by the wrapper from C and the adapter
// (src/kernels/layernorm.ts):
//   *_row     one invocation per row, walking its C values three times (they are in cache after
//             the first): no barriers, and many rows keep every lane busy. Small C, or any C on
//             a CPU driver.
//   *_row4    the same on vec4s for C % 4 == 0 (the *4 bindings); params_partial4 likewise takes
//             four columns per invocation.
//   *_group   one workgroup of GW invocations per row, each taking columns lid, lid + GW, ...,
//             combined by a tree in workgroup memory: a long row is split over many lanes even
//             when there are few rows. Large C on a GPU.
// *_z forward variants write z only, for a = z (identity): a must not alias z (WebGPU rejects two
// writable bindings of one range), so those entry points do not declare it. Every kernel
// OVERWRITES its outputs. act in the forward is this layer's activation; act' in the backward is
// the PREVIOUS layer's (both through the ACT/ALPHA overrides). At most 7 storage bindings per
// entry point (every WebGPU device offers 8).

#include activation_fns

struct Params {
  rows: u32, // B * S
  C: u32,
  eps: f32,
  parts: u32, // P: row partitions of the parameter-gradient reduction
  part_rows: u32, // rows per partition
}

@group(0) @binding(0) var<uniform> params: Params;
// binding 1 unused (batchnorm.wgsl's step params: layernorm needs no per-step uniform)
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read> dz: array<f32>;
@group(0) @binding(6) var<storage, read> aux: array<f32>;                 // prev pre-activation
@group(0) @binding(7) var<storage, read_write> mean: array<f32>;          // [rows]
@group(0) @binding(8) var<storage, read_write> inv_std: array<f32>;       // [rows]
@group(0) @binding(9) var<storage, read_write> z_out: array<f32>;
@group(0) @binding(10) var<storage, read_write> a_out: array<f32>;
@group(0) @binding(11) var<storage, read_write> dx: array<f32>;
@group(0) @binding(12) var<storage, read_write> partial: array<vec2<f32>>; // [P * C]
@group(0) @binding(13) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(14) var<storage, read_write> dbeta: array<f32>;
// The same tensors as vec4 for C % 4 == 0 (the *4 entry points): on a CPU driver every load is
// a per-lane gather, and a vec4 one moves four values for one.
@group(0) @binding(15) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read> gamma4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> beta4: array<vec4<f32>>;
@group(0) @binding(18) var<storage, read> dz4: array<vec4<f32>>;
@group(0) @binding(19) var<storage, read> aux4: array<vec4<f32>>;
@group(0) @binding(20) var<storage, read_write> z4_out: array<vec4<f32>>;
@group(0) @binding(21) var<storage, read_write> a4_out: array<vec4<f32>>;
@group(0) @binding(22) var<storage, read_write> dx4: array<vec4<f32>>;

override WG: u32 = 64u; // invocations per workgroup of the *_row and reduction kernels
override GW: u32 = 64u; // invocations per row of the *_group kernels: a power of two <= 256

var<workgroup> red: array<vec2<f32>, 256>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// ---- forward ----

struct Stats {
  m: f32,
  s: f32,
}

// The corrected two-pass statistics from a first-pass mean m1 = sum x / C: with e = x - m1,
// m = m1 + sum e / C and v = (sum e^2 - (sum e)^2 / C) / C. The correction recovers the digits
// the first sum loses on a row far from 0 (1e3 + noise); the second pass is what keeps the
// variance exact, where E[x^2] - E[x]^2 would cancel.
fn stats_of(m1: f32, e: vec2<f32>) -> Stats {
  let C = f32(params.C);
  let v = max(e.y - e.x * e.x / C, 0.0) / C;
  return Stats(m1 + e.x / C, 1.0 / sqrt(v + params.eps));
}

fn row_stats(o: u32) -> Stats {
  let C = params.C;
  var t = 0.0;
  for (var c = 0u; c < C; c++) {
    t += x[o + c];
  }
  let m1 = t / f32(C);
  var e = vec2<f32>(0.0, 0.0);
  for (var c = 0u; c < C; c++) {
    let d = x[o + c] - m1;
    e += vec2<f32>(d, d * d);
  }
  return stats_of(m1, e);
}

@compute @workgroup_size(WG)
fn layernorm_forward_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= params.rows) {
    return;
  }
  let o = r * params.C;
  let st = row_stats(o);
  mean[r] = st.m;
  inv_std[r] = st.s;
  for (var c = 0u; c < params.C; c++) {
    let z = gamma[c] * ((x[o + c] - st.m) * st.s) + beta[c];
    z_out[o + c] = z;
    a_out[o + c] = act_forward(z);
  }
}

@compute @workgroup_size(WG)
fn layernorm_forward_row_z(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= params.rows) {
    return;
  }
  let o = r * params.C;
  let st = row_stats(o);
  mean[r] = st.m;
  inv_std[r] = st.s;
  for (var c = 0u; c < params.C; c++) {
    z_out[o + c] = gamma[c] * ((x[o + c] - st.m) * st.s) + beta[c];
  }
}

fn row_stats4(o4: u32) -> Stats {
  let C4 = params.C / 4u;
  var t = vec4<f32>(0.0);
  for (var j = 0u; j < C4; j++) {
    t += x4[o4 + j];
  }
  let m1 = dot(t, vec4<f32>(1.0)) / f32(params.C);
  var e = vec4<f32>(0.0);
  var q = vec4<f32>(0.0);
  for (var j = 0u; j < C4; j++) {
    let d = x4[o4 + j] - m1;
    e += d;
    q += d * d;
  }
  return stats_of(m1, vec2<f32>(dot(e, vec4<f32>(1.0)), dot(q, vec4<f32>(1.0))));
}

fn act_forward4(z: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(act_forward(z.x), act_forward(z.y), act_forward(z.z), act_forward(z.w));
}

@compute @workgroup_size(WG)
fn layernorm_forward_row4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= params.rows) {
    return;
  }
  let o4 = r * (params.C / 4u);
  let st = row_stats4(o4);
  mean[r] = st.m;
  inv_std[r] = st.s;
  for (var j = 0u; j < params.C / 4u; j++) {
    let z = gamma4[j] * ((x4[o4 + j] - st.m) * st.s) + beta4[j];
    z4_out[o4 + j] = z;
    a4_out[o4 + j] = act_forward4(z);
  }
}

@compute @workgroup_size(WG)
fn layernorm_forward_row4_z(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= params.rows) {
    return;
  }
  let o4 = r * (params.C / 4u);
  let st = row_stats4(o4);
  mean[r] = st.m;
  inv_std[r] = st.s;
  for (var j = 0u; j < params.C / 4u; j++) {
    z4_out[o4 + j] = gamma4[j] * ((x4[o4 + j] - st.m) * st.s) + beta4[j];
  }
}

// Sum over the workgroup of every lane's v; every lane gets the total.
fn tree_sum(lid: u32, v: vec2<f32>) -> vec2<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var h = GW / 2u; h > 0u; h = h / 2u) {
    if (lid < h) {
      red[lid] += red[lid + h];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier(); // red is reused by the next tree
  return total;
}

fn group_stats(o: u32, lid: u32) -> Stats {
  let C = params.C;
  var t = 0.0;
  for (var c = lid; c < C; c += GW) {
    t += x[o + c];
  }
  let m1 = tree_sum(lid, vec2<f32>(t, 0.0)).x / f32(C);
  var e = vec2<f32>(0.0, 0.0);
  for (var c = lid; c < C; c += GW) {
    let d = x[o + c] - m1;
    e += vec2<f32>(d, d * d);
  }
  return stats_of(m1, tree_sum(lid, e));
}

@compute @workgroup_size(GW)
fn layernorm_forward_group(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= params.rows) {
    return;
  }
  let o = r * params.C;
  let st = group_stats(o, lid);
  if (lid == 0u) {
    mean[r] = st.m;
    inv_std[r] = st.s;
  }
  for (var c = lid; c < params.C; c += GW) {
    let z = gamma[c] * ((x[o + c] - st.m) * st.s) + beta[c];
    z_out[o + c] = z;
    a_out[o + c] = act_forward(z);
  }
}

@compute @workgroup_size(GW)
fn layernorm_forward_group_z(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= params.rows) {
    return;
  }
  let o = r * params.C;
  let st = group_stats(o, lid);
  if (lid == 0u) {
    mean[r] = st.m;
    inv_std[r] = st.s;
  }
  for (var c = lid; c < params.C; c += GW) {
    z_out[o + c] = gamma[c] * ((x[o + c] - st.m) * st.s) + beta[c];
  }
}

// ---- backward: dx ----

fn dx_at(i: u32, g: f32, xh: f32, k: vec2<f32>, s: f32) -> f32 {
  var d = s * (g - k.x - xh * k.y);
  if (ACT != 0u) {
    d *= act_grad(aux[i]);
  }
  return d;
}

@compute @workgroup_size(WG)
fn layernorm_backward_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= params.rows) {
    return;
  }
  let C = params.C;
  let o = r * C;
  let m = mean[r];
  let s = inv_std[r];
  var k = vec2<f32>(0.0, 0.0);
  for (var c = 0u; c < C; c++) {
    let g = dz[o + c] * gamma[c];
    k += vec2<f32>(g, g * ((x[o + c] - m) * s));
  }
  k /= f32(C);
  for (var c = 0u; c < C; c++) {
    dx[o + c] = dx_at(o + c, dz[o + c] * gamma[c], (x[o + c] - m) * s, k, s);
  }
}

@compute @workgroup_size(GW)
fn layernorm_backward_group(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= params.rows) {
    return;
  }
  let C = params.C;
  let o = r * C;
  let m = mean[r];
  let s = inv_std[r];
  var k = vec2<f32>(0.0, 0.0);
  for (var c = lid; c < C; c += GW) {
    let g = dz[o + c] * gamma[c];
    k += vec2<f32>(g, g * ((x[o + c] - m) * s));
  }
  k = tree_sum(lid, k) / f32(C);
  for (var c = lid; c < C; c += GW) {
    dx[o + c] = dx_at(o + c, dz[o + c] * gamma[c], (x[o + c] - m) * s, k, s);
  }
}

@compute @workgroup_size(WG)
fn layernorm_backward_row4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= params.rows) {
    return;
  }
  let C4 = params.C / 4u;
  let o4 = r * C4;
  let m = mean[r];
  let s = inv_std[r];
  var kg = vec4<f32>(0.0);
  var kx = vec4<f32>(0.0);
  for (var j = 0u; j < C4; j++) {
    let g = dz4[o4 + j] * gamma4[j];
    kg += g;
    kx += g * ((x4[o4 + j] - m) * s);
  }
  let k = vec2<f32>(dot(kg, vec4<f32>(1.0)), dot(kx, vec4<f32>(1.0))) / f32(params.C);
  for (var j = 0u; j < C4; j++) {
    var d = s * (dz4[o4 + j] * gamma4[j] - k.x - (x4[o4 + j] - m) * s * k.y);
    if (ACT != 0u) {
      let a = aux4[o4 + j];
      d *= vec4<f32>(act_grad(a.x), act_grad(a.y), act_grad(a.z), act_grad(a.w));
    }
    dx4[o4 + j] = d;
  }
}

// ---- backward: dgamma, dbeta ----

@compute @workgroup_size(WG)
fn layernorm_params_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  let C = params.C;
  if (t >= params.parts * C) {
    return;
  }
  let p = t / C;
  let c = t - p * C;
  let r0 = min(p * params.part_rows, params.rows);
  let r1 = min(r0 + params.part_rows, params.rows);
  var acc = vec2<f32>(0.0, 0.0);
  for (var r = r0; r < r1; r++) {
    let g = dz[r * C + c];
    acc += vec2<f32>(g, g * ((x[r * C + c] - mean[r]) * inv_std[r]));
  }
  partial[t] = acc;
}

@compute @workgroup_size(WG)
fn layernorm_params_partial4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  let C4 = params.C / 4u;
  if (t >= params.parts * C4) {
    return;
  }
  let p = t / C4;
  let j = t - p * C4;
  let r0 = min(p * params.part_rows, params.rows);
  let r1 = min(r0 + params.part_rows, params.rows);
  var sg = vec4<f32>(0.0);
  var sx = vec4<f32>(0.0);
  for (var r = r0; r < r1; r++) {
    let g = dz4[r * C4 + j];
    sg += g;
    sx += g * ((x4[r * C4 + j] - mean[r]) * inv_std[r]);
  }
  let o = p * params.C + 4u * j;
  partial[o] = vec2<f32>(sg.x, sx.x);
  partial[o + 1u] = vec2<f32>(sg.y, sx.y);
  partial[o + 2u] = vec2<f32>(sg.z, sx.z);
  partial[o + 3u] = vec2<f32>(sg.w, sx.w);
}

@compute @workgroup_size(WG)
fn layernorm_params_final(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = flat(gid, nwg);
  let C = params.C;
  if (c >= C) {
    return;
  }
  var acc = vec2<f32>(0.0, 0.0);
  for (var p = 0u; p < params.parts; p++) {
    acc += partial[p * C + c];
  }
  dbeta[c] = acc.x;
  dgamma[c] = acc.y;
}
