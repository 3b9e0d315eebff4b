// Standalone activation kernels (the matmul epilogues fuse the common cases; these serve the
// paths that cannot fuse: an MSE loss behind a non-identity output, softmax, and tests).
//   activation_forward:  A[i]  = act(Z[i])                 over `count` elements
//   activation_backward: dZ[i] = dA[i] * act'(Z[i])         (overwrites dZ)
//   softmax_forward:     A[r,:] = exp(Z[r,:] - max) / sum   one invocation per row, stable
//   softmax_backward:    dZ[r,:] = S (dA - sum(dA * S))     with S the softmax output
// Shapes: Z, A, dA, dZ are [rows, cols] row-major; `count` = rows * cols.

#include activation_fns

struct Params {
  rows: u32,
  cols: u32,
  count: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;   // Z
@group(0) @binding(2) var<storage, read> src2: array<f32>;  // dA (backward) 
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256u;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn activation_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i < params.count) {
    dst[i] = act_forward(src[i]);
  }
}

@compute @workgroup_size(WG)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i < params.count) {
    dst[i] = src2[i] * act_grad(src[i]);
  }
}

@compute @workgroup_size(WG)
fn softmax_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= params.rows) {
    return;
  }
  let base = r * params.cols;
  var mx = src[base];
  for (var j = 1u; j < params.cols; j++) {
    mx = max(mx, src[base + j]);
  }
  var sum = 0.0;
  for (var j = 0u; j < params.cols; j++) {
    let e = exp(src[base + j] - mx);
    dst[base + j] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var j = 0u; j < params.cols; j++) {
    dst[base + j] *= inv;
  }
}

// src = S (softmax output), src2 = dA
@compute @workgroup_size(WG)
fn softmax_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= params.rows) {
    return;
  }
  let base = r * params.cols;
  var dot = 0.0;
  for (var j = 0u; j < params.cols; j++) {
    dot += src[base + j] * src2[base + j];
  }
  for (var j = 0u; j < params.cols; j++) {
    dst[base + j] = src[base + j] * (src2[base + j] - dot);
  }
}
