// Mixed precision: the half-precision working copy of a weight tensor, dst[i] = f16(src[i])
// (src/kernels/amp.ts). The f32 master weights stay what the optimizer updates; every matmul of
// an f16 plan reads this copy, refreshed at the head of each forward pass so weights written
// from the CPU (setWeights, a loaded checkpoint) are never stale. dst_t becomes f16 through
// src/gpu/shader-types.ts; values beyond f16's range round to +-inf, which the loss scaler sees
// as an overflow.

struct Params {
  count: u32,
  row_stride: u32,
}

alias dst_t = f32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<dst_t>;

@compute @workgroup_size(256)
fn cast_weights(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.row_stride;
  if (i < params.count) {
    dst[i] = dst_t(src[i]);
  }
}
