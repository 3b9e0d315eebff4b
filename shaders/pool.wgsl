// 2-D pooling over NHWC maps, forward and backward side by side. The map is padded by PH rows
// top and bottom and PW columns left and right (PyTorch's padding, at most half the window):
// window (oh, ow) covers rows oh*SH-PH .. oh*SH-PH+KH-1 and columns ow*SW-PW .. ow*SW-PW+KW-1,
// and the loops visit only its cells inside the map (span below; never empty, as the padding is
// at most half the window). So padded cells never win a max (PyTorch's -inf) and add 0 to a mean.
//   maxpool_forward:  out[b,oh,ow,c] = max over the window of x[b,h,w,c]; argmax[b,oh,ow,c] = the
//                     winner's flat index into x (ties: the first in row-major window
//                     order wins, since only a strictly greater value replaces the best)
//   maxpool_backward: dX[i] = sum of dOut[b,oh,ow,c] over the windows containing element i
//                     whose argmax is i, times act'(aux[b,h,w,c])
//   avgpool_forward:  out = window sum / (KH*KW), padding included in the count (PyTorch's
//                     count_include_pad=True)       (global average pool: KH=H, KW=W)
//   avgpool_backward: dX[b,h,w,c] = sum of dOut over the windows containing (h, w) / (KH*KW),
//                     times act'(aux)
// Backward is a GATHER, one invocation per input element: it visits only the windows that can
// contain (h, w) (oh from ceil((h+PH-KH+1)/SH) to floor((h+PH)/SH)), so it needs no atomics and sums the
// overlaps of windows in a fixed order (deterministic). Elements no window covers get 0.
// maxpool_backward_tiles(4) give the same dX when the windows tile the map (KH == SH, KW == SW,
// the usual 2x2/2 pool): no element lies in two windows, so one invocation per dOut element can
// write its whole window (the winner gets dOut, the rest 0; the first window starts at or before
// the map's first row, and the last window row and column also zero the uncovered remainder of an
// odd-sized map). A quarter of the invocations and none of
// the window-range divisions of the gather, which on CPU drivers is most of a pool's cost.
// One invocation per output (forward) or input (backward) element on a 2-D grid of WG-wide
// workgroups; every kernel OVERWRITES its output. The *4 max-pool entry points do the same for 4
// channels at once when C is a multiple of 4 (vec4 views of the same tensors): the index
// arithmetic (integer divisions, scalarised on CPU drivers) is paid once per 4 elements. act' is the PREVIOUS layer's (ACT/ALPHA
// overrides); with ACT = 0 aux is bound to a placeholder and never read.

#include activation_fns

