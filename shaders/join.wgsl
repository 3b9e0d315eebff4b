// Graph joins (src/kernels/join.ts): the add layer's forward, and one strided copy that serves the
// concat forward and every gradient routed back through a join.
//   add_forward   Z[i] = X0[i] + X1[i]; A[i] = act(Z[i]) when WRITE_A                 (count values)
//   join_copy     dst[r*dS + dO + c] = (ACC ? dst[..] : 0) + src[r*sS + sO + c] * act'(aux[..])
//                 for r < rows, c < cols; aux is laid out like dst (the producer's Z), read only
//                 when ACT is not the identity.
// concat forward copies each input into its channel slice (rows = positions, cols = its channels);
// concat backward copies the slice of dOut back, times the producer's act'; add backward copies
// all of dOut. ACC sums a second reader's gradient into a tensor the first already wrote.

#include activation_fns

struct Params {
  rows: u32,
  cols: u32,
  src_stride: u32,
  src_offset: u32,
  dst_stride: u32,
  dst_offset: u32,
  count: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> src2: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst2: array<f32>;

override WG: u32 = 256u;
override ACC: bool = false;
override WRITE_A: bool = false;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// src = X0, src2 = X1, dst = Z, dst2 = A (a stand-in when !WRITE_A).
@compute @workgroup_size(WG)
fn add_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= params.count) {
    return;
  }
  let z = src[i] + src2[i];
  dst[i] = z;
  if (WRITE_A) {
    dst2[i] = act_forward(z);
  }
}

// src2 = aux; dst2 is unused (bound to a stand-in).
@compute @workgroup_size(WG)
fn join_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= params.count) {
    return;
  }
  let r = i / params.cols;
  let c = i - r * params.cols;
  let d = r * params.dst_stride + params.dst_offset + c;
  var v = src[r * params.src_stride + params.src_offset + c];
  if (ACT != 0u) {
    v = v * act_grad(src2[d]);
  }
  if (ACC) {
    v = v + dst[d];
  }
  dst[d] = v;
}
