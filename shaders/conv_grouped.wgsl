// Grouped and depthwise 2-D convolution as direct kernels (src/kernels/conv-grouped.ts), no GEMM.
//
// Layouts (NHWC): x [B,H,W,C], w [F,KH,KW,Cg], Z, A and dZ [B,OH,OW,F], dX and aux [B,H,W,C];
// G groups, Cg = C/G channels and Fg = F/G filters per group. Filter f belongs to group
// g = f / Fg and reads the channels g*Cg .. g*Cg + Cg - 1; M = B*OH*OW output pixels, and
// ih = oh*SH - PT + kh, iw = ow*SW - PL + kw (x is 0 outside the map).
//   conv_grouped_forward      Z[m, f] = sum over (kh, kw, c < Cg) of x[n, ih, iw, g*Cg + c] w[f, kh, kw, c]
//                             + bias[f];  A[m, f] = act(Z[m, f]) when WRITE_A (else A is Z itself)
//   conv_grouped_input_grad   dX[n, ih, iw, g*Cg + c] = act'(aux) * sum over (kh, kw) and the Fg
//                             filters f of group g, for the (oh, ow) whose window holds (ih, iw),
//                             of dZ[n, oh, ow, f] w[f, kh, kw, c]
//   conv_grouped_weight_grad  partial[p, j] = sum over the rows m of chunk p of dZ[m, f] x[n, ih, iw, ch]
//                             for j = ((f*KH + kh)*KW + kw)*Cg + c; the wrapper sums the chunks'
//                             columns (or, with one chunk, binds dW itself as `partial`)
// Why direct: a depthwise conv (Cg = 1) does KH*KW multiply-adds per output, so it is bound by
// memory, and a GEMM's tiles would run with a reduction of 9 and need col(x) materialised. Here one
// invocation computes PX = 4 consecutive output (or input) pixels of 4 consecutive filters (or
// channels), the filter group fastest across invocations, so neighbouring invocations read
// neighbouring channels of the same pixels (contiguous in NHWC); the pixels' coordinates and
// bounds are worked out once per tap for 16 multiply-adds, and each weight is loaded once for the
// 4 pixels. Overlapping windows re-read x through the cache, not from memory. A general grouped
// conv runs the same loops with Cg > 1 (the 4 filters may lie in different groups: each carries
// its own first channel); each output sums KH*KW*Cg terms in (kh, kw, c) order in f32, rounding
// once when it is stored in the output's storage type. Every output is OVERWRITTEN.

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
  Cg: u32, // channels per group
  Fg: u32, // filters per group
  count: u32, // invocations that do work
  row: u32, // invocations per row of the dispatch grid (grid-x workgroups * 64)
  chunk: u32, // weight grad: output pixels per partial sum
}

override WRITE_A: bool = true;

// Storage types (f16 where the wrapper binds half-precision tensors; see src/gpu/shader-types.ts).
alias x_t = f32;
alias w_t = f32;
alias z_t = f32;
alias a_t = f32;
alias dz_t = f32;
alias dx_t = f32;
alias aux_t = f32;

@group(0) @binding(0) var<uniform> geo: Geo;
@group(0) @binding(1) var<storage, read> x: array<x_t>; // forward, weight grad
@group(0) @binding(2) var<storage, read> w: array<w_t>; // forward, input grad
@group(0) @binding(3) var<storage, read> bias: array<f32>; // forward
@group(0) @binding(4) var<storage, read_write> z_out: array<z_t>; // forward
@group(0) @binding(5) var<storage, read_write> a_out: array<a_t>; // forward; placeholder unless WRITE_A
@group(0) @binding(6) var<storage, read> dz: array<dz_t>; // input grad, weight grad
@group(0) @binding(7) var<storage, read_write> dx: array<dx_t>; // input grad
@group(0) @binding(8) var<storage, read> aux: array<aux_t>; // input grad: previous layer's Z
@group(0) @binding(9) var<storage, read_write> partial: array<f32>; // weight grad

const PX: u32 = 4u;

fn flat_index(gid: vec3<u32>) -> u32 {
  return gid.y * geo.row + gid.x;
}

