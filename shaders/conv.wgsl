// 2-D convolution helpers for the im2col algorithm (src/kernels/conv.ts). The products themselves
// run in matmul.wgsl / matmul_sg.wgsl; the implicit-GEMM algorithm needs no kernel from here (its
// virtual operands are the CONV loads in matmul_common.wgsl).
//
// Layouts: x [B,H,W,C] NHWC; w [F,KH,KW,C]; dZ [B,OH,OW,F]. Output pixel (oh, ow) reads input
// row ih = oh*SH - padTop + kh and column iw = ow*SW - padLeft + kw; outside the map is zero.
// The GEMM letters: M = B*OH*OW output pixels, K = KH*KW*C with k = (kh*KW + kw)*C + c, so a
// run of C consecutive k is one contiguous run of x.
//
//   conv_im2col:  col[m, k] = x[b, ih, iw, c] (0 outside the map)          OVERWRITES col [M,K]
//     One invocation per (m, kh, kw, c-group): a c-group is 4 channels read as one vec4 when C is
//     a multiple of 4 (VEC), else one channel. Written in full, padding included. (No vec4 view
//     of col: two writable bindings of one buffer in a dispatch are invalid in WebGPU.)
//   conv_col2im:  dX[b, ih, iw, c] = sum over (kh, kw) of dCol[(b, oh, ow), (kh, kw, c)]
//                 for every kh, kw with oh = (ih + padTop - kh) / SH an integer in [0, OH)
//                 (and likewise ow), times act'(aux[b, ih, iw, c]) when EPILOGUE == 2.
//     A GATHER: one invocation per dX element sums its own contributions in (kh, kw) order, so the
//     result is deterministic and needs no atomics. OVERWRITES dX [B,H,W,C].

#include activation_fns

struct Geo {
  B: u32,
  H: u32,
  W: u32,
  C: u32,
  OH: u32,
  OW: u32,
  KH: u32,
  KW: u32,
  SH: u32,
  SW: u32,
  PT: u32, // padTop
  PL: u32, // padLeft
  count: u32, // invocations that do work
  row: u32, // invocations per row of the dispatch grid (grid-x workgroups * 64)
}

override VEC: bool = false;
override EPILOGUE: u32 = 0u;

// Storage types (f16 where the wrapper binds half-precision tensors; see src/gpu/shader-types.ts).
alias src_t = f32;
alias dst_t = f32;
alias aux_t = f32;

@group(0) @binding(0) var<uniform> geo: Geo;
@group(0) @binding(1) var<storage, read> src: array<src_t>; // x (im2col) or dCol (col2im)
@group(0) @binding(2) var<storage, read_write> dst: array<dst_t>; // col (im2col) or dX (col2im)
@group(0) @binding(3) var<storage, read> src4: array<vec4<src_t>>; // x as vec4 (im2col, VEC)
@group(0) @binding(4) var<storage, read> aux: array<aux_t>; // col2im EPILOGUE 2: previous layer's Z

@compute @workgroup_size(64)
fn conv_im2col(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * geo.row + gid.x;
  if (idx >= geo.count) {
    return;
  }
  let groups = select(geo.C, geo.C / 4u, VEC);
  let cg = idx % groups;
  let r = idx / groups;
  let kpix = r % (geo.KH * geo.KW);
  let m = r / (geo.KH * geo.KW);
  let kw = kpix % geo.KW;
  let kh = kpix / geo.KW;
  let ow = m % geo.OW;
  let t = m / geo.OW;
  let oh = t % geo.OH;
  let b = t / geo.OH;
  // Unsigned wrap-around makes a row above the map (negative) compare as >= H.
  let ih = oh * geo.SH + kh - geo.PT;
  let iw = ow * geo.SW + kw - geo.PL;
  let inside = ih < geo.H && iw < geo.W;
  let pix = (b * geo.H + ih) * geo.W + iw;
  if (VEC) {
    let o = ((m * geo.KH * geo.KW + kpix) * groups + cg) * 4u;
    var v = vec4<f32>(0.0);
    if (inside) {
      v = vec4<f32>(src4[pix * groups + cg]);
    }
    dst[o] = dst_t(v.x);
    dst[o + 1u] = dst_t(v.y);
    dst[o + 2u] = dst_t(v.z);
    dst[o + 3u] = dst_t(v.w);
  } else {
    let o = (m * geo.KH * geo.KW + kpix) * geo.C + cg;
    var v = 0.0;
    if (inside) {
      v = f32(src[pix * geo.C + cg]);
    }
    dst[o] = dst_t(v);
  }
}

// The first and last output index (as i32; last < first when none) whose window of k taps at
// stride st covers padded position n, among n_out outputs.
fn out_range(n: u32, k: u32, st: u32, n_out: u32) -> vec2<i32> {
  var lo = 0u;
  if (n + 1u > k) {
    lo = (n + 1u - k + st - 1u) / st;
  }
  let hi = min(i32(n / st), i32(n_out) - 1);
  return vec2<i32>(i32(lo), hi);
}

@compute @workgroup_size(64)
fn conv_col2im(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * geo.row + gid.x;
  if (idx >= geo.count) {
    return;
  }
  let c = idx % geo.C;
  let t = idx / geo.C;
  let iw = t % geo.W;
  let t2 = t / geo.W;
  let ih = t2 % geo.H;
  let b = t2 / geo.H;
  let K = geo.KH * geo.KW * geo.C;
  // The outputs whose window holds (ih, iw): kh = ih + PT - oh*SH in [0, KH), so oh runs from
  // ceil((ih + PT - KH + 1) / SH) to floor((ih + PT) / SH), clipped to [0, OH) (and likewise ow).
  // Four divisions per element instead of a division and a remainder per (kh, kw) term; walking
  // oh and ow downwards visits kh and kw upwards, the summation order the comment above gives.
  let hn = ih + geo.PT;
  let wn = iw + geo.PL;
  let rh = out_range(hn, geo.KH, geo.SH, geo.OH);
  let rw = out_range(wn, geo.KW, geo.SW, geo.OW);
  var s = 0.0;
  for (var oh = rh.y; oh >= rh.x; oh--) {
    let kh = hn - u32(oh) * geo.SH;
    let row = (b * geo.OH + u32(oh)) * geo.OW;
    for (var ow = rw.y; ow >= rw.x; ow--) {
      let kw = wn - u32(ow) * geo.SW;
      s += f32(src[(row + u32(ow)) * K + (kh * geo.KW + kw) * geo.C + c]);
    }
  }
  if (EPILOGUE == 2u) {
    s *= act_grad(f32(aux[idx]));
  }
  dst[idx] = dst_t(s);
}
