// Direct 2-D convolution forward for layers with few channels or few filters (src/kernels/conv.ts,
// algorithm 'direct'; the tuner picks it where it measures faster than the GEMMs).
//
// Layouts as in conv.wgsl: x [B,H,W,C] NHWC, w [F,KH,KW,C], Z and A [B,OH,OW,F]; M = B*OH*OW
// output pixels, K = KH*KW*C with k = (kh*KW + kw)*C + c.
//   conv_direct:  Z[m, f] = sum over k of x[b, ih, iw, c] w[f, k] + bias[f]  (0 outside the map)
//                 A[m, f] = act(Z[m, f])            (only when WRITE_A; else A is Z itself)
// One invocation per (group of PX = 4 consecutive output pixels, group of FPI = 4 or 8 filters),
// filter group fastest. Why: a first layer (C = 1 or 3) or a layer of 6-16 filters fills few of the 32 columns
// a GEMM tile covers and its reduction is 9-150 long, so the tiled kernels mostly wait on index
// arithmetic and partial tiles. Here each step of the reduction loads 4 pixels' inputs and 4
// filters' weights (the same addresses across the workgroup, so they stay in cache) and does 16
// multiply-adds; the pixels' coordinates are divided out once per invocation, and the row and
// column bounds once per (kh, kw). The sum runs in k order in f32, as the GEMMs' do; each store
// rounds once to the output's storage type. OVERWRITES Z (and A).

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
  F: u32,
  M: u32, // B*OH*OW
  count: u32, // invocations that do work: ceil(M / 4) * ceil(F / FPI)
  row: u32, // invocations per row of the dispatch grid (grid-x workgroups * 64)
}

override WRITE_A: bool = true;
// Filters per invocation: 4, or 8 for layers of 5-8 filters (LeNet's 6), where two 4-filter
// invocations would each load the same 4 pixels' inputs again.
override FPI: u32 = 4u;

// Storage types (f16 where the wrapper binds half-precision tensors; see src/gpu/shader-types.ts).
alias x_t = f32;
alias w_t = f32;
alias z_t = f32;
alias a_t = f32;

@group(0) @binding(0) var<uniform> geo: Geo;
@group(0) @binding(1) var<storage, read> x: array<x_t>;
@group(0) @binding(2) var<storage, read> w: array<w_t>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> z_out: array<z_t>;
@group(0) @binding(5) var<storage, read_write> a_out: array<a_t>; // unused (placeholder) unless WRITE_A

const PX: u32 = 4u;

@compute @workgroup_size(64)
fn conv_direct(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * geo.row + gid.x;
  if (idx >= geo.count) {
    return;
  }
  let FG = (geo.F + FPI - 1u) / FPI;
  let f0 = (idx % FG) * FPI;
  let m0 = (idx / FG) * PX;
  let K = geo.KH * geo.KW * geo.C;
  // The filters' weight rows (4, and 4 more with FPI 8); a filter past F reads the last one (its
  // sums are never stored).
  let fl = vec4<u32>(geo.F - 1u);
  let wrow = min(vec4<u32>(f0) + vec4<u32>(0u, 1u, 2u, 3u), fl) * K;
  let wrow2 = min(vec4<u32>(f0) + vec4<u32>(4u, 5u, 6u, 7u), fl) * K;
  // Each pixel's image base and top-left input corner (may be negative: padding). A pixel past M
  // computes pixel M-1's sums and is not stored.
  var img: array<u32, PX>;
  var ih0: array<i32, PX>;
  var iw0: array<i32, PX>;
  for (var j = 0u; j < PX; j++) {
    let m = min(m0 + j, geo.M - 1u);
    let ow = m % geo.OW;
    let t = m / geo.OW;
    let oh = t % geo.OH;
    img[j] = (t / geo.OH) * geo.H;
    ih0[j] = i32(oh * geo.SH) - i32(geo.PT);
    iw0[j] = i32(ow * geo.SW) - i32(geo.PL);
  }
  var acc: array<vec4<f32>, PX>;
  var acc2: array<vec4<f32>, PX>; // filters f0 + 4 .. f0 + 7 (FPI 8)
  for (var j = 0u; j < PX; j++) {
    acc[j] = vec4<f32>(0.0);
    acc2[j] = vec4<f32>(0.0);
  }
  var k = 0u;
  for (var kh = 0u; kh < geo.KH; kh++) {
    for (var kw = 0u; kw < geo.KW; kw++) {
      // Per pixel: where its C inputs of this (kh, kw) start, and whether they are inside the map.
      var at: array<u32, PX>;
      var inside: array<bool, PX>;
      for (var j = 0u; j < PX; j++) {
        let ih = ih0[j] + i32(kh);
        let iw = iw0[j] + i32(kw);
        inside[j] = ih >= 0 && ih < i32(geo.H) && iw >= 0 && iw < i32(geo.W);
        at[j] = select(0u, ((img[j] + u32(ih)) * geo.W + u32(iw)) * geo.C, inside[j]);
      }
      for (var c = 0u; c < geo.C; c++) {
        let wk = wrow + vec4<u32>(k);
        let wv = vec4<f32>(f32(w[wk.x]), f32(w[wk.y]), f32(w[wk.z]), f32(w[wk.w]));
        var wv2 = vec4<f32>(0.0);
        if (FPI == 8u) {
          let wk2 = wrow2 + vec4<u32>(k);
          wv2 = vec4<f32>(f32(w[wk2.x]), f32(w[wk2.y]), f32(w[wk2.z]), f32(w[wk2.w]));
        }
        for (var j = 0u; j < PX; j++) {
          let xv = select(0.0, f32(x[at[j] + c]), inside[j]);
          acc[j] = fma(vec4<f32>(xv), wv, acc[j]);
          if (FPI == 8u) {
            acc2[j] = fma(vec4<f32>(xv), wv2, acc2[j]);
          }
        }
        k++;
      }
    }
  }
  for (var j = 0u; j < PX; j++) {
    let m = m0 + j;
    if (m >= geo.M) {
      break;
    }
    for (var q = 0u; q < FPI; q++) {
      let f = f0 + q;
      if (f < geo.F) {
        let z = select(acc[j][q % 4u], acc2[j][q % 4u], q >= 4u) + bias[f];
        z_out[m * geo.F + f] = z_t(z);
        if (WRITE_A) {
          a_out[m * geo.F + f] = a_t(act_forward(z));
        }
      }
    }
  }
}