@compute @workgroup_size(64)
fn conv_grouped_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = flat_index(gid);
  if (idx >= geo.count) {
    return;
  }
  let FQ = (geo.F + 3u) / 4u;
  let f0 = (idx % FQ) * 4u;
  let m0 = (idx / FQ) * PX;
  let M = geo.B * geo.OH * geo.OW;
  // The 4 filters' weight rows and first input channels; a filter past F repeats the last one
  // (its sums are not stored).
  let fv = min(vec4<u32>(f0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(geo.F - 1u));
  let wrow = fv * (geo.KH * geo.KW * geo.Cg);
  let cb = (fv / geo.Fg) * geo.Cg;
  // Each pixel's image base and top-left input corner (negative inside the padding). A pixel past
  // M computes pixel M-1's sums and is not stored.
  var img: array<u32, PX>;
  var ih0: array<i32, PX>;
  var iw0: array<i32, PX>;
  var acc: array<vec4<f32>, PX>;
  for (var j = 0u; j < PX; j++) {
    let m = min(m0 + j, M - 1u);
    let t = m / geo.OW;
    img[j] = (t / geo.OH) * geo.H;
    ih0[j] = i32((t % geo.OH) * geo.SH) - i32(geo.PT);
    iw0[j] = i32((m % geo.OW) * geo.SW) - i32(geo.PL);
    acc[j] = vec4<f32>(0.0);
  }
  var k = 0u;
  for (var kh = 0u; kh < geo.KH; kh++) {
    for (var kw = 0u; kw < geo.KW; kw++) {
      var at: array<vec4<u32>, PX>;
      var inside: array<bool, PX>;
      for (var j = 0u; j < PX; j++) {
        let ih = ih0[j] + i32(kh);
        let iw = iw0[j] + i32(kw);
        inside[j] = ih >= 0 && ih < i32(geo.H) && iw >= 0 && iw < i32(geo.W);
        at[j] = vec4<u32>(select(0u, ((img[j] + u32(ih)) * geo.W + u32(iw)) * geo.C, inside[j])) + cb;
      }
      for (var c = 0u; c < geo.Cg; c++) {
        let wk = wrow + vec4<u32>(k);
        let wv = vec4<f32>(f32(w[wk.x]), f32(w[wk.y]), f32(w[wk.z]), f32(w[wk.w]));
        for (var j = 0u; j < PX; j++) {
          let a = at[j] + vec4<u32>(c);
          let xv = vec4<f32>(f32(x[a.x]), f32(x[a.y]), f32(x[a.z]), f32(x[a.w]));
          acc[j] = fma(select(vec4<f32>(0.0), xv, inside[j]), wv, acc[j]);
        }
        k++;
      }
    }
  }
  for (var j = 0u; j < PX; j++) {
    let m = m0 + j;
    if (m >= M) {
      break;
    }
    for (var q = 0u; q < 4u; q++) {
      let f = f0 + q;
      if (f < geo.F) {
        let z = acc[j][q] + bias[f];
        z_out[m * geo.F + f] = z_t(z);
        if (WRITE_A) {
          a_out[m * geo.F + f] = a_t(act_forward(z));
        }
      }
    }
  }
}

