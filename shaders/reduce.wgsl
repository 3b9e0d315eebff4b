// Reductions.
//   bias_grad:        db[n] = sum_b dZ[b, n]        dZ [B,N]; one invocation per column; OVERWRITES db
//   bias_grad_partial partial[p, n] = sum of dZ[b, n] over rows b in chunk p (count = chunk
//                     length); one invocation per (p, n). A conv layer's bias gradient sums
//                     B*OH*OW rows: the partials give every core work, then bias_grad sums the
//                     partials of each column in chunk order (deterministic).
//   bias_grad_partial4 the same for N % 4 == 0, one invocation per (p, 4 columns), reading dZ as
//                     vec4: on lavapipe every load is a per-lane gather, so a quarter of the loads
//                     (same sums in the same order as bias_grad_partial)
//   loss_accumulate:  acc += (sum of row losses, correct count, active rows, 1 step)
//                     from stats [B,3]; one workgroup; ACCUMULATES into acc[0..4] (the trainer
//                     zeroes acc after each asynchronous read)
//   sumsq_partial:    partial[w] = sum of g^2 over a grid-stride slice (NPART workgroups)
//   clip_scale:       scale[0] = min(1, max_norm / (sqrt(sum partial) + 1e-6)), scale[1] = norm
// Loss sums are accumulated in f32 per step and summed over at most k logging steps, which keeps
// the rounding error far below the loss's own noise.

struct Params {
  rows: u32,
  cols: u32,
  count: u32,
  max_norm: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
// bias_grad and bias_grad_partial read dZ as f16 where the wrapper binds a half tensor
// (src/gpu/shader-types.ts); sums are f32.
alias src_t = f32;
@group(0) @binding(1) var<storage, read> src: array<src_t>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> src4: array<vec4<src_t>>; // src again (bias_grad_partial4)

override WG: u32 = 256u;
const RWG: u32 = 256u;
var<workgroup> scratch: array<f32, 768>; // 3 * RWG

@compute @workgroup_size(WG)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= params.cols) {
    return;
  }
  var s = 0.0;
  for (var b = 0u; b < params.rows; b++) {
    s += f32(src[b * params.cols + n]);
  }
  dst[n] = s;
}

@compute @workgroup_size(64)
fn bias_grad_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.y * nwg.x * 64u + gid.x;
  let p = idx / params.cols;
  let n = idx % params.cols;
  let r0 = p * params.count;
  if (r0 >= params.rows) {
    return;
  }
  let r1 = min(r0 + params.count, params.rows);
  var s = 0.0;
  for (var b = r0; b < r1; b++) {
    s += f32(src[b * params.cols + n]);
  }
  dst[p * params.cols + n] = s;
}

@compute @workgroup_size(64)
fn bias_grad_partial4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.y * nwg.x * 64u + gid.x;
  let c4 = params.cols / 4u;
  let p = idx / c4;
  let n4 = idx % c4;
  let r0 = p * params.count;
  if (r0 >= params.rows) {
    return;
  }
  let r1 = min(r0 + params.count, params.rows);
  var s = vec4<f32>(0.0);
  for (var b = r0; b < r1; b++) {
    s += vec4<f32>(src4[b * c4 + n4]);
  }
  let o = p * params.cols + 4u * n4;
  dst[o] = s.x;
  dst[o + 1u] = s.y;
  dst[o + 2u] = s.z;
  dst[o + 3u] = s.w;
}

@compute @workgroup_size(RWG)
fn loss_accumulate(@builtin(local_invocation_index) li: u32) {
  var l = 0.0;
  var c = 0.0;
  var a = 0.0;
  for (var r = li; r < params.rows; r += RWG) {
    l += f32(src[3u * r]);
    c += f32(src[3u * r + 1u]);
    a += f32(src[3u * r + 2u]);
  }
  scratch[li] = l;
  scratch[RWG + li] = c;
  scratch[2u * RWG + li] = a;
  workgroupBarrier();
  for (var s = RWG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      scratch[li] += scratch[li + s];
      scratch[RWG + li] += scratch[RWG + li + s];
      scratch[2u * RWG + li] += scratch[2u * RWG + li + s];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    dst[0] += scratch[0];
    dst[1] += scratch[RWG];
    dst[2] += scratch[2u * RWG];
    dst[3] += 1.0;
  }
}

@compute @workgroup_size(RWG)
fn sumsq_partial(
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  var s = 0.0;
  let stride = nwg.x * RWG;
  for (var i = wid.x * RWG + li; i < params.count; i += stride) {
    let g = f32(src[i]);
    s += g * g;
  }
  scratch[li] = s;
  workgroupBarrier();
  for (var h = RWG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      scratch[li] += scratch[li + h];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    dst[wid.x] = scratch[0];
  }
}

// src = partials (params.rows of them)
@compute @workgroup_size(RWG)
fn clip_scale(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = li; i < params.rows; i += RWG) {
    s += f32(src[i]);
  }
  scratch[li] = s;
  workgroupBarrier();
  for (var h = RWG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      scratch[li] += scratch[li + h];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let norm = sqrt(scratch[0]);
    dst[0] = min(1.0, params.max_norm / (norm + 1e-6));
    dst[1] = norm;
  }
}
