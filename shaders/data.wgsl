// GPU-resident datasets: the images stay on the device as packed uint8 (4 per u32) and each step
// only uploads the batch's sample indices. These kernels gather, normalise and convert a batch.
//   gather_images: X[r, d] = byte(idx[r] * D + d) * mul[d % C] + add[d % C]    (r < active)
//                  X[r, d] = 0                                                  (r >= active)
//                  one invocation per 4 features of a row (grid: x = D/4 groups, y = rows)
//   gather_rows:   X[r, d] = rows[idx[r] * D + d] (float data), same grid
//   gather_labels: per row r, from labels[idx[r]]:
//                  MODE 0: out[r] = label (u32, for softmax cross-entropy)
//                  MODE 1: out[r] = f32(label) (bit pattern, for a 1-output BCE head)
//                  MODE 2: out[r, j] = 1.0 if j == label else 0.0 (one-hot f32, for MSE/BCE)
// Normalisation (mul, add) is (1 / (255 std_c), -mean_c / std_c) for standardisation on [0,1]
// pixels, or (1/255, 0) for plain scaling; the CPU decides, the kernel does not care.

struct Params {
  rows: u32,
  live_rows: u32,
  features: u32,
  channels: u32,
  classes: u32,
  row_stride: u32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 256u;
override MODE: u32 = 0u;
override ALIGNED: bool = false; // features a multiple of 4: rows start on a word / a vec4

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read> norm: array<f32>; // [mul_0..mul_C-1, add_0..add_C-1]
@group(0) @binding(4) var<storage, read_write> out_x: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_y: array<u32>;

// 2-D grid: gid.y is the batch row, gid.x a group of 4 features, so there is no division per
// element. When D is a multiple of 4 (ALIGNED) a row starts on a word, and one u32 load gives
// the 4 bytes; the channel of feature d0 is found once and stepped, not taken modulo per byte.
@compute @workgroup_size(WG)
fn gather_images(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.y;
  let d0 = gid.x * 4u;
  if (r >= params.rows || d0 >= params.features) {
    return;
  }
  let base = r * params.features + d0;
  let n = min(4u, params.features - d0);
  if (r >= params.live_rows) {
    for (var j = 0u; j < n; j++) {
      out_x[base + j] = 0.0;
    }
    return;
  }
  let start = idx[r] * params.features + d0;
  var c = d0 % params.channels;
  var word = packed[start >> 2u];
  for (var j = 0u; j < n; j++) {
    let byte_index = start + j;
    if (!ALIGNED) {
      word = packed[byte_index >> 2u];
    }
    let value = f32((word >> (8u * (byte_index & 3u))) & 0xffu);
    out_x[base + j] = value * norm[c] + norm[params.channels + c];
    c = select(c + 1u, 0u, c + 1u == params.channels);
  }
}

@compute @workgroup_size(WG)
fn gather_labels(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= params.rows) {
    return;
  }
  var label = 0u;
  let live = r < params.live_rows;
  if (live) {
    label = packed[idx[r]];
  }
  if (MODE == 0u) {
    out_y[r] = label;
  } else if (MODE == 1u) {
    out_y[r] = bitcast<u32>(select(0.0, f32(label), live));
  } else {
    for (var j = 0u; j < params.classes; j++) {
      out_y[r * params.classes + j] = bitcast<u32>(select(0.0, 1.0, live && j == label));
    }
  }
}

// gather_rows: out[r, d] = rows[idx[r] * D + d] for r < active, else 0 (float datasets and
// float targets kept resident; D = params.features). Same grid as gather_images: 4 features of
// one row per invocation. gather_rows_vec4 is the same for D a multiple of 4, reading one vec4.
@group(0) @binding(6) var<storage, read> rows_f32: array<f32>;
@group(0) @binding(7) var<storage, read> rows_vec4: array<vec4<f32>>; // rows_f32's buffer as vec4

// The first of this invocation's output elements, or rows * features when it has none.
fn row_slot(gid: vec3<u32>) -> u32 {
  if (gid.y >= params.rows || gid.x * 4u >= params.features) {
    return params.rows * params.features;
  }
  return gid.y * params.features + gid.x * 4u;
}

@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let base = row_slot(gid);
  let r = gid.y;
  let d0 = gid.x * 4u;
  if (base == params.rows * params.features) {
    return;
  }
  let live = r < params.live_rows;
  let start = select(0u, idx[min(r, params.live_rows - 1u)] * params.features + d0, live);
  for (var j = 0u; j < min(4u, params.features - d0); j++) {
    out_x[base + j] = select(0.0, rows_f32[start + j], live);
  }
}

@compute @workgroup_size(WG)
fn gather_rows_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let base = row_slot(gid);
  let r = gid.y;
  if (base == params.rows * params.features) {
    return;
  }
  let live = r < params.live_rows;
  let start = select(0u, idx[min(r, params.live_rows - 1u)] * params.features + gid.x * 4u, live);
  let v = select(vec4<f32>(0.0), rows_vec4[start / 4u], live);
  out_x[base] = v.x;
  out_x[base + 1u] = v.y;
  out_x[base + 2u] = v.z;
  out_x[base + 3u] = v.w;
}