@compute @workgroup_size(64)
fn conv_grouped_input_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = flat_index(gid);
  if (idx >= geo.count) {
    return;
  }
  let CQ = (geo.C + 3u) / 4u;
  let ch0 = (idx % CQ) * 4u;
  let p0 = (idx / CQ) * PX;
  let P = geo.B * geo.H * geo.W;
  // The 4 channels (a channel past C repeats the last; not stored), their index within the
  // group and their group's first filter.
  let chv = min(vec4<u32>(ch0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(geo.C - 1u));
  let cv = chv % geo.Cg;
  let fb = (chv / geo.Cg) * geo.Fg;
  // Each input pixel's image and its position shifted by the padding (ih + PT, iw + PL).
  var img: array<u32, PX>;
  var ihp: array<i32, PX>;
  var iwp: array<i32, PX>;
  var acc: array<vec4<f32>, PX>;
  for (var j = 0u; j < PX; j++) {
    let p = min(p0 + j, P - 1u);
    let t = p / geo.W;
    img[j] = (t / geo.H) * geo.OH;
    ihp[j] = i32(t % geo.H) + i32(geo.PT);
    iwp[j] = i32(p % geo.W) + i32(geo.PL);
    acc[j] = vec4<f32>(0.0);
  }
  for (var kh = 0u; kh < geo.KH; kh++) {
    // The output row whose window puts tap kh on this input row, if any: oh*SH = ih + PT - kh.
    var orow: array<i32, PX>;
    for (var j = 0u; j < PX; j++) {
      let t = ihp[j] - i32(kh);
      let ok = t >= 0 && t % i32(geo.SH) == 0 && t / i32(geo.SH) < i32(geo.OH);
      orow[j] = select(-1, t / i32(geo.SH), ok);
    }
    for (var kw = 0u; kw < geo.KW; kw++) {
      var at: array<vec4<u32>, PX>;
      var inside: array<bool, PX>;
      for (var j = 0u; j < PX; j++) {
        let t = iwp[j] - i32(kw);
        let ow = t / i32(geo.SW);
        inside[j] = orow[j] >= 0 && t >= 0 && t % i32(geo.SW) == 0 && ow < i32(geo.OW);
        at[j] = vec4<u32>(select(0u, ((img[j] + u32(orow[j])) * geo.OW + u32(ow)) * geo.F, inside[j])) + fb;
      }
      let wk0 = (fb * geo.KH + kh) * geo.KW + kw;
      for (var q = 0u; q < geo.Fg; q++) {
        let wk = (wk0 + vec4<u32>(q * geo.KH * geo.KW)) * geo.Cg + cv;
        let wv = vec4<f32>(f32(w[wk.x]), f32(w[wk.y]), f32(w[wk.z]), f32(w[wk.w]));
        for (var j = 0u; j < PX; j++) {
          let a = at[j] + vec4<u32>(q);
          let dv = vec4<f32>(f32(dz[a.x]), f32(dz[a.y]), f32(dz[a.z]), f32(dz[a.w]));
          acc[j] = fma(select(vec4<f32>(0.0), dv, inside[j]), wv, acc[j]);
        }
      }
    }
  }
  for (var j = 0u; j < PX; j++) {
    let p = p0 + j;
    if (p >= P) {
      break;
    }
    for (var q = 0u; q < 4u; q++) {
      let ch = ch0 + q;
      if (ch < geo.C) {
        var s = acc[j][q];
        if (ACT != 0u) {
          s *= act_grad(f32(aux[p * geo.C + ch]));
        }
        dx[p * geo.C + ch] = dx_t(s);
      }
    }
  }
}

@compute @workgroup_size(64)
fn conv_grouped_weight_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = flat_index(gid);
  if (idx >= geo.count) {
    return;
  }
  let taps = geo.KH * geo.KW * geo.Cg;
  let f = idx % geo.F;
  let r = idx / geo.F;
  let tap = r % taps;
  let chunk = r / taps;
  let c = tap % geo.Cg;
  let kw = (tap / geo.Cg) % geo.KW;
  let kh = tap / (geo.Cg * geo.KW);
  let ch = (f / geo.Fg) * geo.Cg + c;
  let M = geo.B * geo.OH * geo.OW;
  let m0 = chunk * geo.chunk;
  let m1 = min(m0 + geo.chunk, M);
  // (n, oh, ow) of the chunk's first row, then stepped along with m (no division per row).
  var ow = m0 % geo.OW;
  var oh = (m0 / geo.OW) % geo.OH;
  var n = m0 / (geo.OW * geo.OH);
  var s = 0.0;
  for (var m = m0; m < m1; m++) {
    let ih = i32(oh * geo.SH + kh) - i32(geo.PT);
    let iw = i32(ow * geo.SW + kw) - i32(geo.PL);
    if (ih >= 0 && ih < i32(geo.H) && iw >= 0 && iw < i32(geo.W)) {
      let xv = f32(x[((n * geo.H + u32(ih)) * geo.W + u32(iw)) * geo.C + ch]);
      s = fma(f32(dz[m * geo.F + f]), xv, s);
    }
    ow++;
    if (ow == geo.OW) {
      ow = 0u;
      oh++;
      if (oh == geo.OH) {
        oh = 0u;
        n++;
      }
    }
  }
  partial[chunk * geo.F * taps + f * taps + tap] = s;
}