struct Dims {
  B: u32,
  H: u32,
  W: u32,
  C: u32,
  KH: u32,
  KW: u32,
  SH: u32,
  SW: u32,
  PH: u32, // padding rows on top and on the bottom
  PW: u32, // padding columns on the left and on the right
  OH: u32,
  OW: u32,
  count: u32, // invocations: B*OH*OW*C forward and for the tiles scatter, B*H*W*C backward (/4 in vec4)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
// Storage types: f16 where the wrapper binds half-precision tensors (src/gpu/shader-types.ts);
// arithmetic is f32, each store rounds once. Winner indices are u32 either way.
alias src_t = f32;
alias aux_t = f32;
alias dst_t = f32;

@group(0) @binding(1) var<storage, read> src: array<src_t>;              // x (forward), dOut (backward)
@group(0) @binding(2) var<storage, read> aux: array<aux_t>;              // backward: prev pre-activation [B,H,W,C]
@group(0) @binding(3) var<storage, read_write> dst: array<dst_t>;        // out (forward), dX (backward)
@group(0) @binding(4) var<storage, read_write> argmax_out: array<u32>; // maxpool_forward
@group(0) @binding(5) var<storage, read> argmax_in: array<u32>;        // maxpool_backward

// vec4 views (the *4 entry points; C a multiple of 4). An entry point's auto layout holds only the
// bindings it uses, so these never alias the scalar views in one dispatch.
@group(0) @binding(6) var<storage, read> src4: array<vec4<src_t>>;
@group(0) @binding(7) var<storage, read> aux4: array<vec4<aux_t>>;
@group(0) @binding(8) var<storage, read_write> dst4: array<vec4<dst_t>>;
@group(0) @binding(9) var<storage, read_write> argmax4_out: array<vec4<u32>>;
@group(0) @binding(10) var<storage, read> argmax4_in: array<vec4<u32>>;

override WG: u32 = 256u;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// (b, row, col, c) of element i of a [B, rows, cols, C] tensor.
fn unflatten(i: u32, rows: u32, cols: u32) -> vec4<u32> {
  return unflatten_c(i, rows, cols, dims.C);
}

// The same with C channels (or channel groups) per pixel.
fn unflatten_c(i: u32, rows: u32, cols: u32, C: u32) -> vec4<u32> {
  let c = i % C;
  let t = i / C;
  let col = t % cols;
  let t2 = t / cols;
  return vec4<u32>(t2 / rows, t2 % rows, col, c);
}

// The first and last window index along one axis whose window contains position p.
fn window_range(p: u32, k: u32, s: u32, n_out: u32) -> vec2<u32> {
  var lo = 0u;
  if (p + 1u > k) {
    lo = (p + 1u - k + s - 1u) / s;
  }
  let hi = min(p / s, n_out - 1u);
  return vec2<u32>(lo, hi);
}

// The map rows (or columns) [lo, hi) of window o along an axis of n cells, window k, stride s and
// padding p: the window starts at o*s - p; its padded cells (before 0, from n on) are cut off.
// Unsigned throughout: o*s and the bounds are shifted by p only after the clamps.
fn span(o: u32, s: u32, p: u32, k: u32, n: u32) -> vec2<u32> {
  let start = o * s;
  return vec2<u32>(max(start, p) - p, min(start + k, n + p) - p);
}

fn apply_prev_act(v: f32, i: u32) -> f32 {
  if (ACT == 0u) {
    return v;
  }
  return v * act_grad(f32(aux[i]));
}

@compute @workgroup_size(WG)
fn maxpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= dims.count) {
    return;
  }
  let o = unflatten(i, dims.OH, dims.OW);
  let rh = span(o.y, dims.SH, dims.PH, dims.KH, dims.H);
  let rw = span(o.z, dims.SW, dims.PW, dims.KW, dims.W);
  let base = o.x * dims.H * dims.W;
  var arg = (base + rh.x * dims.W + rw.x) * dims.C + o.w;
  var best = f32(src[arg]);
  for (var h = rh.x; h < rh.y; h++) {
    for (var w = rw.x; w < rw.y; w++) {
      let at = (base + h * dims.W + w) * dims.C + o.w;
      let v = f32(src[at]);
      if (v > best) {
        best = v;
        arg = at;
      }
    }
  }
  dst[i] = dst_t(best);
  argmax_out[i] = arg;
}

@compute @workgroup_size(WG)
fn maxpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= dims.count) {
    return;
  }
  let p = unflatten(i, dims.H, dims.W);
  let rh = window_range(p.y + dims.PH, dims.KH, dims.SH, dims.OH);
  let rw = window_range(p.z + dims.PW, dims.KW, dims.SW, dims.OW);
  var s = 0.0;
  for (var oh = rh.x; oh <= rh.y; oh++) {
    for (var ow = rw.x; ow <= rw.y; ow++) {
      let o = ((p.x * dims.OH + oh) * dims.OW + ow) * dims.C + p.w;
      if (argmax_in[o] == i) {
        s += f32(src[o]);
      }
    }
  }
  dst[i] = dst_t(apply_prev_act(s, i));
}

@compute @workgroup_size(WG)
fn avgpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= dims.count) {
    return;
  }
  let o = unflatten(i, dims.OH, dims.OW);
  let rh = span(o.y, dims.SH, dims.PH, dims.KH, dims.H);
  let rw = span(o.z, dims.SW, dims.PW, dims.KW, dims.W);
  let base = o.x * dims.H * dims.W;
  var s = 0.0;
  for (var h = rh.x; h < rh.y; h++) {
    for (var w = rw.x; w < rw.y; w++) {
      s += f32(src[(base + h * dims.W + w) * dims.C + o.w]);
    }
  }
  dst[i] = dst_t(s / f32(dims.KH * dims.KW));
}

@compute @workgroup_size(WG)
fn avgpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= dims.count) {
    return;
  }
  let p = unflatten(i, dims.H, dims.W);
  let rh = window_range(p.y + dims.PH, dims.KH, dims.SH, dims.OH);
  let rw = window_range(p.z + dims.PW, dims.KW, dims.SW, dims.OW);
  var s = 0.0;
  for (var oh = rh.x; oh <= rh.y; oh++) {
    for (var ow = rw.x; ow <= rw.y; ow++) {
      s += f32(src[((p.x * dims.OH + oh) * dims.OW + ow) * dims.C + p.w]);
    }
  }
  dst[i] = dst_t(apply_prev_act(s / f32(dims.KH * dims.KW), i));
}

