enable subgroups;

// Subgroup-broadcast matmul: the same product, forms, epilogues and split-K as matmul.wgsl (read
// its header for the letters), for drivers whose subgroups are 8 lanes wide and run as SIMD
// lanes of one CPU thread (lavapipe on AVX2). Only compiled when the device has `subgroups`.
//
// Why: on lavapipe every storage-buffer load is a per-lane gather, and loads, not FMAs, bound
// the register-tiled kernels. Here a subgroup of 8 lanes owns an 8 x 32 block of C: lane l owns
// columns n0 + 4l .. n0 + 4l + 3 of all 8 rows. Per step of 4 k, each lane loads ONE vec4 of
// the 8 x 4 L tile (32 values between the 8 lanes) and its own 4 x 4 block of R, then gets
// every row of the L tile by subgroupBroadcast, which is a register shuffle. That is 5 vec4
// loads for 128 FMAs per lane, against 8 loads for 64 in matmul_reg.
//   FORM 0/2 (L is [M, K], k contiguous): lane l holds L[m0 + l, k .. k+3]; row i is lane i.
//   FORM 1   (L is [K, M], m contiguous): lane l holds L[k + l/2, m0 + 4(l%2) .. +3]; lane j
//            gives rows 4(j%2) .. 4(j%2)+3 at k + j/2.
// Workgroups are 8 x WG_Y invocations: WG_Y subgroups, each on its own 8 rows. Every lane runs
// the whole loop (subgroup operations need uniform control flow): lanes and rows past the edge
// read clamped, valid memory and only skip the store. The K tail runs one masked step.

#include matmul_common

// This lane's share of the 8 x 4 L tile at k; k + t >= kend reads as 0.
fn sg_l(m0: u32, lane: u32, k: u32, kend: u32) -> vec4<f32> {
  if (FORM == 1u) {
    let kk = k + lane / 2u;
    let mb = m0 + 4u * (lane % 2u);
    if (VEC_L && kk < kend) {
      return lhs4[(kk * dims.M + min(mb, dims.M - 4u)) / 4u];
    }
    let kc = min(kk, dims.K - 1u);
    let ml = dims.M - 1u;
    let v = vec4<f32>(load_l(min(mb, ml), kc), load_l(min(mb + 1u, ml), kc), load_l(min(mb + 2u, ml), kc), load_l(min(mb + 3u, ml), kc));
    return select(vec4<f32>(0.0), v, kk < kend);
  }
  let m = min(m0 + lane, dims.M - 1u);
  if (CONV && VEC_L && k + 4u <= kend) {
    return conv_l4(m, k);
  }
  if (VEC_L && k + 4u <= kend) {
    return lhs4[(m * dims.K + k) / 4u];
  }
  let kl = dims.K - 1u;
  let v = vec4<f32>(load_l(m, min(k, kl)), load_l(m, min(k + 1u, kl)), load_l(m, min(k + 2u, kl)), load_l(m, min(k + 3u, kl)));
  return select(vec4<f32>(0.0), v, k + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(kend));
}

// R[k + t, n0 .. n0+3] as row t; rows with k + t >= kend read as 0.
fn sg_r(k: u32, n0: u32, kend: u32) -> mat4x4<f32> {
  if (k + 4u <= kend) {
    return r_block(k, n0);
  }
  let kl = dims.K - 1u;
  let nl = dims.N - 1u;
  var r: mat4x4<f32>;
  for (var t = 0u; t < 4u; t++) {
    let kt = min(k + t, kl);
    let row = vec4<f32>(load_r(kt, min(n0, nl)), load_r(kt, min(n0 + 1u, nl)), load_r(kt, min(n0 + 2u, nl)), load_r(kt, min(n0 + 3u, nl)));
    r[t] = select(vec4<f32>(0.0), row, k + t < kend);
  }
  return r;
}

// acc[i] += L[m0+i, k..k+3] . R[k..k+3, lane's columns], with the L tile spread over the lanes.
// subgroupBroadcast wants a constant lane, hence the unrolled lines.
fn sg_step(acc: ptr<function, array<vec4<f32>, 8>>, a: vec4<f32>, b: mat4x4<f32>) {
  if (FORM == 1u) {
    sg_cols(acc, 0u, subgroupBroadcast(a, 0u), b[0]);
    sg_cols(acc, 4u, subgroupBroadcast(a, 1u), b[0]);
    sg_cols(acc, 0u, subgroupBroadcast(a, 2u), b[1]);
    sg_cols(acc, 4u, subgroupBroadcast(a, 3u), b[1]);
    sg_cols(acc, 0u, subgroupBroadcast(a, 4u), b[2]);
    sg_cols(acc, 4u, subgroupBroadcast(a, 5u), b[2]);
    sg_cols(acc, 0u, subgroupBroadcast(a, 6u), b[3]);
    sg_cols(acc, 4u, subgroupBroadcast(a, 7u), b[3]);
    return;
  }
  (*acc)[0] += b * subgroupBroadcast(a, 0u);
  (*acc)[1] += b * subgroupBroadcast(a, 1u);
  (*acc)[2] += b * subgroupBroadcast(a, 2u);
  (*acc)[3] += b * subgroupBroadcast(a, 3u);
  (*acc)[4] += b * subgroupBroadcast(a, 4u);
  (*acc)[5] += b * subgroupBroadcast(a, 5u);
  (*acc)[6] += b * subgroupBroadcast(a, 6u);
  (*acc)[7] += b * subgroupBroadcast(a, 7u);
}

// FORM 1: x holds rows r0 .. r0+3 at one k; add x[c] * (that R row) to each.
fn sg_cols(acc: ptr<function, array<vec4<f32>, 8>>, r0: u32, x: vec4<f32>, b: vec4<f32>) {
  (*acc)[r0] += x.x * b;
  (*acc)[r0 + 1u] += x.y * b;
  (*acc)[r0 + 2u] += x.z * b;
  (*acc)[r0 + 3u] += x.w * b;
}

@compute @workgroup_size(8, WG_Y)
fn matmul_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let lane = lid.x;
  let m0 = (wid.y * WG_Y + lid.y) * 8u;
  let n0 = (wid.x * 8u + lane) * 4u;
  // Loads use a clamped column block (whole vec4s when R's rows are read as vec4 along n).
  let nb = select(min(n0, dims.N - 1u), min(n0, dims.N - 4u), VEC_R && FORM != 0u);
  let kr = k_range(wid.z);
  var acc: array<vec4<f32>, 8>;
  var k = kr.x;
  for (; k + 4u <= kr.y; k += 4u) {
    sg_step(&acc, sg_l(m0, lane, k, kr.y), r_block(k, nb));
  }
  if (k < kr.y) {
    sg_step(&acc, sg_l(m0, lane, k, kr.y), sg_r(k, nb, kr.y));
  }
  store_blocks(acc, 0u, m0, n0, wid.z);
  store_blocks(acc, 1u, m0 + 4u, n0, wid.z);
}