// maxpool_forward on 4 channels: group i of the output, argmax per channel as above.
@compute @workgroup_size(WG)
fn maxpool_forward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= dims.count) {
    return;
  }
  let CG = dims.C / 4u;
  let o = unflatten_c(i, dims.OH, dims.OW, CG);
  let rh = span(o.y, dims.SH, dims.PH, dims.KH, dims.H);
  let rw = span(o.z, dims.SW, dims.PW, dims.KW, dims.W);
  let base = o.x * dims.H * dims.W;
  let lanes = vec4<u32>(0u, 1u, 2u, 3u);
  var at = (base + rh.x * dims.W + rw.x) * CG + o.w;
  var best = vec4<f32>(src4[at]);
  var arg = vec4<u32>(at * 4u) + lanes;
  for (var h = rh.x; h < rh.y; h++) {
    for (var w = rw.x; w < rw.y; w++) {
      at = (base + h * dims.W + w) * CG + o.w;
      let v = vec4<f32>(src4[at]);
      let gt = v > best;
      best = select(best, v, gt);
      arg = select(arg, vec4<u32>(at * 4u) + lanes, gt);
    }
  }
  dst4[i] = vec4<dst_t>(best);
  argmax4_out[i] = arg;
}

// maxpool_backward on 4 channels: group i of dX.
@compute @workgroup_size(WG)
fn maxpool_backward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= dims.count) {
    return;
  }
  let CG = dims.C / 4u;
  let p = unflatten_c(i, dims.H, dims.W, CG);
  let rh = window_range(p.y + dims.PH, dims.KH, dims.SH, dims.OH);
  let rw = window_range(p.z + dims.PW, dims.KW, dims.SW, dims.OW);
  let mine = vec4<u32>(i * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
  var s = vec4<f32>(0.0);
  for (var oh = rh.x; oh <= rh.y; oh++) {
    for (var ow = rw.x; ow <= rw.y; ow++) {
      let o = ((p.x * dims.OH + oh) * dims.OW + ow) * CG + p.w;
      s += select(vec4<f32>(0.0), vec4<f32>(src4[o]), argmax4_in[o] == mine);
    }
  }
  if (ACT != 0u) {
    let z = vec4<f32>(aux4[i]);
    s *= vec4<f32>(act_grad(z.x), act_grad(z.y), act_grad(z.z), act_grad(z.w));
  }
  dst4[i] = vec4<dst_t>(s);
}

// maxpool_backward for tiling windows (KH == SH, KW == SW): invocation i owns dOut element i and
// writes every dX element of its window inside the map; the windows of the last row and column
// also cover the rows and columns no window reaches (they get 0, as in the gather).
@compute @workgroup_size(WG)
fn maxpool_backward_tiles(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= dims.count) {
    return;
  }
  let o = unflatten(i, dims.OH, dims.OW);
  let g = f32(src[i]);
  let winner = argmax_in[i];
  let rh = span(o.y, dims.SH, dims.PH, dims.KH, dims.H);
  let rw = span(o.z, dims.SW, dims.PW, dims.KW, dims.W);
  let h0 = rh.x;
  let w0 = rw.x;
  let h1 = select(rh.y, dims.H, o.y + 1u == dims.OH);
  let w1 = select(rw.y, dims.W, o.z + 1u == dims.OW);
  let base = o.x * dims.H * dims.W;
  for (var h = h0; h < h1; h++) {
    for (var w = w0; w < w1; w++) {
      let at = (base + h * dims.W + w) * dims.C + o.w;
      var v = 0.0;
      if (winner == at) {
        v = apply_prev_act(g, at);
      }
      dst[at] = dst_t(v);
    }
  }
}

// maxpool_backward_tiles on 4 channels: group i of dOut.
@compute @workgroup_size(WG)
fn maxpool_backward_tiles4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= dims.count) {
    return;
  }
  let CG = dims.C / 4u;
  let o = unflatten_c(i, dims.OH, dims.OW, CG);
  let g = vec4<f32>(src4[i]);
  let winner = argmax4_in[i];
  let lanes = vec4<u32>(0u, 1u, 2u, 3u);
  let rh = span(o.y, dims.SH, dims.PH, dims.KH, dims.H);
  let rw = span(o.z, dims.SW, dims.PW, dims.KW, dims.W);
  let h0 = rh.x;
  let w0 = rw.x;
  let h1 = select(rh.y, dims.H, o.y + 1u == dims.OH);
  let w1 = select(rw.y, dims.W, o.z + 1u == dims.OW);
  let base = o.x * dims.H * dims.W;
  for (var h = h0; h < h1; h++) {
    for (var w = w0; w < w1; w++) {
      let at = (base + h * dims.W + w) * CG + o.w;
      var v = select(vec4<f32>(0.0), g, winner == vec4<u32>(at * 4u) + lanes);
      if (ACT != 0u) {
        let z = vec4<f32>(aux4[at]);
        v *= vec4<f32>(act_grad(z.x), act_grad(z.y), act_grad(z.z), act_grad(z.w));
      }
      dst4[at] = vec4<dst_t>(v);
    }
  }
}
